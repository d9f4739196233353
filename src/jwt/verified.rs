//! A bounded cache of tokens whose signature and claims already checked out.
//!
//! Verifying a token costs an HMAC over its text and a JSON parse; a client
//! sends the same token many times. This cache skips that work for a token
//! seen before, and only that:
//!
//! - the lookup key is a seeded hash of the token's signature segment, and a
//!   hit requires the **whole token text** to equal the cached one, compared
//!   in constant time (no other comparison of token bytes is made):
//!   two different tokens never share an entry (the cache-key confusion of
//!   fast-jwt's GHSA-rp9m-7r4c-75qg cannot happen);
//! - an entry never outlives the token: it dies at `exp` plus the leeway (or
//!   at the end of the absolute session lifetime), checked on every hit;
//! - revocation is still checked on every request (the cache sits before the
//!   blocklist, not instead of it);
//! - only verified tokens are inserted, so a flood of forged tokens costs one
//!   hash lookup each and takes no room;
//! - the cache is bounded, so a flood of distinct valid tokens keeps memory
//!   flat.
//!
//! A hit is one hash of the signature, one read lock of one of 16 shards,
//! one probe by that hash, one `Arc` clone: it is on every request's path,
//! so it does no more.
//! Each shard keeps two generations of at most half its share each: new
//! entries go to the young one; when it is full, the old one is dropped
//! and the young one becomes old. A hit in the old generation moves the
//! entry back to the young one, so tokens in use stay while tokens no
//! longer sent age out within two generations (an approximation of LRU
//! with no bookkeeping on hits). Entries past their time are refused on
//! every hit and dropped with their generation.

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, Hasher},
    sync::{Arc, RwLock},
};

use crate::{time::now_micros, SessionData};

/// Compares two byte strings without an early exit: the time depends on the
/// length only. 32-byte blocks are XORed and ORed into four 64-bit words,
/// without bounds checks; the result is read once.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_blocks, a_rest) = a.as_chunks::<32>();
    let (b_blocks, b_rest) = b.as_chunks::<32>();
    let mut acc = [0u64; 4];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        let (x, _) = x.as_chunks::<8>();
        let (y, _) = y.as_chunks::<8>();
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
        }
    }
    let tail = a_rest.iter().zip(b_rest).fold(0u8, |d, (x, y)| d | (x ^ y));
    let diff = acc.iter().fold(u64::from(tail), |d, w| d | w);
    std::hint::black_box(diff) == 0
}

struct Entry {
    token: Box<[u8]>,
    session: SessionData,
    valid_until_micros: i64,
    /// Which key source verified the token (0: the manager's own keys,
    /// `i + 1`: trusted issuer `i`) and that source's epoch then (0 for
    /// fixed keys): a hit needs the same epoch, so a key removed from a JWK
    /// Set stops verifying its cached tokens too.
    source: u32,
    epoch: u64,
}

/// Shards: enough that the servers' worker threads rarely meet on one lock.
const SHARDS: usize = 16;

/// Entries by the 64-bit hash of their signature (foldhash, seeded per
/// process). Signature bytes are never compared on their own: the hash
/// picks the entry, and the whole token text is then compared in constant
/// time. Two cached signatures with one hash (odds 2^-64 a pair) keep the
/// later one; a presented token whose hash meets another's entry fails the
/// text compare and is verified in full.
type Map = HashMap<u64, Arc<Entry>, BuildHasherDefault<PassThrough>>;

/// The map's hasher: its keys are hashes already.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; fold anything else in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Generations {
    young: Map,
    old: Map,
}

#[derive(Clone)]
pub(crate) struct VerifiedCache {
    inner: Arc<Shared>,
}

