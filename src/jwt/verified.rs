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
//!   blocklist, not instead of it): an entry keeps the blocklist's
//!   [`revision`](crate::blocklist::Blocklist::revision) at which its token
//!   last passed, and while the blocklist has taken no write since, the
//!   check is that one comparison (a backend without revisions is asked
//!   every time);
//! - only verified tokens are inserted, so a flood of forged tokens costs one
//!   hash lookup each and takes no room;
//! - the cache is bounded, so a flood of distinct valid tokens keeps memory
//!   flat.
//!
//! A hit is one seeded multiply of the signature's tail (the key), one read
//! lock of one of the store's shards, one probe by that key, one `Arc`
//! clone: it is on every request's path, so it does no more.
//! The store is quick_cache's S3-FIFO (a small probationary queue, a main
//! queue, a ghost list of recent evictions): a token seen once and never
//! again (a flood of distinct valid tokens) leaves through the small queue
//! without pushing out the tokens in use. Under Zipf traffic over a million
//! tokens it keeps ~67% hits at 10,000 entries where the two-generation map
//! it replaced kept ~56% (BENCHMARKS.md). Entries past their time are
//! refused on every hit and age out with the queues.

use std::{
    hash::{BuildHasher, BuildHasherDefault},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use quick_cache::{sync::DefaultLifecycle, UnitWeighter};

use crate::{
    hash::PassThrough,
    jwt::claims::SessionData,
    time::{now_micros, Expiry},
};

/// Compares two byte strings without an early exit: the time depends on the
/// length only. 32-byte blocks are XORed and ORed into four 64-bit words
/// (the compiler keeps them in two vector registers), without bounds checks;
/// the last 32 bytes are one more block, overlapping the ones before, so no
/// byte is compared on its own; the result is read once.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (Some(a_last), Some(b_last)) = (a.last_chunk::<32>(), b.last_chunk::<32>()) else {
        let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
        return std::hint::black_box(diff) == 0;
    };
    let mut acc = [0u64; 4];
    for (x, y) in a.as_chunks::<32>().0.iter().zip(b.as_chunks::<32>().0) {
        xor_into(&mut acc, x, y);
    }
    xor_into(&mut acc, a_last, b_last);
    let diff = acc.iter().fold(0, |d, w| d | w);
    std::hint::black_box(diff) == 0
}

/// ORs the difference of two 32-byte blocks into `acc`.
#[inline(always)]
fn xor_into(acc: &mut [u64; 4], x: &[u8; 32], y: &[u8; 32]) {
    let (x, _) = x.as_chunks::<8>();
    let (y, _) = y.as_chunks::<8>();
    for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
        *acc |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
}

struct Entry {
    token: Box<[u8]>,
    session: SessionData,
    valid_until: Expiry,
    /// Which key source verified the token (0: the manager's own keys,
    /// `i + 1`: trusted issuer `i`) and that source's epoch then (0 for
    /// fixed keys): a hit needs the same epoch, so a key removed from a JWK
    /// Set stops verifying its cached tokens too.
    source: u32,
    epoch: u64,
    /// The blocklist's [`revision`](crate::blocklist::Blocklist::revision)
    /// at which this token last passed its revocation check
    /// ([`NOT_PASSED`] before that).
    passed: AtomicU64,
    /// Where the blocklist keeps what could concern this token
    /// ([`revision_slots`](crate::blocklist::Blocklist::revision_slots)),
    /// [`UNKNOWN_SLOTS`] until asked, [`NO_SLOTS`] when it cannot say.
    slots: AtomicU64,
    /// The [`revision_at`](crate::blocklist::Blocklist::revision_at) those
    /// slots at which this token last passed its check ([`NOT_PASSED`]
    /// before that).
    passed_at_slots: AtomicU64,
}

