//! One connection type for every Redis deployment the blocklist talks to:
//! a single server or a Sentinel-named primary (redis-rs
//! `ConnectionManager` or a dedicated multiplexed connection), or a Redis
//! Cluster (redis-rs `ClusterConnection`, which routes each command to the
//! node that owns its slot and follows failovers through `MOVED`).

use std::time::Duration;

use crate::blocklist::BlocklistError;
use redis::{
    aio::{ConnectionLike, ConnectionManager, MultiplexedConnection},
    cluster_async::ClusterConnection,
    Cmd, Pipeline, RedisError, RedisFuture, Value,
};

/// A connection to wherever the blocklist's keys live.
#[derive(Clone)]
pub(super) enum RedisConnection {
    /// The shared, self-reconnecting connection to one server.
    Managed(ConnectionManager),
    /// A connection of its own (for blocking reads).
    Dedicated(MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Managed(conn) => conn.req_packed_command(cmd),
            Self::Dedicated(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Managed(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Managed(conn) => conn.get_db(),
            Self::Dedicated(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Whether `prefix` holds a Redis Cluster hash tag: a `{` followed later by
/// a `}` with at least one character between them. Only the tag is hashed,
/// so every key under such a prefix lands in one slot.
pub(super) fn has_hash_tag(prefix: &str) -> bool {
    prefix
        .find('{')
        .and_then(|open| prefix[open + 1..].find('}'))
        .is_some_and(|len| len > 0)
}

/// A redis-rs error as a [`BlocklistError`]: unreachable (connection
/// refused, reset, closed, timed out) or any other failure.
pub(crate) fn map_err(err: RedisError) -> BlocklistError {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
    {
        BlocklistError::unavailable(err)
    } else {
        BlocklistError::backend(err)
    }
}

/// Runs a Redis command within `limit`.
pub(super) async fn bounded<T>(
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    limit: Duration,
) -> Result<T, BlocklistError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| BlocklistError::Timeout(limit))?
        .map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::has_hash_tag;

    #[test]
    fn hash_tags_are_found_as_redis_hashes_them() {
        assert!(has_hash_tag("{tjs}:"));
        assert!(has_hash_tag("app:{sessions}:"));
        assert!(!has_hash_tag("tjs:"));
        // An empty tag hashes the whole key.
        assert!(!has_hash_tag("{}tjs:"));
        assert!(!has_hash_tag("tjs:{"));
        assert!(!has_hash_tag("tjs:}{"));
    }
}
