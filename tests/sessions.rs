//! Sessions, not tokens: a session id carried across refreshes, one stored
//! fact per session however often it is refreshed, reuse detection, ending a
//! session without its token, and a property test of the whole lifecycle on
//! two managers sharing a store against a model.

mod common;

use std::{collections::HashMap, sync::Arc};

use common::*;
use proptest::prelude::*;
use tower_jwt_session::{
    blocklist::Blocklist, blocklist::MemoryBlocklist, NewSession, SessionError, SessionManager,
    VerifyError,
};

fn manager_on(list: Arc<MemoryBlocklist>) -> SessionManager {
    SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(list)
        .build()
        .unwrap()
}

fn ada() -> NewSession {
    NewSession::new("u-1", "ada@example.com")
}

#[tokio::test]
async fn a_hundred_refreshes_keep_one_stored_fact_and_only_the_last_token() {
    let list = Arc::new(MemoryBlocklist::new());
    let m = manager_on(list.clone());
    let first = m.issue(ada()).unwrap();
    let sid = first.session().session_id().unwrap().to_owned();
    assert_eq!(sid.len(), 22, "128 random bits, base64url");
    assert_eq!(first.session().generation(), 0);
    let mut tokens = vec![first.into_token()];
    for g in 1..=100u64 {
        let next = m.refresh(tokens.last().unwrap()).await.unwrap();
        assert_eq!(next.session().session_id(), Some(sid.as_str()));
        assert_eq!(next.session().generation(), g);
        tokens.push(next.into_token());
    }
    assert_eq!(
        list.stored_facts(),
        1,
        "one fact per session, not per refresh"
    );
    assert!(m.verify(tokens.last().unwrap()).await.is_ok());
    for old in &tokens[..100] {
        assert!(matches!(m.verify(old).await, Err(VerifyError::Superseded)));
    }
    // Reading with an old token (a second tab) ends nothing.
    assert!(m.verify(tokens.last().unwrap()).await.is_ok());
}

#[tokio::test]
async fn a_replayed_refresh_ends_the_whole_session() {
    let m = manager_on(Arc::new(MemoryBlocklist::new()));
    let stolen = m.issue(ada()).unwrap().into_token();
    // The thief refreshes first; the victim's copy is now one generation old.
    let thiefs = m.refresh(&stolen).await.unwrap().into_token();
    assert!(m.verify(&thiefs).await.is_ok());
    // The victim refreshes with it: reuse, the session ends for both.
    assert!(matches!(
        m.refresh(&stolen).await,
        Err(SessionError::Verify(VerifyError::ReuseDetected))
    ));
    assert!(matches!(m.verify(&thiefs).await, Err(VerifyError::Revoked)));
    assert!(m.refresh(&thiefs).await.is_err());
    // A new login is a new session, unaffected.
    let again = m.issue(ada()).unwrap().into_token();
    assert!(m.verify(&again).await.is_ok());
}

#[tokio::test]
async fn with_reuse_detection_off_a_replay_is_only_refused() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_reuse_detection(false)
        .build()
        .unwrap();
    let old = m.issue(ada()).unwrap().into_token();
    let new = m.refresh(&old).await.unwrap().into_token();
    assert!(matches!(
        m.refresh(&old).await,
        Err(SessionError::Verify(VerifyError::Superseded))
    ));
    assert!(m.verify(&new).await.is_ok());
}

#[tokio::test]
async fn end_session_and_logout_end_every_generation() {
    let m = manager_on(Arc::new(MemoryBlocklist::new()));
    let g0 = m.issue(ada()).unwrap().into_token();
    let g1 = m.refresh(&g0).await.unwrap();
    let sid = g1.session().session_id().unwrap().to_owned();
    let other = m.issue(ada()).unwrap().into_token();
    m.end_session(&sid).await.unwrap();
    assert!(matches!(
        m.verify(g1.token()).await,
        Err(VerifyError::Revoked)
    ));
    assert!(m.refresh(g1.token()).await.is_err());
    // Another session of the same user is untouched.
    assert!(m.verify(&other).await.is_ok());
    // Logging out with a token ends its session too, every generation.
    let g1 = m.refresh(&other).await.unwrap().into_token();
    m.revoke(&m.verify(&g1).await.unwrap()).await.unwrap();
    assert!(matches!(m.verify(&g1).await, Err(VerifyError::Revoked)));
    assert!(matches!(m.verify(&other).await, Err(VerifyError::Revoked)));
    // Ending an unknown session is not an error.
    m.end_session("no-such-session").await.unwrap();
}

#[tokio::test]
async fn seed_tokens_keep_per_token_revocation_and_refresh_into_a_session() {
    let list = Arc::new(MemoryBlocklist::new());
    let m = manager_on(list.clone());
    let seed = sign(&claims()); // no sid, no jti: the seed's shape
    let session = m.verify(&seed).await.unwrap();
    assert_eq!(session.session_id(), None);
    assert!(session.revocation_key().as_str().starts_with("d:"));
    let new = m.refresh(&seed).await.unwrap();
    assert!(new.session().session_id().is_some());
    assert!(matches!(m.verify(&seed).await, Err(VerifyError::Revoked)));
    assert!(m.verify(new.token()).await.is_ok());
    // A second refresh of the seed token is refused, nothing more.
    assert!(matches!(
        m.refresh(&seed).await,
        Err(SessionError::Verify(VerifyError::Revoked))
    ));
    assert!(m.verify(new.token()).await.is_ok());
    // The seed token's revocation; the new session stores nothing until it
    // is refreshed or ended.
    assert_eq!(list.stored_facts(), 1);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_yield_exactly_one_successor() {
    let list = Arc::new(MemoryBlocklist::new());
    let (a, b) = (manager_on(list.clone()), manager_on(list));
    for _ in 0..50 {
        let token = a.issue(ada()).unwrap().into_token();
        let (ra, rb) = tokio::join!(a.refresh(&token), b.refresh(&token));
        assert_eq!(
            u8::from(ra.is_ok()) + u8::from(rb.is_ok()),
            1,
            "{ra:?} {rb:?}"
        );
    }
}

/// What the model expects of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Valid,
    Refused,
}

