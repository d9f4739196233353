//! [`Facts`]: a compact in-memory set of revocation facts, for replicas that
//! hold every live fact of a shared store.
//!
//! Sharded hash maps behind read-write locks, keyed by the fact's key text:
//! about a fifth of the memory of a moka cache per fact, since a replica
//! needs no eviction policy and no access bookkeeping. Facts expire at their
//! deadline: a lookup ignores an expired fact, and [`Facts::sweep`] drops
//! them. What the set knows only grows until those deadlines: revocations
//! and ends stay, generations and watermarks only rise.

use std::{
    collections::{hash_map::RandomState, HashMap},
    hash::BuildHasher,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use crate::blocklist::{BlocklistFuture, Lookup, Rotation, TokenKey};
use crate::time::now_secs;

const SHARDS: usize = 16;
/// `state` of a revoked token or an ended session.
const REVOKED: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct Fact {
    until: i64,
    /// A session's generation, or [`REVOKED`].
    state: u64,
}

#[derive(Clone, Copy)]
struct Mark {
    micros: i64,
    until: i64,
}

/// See the [module docs](self). Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct Facts {
    inner: Arc<Inner>,
}

struct Inner {
    hasher: RandomState,
    shards: [RwLock<HashMap<Box<str>, Fact>>; SHARDS],
    marks: RwLock<HashMap<Box<str>, Mark>>,
    /// Whether any watermark was ever learned: until then, lookups skip them.
    any_mark: AtomicBool,
    /// How many facts were learned: raised after each one, under its lock.
    writes: AtomicU64,
}

impl Facts {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                hasher: RandomState::new(),
                shards: std::array::from_fn(|_| RwLock::new(HashMap::new())),
                marks: RwLock::new(HashMap::new()),
                any_mark: AtomicBool::new(false),
                writes: AtomicU64::new(0),
            }),
        }
    }

    fn shard(&self, key: &str) -> &RwLock<HashMap<Box<str>, Fact>> {
        let i = self.inner.hasher.hash_one(key) as usize % SHARDS;
        &self.inner.shards[i]
    }

    /// Merges `fact` into what is known of `key`.
    fn learn(&self, key: &TokenKey, until: i64, state: u64) {
        if until <= now_secs() {
            return;
        }
        let mut shard = self
            .shard(key.as_str())
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match shard.get_mut(key.as_str()) {
            Some(known) => {
                known.until = known.until.max(until);
                // REVOKED is the largest state: an end always wins.
                known.state = known.state.max(state);
            }
            None => {
                shard.insert(key.as_str().into(), Fact { until, state });
            }
        }
        self.inner.writes.fetch_add(1, Ordering::Release);
    }

    /// How many facts were learned so far: it changes after each one is
    /// visible to [`lookup`](Self::lookup).
    pub(crate) fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Acquire)
    }

    /// The token or session under `key` is revoked (ended) until `until`.
    pub(crate) fn learn_revoked(&self, key: &TokenKey, until: i64) {
        self.learn(key, until, REVOKED);
    }

    /// The session under `key` is at least at `generation` until `until`.
    pub(crate) fn learn_generation(&self, key: &TokenKey, generation: u64, until: i64) {
        self.learn(key, until, generation.min(REVOKED - 1));
    }

    /// `user_id`'s watermark is at least `micros` until `until`.
    pub(crate) fn learn_watermark(&self, user_id: &str, micros: i64, until: i64) {
        if until <= now_secs() {
            return;
        }
        self.inner.any_mark.store(true, Ordering::Release);
        let mut marks = self.inner.marks.write().unwrap_or_else(|e| e.into_inner());
        let mark = marks
            .entry(user_id.into())
            .or_insert(Mark { micros, until });
        mark.micros = mark.micros.max(micros);
        mark.until = mark.until.max(until);
        self.inner.writes.fetch_add(1, Ordering::Release);
    }

    /// What is known of `key` and `user_id` now: one shard read, and the
    /// watermarks only when any exists.
    pub(crate) fn lookup(&self, key: &TokenKey, user_id: &str) -> Lookup {
        let now = now_secs();
        let fact = self
            .shard(key.as_str())
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_str())
            .copied()
            .filter(|f| f.until > now);
        let valid_after_micros = if self.inner.any_mark.load(Ordering::Acquire) {
            self.inner
                .marks
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(user_id)
                .filter(|m| m.until > now)
                .map(|m| m.micros)
        } else {
            None
        };
        let (revoked, generation) = match fact.map(|f| f.state) {
            Some(REVOKED) => (true, 0),
            Some(g) if key.is_session() => (false, g),
            Some(_) => (true, 0),
            None => (false, 0),
        };
        Lookup {
            revoked,
            generation,
            valid_after_micros,
        }
    }

    /// Drops the facts whose deadline passed.
    pub(crate) fn sweep(&self) {
        let now = now_secs();
        for shard in &self.inner.shards {
            shard
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, f| f.until > now);
        }
        self.inner
            .marks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, m| m.until > now);
    }

    /// Facts held (expired ones included until the next sweep).
    pub(crate) fn len(&self) -> u64 {
        let facts: usize = self
            .inner
            .shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum();
        let marks = self
            .inner
            .marks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        (facts + marks) as u64
    }
}