/// No blocklist revision: a counter that starts at 0 never reaches it.
const NOT_PASSED: u64 = u64::MAX;
/// The token's slots were not asked for yet.
const UNKNOWN_SLOTS: u64 = u64::MAX;
/// The blocklist keeps no narrower revision for this token.
pub(crate) const NO_SLOTS: u64 = u64::MAX - 1;

/// A cached token: its session, and what the blocklist last said of it.
pub(crate) struct Hit(Arc<Entry>);

impl Hit {
    pub(crate) fn session(&self) -> &SessionData {
        &self.0.session
    }

    /// Whether the token passed its revocation check at blocklist revision
    /// `revision`: nothing was stored since, so the answer would be the
    /// same.
    #[inline]
    pub(crate) fn passed_at(&self, revision: u64) -> bool {
        self.0.passed.load(Ordering::Relaxed) == revision
    }

    /// Records that the token passed its revocation check against the
    /// blocklist as of `revision` (read before the check).
    pub(crate) fn mark_passed(&self, revision: u64) {
        self.0.passed.store(revision, Ordering::Relaxed);
    }

    /// The token's slots, once asked for ([`NO_SLOTS`] when there are
    /// none).
    #[inline]
    pub(crate) fn slots(&self) -> Option<u64> {
        let slots = self.0.slots.load(Ordering::Relaxed);
        (slots != UNKNOWN_SLOTS).then_some(slots)
    }

    pub(crate) fn set_slots(&self, slots: u64) {
        self.0.slots.store(slots, Ordering::Relaxed);
    }

    /// Whether the token passed its check when its slots were at
    /// `revision`: nothing that could concern it was stored since.
    #[inline]
    pub(crate) fn passed_at_slots(&self, revision: u64) -> bool {
        self.0.passed_at_slots.load(Ordering::Relaxed) == revision
    }

    /// Records that the token passed its check with its slots at
    /// `revision` (read before the check).
    pub(crate) fn mark_passed_at_slots(&self, revision: u64) {
        self.0.passed_at_slots.store(revision, Ordering::Relaxed);
    }
}

/// Entries by a 64-bit key made from their signature (see
/// [`VerifiedCache::key`]). Signature bytes are never compared on their
/// own: the key picks the entry, and the whole token text is then compared
/// in constant time. Two cached signatures with one key (odds 2^-64 a pair) keep the
/// later one; a presented token whose key meets another's entry fails the
/// text compare and is verified in full.
type Store = quick_cache::sync::Cache<
    u64,
    Arc<Entry>,
    UnitWeighter,
    BuildHasherDefault<PassThrough>,
    DefaultLifecycle<u64, Arc<Entry>>,
>;

#[derive(Clone)]
pub(crate) struct VerifiedCache {
    inner: Arc<Shared>,
}

