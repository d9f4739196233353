//! Key rotation by `kid`: one signing secret, previous secrets for
//! verification, seed tokens without `kid`.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::*;
use serde_json::{json, Value};
use tower_jwt_session::{ConfigError, NewSession, SessionManager, VerifyError};

const OLD: &str = "the-old-secret-at-least-thirty-two-bytes-long";
const NEW: &str = "the-new-secret-at-least-thirty-two-bytes-long";

fn header(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn ada() -> NewSession {
    NewSession::new("u-1", "ada@example.com")
}

#[test]
fn tokens_name_their_key_and_the_name_is_stable() {
    let a = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let b = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let ka = header(a.issue(ada()).unwrap().token())["kid"].clone();
    let kb = header(b.issue(ada()).unwrap().token())["kid"].clone();
    assert!(ka.is_string());
    assert_eq!(ka, kb, "the same on every node and after a restart");
    let other = SessionManager::builder(OLD)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    assert_ne!(header(other.issue(ada()).unwrap().token())["kid"], ka);
}

#[test]
fn a_previous_secret_verifies_but_never_signs() {
    let old = SessionManager::builder(OLD)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let old_token = old.issue(ada()).unwrap().into_token();
    let rotated = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_previous_secrets([OLD])
        .build()
        .unwrap();
    assert!(rotated.decode(&old_token).is_ok());
    let new_token = rotated.issue(ada()).unwrap().into_token();
    assert_ne!(header(&new_token)["kid"], header(&old_token)["kid"]);
    assert!(
        old.decode(&new_token).is_err(),
        "signed with the new secret"
    );
    // Once the old secret is dropped, its tokens are refused.
    let done = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    assert!(matches!(
        done.decode(&old_token),
        Err(VerifyError::UnknownKey)
    ));
    assert!(done.decode(&new_token).is_ok());
}

#[test]
fn seed_tokens_without_kid_are_tried_against_every_secret() {
    let rotated = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_previous_secrets([OLD])
        .build()
        .unwrap();
    let by_old = sign_raw(
        "HS256",
        OLD.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
    );
    let by_new = sign_raw(
        "HS256",
        NEW.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
    );
    assert!(rotated.decode(&by_old).is_ok());
    assert!(rotated.decode(&by_new).is_ok());
    let by_other = sign_raw(
        "HS256",
        b"neither of the two configured secrets!!",
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
    );
    assert!(matches!(
        rotated.decode(&by_other),
        Err(VerifyError::InvalidSignature)
    ));
}

#[test]
fn a_kid_selects_one_key_alone_and_unknown_or_odd_kids_are_refused() {
    let rotated = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_previous_secrets([OLD])
        .build()
        .unwrap();
    let old_kid = header(
        SessionManager::builder(OLD)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .build()
            .unwrap()
            .issue(ada())
            .unwrap()
            .token(),
    )["kid"]
        .clone();
    let payload = claims().to_string();
    // Signed with the new secret but naming the old key: refused.
    let mislabelled = sign_raw(
        "HS256",
        NEW.as_bytes(),
        &json!({"alg": "HS256", "kid": old_kid}).to_string(),
        &payload,
    );
    assert!(matches!(
        rotated.decode(&mislabelled),
        Err(VerifyError::InvalidSignature)
    ));
    for kid in [
        json!("nope"),
        json!(""),
        json!("../../etc/passwd"),
        json!("https://evil.example/key"),
        json!("x".repeat(1000)),
    ] {
        let t = sign_raw(
            "HS256",
            NEW.as_bytes(),
            &json!({"alg": "HS256", "kid": kid}).to_string(),
            &payload,
        );
        assert!(
            matches!(rotated.decode(&t), Err(VerifyError::UnknownKey)),
            "{kid}"
        );
    }
    for kid in [json!(5), json!(null), json!(["a"]), json!({"k": 1})] {
        let t = sign_raw(
            "HS256",
            NEW.as_bytes(),
            &json!({"alg": "HS256", "kid": kid}).to_string(),
            &payload,
        );
        assert!(rotated.decode(&t).is_err(), "{kid}");
    }
}

#[test]
fn previous_secrets_meet_the_length_rule() {
    let e = SessionManager::builder(NEW)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_previous_secrets([OLD, "short"])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::PreviousSecretTooShort {
                index: 2,
                actual: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("previous secret #2"), "{e}");
}

#[tokio::test]
async fn the_demo_server_rotates_with_session_previous_secrets() {
    let before = DemoServer::start(&[("SESSION_SECRET", OLD)]);
    let (old_token, _) = Http::new(&before.addr)
        .login("admin@example.com", "admin-password")
        .await;
    drop(before);
    let previous = format!("  {OLD}\n\t");
    let during = DemoServer::start(&[
        ("SESSION_SECRET", NEW),
        ("SESSION_PREVIOUS_SECRETS", &previous),
    ]);
    let http = Http::new(&during.addr);
    assert_eq!(http.get("/me", Some(&old_token)).await.status, 200);
    let (new_token, _) = http.login("admin@example.com", "admin-password").await;
    assert_ne!(header(&new_token)["kid"], header(&old_token)["kid"]);
    drop(during);
    let after = DemoServer::start(&[("SESSION_SECRET", NEW), ("SESSION_PREVIOUS_SECRETS", "   ")]);
    let http = Http::new(&after.addr);
    let r = http.get("/me", Some(&old_token)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some("Bearer error=\"invalid_token\""));
    assert_eq!(http.get("/me", Some(&new_token)).await.status, 200);
    let (code, _, stderr) = start_fails(&[
        ("SESSION_SECRET", NEW),
        ("SESSION_PREVIOUS_SECRETS", &format!("{OLD} short")),
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.contains("SESSION_PREVIOUS_SECRETS"), "{stderr}");
}
