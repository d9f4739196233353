//! Asymmetric algorithms (RS256, PS256, ES256, ES384, EdDSA): signing with a
//! key pair, verify-only managers, kids, rotation, and the classic attacks
//! (algorithm confusion, all-zero ECDSA signatures, ECDSA twins of a revoked
//! token). Keys are the PEM files in `tests/keys`.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::*;
use serde_json::{json, Value};
use tower_jwt_session::{
    Algorithm, ConfigError, IssueError, KeyPair, NewSession, PublicKey, SessionError,
    SessionManager, VerifyError,
};

const ALL: [(Algorithm, &str); 5] = [
    (Algorithm::RS256, "rsa2048"),
    (Algorithm::PS256, "rsa2048"),
    (Algorithm::ES256, "p256"),
    (Algorithm::ES384, "p384"),
    (Algorithm::EdDSA, "ed25519"),
];

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap()
}

fn key_path(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn pair(alg: Algorithm, name: &str) -> KeyPair {
    KeyPair::from_pkcs8_pem(alg, &pem(&format!("{name}.pem"))).unwrap()
}

fn public(alg: Algorithm, name: &str) -> PublicKey {
    PublicKey::from_spki_pem(alg, &pem(&format!("{name}.pub.pem"))).unwrap()
}

fn signer(alg: Algorithm, name: &str) -> SessionManager {
    SessionManager::builder(pair(alg, name))
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

fn verifier(alg: Algorithm, name: &str) -> SessionManager {
    SessionManager::verify_only()
        .with_public_key(public(alg, name))
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

fn ada() -> NewSession {
    NewSession::new("u-1", "ada@example.com").with_permissions(["admin"])
}

fn segments(token: &str) -> (Value, Value, Vec<u8>) {
    let mut parts = token.split('.');
    let mut json =
        || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let header = json();
    let payload = json();
    let sig = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (header, payload, sig)
}

fn with_signature(token: &str, sig: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Signs raw header and payload JSON with `key` through jsonwebtoken.
fn sign_with(pair_pem: &[u8], alg: Algorithm, header: &Value, payload: &Value) -> String {
    let (key, jalg) = match alg {
        Algorithm::RS256 => (
            jsonwebtoken::EncodingKey::from_rsa_der(&rsa_pkcs1(pair_pem)),
            jsonwebtoken::Algorithm::RS256,
        ),
        Algorithm::ES256 => (
            jsonwebtoken::EncodingKey::from_ec_der(&pkcs8_der(pair_pem)),
            jsonwebtoken::Algorithm::ES256,
        ),
        other => panic!("not needed here: {other}"),
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, jalg).unwrap();
    format!("{input}.{sig}")
}

fn pkcs8_der(pem_text: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem_text).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn rsa_pkcs1(pem_text: &[u8]) -> Vec<u8> {
    use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs8::DecodePrivateKey};
    rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8_der(pem_text))
        .unwrap()
        .to_pkcs1_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn every_algorithm_issues_verifies_refreshes_and_revokes() {
    for (alg, name) in ALL {
        let manager = signer(alg, name);
        let issued = manager.issue(ada()).unwrap();
        let (header, payload, _) = segments(issued.token());
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "session+jwt");
        assert_eq!(header["kid"], pair(alg, name).kid());
        assert_eq!(payload["email"], "ada@example.com");

        let session = manager.verify(issued.token()).await.unwrap();
        assert_eq!(session.user_id(), "u-1");
        let refreshed = manager.refresh(issued.token()).await.unwrap();
        assert!(
            matches!(
                manager.verify(issued.token()).await,
                Err(VerifyError::Superseded)
            ),
            "{alg}"
        );
        manager
            .revoke(&manager.verify(refreshed.token()).await.unwrap())
            .await
            .unwrap();
        assert!(matches!(
            manager.verify(refreshed.token()).await,
            Err(VerifyError::Revoked)
        ));
    }
}

#[tokio::test]
async fn a_verify_only_manager_accepts_the_signers_tokens_and_changes_nothing() {
    for (alg, name) in ALL {
        let signing = signer(alg, name);
        let verifying = verifier(alg, name);
        assert!(signing.can_issue());
        assert!(!verifying.can_issue());
        let token = signing.issue(ada()).unwrap().into_token();
        assert_eq!(
            verifying.verify(&token).await.unwrap().email(),
            Some("ada@example.com")
        );

        assert!(matches!(
            verifying.issue(ada()),
            Err(IssueError::VerifyOnly)
        ));
        assert!(matches!(
            verifying.refresh(&token).await,
            Err(SessionError::Issue(IssueError::VerifyOnly))
        ));
        // The failed refresh revoked nothing.
        assert!(verifying.verify(&token).await.is_ok(), "{alg}");
        // Revocation does not need the private key.
        verifying
            .revoke(&verifying.verify(&token).await.unwrap())
            .await
            .unwrap();
        assert!(matches!(
            verifying.verify(&token).await,
            Err(VerifyError::Revoked)
        ));
    }
}

#[test]
fn a_token_never_verifies_under_another_algorithm_or_key() {
    let token_of = |alg, name| signer(alg, name).issue(ada()).unwrap().into_token();
    // The same RSA key under RS256 and PS256: the alg header decides.
    let rs = token_of(Algorithm::RS256, "rsa2048");
    let ps = token_of(Algorithm::PS256, "rsa2048");
    assert!(matches!(
        verifier(Algorithm::PS256, "rsa2048").decode(&rs),
        Err(VerifyError::AlgorithmMismatch)
    ));
    assert!(matches!(
        verifier(Algorithm::RS256, "rsa2048").decode(&ps),
        Err(VerifyError::AlgorithmMismatch)
    ));
    // Another key of the same kind: its kid names no key.
    let other = token_of(Algorithm::ES256, "p256-other");
    assert!(matches!(
        verifier(Algorithm::ES256, "p256").decode(&other),
        Err(VerifyError::UnknownKey)
    ));
    // An HMAC manager never accepts an asymmetric token.
    let hmac = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    for (alg, name) in ALL {
        assert!(matches!(
            hmac.decode(&token_of(alg, name)),
            Err(VerifyError::AlgorithmMismatch)
        ));
    }
}

#[test]
fn hmac_tokens_signed_with_the_public_key_bytes_are_refused() {
    // The RS/HS confusion: a verifier that fed its public key to HMAC would
    // accept these.
    for (alg, name) in ALL {
        let manager = verifier(alg, name);
        let public_pem = pem(&format!("{name}.pub.pem"));
        let mut claims = claims();
        claims["jti"] = json!("confused");
        for header_alg in ["HS256", "HS384", "HS512", alg.as_str()] {
            let header = json!({"alg": header_alg, "typ": "JWT"}).to_string();
            let forged = sign_raw(header_alg, &public_pem, &header, &claims.to_string());
            let err = manager.decode(&forged).unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::AlgorithmMismatch
                        | VerifyError::InvalidSignature
                        | VerifyError::Malformed(_)
                ),
                "{alg} with {header_alg}: {err:?}"
            );
        }
    }
}

