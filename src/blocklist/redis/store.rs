//! [`RedisBlocklist`]: the shared blocklist for several servers.

use std::{
    fmt,
    future::Future,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use redis::{aio::ConnectionManager, aio::ConnectionManagerConfig, RedisError};

use super::{
    connection::{has_hash_tag, map_err, RedisConnection},
    scripts::{END_SESSION, RAISE_WATERMARK, REVOKE_TOKEN, ROTATE},
};
use crate::blocklist::{
    replica::clock::StoreClock, Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation,
    TokenKey,
};
use crate::{
    error::ConfigError,
    time::{now_micros, now_secs},
};

const DEFAULT_PREFIX: &str = "tjs:";
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_RETENTION: Duration = Duration::from_secs(25 * 3600);
pub(super) const PING_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between reconnection attempts (the shared connection,
/// the subscription): a server writes again at most this long after Redis
/// is reachable.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// How often Redis's clock is measured.
const CLOCK_EVERY: Duration = Duration::from_secs(1);

/// Where Redis is.
#[derive(Debug, Clone)]
enum TargetSpec {
    Url(String),
    Sentinel { urls: Vec<String>, master: String },
    Cluster { urls: Vec<String> },
}

/// Where commands go: one server, the primary that Sentinels name, or a
/// Redis Cluster.
enum Target {
    Single(redis::Client),
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
    Cluster(Box<ClusterTarget>),
}

/// A Redis Cluster's clients.
struct ClusterTarget {
    /// Commands bounded by the timeout.
    client: redis::cluster::ClusterClient,
    /// Blocking reads, bounded by their caller.
    blocking: redis::cluster::ClusterClient,
    /// The seed nodes, for the subscription (Cluster publishes every
    /// message on every node), tried in turn.
    seeds: Vec<redis::Client>,
    next_seed: std::sync::atomic::AtomicUsize,
}

/// Builds a [`RedisBlocklist`]; see its docs for the layout and behaviour.
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisBlocklistBuilder {
    target: TargetSpec,
    prefix: String,
    timeout: Duration,
    retention: Duration,
    min_replicas: u32,
}

impl RedisBlocklistBuilder {
    /// The prefix of every key and of the channel. Default: `tjs:`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long revocations stay in the stream that replicas load and
    /// follow (see [`RedisBlocklist::into_replica`]): at least the longest
    /// token lifetime plus the leeway, or a replica started later misses
    /// revocations of tokens still alive. Default: 25 hours.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// A write (revocation, rotation, watermark) returns `Ok` only once the
    /// primary and at least `n` of its replicas hold it (`WAIT`, bounded by
    /// the timeout); otherwise it is an error and the route answers `503`.
    /// Default: 0 with a single Redis, 1 with Sentinel or Cluster.
    ///
    /// # ⚠️ Warning
    ///
    /// A write whose acknowledgement times out may still be on the primary:
    /// nothing is promised, but a refresh that failed this way has replaced
    /// the presented token, and presenting it again is a replay.
    pub fn with_min_replicas(mut self, n: u32) -> Self {
        self.min_replicas = n;
        self
    }

    /// The longest wait for any Redis command, connecting included.
    /// Default: 500 ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and creates the (lazy) connection. Nothing is sent
    /// to Redis yet: a server can start while Redis is down, and answers
    /// `503` until it is back.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRedisUrl`] for a URL redis-rs cannot use,
    /// [`ConfigError::InvalidTimeout`] for a zero timeout,
    /// [`ConfigError::NoRuntime`] outside a tokio runtime.
    pub fn build(self) -> Result<RedisBlocklist, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidTimeout(self.timeout));
        }
        let conn_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(MAX_BACKOFF)
            .set_number_of_retries(0);
        let (target, conn) = match &self.target {
            TargetSpec::Url(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| ConfigError::InvalidRedisUrl(e.to_string()))?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError::NoRuntime);
                }
                let conn =
                    ConnectionManager::new_lazy_with_config(client.clone(), conn_config.clone())
                        .map_err(|e| ConfigError::InvalidRedisUrl(e.to_string()))?;
                (Target::Single(client), Some(conn))
            }
            TargetSpec::Sentinel { urls, master } => {
                if urls.is_empty() {
                    return Err(ConfigError::InvalidRedisUrl(
                        "no Sentinel address given".to_owned(),
                    ));
                }
                if master.is_empty() {
                    return Err(ConfigError::InvalidRedisUrl(
                        "no Sentinel master name given".to_owned(),
                    ));
                }
                let client = redis::sentinel::SentinelClient::build(
                    urls.iter().map(String::as_str).collect(),
                    master.clone(),
                    None,
                    redis::sentinel::SentinelServerType::Master,
                )
                .map_err(|e| ConfigError::InvalidRedisUrl(e.to_string()))?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError::NoRuntime);
                }
                (Target::Sentinel(tokio::sync::Mutex::new(client)), None)
            }
            TargetSpec::Cluster { urls } => {
                if urls.is_empty() {
                    return Err(ConfigError::InvalidRedisUrl(
                        "no Redis Cluster seed node given".to_owned(),
                    ));
                }
                let invalid = |e: RedisError| ConfigError::InvalidRedisUrl(e.to_string());
                let seeds = urls
                    .iter()
                    .map(|url| redis::Client::open(url.as_str()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid)?;
                let builder = |response_timeout: Duration| {
                    redis::cluster::ClusterClientBuilder::new(
                        seeds.iter().map(|c| c.get_connection_info().clone()),
                    )
                    .connection_timeout(self.timeout)
                    .response_timeout(response_timeout)
                    .retries(2)
                    .min_retry_wait(20)
                    .max_retry_wait(200)
                    .build()
                };
                let client = builder(self.timeout).map_err(invalid)?;
                let blocking = builder(Duration::from_secs(3600)).map_err(invalid)?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError::NoRuntime);
                }
                (
                    Target::Cluster(Box::new(ClusterTarget {
                        client,
                        blocking,
                        seeds,
                        next_seed: std::sync::atomic::AtomicUsize::new(0),
                    })),
                    None,
                )
            }
        };
        // In a Cluster, each script touches a fact's key and the stream in
        // one step: they must share a slot, so the prefix is a hash tag.
        let prefix =
            if matches!(self.target, TargetSpec::Cluster { .. }) && !has_hash_tag(&self.prefix) {
                match self.prefix.strip_suffix(':') {
                    Some(name) => format!("{{{name}}}:"),
                    None => format!("{{{}}}", self.prefix),
                }
            } else {
                self.prefix
            };
        let blocklist = RedisBlocklist {
            inner: Arc::new(Inner {
                target,
                conn: std::sync::Mutex::new(conn.map(|c| (0, RedisConnection::Managed(c)))),
                connecting: tokio::sync::Mutex::new(()),
                connections_made: std::sync::atomic::AtomicU64::new(0),
                conn_config,
                channel: format!("{prefix}events"),
                stream: format!("{prefix}stream"),
                prefix,
                timeout: self.timeout,
                retention: self.retention,
                min_replicas: self.min_replicas,
                clock: StoreClock::new(),
            }),
        };
        blocklist.spawn_clock();
        Ok(blocklist)
    }
}

