//! [`Facts`]: a compact in-memory set of revocation facts, for replicas that
//! hold every live fact of a shared store.
//!
//! Sharded hash maps behind read-write locks, keyed by a 96-bit keyed
//! digest of the fact's key (SipHash-1-3 under a random key): 20 bytes a
//! fact plus the table's slack, whatever the key's length, since a replica
//! needs no eviction policy, no access bookkeeping and never the key text
//! back. A lookup meets another key's digest with probability n / 2^96 for
//! n facts (10^-22 for ten million), and nobody who does not hold the
//! digest key can aim at one. Deadlines are
//! kept in seconds as `u32` (until 2106) and generations saturate at
//! 2^32 - 2 (four billion refreshes of one session).
//!
//! Facts expire at their deadline: a lookup ignores an expired fact, and
//! [`Facts::sweep`] drops them. What the set knows only grows until those
//! deadlines: revocations and ends stay, generations and watermarks only
//! rise. [`snapshot`](super::snapshot) writes and reads the whole set.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hash, Hasher},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use siphasher::sip128::SipHasher13;

use crate::blocklist::{BlocklistFuture, Lookup, Rotation, TokenKey};
use crate::hash::PassThrough;
use crate::time::now_secs;

const SHARDS: usize = 16;
/// Stamps: each fact's digest falls in one (its top 12 bits), counted up
/// after every fact learned there (see [`Facts::stamps_at`]).
const STAMP_BITS: u32 = 12;
const STAMPS: usize = 1 << STAMP_BITS;
/// `state` of a revoked token or an ended session.
const REVOKED: u32 = u32::MAX;

/// The keyed digest of a fact's key (or of a user id, for watermarks):
/// three words, so that a fact takes 20 bytes with its value (4-byte
/// alignment).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Digest(pub(crate) [u32; 3]);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly spread by a keyed hash: the table uses two
        // words as they are (the first picks the shard and the stamp).
        state.write_u64((u64::from(self.0[1]) << 32) | u64::from(self.0[2]));
    }
}

type Table<V> = HashMap<Digest, V, BuildHasherDefault<PassThrough>>;

/// A fact as held: 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fact {
    /// Deadline, seconds since the epoch.
    pub(crate) until: u32,
    /// A session's generation, or `u32::MAX` for a revoked token or an
    /// ended session.
    pub(crate) state: u32,
}

/// A user's watermark as held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) micros: i64,
    pub(crate) until: u32,
}

/// A deadline in the table's unit: clamped into `u32` seconds.
fn deadline(until: i64) -> u32 {
    u32::try_from(until.max(0)).unwrap_or(u32::MAX)
}

/// See the [module docs](self). Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct Facts {
    inner: Arc<Inner>,
}

struct Inner {
    /// The digest key, as two halves (replaced only by
    /// [`Facts::reset_with_key`], before the replica answers).
    key: [AtomicU64; 2],
    shards: [RwLock<Table<Fact>>; SHARDS],
    marks: RwLock<Table<Mark>>,
    /// Whether any watermark was ever learned: until then, lookups skip them.
    any_mark: AtomicBool,
    /// How many facts were learned: raised after each one, under its lock.
    writes: AtomicU64,
    /// How many facts were learned in each stamp slot: raised after each
    /// one, under its lock, before `writes`.
    stamps: Box<[AtomicU64]>,
}

fn stamp_slot(digest: Digest) -> u64 {
    u64::from(digest.0[0] >> (32 - STAMP_BITS))
}

/// A fresh random digest key (the standard library's per-process random
/// SipHash keys, which the operating system seeds, hashed into two words).
fn random_key() -> (u64, u64) {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    (state.hash_one(0x6b30_u32), state.hash_one(0x6b31_u32))
}

impl Facts {
    pub(crate) fn new() -> Self {
        let (k0, k1) = random_key();
        Self {
            inner: Arc::new(Inner {
                key: [AtomicU64::new(k0), AtomicU64::new(k1)],
                shards: std::array::from_fn(|_| RwLock::new(Table::default())),
                marks: RwLock::new(Table::default()),
                any_mark: AtomicBool::new(false),
                writes: AtomicU64::new(0),
                stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
            }),
        }
    }

    /// The digest key: a [snapshot](super::snapshot) carries it, so that the
    /// replica that loads it can read its digests.
    pub(crate) fn digest_key(&self) -> (u64, u64) {
        (
            self.inner.key[0].load(Ordering::Acquire),
            self.inner.key[1].load(Ordering::Acquire),
        )
    }

