//! Revocation storage: the [`Blocklist`] trait and its in-memory default.
//!
//! A JWT stays valid until its `exp`; revoking it early needs state. The
//! blocklist holds three kinds of facts:
//!
//! - **sessions**, keyed by [`TokenKey::from_session`]: every token minted
//!   here belongs to a session (`sid`) and carries its generation (`gen`),
//!   which each refresh increments. The blocklist keeps, per session that
//!   was refreshed or ended, its current generation or "ended", until its
//!   last token expires. A token is valid only at its session's current
//!   generation, so state grows with live sessions, not with refreshes;
//! - **revoked tokens**, for tokens without `sid` (the TypeScript seed's, or
//!   older versions of this crate), keyed by `jti` or a digest and kept until
//!   the token's `exp` plus the leeway;
//! - **per-user watermarks** ("valid after"): every token of the user issued
//!   before the watermark is refused. This is "log out everywhere". Issue
//!   times and watermarks are both written in the blocklist's clock
//!   ([`Blocklist::clock_micros`]), so server clock skew cannot let a token
//!   survive it.
//!
//! # The contract
//!
//! Implementations must keep these promises; the layer's safety rests on them.
//!
//! 1. **`Ok` means stored.** `revoke` and `set_valid_after` return `Ok(())`
//!    only once the fact is durable for the backend (in memory for
//!    [`MemoryBlocklist`], acknowledged by the server for a remote store).
//!    A revocation must never be dropped to make room: no capacity-based
//!    eviction of stored facts before their expiry.
//! 2. **Failure is an error, never "not revoked".** When the backend cannot
//!    answer, `check` returns `Err`; the layer then answers `503` (fail closed).
//! 3. **Watermarks only move forward.** `set_valid_after` keeps the larger of
//!    the stored and the new value, so two nodes racing cannot reopen a window.
//! 4. **One answer per check.** `check` answers every question (is this
//!    token revoked or its session ended, the session's current generation,
//!    this user's watermark) so that a remote backend needs one round trip
//!    at most.
//! 5. **Rotation is atomic and single-use.** `rotate` moves a session from
//!    generation `g` to `g + 1` only if its current generation is `g` (no
//!    fact counts as generation 0), in one atomic step across every server
//!    sharing the store: of two rotations from `g`, exactly one succeeds.
//!    A session that was ended stays ended (`revoke` on its key).
//! 6. **One clock.** `clock_micros` is the backend's time as this node
//!    knows it (the default, this process's clock, is right for a backend
//!    that lives in one process). Every node writes issue times with it.
//! 7. **Rotations and watermarks are ordered by the store.** `rotate` reads
//!    the user's watermark in the same atomic step and refuses a token
//!    issued before it ([`Rotation::LoggedOut`]); the issue time it returns
//!    for the successor is the store's own time at that step; and
//!    `set_valid_after` raises the watermark past every issue time a
//!    rotation returned before it. So a refresh racing a "log out
//!    everywhere" either sees the watermark or is covered by it, however
//!    long the watermark's write took to reach the store.
//!
//! [`Blocklist::try_check`] is an optional synchronous fast path: a backend
//! that can answer without waiting (memory, a warm cache) returns `Some`, and
//! the layer skips allocating a future.
//!
//! # Example: a custom backend
//!
//! A complete backend over a `Mutex<HashMap>`, for illustration (it never
//! forgets expired entries; [`MemoryBlocklist`] does):
//!
//! ```
//! use std::{collections::HashMap, sync::Mutex};
//! use tower_jwt_session::blocklist::{Blocklist, BlocklistFuture, Lookup, Rotation, TokenKey};
//!
//! #[derive(Debug, Default)]
//! struct MapBlocklist {
//!     revoked: Mutex<HashMap<TokenKey, i64>>,
//!     generations: Mutex<HashMap<TokenKey, u64>>,
//!     /// Watermarks, and the last issue time a rotation handed out: one
//!     /// lock orders rotations and watermarks.
//!     watermarks: Mutex<(HashMap<String, i64>, i64)>,
//! }
//!
//! impl Blocklist for MapBlocklist {
//!     fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
//!         let fresh = self.revoked.lock().unwrap().insert(key.clone(), until).is_none();
//!         Box::pin(async move { Ok(fresh) })
//!     }
//!
//!     fn rotate(
//!         &self,
//!         key: &TokenKey,
//!         from: u64,
//!         _until: i64,
//!         user_id: &str,
//!         issued_at_micros: i64,
//!     ) -> BlocklistFuture<Rotation> {
//!         let mut order = self.watermarks.lock().unwrap();
//!         let outcome = match order.0.get(user_id) {
//!             Some(&mark) if issued_at_micros < mark => Rotation::LoggedOut { valid_after_micros: mark },
//!             _ if self.revoked.lock().unwrap().contains_key(key) => Rotation::Ended,
//!             _ => {
//!                 let mut generations = self.generations.lock().unwrap();
//!                 let current = generations.entry(key.clone()).or_insert(0);
//!                 if *current > from {
//!                     Rotation::Superseded { current: *current }
//!                 } else {
//!                     *current = from + 1;
//!                     order.1 = tower_jwt_session::blocklist::now_micros().max(order.1 + 1);
//!                     Rotation::Rotated { issued_at_micros: order.1 }
//!                 }
//!             }
//!         };
//!         Box::pin(async move { Ok(outcome) })
//!     }
//!
//!     fn set_valid_after(&self, user_id: &str, micros: i64, _until: i64) -> BlocklistFuture<i64> {
//!         let mut order = self.watermarks.lock().unwrap();
//!         // Past the clock and every issue time a rotation handed out so far.
//!         let now = tower_jwt_session::blocklist::now_micros();
//!         let floor = micros.max(order.1 + 1).max(now + 1);
//!         let mark = order.0.entry(user_id.to_owned()).or_insert(floor);
//!         *mark = (*mark).max(floor);
//!         let stored = *mark;
//!         Box::pin(async move { Ok(stored) })
//!     }
//!
//!     fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
//!         let lookup = Lookup {
//!             revoked: self.revoked.lock().unwrap().contains_key(key),
//!             generation: self.generations.lock().unwrap().get(key).copied().unwrap_or(0),
//!             valid_after_micros: self.watermarks.lock().unwrap().0.get(user_id).copied(),
//!         };
//!         Box::pin(async move { Ok(lookup) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let list = MapBlocklist::default();
//! let key = TokenKey::from_jti("abc");
//! list.revoke(&key, i64::MAX).await.unwrap();
//! assert!(list.check(&key, "u-1").await.unwrap().revoked);
//! let session = TokenKey::from_session("s-1");
//! let t0 = tower_jwt_session::blocklist::now_micros();
//! assert!(matches!(list.rotate(&session, 0, i64::MAX, "u-1", t0).await.unwrap(), Rotation::Rotated { .. }));
//! assert_eq!(list.rotate(&session, 0, i64::MAX, "u-1", t0).await.unwrap(), Rotation::Superseded { current: 1 });
//! assert_eq!(list.check(&session, "u-1").await.unwrap().generation, 1);
//! // Logged out everywhere: a token issued before cannot be refreshed.
//! let mark = list.set_valid_after("u-1", t0 + 1, i64::MAX).await.unwrap();
//! assert!(matches!(list.rotate(&session, 1, i64::MAX, "u-1", t0).await.unwrap(), Rotation::LoggedOut { .. }));
//! assert!(mark > t0);
//! # }
//! ```