#[derive(Debug, Clone)]
enum Op {
    /// Log in user `u` on manager `m`.
    Issue { m: usize, u: usize },
    /// Refresh the `t`-th token held (modulo) on manager `m`.
    Refresh { m: usize, t: usize },
    /// Log out with the `t`-th token on manager `m`.
    Logout { m: usize, t: usize },
    /// Log user `u` out everywhere on manager `m`.
    LogoutAll { m: usize, u: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..2usize).prop_map(|(m, u)| Op::Issue { m, u }),
        (0..2usize, any::<usize>()).prop_map(|(m, t)| Op::Refresh { m, t }),
        (0..2usize, any::<usize>()).prop_map(|(m, t)| Op::Logout { m, t }),
        (0..2usize, 0..2usize).prop_map(|(m, u)| Op::LogoutAll { m, u }),
    ]
}

/// The model: sessions with their current generation (or ended), tokens
/// with their session and generation. A token is valid when its session
/// is live and at its generation, and no logout-all of its user came after
/// its issue.
#[derive(Default)]
struct Model {
    /// session → current generation, or None once ended.
    sessions: HashMap<String, Option<u64>>,
    /// (token, user, sid, generation, issue order)
    tokens: Vec<(String, usize, String, u64, usize)>,
    /// user → order of the last logout-all
    cut: HashMap<usize, usize>,
    clock: usize,
}

impl Model {
    fn expect(&self, i: usize) -> Expect {
        let (_, user, sid, generation, at) = &self.tokens[i];
        let live = self.sessions[sid] == Some(*generation);
        let cut = self.cut.get(user).is_some_and(|c| c > at);
        if live && !cut {
            Expect::Valid
        } else {
            Expect::Refused
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn two_managers_on_one_store_agree_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let list = Arc::new(MemoryBlocklist::new());
            let managers = [manager_on(list.clone()), manager_on(list.clone())];
            let mut model = Model::default();
            for op in ops {
                model.clock += 1;
                match op {
                    Op::Issue { m, u } => {
                        let issued = managers[m]
                            .issue(NewSession::new(format!("u-{u}"), "x@example.com"))
                            .unwrap();
                        let sid = issued.session().session_id().unwrap().to_owned();
                        model.sessions.insert(sid.clone(), Some(0));
                        model.tokens.push((issued.into_token(), u, sid, 0, model.clock));
                    }
                    Op::Refresh { m, t } if !model.tokens.is_empty() => {
                        let i = t % model.tokens.len();
                        let (token, user, sid, generation, _) = model.tokens[i].clone();
                        let before = model.expect(i);
                        let result = managers[m].refresh(&token).await;
                        match before {
                            Expect::Valid => {
                                let new = result.expect("a valid token refreshes");
                                model.sessions.insert(sid.clone(), Some(generation + 1));
                                model.tokens.push((new.into_token(), user, sid, generation + 1, model.clock));
                            }
                            Expect::Refused => {
                                prop_assert!(result.is_err());
                                // A replaced token of a live session: reuse, the session ends.
                                let current = model.sessions[&sid];
                                let at = model.tokens[i].4;
                                let cut = model.cut.get(&user).is_some_and(|c| *c > at);
                                if !cut && current.is_some_and(|g| g > generation) {
                                    model.sessions.insert(sid, None);
                                }
                            }
                        }
                    }
                    Op::Logout { m, t } if !model.tokens.is_empty() => {
                        let i = t % model.tokens.len();
                        let token = model.tokens[i].0.clone();
                        // Log out: the token verified, then revoked.
                        let result = match managers[m].verify(&token).await {
                            Ok(session) => managers[m].revoke(&session).await.map_err(|_| ()),
                            Err(_) => Err(()),
                        };
                        prop_assert_eq!(result.is_ok(), model.expect(i) == Expect::Valid);
                        if result.is_ok() {
                            let sid = model.tokens[i].2.clone();
                            model.sessions.insert(sid, None);
                        }
                    }
                    Op::LogoutAll { m, u } => {
                        managers[m].log_out_user(&format!("u-{u}")).await.unwrap();
                        model.cut.insert(u, model.clock);
                    }
                    _ => {}
                }
                for (i, (token, ..)) in model.tokens.iter().enumerate() {
                    for manager in &managers {
                        let got = if manager.verify(token).await.is_ok() { Expect::Valid } else { Expect::Refused };
                        prop_assert_eq!(got, model.expect(i), "token {} after {:?}", i, model.tokens[i]);
                    }
                }
            }
            // State grows with sessions, never with refreshes.
            prop_assert!(list.stored_facts() <= model.sessions.len() as u64 + 2);
            Ok(())
        })?;
    }
}

#[test]
fn the_blocklist_clock_is_the_process_clock_for_memory() {
    let list = MemoryBlocklist::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!((list.clock_micros() - now).abs() < 1_000_000);
}