/// A blocklist in Redis (or Valkey), shared by every server that uses the
/// same URL and prefix.
///
/// # Layout
///
/// | key | value | expiry |
/// | --- | --- | --- |
/// | `{prefix}r:s:{session id}` | the session's current generation, or `e` once ended | `EXAT` its last token's `exp` plus leeway |
/// | `{prefix}r:{token key}` | `1` | `EXAT` the token's `exp` plus leeway |
/// | `{prefix}u:{user id}` | watermark in Unix microseconds | `EXAT` now plus the longest token lifetime |
/// | `{prefix}x:{session key}`, `{prefix}x:u:{user id}` | the stream id of the session's or user's latest entry | as the fact |
/// | `{prefix}stream` | every live fact, in write order, for replicas | entries trimmed after the retention |
/// | `{prefix}snapshot` | a replica's facts and the stream id they cover (binary, 20 bytes a fact), for replicas that start | none; rewritten every 5 minutes |
/// | `{prefix}snapshot:lock` | who writes the next snapshot | 60 s |
///
/// The default prefix is `tjs:`. No command scans keys (`KEYS`, `SCAN`):
/// every operation names its keys.
///
/// Every write is one `EVAL` that stores the fact, appends it to the stream
/// `{prefix}stream` (deleting the entry it supersedes, and trimming entries
/// older than the retention by Redis's own clock) and publishes it:
///
/// - `revoke` of a token: `SET .. NX EXAT`; `NX` tells whether this call
///   stored it. Of a session key: ends the session whatever its
///   generation. A deadline already past stores nothing.
/// - `rotate` moves a session from the presented generation to the next,
///   or says it is past it, ended, or covered by the user's watermark; the
///   successor's issue time is Redis's `TIME` in that same step.
/// - `set_valid_after` raises the watermark to at least the given value and
///   past Redis's `TIME` (so past every rotation answered before it), keeps
///   the later expiry.
/// - `check` is one pipeline of two `GET`s: one round trip.
/// - `clock_micros` is this process's clock corrected by Redis's (`TIME`,
///   sampled by a task of the blocklist's own every second; of the last 8
///   samples the fastest round trip counts; readings never run backwards),
///   so that tokens issued at login on every server share one clock.
///
/// Every command is bounded by a timeout (default 500 ms); a timeout or a
/// connection failure is a [`BlocklistError`], so the layer answers `503`.
/// The connection is one multiplexed connection (redis-rs
/// `ConnectionManager`) that reconnects by itself.
///
/// # Push invalidation
///
/// Every revocation and watermark is published on `{prefix}events`.
/// [`RedisBlocklist::into_cached`] puts a [`CachedBlocklist`](crate::blocklist::CachedBlocklist) in front and
/// starts a subscriber task that applies each message to that cache at once,
/// so a token revoked on one server is refused by every other within
/// milliseconds. The subscriber pings every second, reconnects by itself,
/// and while it is disconnected the cache answers "revoked" only; on
/// reconnection, entries cached before the gap are ignored.
///
/// # Example
///
/// ```no_run
/// use tower_jwt_session::{blocklist::RedisBlocklist, SessionLayer, SessionManager};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let blocklist = RedisBlocklist::builder("redis://127.0.0.1:6379/0")
///     .with_prefix("myapp:sessions:")
///     .build()?
///     .into_cached();
/// let manager = SessionManager::builder(std::env::var("SESSION_SECRET")?)
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .with_blocklist(blocklist)
///     .build()?;
/// let layer = SessionLayer::new(manager);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBlocklist {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    target: Target,
    /// The shared connection to the primary; with Sentinel, made on first
    /// use and forgotten after an error, so that the next command asks the
    /// Sentinels again (a failover is followed without a restart).
    conn: std::sync::Mutex<Option<(u64, RedisConnection)>>,
    /// Held while a new shared connection is made: of the requests that
    /// find none (every failing request during a failover), one makes it
    /// and the others wait for it.
    connecting: tokio::sync::Mutex<()>,
    /// Shared connections made so far; each one's number tells a failure on
    /// it from a failure on an older one.
    connections_made: std::sync::atomic::AtomicU64,
    conn_config: ConnectionManagerConfig,
    prefix: String,
    pub(super) channel: String,
    /// The stream every write is appended to, for replicas.
    stream: String,
    pub(super) timeout: Duration,
    /// How long stream entries are kept.
    retention: Duration,
    /// Replicas that must acknowledge every write.
    min_replicas: u32,
    /// Redis's clock as this process knows it: measured with `TIME` right
    /// after the blocklist is built and then every second, by a task of its
    /// own (and by the subscriber and the replica's follower).
    clock: StoreClock,
}