use std::{fmt, future::Future, pin::Pin, sync::Arc};

pub use crate::error::BlocklistError;

mod cached;
mod expiring;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) mod replica;
pub(crate) mod subjects;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::{PostgresBlocklist, PostgresBlocklistBuilder, PostgresReplica};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisBlocklist, RedisBlocklistBuilder, RedisReplica};
pub use cached::{CacheConfig, CacheInvalidator, CachedBlocklist};
pub use memory::MemoryBlocklist;
#[cfg(any(feature = "redis", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "redis", feature = "postgres"))))]
pub use replica::{Replica, ReplicaStats, HEARTBEAT};

/// The future a [`Blocklist`] returns: boxed, `Send` and `'static`, so that
/// the trait is dyn-compatible (`Arc<dyn Blocklist>`).
pub type BlocklistFuture<T> = Pin<Box<dyn Future<Output = Result<T, BlocklistError>> + Send>>;

/// Storage for revoked tokens and per-user watermarks.
///
/// See the [module docs](self) for the contract every implementation keeps.
/// Times are Unix timestamps: `until` in seconds (when the fact may be
/// forgotten), watermarks in microseconds.
pub trait Blocklist: fmt::Debug + Send + Sync + 'static {
    /// Stores that the token under `key` is revoked (for a session key: that
    /// the session ended, whatever its generation), until the Unix time
    /// `until` (seconds; a later deadline already stored is kept). `Ok` means
    /// stored: `Ok(true)` when this call stored it, `Ok(false)` when it was
    /// already revoked (so that a token can be refreshed once only, even by
    /// two servers at the same time). An `until` already in the past stores
    /// nothing and is `Ok(true)`: the token is refused as expired anyway.
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool>;

    /// Moves the session under `key` from generation `from` to `from + 1`,
    /// atomically, and keeps the fact until `until` (seconds; a later
    /// deadline already stored is kept): [`Rotation::Rotated`], with the
    /// successor's issue time in the store's clock. In the same atomic
    /// step: when `user_id`'s watermark is past `issued_at_micros` (the
    /// presented token's issue time), nothing changes and the answer is
    /// [`Rotation::LoggedOut`]; when the session's current generation is
    /// already past `from`, [`Rotation::Superseded`] (the presented token
    /// was rotated away: a replay); when the session was ended,
    /// [`Rotation::Ended`]. No stored fact counts as generation 0.
    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation>;

    /// Raises `user_id`'s watermark to at least `valid_after_micros` and
    /// past the store's clock, so past every issue time that a
    /// [`rotate`](Blocklist::rotate) answered before this write (never
    /// lowers it), kept until the Unix time `until`
    /// (seconds). Tokens of the user issued before the watermark are
    /// refused. Returns the watermark now stored.
    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64>;

    /// Raises `user_id`'s watermark to at least `valid_after_micros`, and no
    /// further: no floor at the store's clock. For cut-offs read in another
    /// clock, such as an identity provider's logouts and security events
    /// ("every token issued up to the event"), whose subjects are never
    /// rotated here: tokens issued after the cut-off stay valid. Kept until
    /// the Unix time `until` (seconds); never lowers the watermark. Returns
    /// the watermark now stored.
    ///
    /// Default: [`set_valid_after`](Blocklist::set_valid_after), which
    /// refuses every token up to the store's clock too (more than asked,
    /// never less). The backends of this crate store exactly the cut-off.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_jwt_session::{blocklist::{MemoryBlocklist, Blocklist, TokenKey}};
    ///
    /// let list = MemoryBlocklist::new();
    /// let event = 1_700_000_000_000_000; // the provider's logout, in its clock
    /// let until = tower_jwt_session::blocklist::now_micros() / 1_000_000 + 3600;
    /// assert_eq!(list.raise_valid_after("idp-subject", event, until).await.unwrap(), event);
    /// // An older event (a replay) lowers nothing.
    /// assert_eq!(list.raise_valid_after("idp-subject", event - 5, until).await.unwrap(), event);
    /// let key = TokenKey::from_jti("any");
    /// assert_eq!(list.check(&key, "idp-subject").await.unwrap().valid_after_micros, Some(event));
    /// # }
    /// ```
    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        self.set_valid_after(user_id, valid_after_micros, until)
    }

    /// Whether `key` is revoked (or its session ended), the session's
    /// current generation, and `user_id`'s watermark, in one answer.
    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup>;

    /// Records `key` as used, once, until the Unix time `until` (seconds):
    /// `Ok(true)` when this call recorded it, `Ok(false)` when it was
    /// recorded already, by any server sharing the store. For single-use
    /// values such as DPoP proofs' `jti`s: one atomic command, and unlike a
    /// revocation nothing is replicated into the servers' memory. Default:
    /// [`revoke`](Blocklist::revoke) of a `jti` key (right for a backend
    /// that lives in one process).
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        self.revoke(&TokenKey::from_jti(key), until)
    }

    /// The backend's clock in Unix microseconds, as this node knows it.
    /// Issue times and watermarks are written with it, so that a server
    /// whose own clock is off cannot mint tokens that outlive a
    /// log-out-everywhere made on another server. Default: this process's
    /// clock, which is right for a backend that lives in one process.
    fn clock_micros(&self) -> i64 {
        crate::time::now_micros()
    }

    /// Answers [`check`](Blocklist::check) without waiting, when possible.
    ///
    /// The default returns `None` (always go through `check`). A backend that
    /// answers from memory returns `Some`, which saves the layer a boxed
    /// future per request.
    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        let _ = (key, user_id);
        None
    }

    /// A counter of the writes this backend has taken in, when its answers
    /// come from memory: `Some(n)` promises that while it stays `n`, every
    /// [`try_check`](Blocklist::try_check) answers `Ok` as it did when `n`
    /// was first read, or with fewer refusals (facts may expire, none
    /// appear). The layer then skips the check of a cached token that
    /// passed at `n`. The value changes **after** every write that could
    /// refuse a token is visible to `try_check` (revocation, rotation,
    /// watermark, an outage that makes `try_check` fail), and never comes
    /// back to an earlier value.
    ///
    /// The default, `None`, means no such promise: every request is
    /// checked.
    ///
    /// ```
    /// use tower_jwt_session::blocklist::{Blocklist, MemoryBlocklist, TokenKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let list = MemoryBlocklist::new();
    /// let before = list.revision();
    /// assert!(before.is_some());
    /// let in_an_hour = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 3600;
    /// list.revoke(&TokenKey::from_jti("token-1"), in_an_hour).await.unwrap();
    /// assert_ne!(list.revision(), before);
    /// # }
    /// ```
    fn revision(&self) -> Option<u64> {
        None
    }

    /// Narrows [`revision`](Self::revision) to one token: an opaque number
    /// naming where this blocklist keeps whatever could concern `key` and
    /// `user_id`, for [`revision_at`](Self::revision_at). The layer asks it
    /// once per cached token, so that a storm of writes about other tokens
    /// (a provider's revocations, a fleet's refreshes) does not make every
    /// cached token check again. The default, `None`: nothing narrower than
    /// `revision`. Values of `u64::MAX - 1` and above are reserved.
    ///
    /// ```
    /// use tower_jwt_session::blocklist::{Blocklist, MemoryBlocklist, TokenKey};
    ///
    /// let list = MemoryBlocklist::new();
    /// assert_eq!(list.revision_slots(&TokenKey::from_jti("t"), "u"), None);
    /// ```
    fn revision_slots(&self, key: &TokenKey, user_id: &str) -> Option<u64> {
        let _ = (key, user_id);
        None
    }

    /// The revision of the places `slots` (from
    /// [`revision_slots`](Self::revision_slots)) names, with the promise of
    /// [`revision`](Self::revision) for the facts of the key and user those
    /// slots were given for: it changes after every write that could refuse
    /// them is visible to `try_check`, and never comes back. `None`
    /// whenever `revision` is `None`, and by default.
    fn revision_at(&self, slots: u64) -> Option<u64> {
        let _ = slots;
        None
    }
}