/// A write to the store, then its outcome learned into memory at once (the
/// store's stream or tables bring it too, later).
impl Facts {
    pub(crate) fn after_revoke(
        &self,
        stored: BlocklistFuture<bool>,
        key: &TokenKey,
        until: i64,
    ) -> BlocklistFuture<bool> {
        let (local, key) = (self.clone(), key.clone());
        Box::pin(async move {
            let fresh = stored.await?;
            local.learn_revoked(&key, until);
            Ok(fresh)
        })
    }

    pub(crate) fn after_rotate(
        &self,
        rotated: BlocklistFuture<Rotation>,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
    ) -> BlocklistFuture<Rotation> {
        let (local, key, user) = (self.clone(), key.clone(), user_id.to_owned());
        Box::pin(async move {
            let outcome = rotated.await?;
            match outcome {
                Rotation::Rotated { .. } => local.learn_generation(&key, from + 1, until),
                Rotation::Superseded { current } => local.learn_generation(&key, current, until),
                Rotation::Ended => local.learn_revoked(&key, until),
                // The deadline is the store's to tell; until it arrives,
                // the token's own is a lower bound.
                Rotation::LoggedOut { valid_after_micros } => {
                    local.learn_watermark(&user, valid_after_micros, until)
                }
            }
            Ok(outcome)
        })
    }

    pub(crate) fn after_watermark(
        &self,
        stored: BlocklistFuture<i64>,
        user_id: &str,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let (local, user) = (self.clone(), user_id.to_owned());
        Box::pin(async move {
            let mark = stored.await?;
            local.learn_watermark(&user, mark, until);
            Ok(mark)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_only_grow_and_expire_at_their_deadline() {
        let facts = Facts::new();
        let later = now_secs() + 60;
        let session = TokenKey::from_session("s");
        facts.learn_generation(&session, 3, later);
        facts.learn_generation(&session, 2, later);
        assert_eq!(facts.lookup(&session, "u").generation, 3);
        facts.learn_revoked(&session, later);
        facts.learn_generation(&session, 9, later);
        assert!(facts.lookup(&session, "u").revoked);
        let token = TokenKey::from_jti("t");
        assert!(!facts.lookup(&token, "u").revoked);
        facts.learn_revoked(&token, later);
        assert!(facts.lookup(&token, "u").revoked);
        facts.learn_revoked(&TokenKey::from_jti("past"), now_secs() - 1);
        facts.learn_watermark("u", 5, later);
        facts.learn_watermark("u", 4, later);
        assert_eq!(facts.lookup(&token, "u").valid_after_micros, Some(5));
        assert_eq!(facts.lookup(&token, "v").valid_after_micros, None);
        assert_eq!(facts.len(), 3);
        facts.sweep();
        assert_eq!(facts.len(), 3);
    }
}
