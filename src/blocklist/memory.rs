//! [`MemoryBlocklist`]: the embedded default, on two [`ExpiringMap`]s.

use std::{fmt, sync::Arc};

use super::{
    expiring::{Deadline, ExpiringMap},
    Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation, TokenKey,
};
use crate::time::now_secs;

/// What is known of a token or session key, until the Unix time `until`
/// (seconds) at which it may be forgotten.
#[derive(Clone, Copy)]
struct Fact {
    until: i64,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// The token is revoked, or the session ended.
    Revoked,
    /// The session's current generation.
    Generation(u64),
}

#[derive(Clone, Copy)]
struct Watermark {
    micros: i64,
    until: i64,
}

impl Deadline for Fact {
    fn until(&self) -> i64 {
        self.until
    }
}

impl Deadline for Watermark {
    fn until(&self) -> i64 {
        self.until
    }
}

/// An in-process blocklist: the default for a single server.
///
/// Entries expire on their own at the token's `exp` plus the leeway, so
/// memory is bounded by the number of live sessions that were refreshed or
/// ended (one fact each, however often they are refreshed), live revoked
/// tokens without a session id, and users logged out everywhere. The cache has **no
/// capacity bound** on purpose: evicting a revocation to make room would let
/// a revoked token back in. Every check is answered synchronously
/// ([`Blocklist::try_check`]), with no allocation.
///
/// Revocations live in this process only: with several servers, use a shared
/// backend.
///
/// ```
/// use tower_jwt_session::blocklist::{Blocklist, MemoryBlocklist, TokenKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let list = MemoryBlocklist::new();
/// let key = TokenKey::from_jti("token-1");
/// let in_an_hour = std::time::SystemTime::now()
///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 3600;
/// list.revoke(&key, in_an_hour).await.unwrap();
/// assert!(list.check(&key, "u-1").await.unwrap().revoked);
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryBlocklist {
    inner: Arc<Inner>,
}

struct Inner {
    /// Revoked tokens and sessions' states.
    facts: ExpiringMap<TokenKey, Fact>,
    watermarks: ExpiringMap<String, Watermark>,
    /// Whether any watermark was ever set: until then, checks skip that map.
    any_watermark: std::sync::atomic::AtomicBool,
    /// The last issue time a rotation handed out. Rotations and watermark
    /// writes hold this lock, which orders them (contract point 7).
    order: std::sync::Mutex<i64>,
}

impl MemoryBlocklist {
    /// Raises `user_id`'s watermark to at least `floor` until `until`;
    /// returns the watermark now stored.
    fn raise_watermark(&self, user_id: &str, floor: i64, until: i64) -> i64 {
        if until <= now_secs() {
            return floor;
        }
        self.inner
            .any_watermark
            .store(true, std::sync::atomic::Ordering::Release);
        let new = Watermark {
            micros: floor,
            until,
        };
        let kept = self.inner.watermarks.update(user_id.to_owned(), |old| {
            Some(match old {
                Some(old) => Watermark {
                    micros: old.micros.max(new.micros),
                    until: old.until.max(new.until),
                },
                None => new,
            })
        });
        kept.map_or(floor, |w| w.micros)
    }

    /// An empty blocklist.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                facts: ExpiringMap::new(),
                watermarks: ExpiringMap::new(),
                any_watermark: std::sync::atomic::AtomicBool::new(false),
                order: std::sync::Mutex::new(0),
            }),
        }
    }

    /// Every fact held: token and session facts, and users' watermarks.
    pub fn stored_facts(&self) -> u64 {
        self.inner.facts.live_len() + self.inner.watermarks.live_len()
    }

    fn lookup(&self, key: &TokenKey, user_id: &str) -> Lookup {
        // One lookup either way: a token key only needs to be present; a
        // session key's value says which generation is current.
        let (revoked, generation) = if key.is_session() {
            match self.inner.facts.get(key).map(|f| f.state) {
                Some(State::Revoked) => (true, 0),
                Some(State::Generation(g)) => (false, g),
                None => (false, 0),
            }
        } else {
            (self.inner.facts.get(key).is_some(), 0)
        };
        Lookup {
            revoked,
            generation,
            valid_after_micros: if self
                .inner
                .any_watermark
                .load(std::sync::atomic::Ordering::Acquire)
            {
                self.inner.watermarks.get(user_id).map(|w| w.micros)
            } else {
                None
            },
        }
    }
}