impl<T: Blocklist + ?Sized> Blocklist for Arc<T> {
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        (**self).revoke(key, until)
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        (**self).rotate(key, from, until, user_id, issued_at_micros)
    }

    fn clock_micros(&self) -> i64 {
        (**self).clock_micros()
    }

    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        (**self).record_once(key, until)
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        (**self).set_valid_after(user_id, valid_after_micros, until)
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        (**self).raise_valid_after(user_id, valid_after_micros, until)
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        (**self).check(key, user_id)
    }

    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        (**self).try_check(key, user_id)
    }

    fn revision(&self) -> Option<u64> {
        (**self).revision()
    }

    fn revision_slots(&self, key: &TokenKey, user_id: &str) -> Option<u64> {
        (**self).revision_slots(key, user_id)
    }

    fn revision_at(&self, slots: u64) -> Option<u64> {
        (**self).revision_at(slots)
    }
}

/// The answer of [`Blocklist::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lookup {
    /// The token itself is revoked, or its session ended.
    pub revoked: bool,
    /// The session's current generation (0 when nothing is stored, and for
    /// keys that are not session keys).
    pub generation: u64,
    /// The user's watermark in Unix microseconds, if one is set.
    pub valid_after_micros: Option<i64>,
}

/// The outcome of [`Blocklist::rotate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The session moved to the next generation: the caller may mint it,
    /// issued at `issued_at_micros`.
    Rotated {
        /// The successor's issue time, Unix microseconds in the store's
        /// clock, taken in the rotation's atomic step.
        issued_at_micros: i64,
    },
    /// The user was logged out everywhere after the presented token was
    /// issued: nothing changed.
    LoggedOut {
        /// The user's watermark.
        valid_after_micros: i64,
    },
    /// The session is already past the presented generation: that token was
    /// rotated away (by a concurrent refresh, or it is being replayed).
    Superseded {
        /// The session's current generation.
        current: u64,
    },
    /// The session was ended.
    Ended,
}