#[test]
fn all_zero_and_truncated_signatures_are_refused() {
    // CVE-2022-21449 ("psychic signatures"): an ECDSA verifier that accepted
    // r = s = 0 would accept any message.
    for (alg, name) in ALL {
        let manager = verifier(alg, name);
        let token = signer(alg, name).issue(ada()).unwrap().into_token();
        let (_, _, sig) = segments(&token);
        let zero = with_signature(&token, &vec![0u8; sig.len()]);
        assert!(
            matches!(manager.decode(&zero), Err(VerifyError::InvalidSignature)),
            "{alg}"
        );
        let short = with_signature(&token, &sig[..sig.len() - 1]);
        assert!(
            matches!(manager.decode(&short), Err(VerifyError::Malformed(_))),
            "{alg}"
        );
        let empty = format!("{}.", token.rsplit_once('.').unwrap().0);
        assert!(manager.decode(&empty).is_err());
        let mut flipped = sig.clone();
        flipped[sig.len() / 2] ^= 1;
        assert!(matches!(
            manager.decode(&with_signature(&token, &flipped)),
            Err(VerifyError::InvalidSignature)
        ));
        assert!(manager.decode(&token).is_ok());
    }
}

#[tokio::test]
async fn the_ecdsa_twin_of_a_revoked_token_without_jti_stays_revoked() {
    use p256::ecdsa::Signature;
    let key = pem("p256.pem");
    let manager = signer(Algorithm::ES256, "p256");
    // A token without jti and without kid, as another issuer might mint it.
    let token = sign_with(&key, Algorithm::ES256, &json!({"alg": "ES256"}), &claims());
    let (_, _, sig) = segments(&token);
    let sig = Signature::from_slice(&sig).unwrap();
    let (r, s) = sig.split_scalars();
    let twin_sig = Signature::from_scalars(r, -s).unwrap();
    let twin = with_signature(&token, &twin_sig.to_bytes());
    assert_ne!(twin, token);
    // Both are valid signatures of the same signing input...
    assert!(manager.verify(&token).await.is_ok());
    assert!(manager.verify(&twin).await.is_ok());
    // ...so revoking one revokes the other.
    manager
        .revoke(&manager.verify(&token).await.unwrap())
        .await
        .unwrap();
    assert!(matches!(
        manager.verify(&twin).await,
        Err(VerifyError::Revoked)
    ));
    assert!(matches!(
        manager.verify(&token).await,
        Err(VerifyError::Revoked)
    ));
}