struct Shared {
    /// Per-process random seeds of the keys.
    seeds: [u64; 2],
    hasher: foldhash::fast::RandomState,
    store: Store,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64) -> Self {
        let capacity = capacity.max(1);
        let hasher = foldhash::fast::RandomState::default();
        Self {
            inner: Arc::new(Shared {
                store: Store::with(
                    usize::try_from(capacity).unwrap_or(usize::MAX),
                    capacity,
                    UnitWeighter,
                    BuildHasherDefault::default(),
                    DefaultLifecycle::default(),
                ),
                seeds: [hasher.hash_one(1u8), hasher.hash_one(2u8)],
                hasher,
            }),
        }
    }

    /// The key of a signature segment: its last 16 characters, seeded and
    /// folded by one 128-bit multiply. A signature is unpredictable to
    /// anyone without the signing key, and only verified tokens are stored,
    /// so nobody can steer stored keys into one bucket; a presented text
    /// only looks up. Shorter segments (no real signature is) are hashed
    /// whole.
    #[inline]
    fn key(&self, sig: &[u8]) -> u64 {
        let Some(tail) = sig.last_chunk::<16>() else {
            return self.inner.hasher.hash_one(sig);
        };
        let (halves, _) = tail.as_chunks::<8>();
        let [seed_a, seed_b] = self.inner.seeds;
        let a = u64::from_le_bytes(halves[0]) ^ seed_a;
        let b = u64::from_le_bytes(halves[1]) ^ seed_b;
        let product = u128::from(a) * u128::from(b);
        (product as u64) ^ ((product >> 64) as u64)
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
    ) -> Option<Hit> {
        let key = self.key(Self::signature(token)?);
        self.get_keyed(key, token, epoch_of)
    }

    /// The cached session of the token whose SHA-256 is `digest` (an
    /// opaque token's introspection answer), if still valid.
    #[cfg(feature = "jwks")]
    #[inline]
    pub(crate) fn get_digest(&self, digest: &[u8; 32]) -> Option<Hit> {
        self.get_keyed(self.key(digest), digest, |_| Some(0))
    }

    /// [`insert`](Self::insert) under the token's SHA-256, `digest`.
    #[cfg(feature = "jwks")]
    pub(crate) fn insert_digest(
        &self,
        digest: &[u8; 32],
        session: &SessionData,
        valid_until_micros: i64,
    ) {
        self.insert_keyed(self.key(digest), digest, session, valid_until_micros, 0, 0);
    }

    #[inline]
    fn get_keyed(
        &self,
        key: u64,
        token: &[u8],
        epoch_of: impl FnOnce(u32) -> Option<u64>,
    ) -> Option<Hit> {
        let entry = self.inner.store.get(&key);
        let Some(entry) = entry else {
            crate::metrics::verified_cache(false);
            return None;
        };
        crate::metrics::verified_cache(true);
        if !constant_time_eq(&entry.token, token)
            || entry.valid_until.has_passed()
            || epoch_of(entry.source) != Some(entry.epoch)
        {
            return None;
        }
        Some(Hit(entry))
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
        self.insert_keyed(
            self.key(sig),
            token,
            session,
            valid_until_micros,
            source,
            epoch,
        );
    }

    fn insert_keyed(
        &self,
        key: u64,
        token: &[u8],
        session: &SessionData,
        valid_until_micros: i64,
        source: u32,
        epoch: u64,
    ) {
        if valid_until_micros <= now_micros() {
            return;
        }
        let entry = Arc::new(Entry {
            token: token.into(),
            session: session.clone(),
            valid_until: Expiry::at_micros(valid_until_micros),
            source,
            epoch,
            passed: AtomicU64::new(NOT_PASSED),
            slots: AtomicU64::new(UNKNOWN_SLOTS),
            passed_at_slots: AtomicU64::new(NOT_PASSED),
        });
        self.inner.store.insert(key, entry);
    }

    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn entry_count(&self) -> u64 {
        self.inner
            .store
            .iter()
            .filter(|(_, e)| !e.valid_until.has_passed())
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::{constant_time_eq, VerifiedCache};

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
        // Around the block size: whole blocks, the overlapping last block,
        // the short form.
        for len in [1, 31, 32, 33, 63, 64, 65, 615] {
            let a: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert!(constant_time_eq(&a, &a.clone()), "{len}");
            for i in 0..len {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!constant_time_eq(&a, &b), "{len} {i}");
            }
        }
    }

    #[test]
    fn keys_take_every_bit_of_the_signatures_tail_and_the_seed() {
        let a = VerifiedCache::new(100);
        let b = VerifiedCache::new(100);
        let sig = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        let key = a.key(sig);
        assert_eq!(key, a.key(sig));
        assert_ne!(key, b.key(sig), "seeded per cache");
        for i in sig.len() - 16..sig.len() {
            let mut other = *sig;
            other[i] ^= 1;
            assert_ne!(key, a.key(&other), "{i}");
        }
        // Short segments are hashed whole.
        assert_eq!(a.key(b"short"), a.key(b"short"));
        assert_ne!(a.key(b"short"), a.key(b"shorT"));
    }
}