    /// Forgets every fact and digests under `key` from now on: only before
    /// the replica answers from memory (a snapshot's facts are about to be
    /// loaded, then the store's changes after it, which bring back anything
    /// learned before). A write learned concurrently under the old key is
    /// then unreachable, never wrong.
    pub(crate) fn reset_with_key(&self, key: (u64, u64)) {
        let mut shards: Vec<_> = self
            .inner
            .shards
            .iter()
            .map(|s| s.write().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let mut marks = self.inner.marks.write().unwrap_or_else(|e| e.into_inner());
        self.inner.key[0].store(key.0, Ordering::Release);
        self.inner.key[1].store(key.1, Ordering::Release);
        for shard in &mut shards {
            shard.clear();
        }
        marks.clear();
        // Every digest changed: whatever a slot stood for, it changed too.
        for stamp in self.inner.stamps.iter() {
            stamp.fetch_add(1, Ordering::Release);
        }
        self.inner.writes.fetch_add(1, Ordering::Release);
    }

    /// Where the facts of `key` and the watermark of `user_id` are stamped:
    /// two slots in one number, for [`stamps_at`](Self::stamps_at).
    pub(crate) fn slots(&self, key: &TokenKey, user_id: &str) -> u64 {
        let key = stamp_slot(self.digest(key.as_str()));
        let user = stamp_slot(self.digest(user_id));
        (key << 32) | user
    }

    /// The sum of the stamps of both `slots`: it changes after every fact
    /// learned in either (both only rise), so an unchanged sum means
    /// nothing was learned there.
    #[inline]
    pub(crate) fn stamps_at(&self, slots: u64) -> u64 {
        let mask = STAMPS as u64 - 1;
        let stamp = |slot: u64| self.inner.stamps[(slot & mask) as usize].load(Ordering::Acquire);
        stamp(slots >> 32).wrapping_add(stamp(slots))
    }

    /// Makes room for about `facts` more facts at once, when a load knows
    /// how many come (a table grown one doubling at a time leaves the
    /// smaller tables it outgrew to the allocator, which keeps them).
    pub(crate) fn reserve(&self, facts: u64) {
        let per_shard = usize::try_from(facts / SHARDS as u64 + 1).unwrap_or(usize::MAX);
        for shard in &self.inner.shards {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            // A failed reservation only means the table grows as it goes.
            let _ = shard.try_reserve(per_shard);
        }
    }

    fn digest(&self, text: &str) -> Digest {
        let (k0, k1) = self.digest_key();
        let (h1, h2) = SipHasher13::new_with_keys(k0, k1)
            .hash(text.as_bytes())
            .as_u64();
        Digest([(h1 >> 32) as u32, h1 as u32, h2 as u32])
    }

    fn shard(&self, digest: Digest) -> &RwLock<Table<Fact>> {
        &self.inner.shards[digest.0[0] as usize % SHARDS]
    }

    /// Merges a fact into what is known under `digest`.
    pub(crate) fn merge_fact(&self, digest: Digest, fact: Fact) {
        if i64::from(fact.until) <= now_secs() {
            return;
        }
        let mut shard = self
            .shard(digest)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        shard
            .entry(digest)
            .and_modify(|known| {
                known.until = known.until.max(fact.until);
                // REVOKED is the largest state: an end always wins.
                known.state = known.state.max(fact.state);
            })
            .or_insert(fact);
        self.learned(digest);
    }

    /// Merges a watermark into what is known under `digest`.
    pub(crate) fn merge_mark(&self, digest: Digest, mark: Mark) {
        if i64::from(mark.until) <= now_secs() {
            return;
        }
        self.inner.any_mark.store(true, Ordering::Release);
        let mut marks = self.inner.marks.write().unwrap_or_else(|e| e.into_inner());
        marks
            .entry(digest)
            .and_modify(|known| {
                known.micros = known.micros.max(mark.micros);
                known.until = known.until.max(mark.until);
            })
            .or_insert(mark);
        self.learned(digest);
    }

    /// Counts a fact just learned under `digest` (called under its lock):
    /// its stamp first, then the revision.
    fn learned(&self, digest: Digest) {
        self.inner.stamps[stamp_slot(digest) as usize].fetch_add(1, Ordering::Release);
        self.inner.writes.fetch_add(1, Ordering::Release);
    }

    /// How many facts were learned so far: it changes after each one is
    /// visible to [`lookup`](Self::lookup).
    pub(crate) fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Acquire)
    }

    /// The token or session under `key` is revoked (ended) until `until`.
    pub(crate) fn learn_revoked(&self, key: &TokenKey, until: i64) {
        let fact = Fact {
            until: deadline(until),
            state: REVOKED,
        };
        self.merge_fact(self.digest(key.as_str()), fact);
    }

    /// The session under `key` is at least at `generation` until `until`.
    pub(crate) fn learn_generation(&self, key: &TokenKey, generation: u64, until: i64) {
        let fact = Fact {
            until: deadline(until),
            state: u32::try_from(generation)
                .unwrap_or(REVOKED - 1)
                .min(REVOKED - 1),
        };
        self.merge_fact(self.digest(key.as_str()), fact);
    }

    /// `user_id`'s watermark is at least `micros` until `until`.
    pub(crate) fn learn_watermark(&self, user_id: &str, micros: i64, until: i64) {
        let mark = Mark {
            micros,
            until: deadline(until),
        };
        self.merge_mark(self.digest(user_id), mark);
    }

    /// What is known of `key` and `user_id` now: one shard read, and the
    /// watermarks only when any exists.
    pub(crate) fn lookup(&self, key: &TokenKey, user_id: &str) -> Lookup {
        let now = now_secs();
        let digest = self.digest(key.as_str());
        let fact = self
            .shard(digest)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .copied()
            .filter(|f| i64::from(f.until) > now);
        let valid_after_micros = if self.inner.any_mark.load(Ordering::Acquire) {
            let user = self.digest(user_id);
            self.inner
                .marks
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&user)
                .filter(|m| i64::from(m.until) > now)
                .map(|m| m.micros)
        } else {
            None
        };
        let (revoked, generation) = match fact.map(|f| f.state) {
            Some(REVOKED) => (true, 0),
            Some(g) if key.is_session() => (false, u64::from(g)),
            Some(_) => (true, 0),
            None => (false, 0),
        };
        Lookup {
            revoked,
            generation,
            valid_after_micros,
        }
    }

    /// Calls `fact` for every fact and `mark` for every watermark not past
    /// its deadline, a shard at a time (each under its read lock).
    pub(crate) fn for_each(
        &self,
        mut fact: impl FnMut(Digest, Fact),
        mut mark: impl FnMut(Digest, Mark),
    ) {
        let now = now_secs();
        for shard in &self.inner.shards {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            for (d, f) in shard.iter().filter(|(_, f)| i64::from(f.until) > now) {
                fact(*d, *f);
            }
        }
        let marks = self.inner.marks.read().unwrap_or_else(|e| e.into_inner());
        for (d, m) in marks.iter().filter(|(_, m)| i64::from(m.until) > now) {
            mark(*d, *m);
        }
    }

    /// Drops the facts whose deadline passed.
    pub(crate) fn sweep(&self) {
        let now = now_secs();
        for shard in &self.inner.shards {
            shard
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, f| i64::from(f.until) > now);
        }
        self.inner
            .marks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, m| i64::from(m.until) > now);
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

    #[test]
    fn a_token_s_stamps_change_with_its_own_facts_only() {
        let facts = Facts::new();
        let later = now_secs() + 60;
        let (token, user) = (TokenKey::from_jti("mine"), "me");
        let slots = facts.slots(&token, user);
        let before = facts.stamps_at(slots);
        // Other facts: most fall in other slots (4,096 of them).
        let mut unchanged = 0;
        for i in 0..100 {
            let at = facts.stamps_at(slots);
            facts.learn_revoked(&TokenKey::from_jti(&format!("other-{i}")), later);
            unchanged += usize::from(facts.stamps_at(slots) == at);
        }
        assert!(unchanged >= 90, "{unchanged}");
        let at = facts.stamps_at(slots);
        facts.learn_revoked(&token, later);
        assert_ne!(facts.stamps_at(slots), at, "the token's own revocation");
        let at = facts.stamps_at(slots);
        facts.learn_watermark(user, 1, later);
        assert_ne!(facts.stamps_at(slots), at, "the user's watermark");
        let at = facts.stamps_at(slots);
        facts.reset_with_key((1, 2));
        assert_ne!(facts.stamps_at(slots), at, "a new digest key");
        assert_ne!(facts.stamps_at(slots), before);
    }
}
