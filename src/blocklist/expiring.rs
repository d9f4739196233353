//! [`ExpiringMap`]: the in-memory blocklist's store, a map whose entries
//! die at their own deadline.
//!
//! Every request asks it about its token, and nearly always the answer is
//! "nothing known": a lookup is one hash to pick a shard, one read lock and
//! one probe; the clock is read only when an entry is found (to see whether
//! it is still in force). Writes take the shard's write lock, so an update
//! of one key is atomic. Entries past their deadline answer as absent at
//! once and are dropped in bulk by the writes that follow, whenever a
//! shard has doubled since it was last swept: memory stays within twice
//! the live entries (plus a small floor), with no background task and no
//! capacity bound (an evicted revocation would let a token back in).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::{BuildHasher, Hash},
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
};

use crate::time::now_secs;

/// A value that is forgotten after the Unix time [`until`](Self::until)
/// (seconds).
pub(crate) trait Deadline: Copy {
    fn until(&self) -> i64;
}

/// Shards: enough that the servers' worker threads rarely meet on one lock.
const SHARDS: usize = 16;

/// A shard is not swept below this many entries.
const MIN_SWEEP: usize = 64;

struct Shard<K, V> {
    // foldhash, seeded per process: keys come from verified tokens only.
    map: HashMap<K, V, foldhash::fast::RandomState>,
    /// Sweep when the map reaches this size.
    sweep_at: usize,
}

pub(crate) struct ExpiringMap<K, V> {
    /// Picks the shard; seeded apart from the maps' own hashers, so that a
    /// shard's keys are spread over its map's buckets like any others.
    pick: foldhash::fast::RandomState,
    shards: Box<[RwLock<Shard<K, V>>]>,
    /// How many writes were made: raised after each one, under its lock.
    writes: AtomicU64,
}

impl<K: Hash + Eq, V: Deadline> ExpiringMap<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            pick: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
                        sweep_at: MIN_SWEEP,
                    })
                })
                .collect(),
            writes: AtomicU64::new(0),
        }
    }

    /// How many writes were made so far: it changes after each write is
    /// visible to [`get`](Self::get).
    #[inline]
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<Shard<K, V>> {
        let hash = self.pick.hash_one(key) as usize;
        &self.shards[hash & (SHARDS - 1)]
    }

    /// The value in force for `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = {
            let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
            *shard.map.get(key)?
        };
        (found.until() > now_secs()).then_some(found)
    }

    /// Replaces the value of `key` with what `f` makes of the value in
    /// force (`None`: nothing is written), atomically for that key.
    /// Returns the value in force afterwards.
    pub(crate) fn update(&self, key: K, f: impl FnOnce(Option<V>) -> Option<V>) -> Option<V> {
        let now = now_secs();
        let mut shard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        let old = shard.map.get(&key).copied().filter(|v| v.until() > now);
        let Some(new) = f(old) else {
            return old;
        };
        shard.map.insert(key, new);
        self.writes.fetch_add(1, Ordering::Release);
        if shard.map.len() >= shard.sweep_at {
            shard.map.retain(|_, v| v.until() > now);
            shard.sweep_at = (shard.map.len() * 2).max(MIN_SWEEP);
        }
        Some(new)
    }

    /// How many entries are in force.
    pub(crate) fn live_len(&self) -> u64 {
        let now = now_secs();
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap_or_else(|e| e.into_inner());
                shard.map.values().filter(|v| v.until() > now).count() as u64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Until(i64);

    impl Deadline for Until {
        fn until(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn entries_answer_until_their_deadline_and_are_swept_by_writes() {
        let map = ExpiringMap::<String, Until>::new();
        let now = now_secs();
        assert_eq!(
            map.update("live".into(), |_| Some(Until(now + 60))),
            Some(Until(now + 60))
        );
        map.update("gone".into(), |_| Some(Until(now - 1)));
        assert_eq!(map.get("live"), Some(Until(now + 60)));
        assert_eq!(map.get("gone"), None);
        assert_eq!(map.live_len(), 1);
        // A write sees an expired value as absent.
        assert_eq!(map.update("gone".into(), |old| old), None);
        // Many expired entries are swept as writes go on: the maps stay
        // near the live count.
        for i in 0..10_000 {
            map.update(format!("old-{i}"), |_| Some(Until(now - 1)));
        }
        let held: usize = map.shards.iter().map(|s| s.read().unwrap().map.len()).sum();
        assert!(held < SHARDS * MIN_SWEEP * 2, "{held} entries held");
        assert_eq!(map.get("live"), Some(Until(now + 60)));
    }

    #[test]
    fn an_update_that_writes_nothing_keeps_the_value() {
        let map = ExpiringMap::<String, Until>::new();
        let now = now_secs();
        map.update("k".into(), |_| Some(Until(now + 60)));
        assert_eq!(map.update("k".into(), |_| None), Some(Until(now + 60)));
        assert_eq!(
            map.update("k".into(), |old| old.map(|o| Until(o.0 + 1))),
            Some(Until(now + 61))
        );
    }
}