struct Shared {
    hasher: foldhash::fast::RandomState,
    shards: Box<[RwLock<Generations>]>,
    /// Entries per generation and shard before the young one turns old.
    generation: usize,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        // Small caches (tests, tiny services) keep one shard, so that the
        // bound is what was asked for.
        let shards = if capacity >= SHARDS * 2 { SHARDS } else { 1 };
        let generation = (capacity / shards / 2).max(1);
        Self {
            inner: Arc::new(Shared {
                shards: (0..shards)
                    .map(|_| {
                        RwLock::new(Generations {
                            young: Map::default(),
                            old: Map::default(),
                        })
                    })
                    .collect(),
                generation,
                hasher: foldhash::fast::RandomState::default(),
            }),
        }
    }

    fn key(&self, sig: &[u8]) -> u64 {
        self.inner.hasher.hash_one(sig)
    }

    fn shard(&self, key: u64) -> &RwLock<Generations> {
        let shards = &self.inner.shards;
        // Bits the map's buckets and tags do not start from; the number of
        // shards is a power of two.
        &shards[(key >> 32) as usize & (shards.len() - 1)]
    }

    /// The signature segment: the lookup key. An HS256 tag (43 characters,
    /// the default) is taken without a scan when a dot precedes it; other
    /// lengths are searched for. The two can differ only for a text whose
    /// last 43 characters hold a dot: no signature of a cached token does
    /// (base64url has none), so such a text finds no entry either way, and
    /// every hit is still checked against the whole token text.
    fn signature(token: &[u8]) -> Option<&[u8]> {
        const HS256_TAG: usize = 43;
        if let Some(dot) = token.len().checked_sub(HS256_TAG + 1) {
            if token[dot] == b'.' {
                return Some(&token[dot + 1..]);
            }
        }
        let dot = token.iter().rposition(|&b| b == b'.')?;
        Some(&token[dot + 1..])
    }

    /// The cached session for exactly these token bytes, if still valid and
    /// verified with keys of the epoch `epoch_of` gives for its source now.
    #[inline]
    pub(crate) fn get(
        &self,
        token: &[u8],
        epoch_of: impl FnOnce(u32) -> Option<u64>,
    ) -> Option<SessionData> {
        let key = self.key(Self::signature(token)?);
        let shard = self.shard(key);
        let (entry, old) = {
            let gens = shard.read().unwrap_or_else(|e| e.into_inner());
            match gens.young.get(&key) {
                Some(e) => (Some(e.clone()), false),
                None => (gens.old.get(&key).cloned(), true),
            }
        };
        let Some(entry) = entry else {
            crate::metrics::verified_cache(false);
            return None;
        };
        crate::metrics::verified_cache(true);
        if !constant_time_eq(&entry.token, token)
            || now_micros() >= entry.valid_until_micros
            || epoch_of(entry.source) != Some(entry.epoch)
        {
            return None;
        }
        if old {
            // Still in use: back to the young generation.
            let mut gens = shard.write().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = gens.old.remove(&key) {
                self.put(&mut gens, key, e);
            }
        }
        Some(entry.session.clone())
    }

    /// Adds to the young generation, turning it old when it is full.
    fn put(&self, gens: &mut Generations, key: u64, entry: Arc<Entry>) {
        if gens.young.len() >= self.inner.generation && !gens.young.contains_key(&key) {
            gens.old = std::mem::take(&mut gens.young);
        }
        gens.young.insert(key, entry);
    }

    pub(crate) fn insert(
        &self,
        token: &[u8],
        session: &SessionData,
        valid_until_micros: i64,
        source: u32,
        epoch: u64,
    ) {
        let Some(sig) = Self::signature(token) else {
            return;
        };
        if valid_until_micros <= now_micros() {
            return;
        }
        let entry = Arc::new(Entry {
            token: token.into(),
            session: session.clone(),
            valid_until_micros,
            source,
            epoch,
        });
        let key = self.key(sig);
        let mut gens = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        gens.old.remove(&key);
        self.put(&mut gens, key, entry);
    }

    pub(crate) fn entry_count(&self) -> u64 {
        let now = now_micros();
        let live = |m: &Map| m.values().filter(|e| e.valid_until_micros > now).count();
        self.inner
            .shards
            .iter()
            .map(|shard| {
                let gens = shard.read().unwrap_or_else(|e| e.into_inner());
                (live(&gens.young) + live(&gens.old)) as u64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = b"header.payload.signature-of-some-length".to_vec();
        assert!(constant_time_eq(&a, &a.clone()));
        for i in 0..a.len() {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!constant_time_eq(&a, &b), "{i}");
        }
        assert!(!constant_time_eq(&a, &a[..a.len() - 1]));
        assert!(constant_time_eq(b"", b""));
    }
}