impl fmt::Debug for RedisBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the prefix is shown.
        f.debug_struct("RedisBlocklist")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisBlocklist {
    /// Starts a builder for `url` (`redis://[:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisBlocklistBuilder {
        RedisBlocklistBuilder {
            target: TargetSpec::Url(url.into()),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            retention: DEFAULT_RETENTION,
            min_replicas: 0,
        }
    }

    /// Starts a builder for the primary named `master` by the Sentinels at
    /// `sentinels` (`redis://host:port` each). Commands go to the primary
    /// the Sentinels name; after an error the next command asks them again,
    /// so a failover is followed without a restart. Writes wait for one
    /// replica by default ([`with_min_replicas`](RedisBlocklistBuilder::with_min_replicas)).
    ///
    /// ```no_run
    /// use tower_jwt_session::blocklist::RedisBlocklist;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let blocklist = RedisBlocklist::sentinel_builder(
    ///     ["redis://10.0.0.5:26379", "redis://10.0.0.6:26379", "redis://10.0.0.7:26379"],
    ///     "sessions",
    /// )
    /// .build()?
    /// .into_replica();
    /// # let _ = blocklist; Ok(())
    /// # }
    /// ```
    pub fn sentinel_builder<I, S>(sentinels: I, master: impl Into<String>) -> RedisBlocklistBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisBlocklistBuilder {
            target: TargetSpec::Sentinel {
                urls: sentinels.into_iter().map(Into::into).collect(),
                master: master.into(),
            },
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            retention: DEFAULT_RETENTION,
            min_replicas: 1,
        }
    }

    /// Starts a builder for the Redis Cluster reached through `nodes`
    /// (`redis://host:port` each; any reachable node will do, the rest of
    /// the cluster is discovered). Each command goes to the node that owns
    /// its slot, and a failover is followed without a restart (`MOVED`
    /// answers and the slot map are read again). Writes wait for one
    /// replica by default
    /// ([`with_min_replicas`](RedisBlocklistBuilder::with_min_replicas)).
    ///
    /// Every script touches a fact's key and the stream in one atomic step,
    /// so all keys share one slot: a prefix without a hash tag is wrapped in
    /// one (`tjs:` becomes `{tjs}:`). The revocation set then lives on one
    /// primary and its replicas; it is small (bounded by live
    /// revocations), and one slot keeps every write atomic.
    ///
    /// ```no_run
    /// use tower_jwt_session::blocklist::RedisBlocklist;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let blocklist = RedisBlocklist::cluster_builder([
    ///     "redis://10.0.0.5:7000",
    ///     "redis://10.0.0.6:7000",
    ///     "redis://10.0.0.7:7000",
    /// ])
    /// .build()?
    /// .into_replica();
    /// # let _ = blocklist; Ok(())
    /// # }
    /// ```
    pub fn cluster_builder<I, S>(nodes: I) -> RedisBlocklistBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisBlocklistBuilder {
            target: TargetSpec::Cluster {
                urls: nodes.into_iter().map(Into::into).collect(),
            },
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            retention: DEFAULT_RETENTION,
            min_replicas: 1,
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(super) fn stream_key(&self) -> String {
        self.inner.stream.clone()
    }

    /// Where replicas keep the facts snapshot (and, after it, its lock).
    pub(super) fn snapshot_key(&self) -> String {
        format!("{}snapshot", self.inner.prefix)
    }

    /// A connection of its own, for blocking reads (which would hold up
    /// every other command on the shared one). Bounded by the timeout;
    /// commands on it are bounded by the caller.
    pub(super) async fn dedicated_connection(&self) -> Result<RedisConnection, BlocklistError> {
        let timeout = self.inner.timeout;
        let conn = async {
            if let Target::Cluster(cluster) = &self.inner.target {
                return cluster
                    .blocking
                    .get_async_connection()
                    .await
                    .map(RedisConnection::Cluster)
                    .map_err(map_err);
            }
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(None);
            let client = self.inner.client().await?;
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map(RedisConnection::Dedicated)
                .map_err(map_err)
        };
        tokio::time::timeout(timeout, conn)
            .await
            .map_err(|_| BlocklistError::Timeout(timeout))?
    }

    fn spawn_clock(&self) {
        tokio::spawn(clock_keeper(Arc::downgrade(&self.inner)));
    }

    /// Sends `PING` on the shared connection (the one writes use), so that
    /// after an outage it is made again before the first write needs it.
    pub(super) async fn ping_shared(&self) -> Result<(), BlocklistError> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    /// Measures Redis's clock now (see [`Blocklist::clock_micros`]).
    pub(super) async fn sync_clock_now(&self) -> Result<(), BlocklistError> {
        sync_clock(&self.inner).await
    }

    /// The pub/sub channel revocations are published on.
    pub(super) fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// A client for the current topology (after Sentinel's discovery).
    pub(super) async fn client(&self) -> Result<redis::Client, BlocklistError> {
        self.inner.client().await
    }

    fn token_key(&self, key: &TokenKey) -> String {
        format!("{}r:{}", self.inner.prefix, key.as_str())
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}u:{}", self.inner.prefix, user_id)
    }

    /// Where the stream id of a session's or user's latest entry is kept.
    fn entry_key(&self, of: &str) -> String {
        format!("{}x:{}", self.inner.prefix, of)
    }

    /// The stream's retention in milliseconds: the scripts trim entries
    /// older than this, by the store's clock.
    fn retention_ms(&self) -> i64 {
        i64::try_from(self.inner.retention.as_millis()).unwrap_or(i64::MAX)
    }

    /// Runs `command` on the shared connection within the timeout.
    fn run<T, F, Fut>(&self, command: F) -> BlocklistFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(RedisConnection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, RedisError>> + Send,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            let timeout = inner.timeout;
            let used = std::sync::Mutex::new(None);
            let renew = std::sync::atomic::AtomicBool::new(false);
            let result = match tokio::time::timeout(timeout, async {
                let (id, conn) = inner.connection().await?;
                *used.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                command(conn).await.map_err(|e| {
                    if needs_new_connection(&e) {
                        renew.store(true, Ordering::Relaxed);
                    }
                    map_err(e)
                })
            })
            .await
            {
                Ok(result) => result,
                Err(_) => Err(BlocklistError::Timeout(timeout)),
            };
            if result.is_err() {
                if let Some(id) = *used.lock().unwrap_or_else(|e| e.into_inner()) {
                    inner.forget_connection(id, renew.load(Ordering::Relaxed));
                }
            }
            result
        })
    }
}