impl Default for MemoryBlocklist {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBlocklist")
            .field("facts", &self.inner.facts.live_len())
            .field("watermarks", &self.inner.watermarks.live_len())
            .finish()
    }
}

impl Blocklist for MemoryBlocklist {
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        if until <= now_secs() {
            return Box::pin(std::future::ready(Ok(true)));
        }
        // Atomic per key: of two revocations, one is fresh. A session's
        // generation is replaced by "ended"; the later deadline is kept.
        let mut fresh = false;
        self.inner.facts.update(key.clone(), |old| match old {
            Some(old) if old.state == State::Revoked => None,
            old => {
                fresh = true;
                Some(Fact {
                    until: old.map_or(until, |o| o.until.max(until)),
                    state: State::Revoked,
                })
            }
        });
        Box::pin(std::future::ready(Ok(fresh)))
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        let mut last = self.inner.order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mark) = self.inner.watermarks.get(user_id) {
            if issued_at_micros < mark.micros {
                return Box::pin(std::future::ready(Ok(Rotation::LoggedOut {
                    valid_after_micros: mark.micros,
                })));
            }
        }
        let issued_at = crate::time::now_micros().max(last.saturating_add(1));
        let mut outcome = Rotation::Rotated {
            issued_at_micros: issued_at,
        };
        self.inner
            .facts
            .update(key.clone(), |old| match old.map(|o| o.state) {
                Some(State::Revoked) => {
                    outcome = Rotation::Ended;
                    None
                }
                Some(State::Generation(current)) if current > from => {
                    outcome = Rotation::Superseded { current };
                    None
                }
                _ => Some(Fact {
                    until: old.map_or(until, |o| o.until.max(until)),
                    state: State::Generation(from + 1),
                }),
            });
        if matches!(outcome, Rotation::Rotated { .. }) {
            *last = issued_at;
        }
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let last = self.inner.order.lock().unwrap_or_else(|e| e.into_inner());
        // Past the clock, and so past every issue time a rotation handed
        // out before this write.
        let floor = valid_after_micros
            .max(last.saturating_add(1))
            .max(crate::time::now_micros().saturating_add(1));
        let stored = self.raise_watermark(user_id, floor, until);
        drop(last);
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self.raise_watermark(user_id, valid_after_micros, until);
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        Box::pin(std::future::ready(Ok(self.lookup(key, user_id))))
    }

    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        Some(Ok(self.lookup(key, user_id)))
    }

    fn revision(&self) -> Option<u64> {
        // Each count only grows, so the sum changes with any write.
        Some(self.inner.facts.writes() + self.inner.watermarks.writes())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn every_write_changes_the_revision_and_reads_do_not() {
        let list = MemoryBlocklist::new();
        let until = now_secs() + 60;
        let key = TokenKey::from_session("s");
        let mut seen = vec![list.revision().unwrap()];
        let mut changed = |list: &MemoryBlocklist| {
            let now = list.revision().unwrap();
            assert!(!seen.contains(&now), "{now} came back");
            seen.push(now);
        };
        list.revoke(&TokenKey::from_jti("t"), until).await.unwrap();
        changed(&list);
        list.rotate(&key, 0, until, "u", 0).await.unwrap();
        changed(&list);
        list.set_valid_after("u", 5, until).await.unwrap();
        changed(&list);
        list.record_once("proof", until).await.unwrap();
        changed(&list);
        let before = list.revision();
        list.check(&key, "u").await.unwrap();
        list.try_check(&TokenKey::from_jti("x"), "v");
        // A write of nothing (a deadline already past) is no write.
        list.revoke(&TokenKey::from_jti("old"), now_secs() - 5)
            .await
            .unwrap();
        assert_eq!(list.revision(), before);
    }

    #[tokio::test]
    async fn revocations_expire_at_their_deadline() {
        let list = MemoryBlocklist::new();
        let soon = TokenKey::from_jti("soon");
        let late = TokenKey::from_jti("late");
        list.revoke(&soon, now_secs() + 2).await.unwrap();
        list.revoke(&late, now_secs() + 3600).await.unwrap();
        assert!(list.lookup(&soon, "u").revoked);
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert!(!list.lookup(&soon, "u").revoked);
        assert!(list.lookup(&late, "u").revoked);
    }

    #[tokio::test]
    async fn past_deadlines_store_nothing() {
        let list = MemoryBlocklist::new();
        let key = TokenKey::from_jti("old");
        list.revoke(&key, now_secs() - 5).await.unwrap();
        assert!(!list.lookup(&key, "u").revoked);
        assert_eq!(list.inner.facts.live_len(), 0);
    }

    #[tokio::test]
    async fn a_session_rotates_once_per_generation_and_stays_ended() {
        let list = MemoryBlocklist::new();
        let key = TokenKey::from_session("s");
        let until = now_secs() + 60;
        assert_eq!(list.lookup(&key, "u").generation, 0);
        assert!(matches!(
            list.rotate(&key, 0, until, "u", 0).await.unwrap(),
            Rotation::Rotated { .. }
        ));
        assert_eq!(
            list.rotate(&key, 0, until, "u", 0).await.unwrap(),
            Rotation::Superseded { current: 1 }
        );
        assert!(matches!(
            list.rotate(&key, 1, until, "u", 0).await.unwrap(),
            Rotation::Rotated { .. }
        ));
        assert_eq!(list.lookup(&key, "u").generation, 2);
        // A hundred rotations, one fact.
        for g in 2..102 {
            assert!(matches!(
                list.rotate(&key, g, until, "u", 0).await.unwrap(),
                Rotation::Rotated { .. }
            ));
        }
        assert_eq!(list.inner.facts.live_len(), 1);
        assert!(list.revoke(&key, until).await.unwrap());
        assert!(!list.revoke(&key, until).await.unwrap());
        assert!(list.lookup(&key, "u").revoked);
        assert_eq!(
            list.rotate(&key, 102, until, "u", 0).await.unwrap(),
            Rotation::Ended
        );
        assert_eq!(list.inner.facts.live_len(), 1);
    }

    #[tokio::test]
    async fn a_watermark_covers_every_rotation_answered_before_it_and_refuses_older_tokens() {
        let list = MemoryBlocklist::new();
        let key = TokenKey::from_session("s");
        let until = now_secs() + 60;
        let token_iat = crate::time::now_micros();
        let Rotation::Rotated { issued_at_micros } =
            list.rotate(&key, 0, until, "u", token_iat).await.unwrap()
        else {
            panic!("not rotated");
        };
        // The watermark's time was read before the rotation (a slow write).
        let mark = list.set_valid_after("u", token_iat, until).await.unwrap();
        assert!(mark > issued_at_micros, "{mark} <= {issued_at_micros}");
        // The successor cannot be refreshed: it is covered.
        assert_eq!(
            list.rotate(&key, 1, until, "u", issued_at_micros)
                .await
                .unwrap(),
            Rotation::LoggedOut {
                valid_after_micros: mark
            }
        );
        assert_eq!(list.lookup(&key, "u").generation, 1);
    }

    #[tokio::test]
    async fn watermarks_never_move_back() {
        let list = MemoryBlocklist::new();
        let until = now_secs() + 60;
        let t = (now_secs() + 100) * 1_000_000;
        list.set_valid_after("u", t + 200, until).await.unwrap();
        list.set_valid_after("u", t + 100, until).await.unwrap();
        assert_eq!(
            list.lookup(&TokenKey::from_jti("x"), "u")
                .valid_after_micros,
            Some(t + 200)
        );
        assert_eq!(
            list.lookup(&TokenKey::from_jti("x"), "other")
                .valid_after_micros,
            None
        );
    }
}