/// The key under which a token is revoked.
///
/// `s:` followed by the session id (`sid`) for tokens that belong to a
/// session (every token minted here): the key of the session's state; else
/// `j:` followed by the `jti` for tokens that have one, else `d:` followed by
/// the hex SHA-256 of the token's verified signature: a digest of the signing
/// input under the server's key. Never the raw token text (a re-encoded token
/// would slip past) and never a short hash (the seed's 32-bit hash collides).
/// Signatures are decoded strictly, so a token has one text per signature.
///
/// ```
/// use tower_jwt_session::blocklist::TokenKey;
///
/// assert_eq!(TokenKey::from_jti("abc").as_str(), "j:abc");
/// assert_eq!(TokenKey::from_session("s1").as_str(), "s:s1");
/// assert!(TokenKey::from_session("s1").is_session());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey(Arc<str>);

impl TokenKey {
    /// The key for a token with this `jti`.
    pub fn from_jti(jti: &str) -> Self {
        let mut s = String::with_capacity(2 + jti.len());
        s.push_str("j:");
        s.push_str(jti);
        Self(s.into())
    }

    /// The key of the session `sid`.
    pub fn from_session(sid: &str) -> Self {
        let mut s = String::with_capacity(2 + sid.len());
        s.push_str("s:");
        s.push_str(sid);
        Self(s.into())
    }

