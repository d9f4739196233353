//! A bounded cache of tokens whose signature and claims already checked out.
//!
//! Verifying a token costs an HMAC over its text and a JSON parse; a client
//! sends the same token many times. This cache skips that work for a token
//! seen before, and only that:
//!
//! - the lookup key is the token's signature segment, and a hit requires the
//!   **whole token text** to equal the cached one, compared in constant time:
//!   two different tokens never share an entry (the cache-key confusion of
//!   fast-jwt's GHSA-rp9m-7r4c-75qg cannot happen);
//! - an entry never outlives the token: it dies at `exp` plus the leeway (or
//!   at the end of the absolute session lifetime), checked on every hit;
//! - revocation is still checked on every request (the cache sits before the
//!   blocklist, not instead of it);
//! - only verified tokens are inserted, so a flood of forged tokens costs one
//!   hash lookup each and takes no room;
//! - the cache is bounded (moka, TinyLFU), so a flood of distinct valid
//!   tokens keeps memory flat.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{sync::Cache, Expiry};

use crate::{time::now_micros, SessionData};

/// Compares two byte strings without an early exit: the time depends on the
/// length only. 16-byte words are XORed and ORed together; the result is
/// read once.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u128::from_ne_bytes(c.try_into().unwrap_or_default());
    let a_words = a.chunks_exact(16);
    let b_words = b.chunks_exact(16);
    let (a_rest, b_rest) = (a_words.remainder(), b_words.remainder());
    let mut diff = a_words
        .zip(b_words)
        .fold(0u128, |acc, (x, y)| acc | (word(x) ^ word(y)));
    for (x, y) in a_rest.iter().zip(b_rest) {
        diff |= u128::from(x ^ y);
    }
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

struct UntilExpiry;

impl Expiry<Arc<[u8]>, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(&self, _: &Arc<[u8]>, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        let left = e.valid_until_micros.saturating_sub(now_micros()).max(0);
        Some(Duration::from_micros(left as u64))
    }
}

#[derive(Clone)]
pub(crate) struct VerifiedCache {
    // foldhash, seeded per process: only verified tokens are inserted, so
    // nobody can choose the keys that share a bucket, and the signature is
    // hashed in a few dozen instructions (SipHash took ~200).
    cache: Cache<Arc<[u8]>, Arc<Entry>, foldhash::fast::RandomState>,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The signature segment: the lookup key.
    fn signature(token: &[u8]) -> Option<&[u8]> {
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
        let sig = Self::signature(token)?;
        let Some(entry) = self.cache.get(sig) else {
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
        Some(entry.session.clone())
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
        self.cache.insert(
            sig.into(),
            Arc::new(Entry {
                token: token.into(),
                session: session.clone(),
                valid_until_micros,
                source,
                epoch,
            }),
        );
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
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
