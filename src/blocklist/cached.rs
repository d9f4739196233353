//! [`CachedBlocklist`]: a bounded moka cache in front of a remote blocklist.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Weak,
    },
    time::{Duration, Instant},
};

use moka::{sync::Cache, Expiry};

use super::{remaining, Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation, TokenKey};
use crate::time::now_secs;

/// How long a positive is kept when its deadline is unknown.
const UNKNOWN_DEADLINE: Duration = Duration::from_secs(3600);
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_CAPACITY: u64 = 100_000;

/// Expires each revocation at its own deadline.
struct UntilExpiry;

impl<K> Expiry<K, Option<i64>> for UntilExpiry {
    fn expire_after_create(&self, _: &K, until: &Option<i64>, _: Instant) -> Option<Duration> {
        Some(match until {
            Some(until) => remaining(*until, now_secs()).unwrap_or(Duration::ZERO),
            None => UNKNOWN_DEADLINE,
        })
    }

    fn expire_after_update(
        &self,
        key: &K,
        until: &Option<i64>,
        at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, until, at)
    }
}

/// The cache's maps. Reads on the hot path use `contains_key`, which
/// honours expiry and invalidation without recording a read.
///
/// `fast` answers the common case (a token not revoked, of a user without a
/// watermark) with one lookup. Every revocation and every watermark that
/// reaches the cache bumps `epoch` and then removes what it outdates from
/// `fast` (the token, or everything); a backend answer is put in `fast` only
/// if `epoch` did not move between the question and the insertion, and is
/// taken out again if it moved meanwhile. So an entry in `fast` never
/// outlives a revocation or a watermark that the cache has seen.
struct State {
    /// Revoked tokens, until their deadline (`None`: unknown, an hour).
    revoked: Cache<TokenKey, Option<i64>>,
    /// Tokens the backend said were not revoked, with their session's
    /// current generation (pushed mode only).
    clear: Cache<TokenKey, u64>,
    /// Users the backend said have no watermark (pushed mode only).
    unmarked: Cache<String, ()>,
    /// Users' watermarks (pushed mode only).
    marks: Cache<String, i64>,
    /// Tokens not revoked whose user had no watermark, with their session's
    /// current generation and a keyed hash of that user (pushed mode only):
    /// two users whose tokens share a key (the same `jti` from two issuers)
    /// never answer for each other.
    fast: Cache<TokenKey, (u64, u64)>,
    /// The key of the user hash in `fast` (SipHash, random per cache).
    users: std::collections::hash_map::RandomState,
    /// Bumped by every revocation and watermark the cache learns.
    epoch: AtomicU64,
    /// Whether `marks` may hold anything: until then, lookups skip it.
    any_mark: AtomicBool,
    /// Bumped at every (re)connection of the push channel.
    generation: AtomicU64,
    /// Whether a push channel is connected now.
    pushed: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A bounded map whose entries live at most `ttl`: the answers that only
/// count while a push channel is up.
fn short_lived<K, V>(capacity: u64, ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

impl State {
    fn new(
        CacheConfig {
            capacity,
            negative_ttl,
        }: CacheConfig,
    ) -> Self {
        Self {
            revoked: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
            clear: short_lived(capacity, negative_ttl),
            unmarked: short_lived(capacity, negative_ttl),
            marks: short_lived(capacity, negative_ttl),
            fast: short_lived(capacity, negative_ttl),
            users: std::collections::hash_map::RandomState::new(),
            epoch: AtomicU64::new(0),
            any_mark: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            pushed: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A cached generation: read for session keys, presence only for token
    /// keys (generation 0), so the common path stays one `contains_key`.
    fn current(map: &Cache<TokenKey, u64>, key: &TokenKey) -> Option<u64> {
        if key.is_session() {
            map.get(key)
        } else {
            map.contains_key(key).then_some(0)
        }
    }

    fn lookup(&self, key: &TokenKey, user_id: &str) -> Option<Lookup> {
        let pushed = self.pushed.load(Ordering::Acquire);
        if pushed {
            let user = std::hash::BuildHasher::hash_one(&self.users, user_id);
            if let Some(generation) = self
                .fast
                .get(key)
                .and_then(|(generation, of)| (of == user).then_some(generation))
            {
                return Some(Lookup {
                    revoked: false,
                    generation,
                    valid_after_micros: None,
                });
            }
        }
        if self.revoked.contains_key(key) {
            return Some(Lookup {
                revoked: true,
                generation: 0,
                valid_after_micros: None,
            });
        }
        if !pushed {
            return None;
        }
        let generation = Self::current(&self.clear, key)?;
        // A watermark, when one is known, wins over "no watermark".
        let valid_after_micros =
            if self.any_mark.load(Ordering::Acquire) && self.marks.contains_key(user_id) {
                Some(self.marks.get(user_id)?)
            } else if self.unmarked.contains_key(user_id) {
                None
            } else {
                return None;
            };
        Some(Lookup {
            revoked: false,
            generation,
            valid_after_micros,
        })
    }

    /// A session moved to a later generation: what the cache knew of it is
    /// stale, the next check asks the backend.
    fn mark_rotated(&self, key: &TokenKey) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.fast.invalidate(key);
        self.clear.invalidate(key);
    }

    fn mark_revoked(&self, key: TokenKey, until: Option<i64>) {
        if until.is_some_and(|u| u <= now_secs()) {
            return;
        }
        self.revoked.insert(key.clone(), until);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // `revoked` is bounded: this entry may be evicted (or not even
        // admitted) to make room. What must never remain is an answer "not
        // revoked" for the key: without one, an evicted revocation is asked
        // of the backend again, which holds it.
        self.fast.invalidate(&key);
        self.clear.invalidate(&key);
    }

    /// Records a user's watermark, never lowering a known one.
    fn raise_watermark(&self, user_id: &str, micros: i64) {
        self.any_mark.store(true, Ordering::Release);
        self.marks
            .entry(user_id.to_owned())
            .and_upsert_with(|old| old.map_or(micros, |e| e.into_value().max(micros)));
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.fast.invalidate_all();
    }

    /// Forgets every answer that a missed push could have made stale.
    fn forget_negatives(&self) {
        self.fast.invalidate_all();
        self.clear.invalidate_all();
        self.unmarked.invalidate_all();
        self.marks.invalidate_all();
    }

    /// Caches a backend answer asked at `generation` and `epoch`.
    fn fill(&self, key: &TokenKey, user_id: &str, lookup: Lookup, generation: u64, epoch: u64) {
        if lookup.revoked {
            self.mark_revoked(key.clone(), None);
        }
        // An answer that straddles a reconnection, or arrives while no push
        // channel is up, may be stale: keep positives only.
        if !self.pushed.load(Ordering::Acquire)
            || generation != self.generation.load(Ordering::Acquire)
        {
            return;
        }
        // A push that said "revoked" meanwhile still wins: `lookup` checks
        // `revoked` first. For a session, a rotation pushed meanwhile moved
        // the epoch: the generation in this answer may be stale, so it is
        // kept only if the epoch did not move.
        if !lookup.revoked && epoch == self.epoch.load(Ordering::Acquire) {
            self.clear.insert(key.clone(), lookup.generation);
            // A revocation or rotation that came in between: take it out
            // again (a revocation evicted from `revoked` later must not
            // leave this answer behind).
            if epoch != self.epoch.load(Ordering::Acquire) {
                self.clear.invalidate(key);
            }
        }
        match lookup.valid_after_micros {
            Some(micros) => self.raise_watermark(user_id, micros),
            None => self.unmarked.insert(user_id.to_owned(), ()),
        }
        // A watermark the cache knows wins over an answer without one.
        let known_mark = self.any_mark.load(Ordering::Acquire) && self.marks.contains_key(user_id);
        if !lookup.revoked
            && lookup.valid_after_micros.is_none()
            && !known_mark
            && epoch == self.epoch.load(Ordering::Acquire)
        {
            let user = std::hash::BuildHasher::hash_one(&self.users, user_id);
            self.fast.insert(key.clone(), (lookup.generation, user));
            // A revocation, watermark or reconnection that came in between
            // the check above and the insertion: take the entry out again.
            // (One that comes after the insertion removes it itself.)
            if epoch != self.epoch.load(Ordering::Acquire)
                || generation != self.generation.load(Ordering::Acquire)
            {
                self.fast.invalidate(key);
            }
        }
    }
}

/// The settings of a [`CachedBlocklist`], given when it is created
/// ([`CachedBlocklist::with_config`],
/// `RedisBlocklist::into_cached_with`) and fixed from then on.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_session::blocklist::CacheConfig;
///
/// let config = CacheConfig::new()
///     .with_max_capacity(50_000)
///     .with_negative_ttl(Duration::from_secs(2));
/// assert_ne!(config, CacheConfig::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct CacheConfig {
    capacity: u64,
    negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
        }
    }
}

