//! The session manager on its own: issuing, rotation, revocation, lifetimes.

mod common;

use std::time::Duration;

use common::*;
use tower_jwt_session::{IssueError, NewSession, SessionError, SessionManager, VerifyError};

fn manager() -> SessionManager {
    SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

fn ada() -> NewSession {
    NewSession::new("u-1", "ada@example.com")
}

#[tokio::test]
async fn tokens_issued_in_the_same_second_differ_and_verify() {
    let m = manager();
    let a = m.issue(ada()).unwrap();
    let b = m.issue(ada()).unwrap();
    assert_ne!(a.token(), b.token());
    assert_ne!(a.session().token_id(), b.session().token_id());
    for t in [&a, &b] {
        let s = m.verify(t.token()).await.unwrap();
        assert_eq!(s.user_id(), "u-1");
        assert_eq!(s.expires_at(), t.expires_at());
        assert_eq!(payload(t.token())["exp"], t.expires_at());
    }
}

#[tokio::test]
async fn issuing_needs_a_user_id_and_an_email() {
    let m = manager();
    assert!(matches!(
        m.issue(NewSession::new("", "a@b")),
        Err(IssueError::EmptyField("userId"))
    ));
    assert!(matches!(
        m.issue(NewSession::new("u", "")),
        Err(IssueError::EmptyField("email"))
    ));
}

#[tokio::test]
async fn a_token_refreshes_once_only() {
    let m = manager();
    let first = m.issue(ada()).unwrap();
    let second = m.refresh(first.token()).await.unwrap();
    assert_ne!(second.token(), first.token());
    assert!(matches!(
        m.verify(first.token()).await,
        Err(VerifyError::Superseded)
    ));
    // Refreshing it again is a replay: the session ends (reuse detection).
    assert!(matches!(
        m.refresh(first.token()).await,
        Err(SessionError::Verify(VerifyError::ReuseDetected))
    ));
    assert!(m.verify(second.token()).await.is_err());
    // Two concurrent refreshes of one verified session: exactly one wins.
    let third = m.issue(ada()).unwrap();
    let session = m.verify(third.token()).await.unwrap();
    let (x, y) = tokio::join!(m.refresh_session(&session), m.refresh_session(&session));
    assert_eq!(x.is_ok() as u8 + y.is_ok() as u8, 1, "{x:?} {y:?}");
}

#[tokio::test]
async fn refresh_keeps_the_user_data() {
    let m = manager();
    let first = m
        .issue(
            ada()
                .with_role("admin")
                .with_company_id("acme")
                .with_permissions(["a", "b"])
                .with_metadata(serde_json::json!({"k": [1, 2]})),
        )
        .unwrap();
    let next = m.refresh(first.token()).await.unwrap();
    let a = serde_json::to_value(first.session()).unwrap();
    let mut b = serde_json::to_value(next.session()).unwrap();
    for k in ["createdAt", "expiresAt"] {
        b[k] = a[k].clone();
    }
    assert_eq!(a, b);
    assert_eq!(
        next.session().authenticated_at(),
        first.session().authenticated_at()
    );
}

#[tokio::test]
async fn an_invalid_token_cannot_be_logged_out_and_a_revocation_is_stored() {
    let m = manager();
    // A log-out starts from a verified token: an invalid one is an error,
    // never a silent Ok.
    assert!(matches!(
        m.verify("not.a.token").await,
        Err(VerifyError::Malformed(_))
    ));
    let t = m.issue(ada()).unwrap();
    let session = m.verify(t.token()).await.unwrap();
    m.revoke(&session).await.unwrap();
    assert!(matches!(
        m.verify(t.token()).await,
        Err(VerifyError::Revoked)
    ));
    // Revoking again changes nothing, and says Ok.
    m.revoke(&session).await.unwrap();
}

#[tokio::test]
async fn the_absolute_session_lifetime_caps_refreshes() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_ttl(Duration::from_secs(2))
        .with_max_session_lifetime(Duration::from_secs(3))
        .with_leeway(Duration::ZERO)
        .build()
        .unwrap();
    // Start just after a second boundary, so that whole-second `exp` values
    // leave the expected margins.
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1050 - into_second))).await;
    let first = m.issue(ada()).unwrap();
    let login = first.session().authenticated_at();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = m.refresh(first.token()).await.unwrap();
    // A fresh lifetime would end at now + 2 s; the session ends at login + 3 s.
    assert_eq!(second.expires_at(), login + 3);
    let end = std::time::UNIX_EPOCH + Duration::from_secs((login + 3) as u64);
    let wait = end
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    assert!(m.verify(second.token()).await.is_err());
    assert!(m.refresh(second.token()).await.is_err());
}