impl RedisBlocklist {
    /// The watermark script: `"floor"` raises past Redis's clock too (so
    /// past every rotation it answered before), `"exact"` to the value.
    fn raise_watermark(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
        mode: &'static str,
    ) -> BlocklistFuture<i64> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RAISE_WATERMARK)
            .arg(3)
            .arg(self.user_key(user_id))
            .arg(&self.inner.stream)
            .arg(self.entry_key(&format!("u:{user_id}")))
            .arg(valid_after_micros)
            .arg(until)
            .arg(&self.inner.channel)
            .arg(user_id)
            .arg(self.retention_ms())
            .arg(mode);
        self.write::<i64>(cmd)
    }
}

/// Whether the shared connection that returned `err` must be replaced: an
/// authentication or permission failure (a disabled user, a rotated
/// password, an ACL reloaded late) sticks to a redis-rs connection manager
/// once its reconnection failed, however long the credentials have worked
/// again.
fn needs_new_connection(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(err.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

impl RedisBlocklist {
    /// Runs a write script, and with `min_replicas` set, `WAIT`s on the same
    /// connection for that many replicas to hold it.
    fn write<T>(&self, cmd: redis::Cmd) -> BlocklistFuture<T>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        let wanted = self.inner.min_replicas;
        if wanted == 0 {
            return self.run(move |mut conn| async move { cmd.query_async(&mut conn).await });
        }
        // Most of the timeout, leaving room for the script itself.
        let wait_ms = u64::try_from(self.inner.timeout.as_millis() * 3 / 4)
            .unwrap_or(u64::MAX)
            .max(1);
        let mut pipe = redis::pipe();
        pipe.add_command(cmd).cmd("WAIT").arg(wanted).arg(wait_ms);
        // The shared connection's timeout, error mapping and reconnection
        // are `run`'s; a WAIT shortfall is not a connection failure.
        let answered =
            self.run(move |mut conn| async move { pipe.query_async::<(T, i64)>(&mut conn).await });
        Box::pin(async move {
            let (answer, acked) = answered.await?;
            if acked < i64::from(wanted) {
                let err = BlocklistError::TooFewReplicas {
                    acknowledged: u32::try_from(acked).unwrap_or(0),
                    wanted,
                    waited: Duration::from_millis(wait_ms),
                };
                tracing::warn!(error = %err, "a write was not confirmed by enough replicas: answered as failed (503)");
                return Err(err);
            }
            Ok(answer)
        })
    }
}

impl Blocklist for RedisBlocklist {
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        if until <= now_secs() {
            return Box::pin(std::future::ready(Ok(true)));
        }
        // `SET NX EXAT`: one command, no stream entry (nothing to replicate
        // into the servers' memory).
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}o:{key}", self.inner.prefix))
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(until);
        let set = self.write::<Option<String>>(cmd);
        Box::pin(async move { Ok(set.await?.is_some()) })
    }

    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        if until <= now_secs() {
            return Box::pin(std::future::ready(Ok(true)));
        }
        let event = format!("r {until} {}", key.as_str());
        let mut cmd = redis::cmd("EVAL");
        if key.is_session() {
            // A session is ended whatever its generation; its entry replaces
            // the session's last rotation in the stream.
            cmd.arg(END_SESSION)
                .arg(3)
                .arg(self.token_key(key))
                .arg(&self.inner.stream)
                .arg(self.entry_key(key.as_str()));
        } else {
            // A token is revoked once (`NX`).
            cmd.arg(REVOKE_TOKEN)
                .arg(2)
                .arg(self.token_key(key))
                .arg(&self.inner.stream);
        }
        cmd.arg(until)
            .arg(&self.inner.channel)
            .arg(event)
            .arg(self.retention_ms());
        let stored = self.write::<i64>(cmd);
        Box::pin(async move { Ok(stored.await? == 1) })
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ROTATE)
            .arg(4)
            .arg(self.token_key(key))
            .arg(&self.inner.stream)
            .arg(self.user_key(user_id))
            .arg(self.entry_key(key.as_str()))
            .arg(from)
            .arg(until)
            .arg(&self.inner.channel)
            .arg(format!("g {}", key.as_str()))
            .arg(key.as_str())
            .arg(self.retention_ms())
            .arg(issued_at_micros);
        let answered = self.write::<(i64, i64)>(cmd);
        Box::pin(async move {
            Ok(match answered.await? {
                (1, issued_at_micros) => Rotation::Rotated { issued_at_micros },
                (2, _) => Rotation::Ended,
                (3, current) => Rotation::Superseded {
                    current: u64::try_from(current).unwrap_or(0),
                },
                (4, valid_after_micros) => Rotation::LoggedOut { valid_after_micros },
                (kind, _) => {
                    return Err(BlocklistError::Protocol(format!(
                        "the rotation script answered kind {kind}"
                    )))
                }
            })
        })
    }

    fn clock_micros(&self) -> i64 {
        self.inner.clock.now_micros()
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        self.raise_watermark(user_id, valid_after_micros, until, "floor")
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        self.raise_watermark(user_id, valid_after_micros, until, "exact")
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(self.token_key(key))
            .cmd("GET")
            .arg(self.user_key(user_id));
        let session = key.is_session();
        self.run(move |mut conn| async move {
            let (fact, mark): (Option<String>, Option<i64>) = pipe.query_async(&mut conn).await?;
            // A token key holds `1`; a session key its generation or `e`.
            let (revoked, generation) = match fact.as_deref() {
                None => (false, 0),
                Some("e") => (true, 0),
                Some(value) if session => match value.parse() {
                    Ok(generation) => (false, generation),
                    Err(_) => {
                        return Err(RedisError::from((
                            redis::ErrorKind::UnexpectedReturnType,
                            "a session key holds neither a generation nor `e`",
                        )))
                    }
                },
                Some(_) => (true, 0),
            };
            Ok(Lookup {
                revoked,
                generation,
                valid_after_micros: mark,
            })
        })
    }
}