impl CacheConfig {
    /// The defaults: 100 000 tokens (and as many users), 5 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bounds the cache to `capacity` tokens (and as many users). Default:
    /// 100 000. Evicting is safe here: the backend still has everything.
    pub fn with_max_capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// The longest time a "not revoked" answer or a watermark is reused while
    /// a push channel is connected. Default: 5 s. It is a safety net for a
    /// lost message; pushes keep the cache current well before it.
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }
}

/// A bounded front cache over any [`Blocklist`].
///
/// What may be cached, and for how long:
///
/// - **"revoked"** is cached until the revocation's own deadline (or an hour
///   when the backend does not say): a revocation is never undone, so this is
///   always safe. The cache is bounded ([`CacheConfig::with_max_capacity`]):
///   when a revocation is evicted to make room, no "not revoked" answer for
///   its key is left behind (each revocation removes them), so the next
///   check asks the backend, which holds it. A full cache costs round trips,
///   never a forgotten revocation.
/// - **"not revoked"** and a user's **watermark** are cached only while a
///   push channel is connected (see [`CacheInvalidator`]), and at most for a
///   short ceiling ([`CacheConfig::with_negative_ttl`]).
///   When the channel drops, those entries stop counting at once; when it comes
///   back, the ones cached before are ignored (messages may have been missed).
///   Without any push channel the cache holds positives only and every other
///   check goes to the backend.
///
/// Revocations made through this cache are written to the backend first; the
/// cache learns them only once the backend said `Ok`.
///
/// A "not revoked" answer that arrives after a push said "revoked" never
/// overwrites it, so a slow read cannot resurrect a token.
///
/// # Example
///
/// ```
/// use tower_jwt_session::blocklist::{Blocklist, CacheConfig, CachedBlocklist, MemoryBlocklist, TokenKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Any blocklist can sit behind the cache; a remote one is the usual case.
/// let cached = CachedBlocklist::with_config(
///     MemoryBlocklist::new(),
///     CacheConfig::new().with_max_capacity(10_000),
/// );
/// let key = TokenKey::from_jti("t-1");
/// let until = std::time::SystemTime::now()
///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 60;
/// cached.revoke(&key, until).await.unwrap();
/// // Answered from the cache, without asking the backend:
/// assert!(cached.try_check(&key, "u-1").unwrap().unwrap().revoked);
/// # }
/// ```
pub struct CachedBlocklist<Backend> {
    backend: Backend,
    state: Arc<State>,
}