#[tokio::test]
async fn logout_everywhere_cuts_at_the_call() {
    let m = manager();
    let before = m.issue(ada()).unwrap();
    m.log_out_user("u-1").await.unwrap();
    let after = m.issue(ada()).unwrap();
    assert!(matches!(
        m.verify(before.token()).await,
        Err(VerifyError::RevokedForUser)
    ));
    m.verify(after.token()).await.unwrap();
    // A second call later moves the cut forward, never back.
    m.log_out_user("u-1").await.unwrap();
    assert!(m.verify(after.token()).await.is_err());
}

#[test]
fn debug_output_never_shows_the_secret_or_the_token() {
    let m = manager();
    let t = m.issue(ada()).unwrap();
    let shown = format!("{m:?} {t:?} {:?}", t.session());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(t.token()), "{shown}");
    let sig = t.token().rsplit_once('.').unwrap().1;
    assert!(!shown.contains(sig));
    let builder = SessionManager::builder(SECRET);
    assert!(!format!("{builder:?}").contains(SECRET));
}

#[test]
fn configuration_errors_are_returned_not_panicked() {
    use tower_jwt_session::{Algorithm, ConfigError};
    let short = SessionManager::builder("short")
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap_err();
    assert!(matches!(
        short,
        ConfigError::SecretTooShort {
            actual: 5,
            required: 32,
            ..
        }
    ));
    let e = SessionManager::builder("k".repeat(32))
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_algorithm(Algorithm::HS512)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("HS512 needs at least 64"), "{e}");
    assert!(matches!(
        SessionManager::builder(SECRET)
            .with_audience("atomic-crm-api")
            .with_issuer("")
            .build(),
        Err(ConfigError::EmptyIssuer)
    ));
}

#[test]
fn issuer_and_audience_are_required_with_an_error_that_says_how() {
    use tower_jwt_session::{Algorithm, ConfigError, KeyPair};
    let e = SessionManager::builder(SECRET)
        .with_audience("orders-api")
        .build()
        .unwrap_err();
    assert!(matches!(e, ConfigError::MissingIssuer), "{e:?}");
    assert!(e.to_string().contains("with_issuer"), "{e}");
    let e = SessionManager::builder(SECRET)
        .with_issuer("https://auth.example.com")
        .build()
        .unwrap_err();
    assert!(matches!(e, ConfigError::MissingAudience), "{e:?}");
    assert!(e.to_string().contains("with_audience"), "{e}");
    // Asymmetric builders too.
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/ed25519.pem"
    ))
    .unwrap();
    let pair = KeyPair::from_pkcs8_pem(Algorithm::EdDSA, &pem).unwrap();
    assert!(matches!(
        SessionManager::builder(pair).build(),
        Err(ConfigError::MissingIssuer)
    ));
    // Once both are set, tokens carry exactly them.
    let m = SessionManager::builder(SECRET)
        .with_issuer("https://auth.example.com")
        .with_audience("orders-api")
        .build()
        .unwrap();
    assert!(m.decode(m.issue(ada()).unwrap().token()).is_ok());
    assert_eq!(
        (m.issuer(), m.audience()),
        ("https://auth.example.com", "orders-api")
    );
}

#[tokio::test]
async fn extreme_but_signed_exp_values_do_not_break_revocation() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    for exp in [
        serde_json::json!(1e300),
        serde_json::json!(i64::MAX),
        serde_json::json!(u64::MAX),
        serde_json::json!(4102444800u64),
    ] {
        let mut c = claims();
        c["exp"] = exp.clone();
        let token = sign(&c);
        let session = m
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{exp}: {e}"));
        assert!(session.expires_at() > 0);
        m.revoke(&m.verify(&token).await.unwrap()).await.unwrap();
        assert!(
            matches!(m.verify(&token).await, Err(VerifyError::Revoked)),
            "{exp}"
        );
    }
}