/// Measures Redis's clock against this process's with `TIME`: the offset
/// is taken at the middle of the round trip, so its error is at most half
/// of it; of recent samples, the fastest round trip counts
/// ([`StoreClock`]).
pub(super) async fn sync_clock(inner: &Inner) -> Result<(), BlocklistError> {
    let (_, mut conn) = inner.connection().await?;
    let sent = now_micros();
    let (secs, micros): (i64, i64) =
        tokio::time::timeout(inner.timeout, redis::cmd("TIME").query_async(&mut conn))
            .await
            .map_err(|_| BlocklistError::Timeout(inner.timeout))?
            .map_err(map_err)?;
    let received = now_micros();
    let redis_now = secs.saturating_mul(1_000_000).saturating_add(micros);
    inner.clock.record(sent, received, redis_now);
    Ok(())
}

/// Keeps `inner.clock` measured while the blocklist exists: a few samples
/// at start (the first may include the connection's handshake), then one
/// a second. A failure only delays the next sample.
async fn clock_keeper(inner: std::sync::Weak<Inner>) {
    let mut taken = 0u32;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if let Err(e) = sync_clock(&strong).await {
            tracing::debug!(error = %e, "could not read Redis's clock this time");
        } else {
            taken = taken.saturating_add(1);
        }
        drop(strong);
        let pause = if taken < 4 {
            Duration::from_millis(50)
        } else {
            CLOCK_EVERY
        };
        tokio::time::sleep(pause).await;
    }
}