    /// Whether this is a session's key (its facts are generations or
    /// "ended"), as opposed to one token's.
    pub fn is_session(&self) -> bool {
        self.0.starts_with("s:")
    }

    /// The key for a token without `jti`, from the SHA-256 of its verified tag.
    pub(crate) fn from_tag_digest(digest: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(2 + digest.len() * 2);
        s.push_str("d:");
        for b in digest {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        Self(s.into())
    }

    /// A key read back from a backend (`s:`, `j:` or `d:` followed by the
    /// rest).
    pub fn from_stored(stored: &str) -> Option<Self> {
        (stored.starts_with("s:") || stored.starts_with("j:") || stored.starts_with("d:"))
            .then(|| Self(stored.into()))
    }

    /// The key as text, for backends that store strings.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenKey").field(&self.as_str()).finish()
    }
}

impl std::borrow::Borrow<str> for TokenKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// This process's clock in Unix microseconds (what [`Blocklist::clock_micros`]
/// returns by default).
///
/// ```
/// assert!(tower_jwt_session::blocklist::now_micros() > 1_700_000_000_000_000);
/// ```
pub fn now_micros() -> i64 {
    crate::time::now_micros()
}

/// Seconds from now until `until`, or `None` when `until` has passed.
pub(crate) fn remaining(until: i64, now: i64) -> Option<std::time::Duration> {
    (until > now).then(|| std::time::Duration::from_secs((until - now) as u64))
}