impl<Backend> CachedBlocklist<Backend> {
    /// A cache with the default [`CacheConfig`] (100 000 tokens and users,
    /// 5 s ceiling on "not revoked") in front of `backend`.
    pub fn new(backend: Backend) -> Self {
        Self::with_config(backend, CacheConfig::default())
    }

    /// A cache with `config` in front of `backend`.
    ///
    /// The configuration is fixed here, before anything can hold a
    /// [`CacheInvalidator`] to this cache: a push channel is always wired to
    /// the cache that answers checks.
    pub fn with_config(backend: Backend, config: CacheConfig) -> Self {
        Self {
            backend,
            state: Arc::new(State::new(config)),
        }
    }

    /// A handle that applies pushed events to this cache.
    pub fn invalidator(&self) -> CacheInvalidator {
        CacheInvalidator {
            state: Arc::downgrade(&self.state),
        }
    }

    /// The backend behind the cache.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Answers served from the cache and answers that needed the backend,
    /// since creation.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.state.hits.load(Ordering::Relaxed),
            self.state.misses.load(Ordering::Relaxed),
        )
    }
}

impl<Backend: Clone> Clone for CachedBlocklist<Backend> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            state: self.state.clone(),
        }
    }
}

impl<Backend: fmt::Debug> fmt::Debug for CachedBlocklist<Backend> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedBlocklist")
            .field("backend", &self.backend)
            .field("pushed", &self.state.pushed.load(Ordering::Relaxed))
            .field("revoked", &self.state.revoked.entry_count())
            .finish()
    }
}

impl<Backend: Blocklist> CachedBlocklist<Backend> {
    /// The watermark the backend answered, raised in the cache at once.
    fn learn_watermark(&self, stored: BlocklistFuture<i64>, user_id: &str) -> BlocklistFuture<i64> {
        let state = self.state.clone();
        let user = user_id.to_owned();
        Box::pin(async move {
            let mark = stored.await?;
            state.raise_watermark(&user, mark);
            Ok(mark)
        })
    }
}