impl Inner {
    /// A client for the primary: the one server, or whichever the
    /// Sentinels name now; in a Cluster, the next seed node (for the
    /// subscription only: Cluster delivers every message on every node).
    pub(super) async fn client(&self) -> Result<redis::Client, BlocklistError> {
        match &self.target {
            Target::Single(client) => Ok(client.clone()),
            Target::Sentinel(sentinel) => {
                let mut sentinel = sentinel.lock().await;
                tokio::time::timeout(self.timeout, sentinel.async_get_client())
                    .await
                    .map_err(|_| BlocklistError::Timeout(self.timeout))?
                    .map_err(map_err)
            }
            Target::Cluster(cluster) => {
                let n = cluster.next_seed.fetch_add(1, Ordering::Relaxed);
                Ok(cluster.seeds[n % cluster.seeds.len()].clone())
            }
        }
    }

    /// The shared connection and its number, made on first use with
    /// Sentinel and Cluster (by one request at a time: the others wait for
    /// it, bounded by their own timeout).
    async fn connection(&self) -> Result<(u64, RedisConnection), BlocklistError> {
        if let Some(conn) = self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(conn);
        }
        let _making = self.connecting.lock().await;
        if let Some(conn) = self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(conn);
        }
        let conn = match &self.target {
            Target::Cluster(cluster) => {
                let conn =
                    tokio::time::timeout(self.timeout, cluster.client.get_async_connection())
                        .await
                        .map_err(|_| BlocklistError::Timeout(self.timeout))?
                        .map_err(map_err)?;
                RedisConnection::Cluster(conn)
            }
            _ => {
                let client = self.client().await?;
                RedisConnection::Managed(
                    ConnectionManager::new_lazy_with_config(client, self.conn_config.clone())
                        .map_err(map_err)?,
                )
            }
        };
        let id = self.connections_made.fetch_add(1, Ordering::Relaxed) + 1;
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, conn.clone()));
        Ok((id, conn))
    }

    /// After an error on connection `id`, with Sentinel: ask the Sentinels
    /// again next time (the primary may have changed); with Cluster, read
    /// the slot map again from the seeds. A connection made since is kept
    /// (a failure on an older one says nothing of it). A single server keeps
    /// its connection, which reconnects by itself after a lost connection,
    /// unless `renew`: after an authentication failure it would answer
    /// that failure forever, even once the credentials work again.
    fn forget_connection(&self, id: u64, renew: bool) {
        if matches!(self.target, Target::Single(_)) && !renew {
            return;
        }
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.as_ref().is_some_and(|(current, _)| *current == id) {
            *conn = None;
        }
    }
}