#[test]
fn previous_public_keys_verify_and_kidless_tokens_try_each_key() {
    let old = pair(Algorithm::ES256, "p256-other");
    let old_token = signer(Algorithm::ES256, "p256-other")
        .issue(ada())
        .unwrap()
        .into_token();
    let manager = SessionManager::builder(pair(Algorithm::ES256, "p256"))
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_previous_public_keys([old.public_key().clone()])
        .build()
        .unwrap();
    assert!(manager.decode(&old_token).is_ok());
    // New tokens are signed with the current key.
    let (header, _, _) = segments(&manager.issue(ada()).unwrap().into_token());
    assert_eq!(header["kid"], pair(Algorithm::ES256, "p256").kid());

    // Without kid: the current key, then the previous one.
    for signing_key in ["p256.pem", "p256-other.pem"] {
        let token = sign_with(
            &pem(signing_key),
            Algorithm::ES256,
            &json!({"alg": "ES256"}),
            &claims(),
        );
        assert!(manager.decode(&token).is_ok(), "{signing_key}");
    }
    // A kid naming the old key checks that key alone.
    let mismatched = sign_with(
        &pem("p256.pem"),
        Algorithm::ES256,
        &json!({"alg": "ES256", "kid": old.kid()}),
        &claims(),
    );
    assert!(matches!(
        manager.decode(&mismatched),
        Err(VerifyError::InvalidSignature)
    ));
    // Unknown, oversized and non-string kids are refused.
    for kid in [json!("nope"), json!("k".repeat(200)), json!(7), json!(null)] {
        let token = sign_with(
            &pem("p256.pem"),
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": kid}),
            &claims(),
        );
        assert!(manager.decode(&token).is_err(), "{kid}");
    }
}