impl<Backend: Blocklist> Blocklist for CachedBlocklist<Backend> {
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        self.backend.record_once(key, until)
    }

    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        let stored = self.backend.revoke(key, until);
        let state = self.state.clone();
        let key = key.clone();
        Box::pin(async move {
            let fresh = stored.await?;
            state.mark_revoked(key, Some(until));
            Ok(fresh)
        })
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        let rotated = self
            .backend
            .rotate(key, from, until, user_id, issued_at_micros);
        let state = self.state.clone();
        let key = key.clone();
        let user = user_id.to_owned();
        Box::pin(async move {
            let outcome = rotated.await?;
            match outcome {
                Rotation::Ended => state.mark_revoked(key, None),
                Rotation::Rotated { .. } | Rotation::Superseded { .. } => state.mark_rotated(&key),
                Rotation::LoggedOut { valid_after_micros } => {
                    state.raise_watermark(&user, valid_after_micros)
                }
            }
            Ok(outcome)
        })
    }

    fn clock_micros(&self) -> i64 {
        self.backend.clock_micros()
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self
            .backend
            .set_valid_after(user_id, valid_after_micros, until);
        self.learn_watermark(stored, user_id)
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self
            .backend
            .raise_valid_after(user_id, valid_after_micros, until);
        self.learn_watermark(stored, user_id)
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        if let Some(hit) = self.try_check(key, user_id) {
            return Box::pin(std::future::ready(hit));
        }
        self.state.misses.fetch_add(1, Ordering::Relaxed);
        // The generation and the epoch are read before asking, so that an
        // answer that straddles a reconnection, a revocation or a watermark
        // is not cached where it could hide them.
        let generation = self.state.generation.load(Ordering::Acquire);
        let epoch = self.state.epoch.load(Ordering::Acquire);
        let asked = self.backend.check(key, user_id);
        let state = self.state.clone();
        let key = key.clone();
        let user = user_id.to_owned();
        Box::pin(async move {
            let lookup = asked.await?;
            state.fill(&key, &user, lookup, generation, epoch);
            Ok(lookup)
        })
    }

    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        let Some(hit) = self.state.lookup(key, user_id) else {
            crate::metrics::blocklist_cache(false);
            return None;
        };
        crate::metrics::blocklist_cache(true);
        self.state.hits.fetch_add(1, Ordering::Relaxed);
        Some(Ok(hit))
    }
}

/// Applies pushed events to a [`CachedBlocklist`]; held by whatever listens
/// to the backend's notifications (the Redis subscriber does).
///
/// Holds the cache weakly: once the cache is dropped, every method returns
/// `false` and the listener can stop.
#[derive(Clone)]
pub struct CacheInvalidator {
    state: Weak<State>,
}

impl fmt::Debug for CacheInvalidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheInvalidator")
            .field("alive", &(self.state.strong_count() > 0))
            .finish()
    }
}