/// A blocklist whose `revoke` and `rotate` stop until released, to hold a
/// refresh between its revocation (or rotation) and its mint.
#[derive(Debug)]
struct GatedBlocklist {
    inner: tower_jwt_session::blocklist::MemoryBlocklist,
    entered: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Notify>,
}

impl tower_jwt_session::blocklist::Blocklist for GatedBlocklist {
    fn revoke(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        until: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<bool> {
        let stored = self.inner.revoke(key, until);
        let (entered, release) = (self.entered.clone(), self.release.clone());
        Box::pin(async move {
            entered.notify_one();
            release.notified().await;
            stored.await
        })
    }

    fn rotate(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Rotation> {
        let rotated = self
            .inner
            .rotate(key, from, until, user_id, issued_at_micros);
        let (entered, release) = (self.entered.clone(), self.release.clone());
        Box::pin(async move {
            entered.notify_one();
            release.notified().await;
            rotated.await
        })
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        micros: i64,
        until: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<i64> {
        self.inner.set_valid_after(user_id, micros, until)
    }

    fn check(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        user_id: &str,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Lookup> {
        self.inner.check(key, user_id)
    }
}

#[tokio::test]
async fn a_refresh_racing_logout_everywhere_never_yields_a_surviving_token() {
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(GatedBlocklist {
            inner: tower_jwt_session::blocklist::MemoryBlocklist::new(),
            entered: entered.clone(),
            release: release.clone(),
        })
        .build()
        .unwrap();
    let token = m.issue(ada()).unwrap().into_token();
    // What the layer did: verified the token before the handler ran.
    let session = m.decode(&token).unwrap();
    let refresh = tokio::spawn({
        let m = m.clone();
        async move { m.refresh_session(&session).await }
    });
    // The refresh is inside its revocation; "log out everywhere" lands now.
    entered.notified().await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    m.log_out_user("u-1").await.unwrap();
    release.notify_one();
    match refresh.await.unwrap() {
        Err(e) => assert!(
            matches!(e, SessionError::Verify(VerifyError::RevokedForUser)),
            "{e:?}"
        ),
        Ok(new) => assert!(
            m.verify(new.token()).await.is_err(),
            "the refreshed token survived log-out-everywhere"
        ),
    }
}

#[tokio::test]
async fn a_refresh_after_logout_everywhere_is_covered_by_the_next_one() {
    // Without a race: a refresh that completes, then a logout-all, ends the
    // new token too (its issue time precedes the watermark).
    let m = manager();
    let token = m.issue(ada()).unwrap().into_token();
    let new = m.refresh(&token).await.unwrap();
    assert!(m.verify(new.token()).await.is_ok());
    m.log_out_user("u-1").await.unwrap();
    assert!(matches!(
        m.verify(new.token()).await,
        Err(VerifyError::RevokedForUser)
    ));
}

/// A manager with keys of its own that also trusts an identity provider:
/// which keys a token goes to, and whose "log out everywhere" reaches whom.
mod beside_a_trusted_issuer {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use serde_json::{json, Value};
    use sha2::Digest;
    use tower_jwt_session::{issuers::TrustedIssuer, Algorithm, KeyPair, PublicKey};

    const IDP: &str = "https://idp.example.com";
    const IDP_SECRET: &str = "the identity provider's own secret, 32+ bytes";

    fn sign(
        header: &Value,
        claims: &Value,
        alg: jsonwebtoken::Algorithm,
        key: &jsonwebtoken::EncodingKey,
    ) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
        format!("{input}.{sig}")
    }

    fn idp_claims(sub: &str) -> Value {
        json!({"iss": IDP, "sub": sub, "aud": "atomic-crm-api", "iat": now(), "exp": now() + 600})
    }

    fn hmac_pair() -> SessionManager {
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_trusted_issuer(TrustedIssuer::with_secret(
                IDP,
                Algorithm::HS256,
                IDP_SECRET,
            ))
            .build()
            .unwrap()
    }

    /// A provider's token whose header is exactly `{"alg":"<the server's
    /// own algorithm>"}` (`jose`'s default) goes to the provider's keys, by
    /// its `iss`: HMAC and ECDSA alike.
    #[tokio::test]
    async fn a_header_without_kid_is_routed_by_the_tokens_iss() {
        let m = hmac_pair();
        let key = jsonwebtoken::EncodingKey::from_secret(IDP_SECRET.as_bytes());
        let token = sign(
            &json!({"alg": "HS256"}),
            &idp_claims("ada"),
            jsonwebtoken::Algorithm::HS256,
            &key,
        );
        let session = m.verify(token.as_str()).await.unwrap();
        assert_eq!(session.trusted_issuer(), Some(IDP));
        // The server's own tokens without kid (the seed's) still verify.
        let own = sign(
            &json!({"alg": "HS256"}),
            &json!({"iss": "atomic-crm", "aud": "atomic-crm-api", "sub": "u-1", "userId": "u-1",
                    "email": "ada@example.com", "iat": now(), "exp": now() + 600}),
            jsonwebtoken::Algorithm::HS256,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        );
        assert_eq!(m.verify(own.as_str()).await.unwrap().trusted_issuer(), None);

        let pem = |f: &str| {
            std::fs::read(format!("{}/tests/keys/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        let m = SessionManager::builder(
            KeyPair::from_pkcs8_pem(Algorithm::ES256, &pem("p256.pem")).unwrap(),
        )
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_trusted_issuer(TrustedIssuer::with_public_keys(
            IDP,
            [PublicKey::from_spki_pem(Algorithm::ES256, &pem("p256-other.pub.pem")).unwrap()],
        ))
        .build()
        .unwrap();
        let der: String = String::from_utf8_lossy(&pem("p256-other.pem"))
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(&der);
        let token = sign(
            &json!({"alg": "ES256"}),
            &idp_claims("ada"),
            jsonwebtoken::Algorithm::ES256,
            &key,
        );
        assert_eq!(
            m.verify(token.as_str()).await.unwrap().trusted_issuer(),
            Some(IDP)
        );
    }

    /// The server's own users and the provider's subjects never share a
    /// "log out everywhere": not even a user id spelled as the provider's
    /// (public) tag and a subject.
    #[tokio::test]
    async fn own_users_and_provider_subjects_have_disjoint_watermarks() {
        let m = hmac_pair();
        let key = jsonwebtoken::EncodingKey::from_secret(IDP_SECRET.as_bytes());
        let provider_ada = sign(
            &json!({"alg": "HS256", "typ": "at+jwt"}),
            &idp_claims("ada"),
            jsonwebtoken::Algorithm::HS256,
            &key,
        );
        let tag = URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(IDP.as_bytes())[..9]);
        for spelled in [
            format!("{tag}~ada"),
            format!("{tag}^ada"),
            format!("{tag}!ada"),
            "#x".to_owned(),
        ] {
            let local = m
                .issue(NewSession::new(spelled.clone(), "x@example.com"))
                .unwrap();
            m.log_out_user(&spelled).await.unwrap();
            assert!(
                matches!(
                    m.verify(local.token()).await,
                    Err(VerifyError::RevokedForUser)
                ),
                "{spelled}: its own log-out-everywhere holds"
            );
            assert!(
                m.verify(provider_ada.as_str()).await.is_ok(),
                "{spelled} logged out the provider's ada"
            );
        }
        // And the other way round.
        let local = m
            .issue(NewSession::new(format!("{tag}~bob"), "b@example.com"))
            .unwrap();
        let provider_bob = sign(
            &json!({"alg": "HS256"}),
            &idp_claims("bob"),
            jsonwebtoken::Algorithm::HS256,
            &key,
        );
        let session = m.verify(provider_bob.as_str()).await.unwrap();
        m.log_out_everywhere(&session).await.unwrap();
        assert!(m.verify(provider_bob.as_str()).await.is_err());
        assert!(m.verify(local.token()).await.is_ok());
    }
}

/// A token whose claims do not fit the application's claims type is
/// refused, and the error keeps serde's reason as its source.
#[tokio::test]
async fn a_misfit_of_the_claims_type_is_refused_with_its_source() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct NeedsTenant {
        tenant: String,
    }
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_claims::<NeedsTenant>()
        .build()
        .unwrap();
    let token = m.issue(ada());
    // Minting checks nothing of C; verifying does.
    let token = token.unwrap().into_token();
    let err = m.verify(token.as_str()).await.unwrap_err();
    assert!(matches!(err, VerifyError::ClaimsType(_)), "{err:?}");
    let source = std::error::Error::source(&err).expect("serde's error as the source");
    assert!(source.to_string().contains("tenant"), "{source}");
}