#[test]
fn kids_are_rfc_7638_thumbprints_stable_across_loads() {
    for (alg, name) in ALL {
        let a = pair(alg, name);
        let b = public(alg, name);
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43);
        assert!(a
            .kid()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
    assert_ne!(
        pair(Algorithm::ES256, "p256").kid(),
        pair(Algorithm::ES256, "p256-other").kid()
    );
}

#[test]
fn construction_refuses_what_cannot_be_used() {
    let weak = KeyPair::from_pkcs8_pem(Algorithm::RS256, &pem("rsa1024.pem")).unwrap_err();
    assert_eq!(weak, ConfigError::WeakRsaKey { bits: 1024 });
    assert_eq!(
        weak.to_string(),
        "the RSA key has 1024 bits; at least 2048 are required"
    );
    // A secret with an asymmetric algorithm, a key with an HMAC one.
    assert_eq!(
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_algorithm(Algorithm::ES256)
            .build()
            .unwrap_err(),
        ConfigError::SecretWithAsymmetricAlgorithm(Algorithm::ES256)
    );
    assert!(matches!(
        SessionManager::builder(pair(Algorithm::ES256, "p256"))
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_algorithm(Algorithm::HS256)
            .build(),
        Err(ConfigError::KeyAlgorithmMismatch { .. })
    ));
    assert_eq!(
        SessionManager::builder(pair(Algorithm::ES256, "p256"))
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_previous_secrets([SECRET])
            .build()
            .unwrap_err(),
        ConfigError::PreviousKeyKind(Algorithm::ES256)
    );
    assert_eq!(
        SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_previous_public_keys([public(Algorithm::ES256, "p256")])
            .build()
            .unwrap_err(),
        ConfigError::PreviousKeyKind(Algorithm::HS256)
    );
    assert!(matches!(
        SessionManager::builder(pair(Algorithm::ES256, "p256"))
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_previous_public_keys([public(Algorithm::ES384, "p384")])
            .build(),
        Err(ConfigError::KeyAlgorithmMismatch { .. })
    ));
}

// ---- the demo server (the contract's "Keys" section) ----

async fn login(http: &Http) -> String {
    http.login("admin@example.com", "admin-password").await.0
}

#[tokio::test]
async fn the_demo_server_signs_with_a_private_key_and_a_public_key_server_verifies() {
    let signing = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PRIVATE_KEY_FILE", &key_path("p256.pem")),
        ("SESSION_PUBLIC_KEY_FILE", &key_path("p256.pub.pem")),
    ]);
    let verifying = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PUBLIC_KEY_FILE", &key_path("p256.pub.pem")),
    ]);
    let a = Http::new(&signing.addr);
    let b = Http::new(&verifying.addr);

    let token = login(&a).await;
    let (header, _, _) = segments(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], pair(Algorithm::ES256, "p256").kid());
    assert_eq!(b.get("/me", Some(&token)).await.status, 200);
    assert_eq!(b.get("/admin", Some(&token)).await.status, 200);

    // Verify only: /login and /refresh are 501 with a JSON error and change nothing.
    let reply = b
        .post(
            "/login",
            None,
            r#"{"email":"admin@example.com","password":"admin-password"}"#,
        )
        .await;
    assert_eq!(reply.status, 501);
    assert!(reply.json()["error"].is_string());
    let reply = b.post("/refresh", Some(&token), "").await;
    assert_eq!(reply.status, 501);
    assert!(reply.json()["error"].is_string());
    assert_eq!(b.get("/me", Some(&token)).await.status, 200);
    assert_eq!(a.get("/me", Some(&token)).await.status, 200);

    // Both publish the public key as a JWKS, named by the token's kid.
    for http in [&a, &b] {
        let reply = http.get("/.well-known/jwks.json", None).await;
        assert_eq!(reply.status, 200);
        let jwks = reply.json();
        assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");
    }

    // Every other route works, logout included (its own in-memory blocklist).
    assert_eq!(b.post("/logout", Some(&token), "").await.status, 204);
    let reply = b.get("/me", Some(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.challenge(), Some(r#"Bearer error="invalid_token""#));
    assert_eq!(b.get("/health", None).await.status, 200);

    // The signing server refreshes as usual.
    let token = login(&a).await;
    let reply = a.post("/refresh", Some(&token), "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(a.get("/me", Some(&token)).await.status, 401);
}

#[tokio::test]
async fn the_demo_server_refuses_confused_and_forged_tokens() {
    for (alg, name) in ALL {
        let server = DemoServer::start(&[
            ("SESSION_ALGORITHM", alg.as_str()),
            (
                "SESSION_PRIVATE_KEY_FILE",
                &key_path(&format!("{name}.pem")),
            ),
        ]);
        let http = Http::new(&server.addr);
        let token = login(&http).await;
        assert_eq!(http.get("/me", Some(&token)).await.status, 200, "{alg}");

        let public_pem = pem(&format!("{name}.pub.pem"));
        let confused = sign_raw(
            "HS256",
            &public_pem,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &claims().to_string(),
        );
        let (_, _, sig) = segments(&token);
        let zero = with_signature(&token, &vec![0u8; sig.len()]);
        for bad in [confused, zero] {
            let reply = http.get("/me", Some(&bad)).await;
            assert_eq!(reply.status, 401, "{alg}");
            assert_eq!(reply.challenge(), Some(r#"Bearer error="invalid_token""#));
        }
        // A token of the HMAC demo server is refused too.
        let hmac = sign(&claims());
        assert_eq!(http.get("/me", Some(&hmac)).await.status, 401);
    }
    // An HMAC server publishes nothing.
    let server = DemoServer::start(&[]);
    let reply = Http::new(&server.addr)
        .get("/.well-known/jwks.json", None)
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
}

#[test]
fn the_demo_server_stops_on_unusable_key_files() {
    let p256 = key_path("p256.pem");
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("SESSION_ALGORITHM", "ES256".into())],
            "SESSION_PRIVATE_KEY_FILE",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("missing.pem")),
            ],
            "cannot read",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("rsa2048.pem")),
            ],
            "needs an EC P-256 key",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "RS256".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("rsa1024.pem")),
            ],
            "1024 bits",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "PS256".into()),
                ("SESSION_PUBLIC_KEY_FILE", key_path("rsa1024.pub.pem")),
            ],
            "1024 bits",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", p256.clone()),
                ("SESSION_PUBLIC_KEY_FILE", key_path("p256-other.pub.pem")),
            ],
            "one pair",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", p256.clone()),
                ("SESSION_PREVIOUS_SECRETS", SECRET.into()),
            ],
            "SESSION_PREVIOUS_SECRETS",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("p256-sec1.pem")),
            ],
            "SEC1",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "ES256".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("README.md")),
            ],
            "not a PEM file",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "HS256".into()),
                ("SESSION_SECRET", SECRET.into()),
                ("SESSION_PRIVATE_KEY_FILE", p256.clone()),
            ],
            "SESSION_PRIVATE_KEY_FILE",
        ),
        (
            vec![
                ("SESSION_ALGORITHM", "RS512".into()),
                ("SESSION_PRIVATE_KEY_FILE", key_path("rsa2048.pem")),
            ],
            "unknown algorithm",
        ),
    ];
    for (envs, expected) in cases {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stdout, stderr) = start_fails(&envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        assert!(stdout.is_empty(), "{envs:?}");
        assert_eq!(stderr.lines().count(), 1, "{envs:?}: {stderr}");
        assert!(stderr.contains(expected), "{envs:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A signed claims set that is a JSON array of every claim in field order
/// (serde's derive would take it for the struct) is refused, with HMAC and
/// with ES256.
#[tokio::test]
async fn a_claims_set_that_is_an_array_is_refused() {
    let now = now();
    let claims = json!([
        "u-1",
        "a@example.com",
        "admin",
        null,
        ["admin"],
        {},
        now,
        "u-1",
        now,
        "atomic-crm",
        "atomic-crm-api",
        now + 600,
        null,
        "j-array",
        now * 1_000_000,
        null
    ]);
    // The same claims as an object verify: the array is refused for its shape alone.
    let object = json!({
        "userId": "u-1", "email": "a@example.com", "role": "admin", "permissions": ["admin"],
        "metadata": {}, "createdAt": now, "sub": "u-1", "iat": now, "iss": "atomic-crm",
        "aud": "atomic-crm-api", "exp": now + 600, "jti": "j-object"
    });
    let hmac = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let hs = |c: &Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            c,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    assert!(hmac.verify(&hs(&object)).await.is_ok());
    assert!(matches!(
        hmac.verify(&hs(&claims)).await,
        Err(VerifyError::InvalidClaims(_))
    ));
    let es = signer(Algorithm::ES256, "p256");
    let header = json!({"alg": "ES256"});
    let es_sign = |c: &Value| sign_with(&pem("p256.pem"), Algorithm::ES256, &header, c);
    assert!(es.verify(&es_sign(&object)).await.is_ok());
    assert!(matches!(
        es.verify(&es_sign(&claims)).await,
        Err(VerifyError::InvalidClaims(_))
    ));
}