impl CacheInvalidator {
    /// The token under `key` was revoked until `until` (Unix seconds).
    pub fn revoked(&self, key: TokenKey, until: i64) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        state.mark_revoked(key, Some(until));
        true
    }

    /// The session under `key` moved to a later generation.
    pub fn rotated(&self, key: &TokenKey) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        state.mark_rotated(key);
        true
    }

    /// `user_id`'s watermark was raised to `valid_after_micros`.
    pub fn valid_after(&self, user_id: &str, valid_after_micros: i64) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        state.raise_watermark(user_id, valid_after_micros);
        true
    }

    /// The push channel is (again) connected: entries cached before are
    /// ignored from now on, new ones may be cached.
    pub fn connected(&self) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        state.generation.fetch_add(1, Ordering::AcqRel);
        state.forget_negatives();
        state.pushed.store(true, Ordering::Release);
        true
    }

    /// The push channel dropped: "not revoked" entries stop counting now.
    pub fn disconnected(&self) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        state.pushed.store(false, Ordering::Release);
        state.generation.fetch_add(1, Ordering::AcqRel);
        state.forget_negatives();
        true
    }

    /// Whether the cache still exists.
    pub fn is_alive(&self) -> bool {
        self.state.strong_count() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocklist::MemoryBlocklist;

    fn later() -> i64 {
        now_secs() + 600
    }

    #[tokio::test]
    async fn without_push_only_positives_are_cached() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let key = TokenKey::from_jti("a");
        assert!(!cache.check(&key, "u").await.unwrap().revoked);
        assert!(cache.try_check(&key, "u").is_none());
        cache.revoke(&key, later()).await.unwrap();
        assert!(cache.try_check(&key, "u").unwrap().unwrap().revoked);
    }

    #[tokio::test]
    async fn with_push_negatives_are_cached_until_a_disconnect() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        inv.connected();
        let key = TokenKey::from_jti("a");
        cache.check(&key, "u").await.unwrap();
        assert_eq!(
            cache.try_check(&key, "u").unwrap().unwrap(),
            Lookup::default()
        );
        inv.disconnected();
        assert!(cache.try_check(&key, "u").is_none());
        // Reconnected: entries from before the gap are not trusted.
        inv.connected();
        assert!(cache.try_check(&key, "u").is_none());
    }

    #[tokio::test]
    async fn pushes_update_cached_negatives() {
        let backend = MemoryBlocklist::new();
        let cache = CachedBlocklist::new(backend.clone());
        let inv = cache.invalidator();
        inv.connected();
        let key = TokenKey::from_jti("a");
        cache.check(&key, "u").await.unwrap();
        // Another node revoked it and pushed the event.
        inv.revoked(key.clone(), later());
        assert!(cache.try_check(&key, "u").unwrap().unwrap().revoked);
        inv.valid_after("u", 42);
        let other = TokenKey::from_jti("b");
        cache.check(&other, "u").await.unwrap();
        assert_eq!(
            cache
                .try_check(&other, "u")
                .unwrap()
                .unwrap()
                .valid_after_micros,
            Some(42)
        );
    }

    #[tokio::test]
    async fn a_late_negative_never_overwrites_a_pushed_revocation() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        inv.connected();
        let key = TokenKey::from_jti("a");
        let generation = cache.state.generation.load(Ordering::Acquire);
        let epoch = cache.state.epoch.load(Ordering::Acquire);
        inv.revoked(key.clone(), later());
        cache
            .state
            .fill(&key, "u", Lookup::default(), generation, epoch);
        assert!(cache.try_check(&key, "u").unwrap().unwrap().revoked);
    }

    #[tokio::test]
    async fn a_late_negative_never_hides_a_pushed_watermark() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        inv.connected();
        let key = TokenKey::from_jti("a");
        // Asked before the watermark arrived, answered "nothing" after it.
        let generation = cache.state.generation.load(Ordering::Acquire);
        let epoch = cache.state.epoch.load(Ordering::Acquire);
        inv.valid_after("u", 42);
        cache
            .state
            .fill(&key, "u", Lookup::default(), generation, epoch);
        // Either the backend is asked again, or the watermark is answered.
        if let Some(answer) = cache.try_check(&key, "u") {
            assert_eq!(answer.unwrap().valid_after_micros, Some(42));
        }
        assert!(!cache.state.fast.contains_key(&key));
    }

    #[tokio::test]
    async fn the_one_lookup_path_yields_to_later_revocations_and_watermarks() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        inv.connected();
        let (a, b) = (TokenKey::from_jti("a"), TokenKey::from_jti("b"));
        cache.check(&a, "u").await.unwrap();
        cache.check(&b, "v").await.unwrap();
        assert!(cache.state.fast.contains_key(&a) && cache.state.fast.contains_key(&b));
        inv.valid_after("u", 42);
        assert_eq!(
            cache
                .try_check(&a, "u")
                .unwrap()
                .unwrap()
                .valid_after_micros,
            Some(42)
        );
        assert_eq!(
            cache.try_check(&b, "v").unwrap().unwrap(),
            Lookup::default()
        );
        inv.revoked(b.clone(), later());
        assert!(cache.try_check(&b, "v").unwrap().unwrap().revoked);
    }

    #[tokio::test]
    async fn the_one_lookup_path_never_answers_for_another_user_with_the_same_key() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        inv.connected();
        let shared = TokenKey::from_jti("same-jti");
        cache.check(&shared, "alice").await.unwrap();
        assert!(cache.state.fast.contains_key(&shared));
        // bob is logged out everywhere; his token shares alice's key.
        let mark = cache
            .backend()
            .set_valid_after("bob", 42, later())
            .await
            .unwrap();
        assert!(cache.try_check(&shared, "bob").is_none());
        assert_eq!(
            cache
                .check(&shared, "bob")
                .await
                .unwrap()
                .valid_after_micros,
            Some(mark)
        );
    }

    #[test]
    fn the_invalidator_reports_a_dropped_cache() {
        let cache = CachedBlocklist::new(MemoryBlocklist::new());
        let inv = cache.invalidator();
        assert!(inv.is_alive());
        drop(cache);
        assert!(!inv.connected());
        assert!(!inv.revoked(TokenKey::from_jti("x"), later()));
    }
}
