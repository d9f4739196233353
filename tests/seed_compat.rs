//! Wire compatibility with the TypeScript seed, both ways: the seed's own
//! fixtures, and the seed's logic on jose (run by node) against tokens minted
//! here, and the other way around.
//!
//! Needs `node`; the test installs `jose` (pinned in `tests/seed/package-lock.json`)
//! with `npm ci` on first run and fails loudly if it cannot.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tower_jwt_session::{Algorithm, KeyPair, NewSession, SessionManager};

fn manager_for(alg: &str, secret: &str) -> SessionManager {
    SessionManager::builder(secret)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_algorithm(alg.parse::<Algorithm>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_seed_fixture_is_accepted_with_its_data() {
    let fixtures = fixtures();
    let tokens = fixtures["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 6);
    for f in tokens {
        let m = manager_for(
            f["algorithm"].as_str().unwrap(),
            f["secret"].as_str().unwrap(),
        );
        let session = m
            .verify(f["token"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", f["name"]));
        let ours = serde_json::to_value(&session).unwrap();
        assert_eq!(ours, f["session"], "{}", f["name"]);
        assert_eq!(session.token_id(), None);
    }
}

#[tokio::test]
async fn seed_fixtures_are_refused_under_another_algorithm_or_secret() {
    let fixtures = fixtures();
    for f in fixtures["tokens"].as_array().unwrap() {
        let alg = f["algorithm"].as_str().unwrap();
        let token = f["token"].as_str().unwrap();
        let other_alg = if alg == "HS512" { "HS256" } else { "HS512" };
        let m = manager_for(other_alg, &"s".repeat(64));
        assert!(m.verify(token).await.is_err());
        let mut secret = f["secret"].as_str().unwrap().to_owned();
        secret.push('!');
        assert!(manager_for(alg, &secret).verify(token).await.is_err());
    }
}

#[tokio::test]
async fn a_revoked_seed_fixture_stays_revoked() {
    let fixtures = fixtures();
    let f = &fixtures["tokens"][0];
    let m = manager_for("HS256", f["secret"].as_str().unwrap());
    let token = f["token"].as_str().unwrap();
    m.revoke(&m.verify(token).await.unwrap()).await.unwrap();
    assert!(m.verify(token).await.is_err());
    // Another fixture of the same secret is unaffected.
    assert!(m
        .verify(fixtures["tokens"][1]["token"].as_str().unwrap())
        .await
        .is_ok());
}

/// Runs the seed's logic under node with one batch of requests.
fn run_seed(requests: &Value) -> Vec<Value> {
    run_node("seed.mjs", requests)
}

#[tokio::test]
async fn tokens_minted_here_pass_the_seeds_verify_session_and_back() {
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    let configs = [
        ("HS256", "compat-secret-hs256-0123456789abcdef0123"),
        (
            "HS384",
            "compat-secret-hs384-0123456789abcdef0123456789abcdef0123",
        ),
        (
            "HS512",
            "compat-secret-hs512-0123456789abcdef0123456789abcdef0123456789abcdef01",
        ),
    ];
    for (alg, secret) in configs {
        let m = manager_for(alg, secret);
        for new in [
            NewSession::new("u-admin", "admin@example.com")
                .with_role("admin")
                .with_company_id("acme")
                .with_permissions(["contacts:read", "admin"])
                .with_metadata(json!({"name": "Ada Admin", "n": [1, 2.5, null]})),
            NewSession::new("u-solo", "solo@example.com")
                .with_metadata(json!({"unicode": "Zoë ✓"})),
        ] {
            let issued = m.issue(new).unwrap();
            requests.push(json!({
                "op": "verify", "secret": secret, "issuer": "atomic-crm",
                "audience": "atomic-crm-api", "token": issued.token(),
            }));
            expected.push(serde_json::to_value(issued.session()).unwrap());
        }
        // And a token the seed mints now, for this manager to accept.
        requests.push(json!({
            "op": "mint", "secret": secret, "issuer": "atomic-crm", "audience": "atomic-crm-api",
            "algorithm": alg, "expiresIn": 3600,
            "data": {"userId": "u-js", "email": "js@example.com", "role": "sales",
                     "permissions": ["contacts:read"], "metadata": {}},
        }));
        expected.push(Value::Null);
    }
    // A refusal the seed must agree with: another issuer.
    let other = SessionManager::builder(configs[0].1)
        .with_audience("atomic-crm-api")
        .with_issuer("someone-else")
        .build()
        .unwrap();
    let foreign = other.issue(NewSession::new("u", "e@example.com")).unwrap();
    requests.push(json!({
        "op": "verify", "secret": configs[0].1, "issuer": "atomic-crm",
        "audience": "atomic-crm-api", "token": foreign.token(),
    }));

    let answers = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || run_seed(&Value::Array(requests))),
    )
    .await
    .expect("node did not answer in time")
    .unwrap();
    assert_eq!(answers.len(), 10);
    for (i, (alg, secret)) in configs.iter().enumerate() {
        let base = i * 3;
        for j in 0..2 {
            let mut seen = answers[base + j]["session"].clone();
            assert!(
                !seen.is_null(),
                "{alg}: the seed refused our token: {}",
                answers[base + j]
            );
            // jose leaves `companyId` undefined (absent in JSON) when missing.
            assert_eq!(
                seen.as_object_mut().unwrap().remove("companyId").is_some(),
                expected[base + j]["companyId"].is_string()
            );
            let mut want = expected[base + j].clone();
            want.as_object_mut().unwrap().remove("companyId");
            assert_eq!(seen, want, "{alg}");
        }
        let minted = answers[base + 2]["token"].as_str().unwrap();
        let m = manager_for(alg, secret);
        let session = m
            .verify(minted)
            .await
            .unwrap_or_else(|e| panic!("{alg}: we refused the seed's token: {e}"));
        assert_eq!(session.user_id(), "u-js");
        assert_eq!(session.permissions(), ["contacts:read"]);
    }
    assert!(answers[9]["session"].is_null());
}

/// Asymmetric tokens against jose, an independent implementation: jose
/// verifies tokens minted here with the public key alone (from PEM and from
/// our JWK export), tokens jose mints verify here, and jose computes the same
/// RFC 7638 thumbprint as our `kid`.
#[tokio::test]
async fn asymmetric_tokens_interoperate_with_jose() {
    let key = |name: &str| {
        std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    };
    let cases = [
        (Algorithm::RS256, "rsa2048"),
        (Algorithm::PS256, "rsa2048"),
        (Algorithm::ES256, "p256"),
        (Algorithm::ES384, "p384"),
        (Algorithm::EdDSA, "ed25519"),
    ];
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for (alg, name) in cases {
        let pair = KeyPair::from_pkcs8_pem(alg, key(&format!("{name}.pem")).as_bytes()).unwrap();
        let manager = SessionManager::builder(pair.clone())
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .build()
            .unwrap();
        let token = manager
            .issue(NewSession::new("u-1", "ada@example.com").with_role("admin"))
            .unwrap()
            .into_token();
        let public = key(&format!("{name}.pub.pem"));
        requests.push(
            json!({"op": "verify", "algorithm": alg.as_str(), "publicKey": public,
            "issuer": "atomic-crm", "audience": "atomic-crm-api", "token": token}),
        );
        requests.push(json!({"op": "mint", "algorithm": alg.as_str(),
            "privateKey": key(&format!("{name}.pem")), "issuer": "atomic-crm", "audience": "atomic-crm-api",
            "claims": {"userId": "u-2", "email": "bob@example.com", "role": "sales"}}));
        requests.push(json!({"op": "thumbprint", "algorithm": alg.as_str(), "publicKey": public}));
        requests.push(
            json!({"op": "verify_jwk", "algorithm": alg.as_str(), "jwk": pair.public_key().to_jwk(),
            "issuer": "atomic-crm", "audience": "atomic-crm-api", "token": token}),
        );
        ours.push((alg, pair, manager));
    }
    let answers = run_node("keys.mjs", &json!(requests));
    assert_eq!(answers.len(), 4 * cases.len());
    for ((alg, pair, manager), answer) in ours.iter().zip(answers.chunks(4)) {
        let verified = &answer[0];
        assert!(verified.get("error").is_none(), "{alg}: {verified}");
        assert_eq!(verified["payload"]["email"], "ada@example.com", "{alg}");
        assert_eq!(verified["header"]["kid"], pair.kid(), "{alg}");

        let theirs = answer[1]["token"].as_str().unwrap();
        let session = manager
            .verify(theirs)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(session.email(), Some("bob@example.com"));

        assert_eq!(answer[2]["thumbprint"], pair.kid(), "{alg}");
        // jose reads our JWK export and verifies our token with it.
        assert_eq!(
            answer[3]["payload"]["email"], "ada@example.com",
            "{alg}: {}",
            answer[3]
        );
    }
}
