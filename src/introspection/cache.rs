//! The answers of an introspection endpoint, kept for a while: keyed by the
//! SHA-256 of the token (never its text), active ones with their session
//! until the token's `exp` or the cache time, inactive ones for a short
//! bound, a bounded number of each.

use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::{jwt::claims::SessionData, jwt::verified::VerifiedCache, time::now_micros};

/// The SHA-256 of a token's text.
pub(crate) type TokenDigest = [u8; 32];

/// The SHA-256 of `token`.
pub(crate) fn digest(token: &[u8]) -> TokenDigest {
    Sha256::digest(token).into()
}

/// What the cache knows of a token.
pub(super) enum Cached {
    Active(SessionData),
    Inactive,
}

pub(super) struct Answers {
    /// Active answers, each until its time (the cache of verified tokens,
    /// keyed by the digest instead of the text).
    active: Option<VerifiedCache>,
    /// Inactive answers (and answers refused for their content).
    inactive: Option<moka::sync::Cache<TokenDigest, ()>>,
    ttl: Duration,
}

impl Answers {
    /// A cache of at most `capacity` active answers kept at most `ttl`
    /// (none when `ttl` is zero), and a tenth as many inactive ones kept at
    /// most `inactive_ttl` (capped by `ttl`).
    pub(super) fn new(capacity: u64, ttl: Duration, inactive_ttl: Duration) -> Self {
        let inactive_ttl = inactive_ttl.min(ttl);
        Self {
            active: (!ttl.is_zero()).then(|| VerifiedCache::new(capacity)),
            inactive: (!inactive_ttl.is_zero()).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity((capacity / 10).max(1))
                    .time_to_live(inactive_ttl)
                    .build()
            }),
            ttl,
        }
    }

    pub(super) fn get(&self, digest: &TokenDigest) -> Option<Cached> {
        if let Some(hit) = self.active.as_ref().and_then(|c| c.get_digest(digest)) {
            return Some(Cached::Active(hit.session().clone()));
        }
        self.inactive
            .as_ref()
            .and_then(|c| c.get(digest))
            .map(|()| Cached::Inactive)
    }

    /// Keeps an active answer until `valid_until_micros` (the token's
    /// `exp`) or the cache time, whichever comes first.
    pub(super) fn keep_active(
        &self,
        digest: TokenDigest,
        session: &SessionData,
        valid_until_micros: i64,
    ) {
        if let Some(cache) = &self.active {
            let until =
                valid_until_micros.min(now_micros().saturating_add(self.ttl.as_micros() as i64));
            cache.insert_digest(&digest, session, until);
        }
    }

    pub(super) fn keep_inactive(&self, digest: TokenDigest) {
        if let Some(cache) = &self.inactive {
            cache.insert(digest, ());
        }
    }
}
