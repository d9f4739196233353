//! Verify-only managers fed by a JWKS URL, over real HTTP (and HTTPS) on
//! loopback against a JWKS server of the tests' own that counts fetches:
//! rotation, the unknown-kid cooldown, every failure mode, the maximum key
//! age, TLS with a private CA, and OpenID Connect discovery.

mod common;

use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::{
    jwks_server::{jwk_set, JwksServer, Mode},
    PATIENCE,
};
use http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    jwks::{JwksSource, JwksSourceBuilder},
    testing::{TEST_AUDIENCE, TEST_ISSUER},
    Algorithm, ConfigError, JwksError, KeyPair, NewSession, PublicKey, SessionLayer,
    SessionManager, VerifyError,
};

const KEYS: &str = "/jwks.json";

fn pair(file: &str, alg: Algorithm) -> KeyPair {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(file);
    KeyPair::from_pkcs8_pem(alg, &std::fs::read(path).unwrap()).unwrap()
}

fn signer_with(pair: KeyPair, issuer: &str) -> SessionManager {
    SessionManager::builder(pair)
        .with_issuer(issuer)
        .with_audience(TEST_AUDIENCE)
        .build()
        .unwrap()
}

/// An ES256 signer with `tests/keys/<file>`.
fn signer(file: &str) -> SessionManager {
    signer_with(pair(file, Algorithm::ES256), TEST_ISSUER)
}

fn jwks_of(signers: &[&SessionManager]) -> String {
    let keys: Vec<_> = signers
        .iter()
        .flat_map(|s| s.public_keys().map(PublicKey::to_jwk))
        .collect();
    jwk_set(&keys)
}

fn token(signer: &SessionManager) -> String {
    signer
        .issue(NewSession::new("u-1", "ada@example.com"))
        .unwrap()
        .into_token()
}

fn verifier(source: JwksSource) -> SessionManager {
    SessionManager::verify_only()
        .with_jwks(source)
        .with_issuer(TEST_ISSUER)
        .with_audience(TEST_AUDIENCE)
        .build()
        .unwrap()
}

async fn ready(source: &JwksSource) {
    let started = Instant::now();
    while !source.is_ready() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no JWK Set after 10 s: {source:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A token whose header names `kid`, with `from`'s payload and signature.
fn with_kid(from: &str, kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#));
    let mut parts = from.splitn(2, '.');
    parts.next();
    format!("{header}.{}", parts.next().unwrap())
}

/// The layer in front of a handler that answers 200.
async fn through_layer(
    manager: &SessionManager,
    token: &str,
) -> Response<tower_jwt_session::body::ResponseBody<String>> {
    let svc = ServiceBuilder::new()
        .layer(SessionLayer::new(manager.clone()))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    svc.oneshot(req).await.unwrap()
}

/// The certificate authority of the tests' TLS server.
fn test_ca() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/test-ca.pem"
    ))
    .unwrap()
}

fn builder(server: &JwksServer) -> JwksSourceBuilder {
    JwksSource::builder(server.url(KEYS), Algorithm::ES256)
}

#[tokio::test]
async fn tokens_verify_with_jwks_keys_and_a_rotation_costs_one_fetch() {
    let (a, b) = (signer("p256.pem"), signer("p256-other.pem"));
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    assert_eq!(server.hits(KEYS), 1);
    assert!(!manager.can_issue());

    let old = token(&a);
    assert_eq!(manager.verify(&old).await.unwrap().user_id(), "u-1");
    assert_eq!(through_layer(&manager, &old).await.status(), StatusCode::OK);

    // The issuer rotates to b: b's first token causes one fetch and passes.
    server.set(KEYS, Mode::Json(jwks_of(&[&b]), None));
    let new = token(&b);
    assert_eq!(through_layer(&manager, &new).await.status(), StatusCode::OK);
    assert_eq!(server.hits(KEYS), 2);
    // a's key is gone from the set: its tokens are refused, without a fetch.
    assert!(matches!(
        manager.verify(&old).await,
        Err(VerifyError::UnknownKey)
    ));
    assert_eq!(
        through_layer(&manager, &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A known kid with a wrong signature never causes a fetch.
    let mut forged = new.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(manager.verify(&forged).await.is_err());
    assert!(manager.verify(&new).await.is_ok());
    assert_eq!(server.hits(KEYS), 2);
    assert_eq!(source.stats().keys, 1);
}

#[tokio::test]
async fn a_thousand_random_kids_cause_at_most_one_fetch_per_cooldown() {
    let a = signer("p256.pem");
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let cooldown = Duration::from_secs(1);
    let source = builder(&server).with_cooldown(cooldown).build().unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let valid = token(&a);

    // 1 000 concurrent requests, each with a kid of its own.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let manager = manager.clone();
        let forged = with_kid(&valid, &format!("random-{i}-{}", rand_hex()));
        tasks.spawn(async move { through_layer(&manager, &forged).await.status() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let burst = started.elapsed();
    let fetched = server.hits(KEYS) - 1;
    let bound = 1 + (burst.as_secs_f64() / cooldown.as_secs_f64()).floor() as usize;
    eprintln!("1000 random kids in {burst:?}: {fetched} fetch(es) (bound {bound})");
    assert!(fetched >= 1, "an unknown kid must cause a fetch");
    assert!(fetched <= bound, "{fetched} fetches in {burst:?}");

    // A flood of 3 s, in waves: at most one fetch per cooldown.
    let before = server.hits(KEYS);
    let started = Instant::now();
    let mut sent: u32 = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let forged = with_kid(&valid, &format!("flood-{sent}-{}", rand_hex()));
        assert_eq!(
            through_layer(&manager, &forged).await.status(),
            StatusCode::UNAUTHORIZED
        );
        sent += 1;
        if sent.is_multiple_of(50) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let flood = started.elapsed();
    let fetched = server.hits(KEYS) - before;
    let bound = 1 + (flood.as_secs_f64() / cooldown.as_secs_f64()).ceil() as usize;
    eprintln!("{sent} random kids over {flood:?}: {fetched} fetches (bound {bound})");
    assert!(fetched <= bound);
    // Valid tokens kept passing.
    assert!(manager.verify(&valid).await.is_ok());
}

fn rand_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    format!("{:016x}", h.finish())
}

#[tokio::test]
async fn every_kind_of_bad_fetch_keeps_the_last_good_set() {
    let a = signer("p256.pem");
    let server = JwksServer::start().await;
    let good = jwks_of(&[&a]);
    server.set(KEYS, Mode::Json(good.clone(), None));
    server.set("/good", Mode::Json(good.clone(), None));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    let valid = token(&a);

    let a_jwk = a.public_keys().next().unwrap().to_jwk();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut jwk = a_jwk.clone();
        edit(&mut jwk);
        jwk_set(&[jwk])
    };
    let p384 = signer_with(pair("p384.pem", Algorithm::ES384), TEST_ISSUER);
    type Expected = fn(&JwksError) -> bool;
    let cases: Vec<(&str, Mode, Expected)> = vec![
        ("500", Mode::Status(500), |e| {
            matches!(e, JwksError::Status(500))
        }),
        ("204", Mode::Status(204), |e| {
            matches!(e, JwksError::Status(204))
        }),
        ("redirect", Mode::Redirect(server.url("/good")), |e| {
            matches!(e, JwksError::Status(302))
        }),
        ("garbage", Mode::Garbage, |e| {
            matches!(e, JwksError::NotAJwkSet(_))
        }),
        (
            "not a set",
            Mode::Json(r#"{"keys":"none"}"#.into(), None),
            |e| matches!(e, JwksError::NotAJwkSet(_)),
        ),
        ("array", Mode::Json("[]".into(), None), |e| {
            matches!(e, JwksError::NotAJwkSet(_))
        }),
        (
            "oct key",
            Mode::Json(
                jwk_set(&[
                    serde_json::json!({"kty":"oct","kid":"s","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}),
                ]),
                None,
            ),
            |e| matches!(e, JwksError::NoUsableKey { skipped: 1, .. }),
        ),
        ("other curve", Mode::Json(jwks_of(&[&p384]), None), |e| {
            matches!(e, JwksError::NoUsableKey { skipped: 1, .. })
        }),
        (
            "other alg",
            Mode::Json(with(&|j| j["alg"] = "ES384".into()), None),
            |e| matches!(e, JwksError::NoUsableKey { .. }),
        ),
        (
            "use enc",
            Mode::Json(with(&|j| j["use"] = "enc".into()), None),
            |e| matches!(e, JwksError::NoUsableKey { .. }),
        ),
        (
            "no kid",
            Mode::Json(
                with(&|j| {
                    j.as_object_mut().unwrap().remove("kid");
                }),
                None,
            ),
            |e| matches!(e, JwksError::NoUsableKey { .. }),
        ),
        (
            "off the curve",
            Mode::Json(with(&|j| j["y"] = j["x"].clone()), None),
            |e| matches!(e, JwksError::NoUsableKey { .. }),
        ),
        (
            "huge, declared",
            Mode::Huge {
                bytes: 300 * 1024,
                declared: true,
            },
            |e| matches!(e, JwksError::TooLarge(_)),
        ),
        (
            "huge, streamed",
            Mode::Huge {
                bytes: 300 * 1024,
                declared: false,
            },
            |e| matches!(e, JwksError::TooLarge(_)),
        ),
        ("reset", Mode::Reset, |e| matches!(e, JwksError::Request(_))),
        (
            "slow (10 s)",
            Mode::Slow(Duration::from_secs(10), good.clone()),
            |e| matches!(e, JwksError::Timeout(_)),
        ),
    ];
    for (name, mode, expected) in cases {
        server.set(KEYS, mode);
        let started = Instant::now();
        let err = source.refresh_now().await.expect_err(name);
        let took = started.elapsed();
        assert!(expected(&err), "{name}: {err:?}");
        // Timed out rather than waiting for the server's 10 s answer.
        assert!(took < Duration::from_secs(9), "{name}: took {took:?}");
        // The last good set is still in use.
        assert!(manager.verify(&valid).await.is_ok(), "{name}");
        assert_eq!(
            through_layer(&manager, &valid).await.status(),
            StatusCode::OK,
            "{name}"
        );
        eprintln!("{name}: {err} ({took:?})");
    }
    assert_eq!(source.stats().failures, 16);
    server.set(KEYS, Mode::Json(good, None));
    source.refresh_now().await.unwrap();
}

#[tokio::test]
async fn before_the_first_set_requests_are_503_never_a_pass() {
    let a = signer("p256.pem");
    let valid = token(&a);
    // Nothing listens on this port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let source = JwksSource::builder(format!("http://{closed}/jwks.json"), Algorithm::ES256)
        .build()
        .unwrap();
    let manager = verifier(source.clone());
    assert!(matches!(
        manager.verify(&valid).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
    let res = through_layer(&manager, &valid).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(
        source.refresh_now().await,
        Err(JwksError::Request(_))
    ));

    // A server that answers 503 at first, then the set: the source retries
    // by itself (backoff from 1 s) and requests pass once it has the set.
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Status(503));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        through_layer(&manager, &valid).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    ready(&source).await;
    assert_eq!(
        through_layer(&manager, &valid).await.status(),
        StatusCode::OK
    );
    assert!(server.hits(KEYS) >= 2);
}

#[tokio::test]
async fn a_server_that_just_started_waits_for_its_first_set_instead_of_refusing() {
    let a = signer("p256.pem");
    let valid = token(&a);
    let server = JwksServer::start().await;
    // The first fetch takes a while: requests that arrive meanwhile wait
    // for it, and pass.
    server.set(KEYS, Mode::Slow(Duration::from_millis(300), jwks_of(&[&a])));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    let (first, second) = tokio::join!(
        through_layer(&manager, &valid),
        through_layer(&manager, &valid)
    );
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(server.hits(KEYS), 1, "one fetch for all of them");
}

#[tokio::test]
async fn a_set_older_than_its_maximum_age_fails_closed_until_a_fetch_succeeds() {
    let a = signer("p256.pem");
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let source = builder(&server)
        .with_max_key_age(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    let valid = token(&a);
    server.set(KEYS, Mode::Status(500));
    assert!(source.refresh_now().await.is_err());
    assert_eq!(
        through_layer(&manager, &valid).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        through_layer(&manager, &valid).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(!source.is_ready());
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    source.refresh_now().await.unwrap();
    assert_eq!(
        through_layer(&manager, &valid).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_short_max_age_never_means_more_than_one_fetch_per_10_s() {
    let a = signer("p256.pem");
    let server = JwksServer::start().await;
    server.set(
        KEYS,
        Mode::Json(jwks_of(&[&a]), Some("public, max-age=1".into())),
    );
    let source = builder(&server)
        .with_refresh_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    ready(&source).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(server.hits(KEYS), 1);
}

#[tokio::test]
async fn https_with_a_private_certificate_authority() {
    let a = signer("p256.pem");
    let server = JwksServer::start_tls().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    assert!(server.url(KEYS).starts_with("https://"));
    let ca = test_ca();
    let source = builder(&server)
        .with_root_certificate_pem(&ca)
        .build()
        .unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    assert!(manager.verify(&token(&a)).await.is_ok());

    // Without the CA, the certificate is not trusted: no keys, 503.
    let untrusted = builder(&server).build().unwrap();
    let err = untrusted.refresh_now().await.unwrap_err();
    assert!(matches!(err, JwksError::Request(_)), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let manager = verifier(untrusted);
    assert_eq!(
        through_layer(&manager, &token(&a)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn openid_connect_discovery_checks_the_issuer_and_follows_jwks_uri() {
    let server = JwksServer::start().await;
    let issuer = server.url("");
    let a = signer_with(pair("p256.pem", Algorithm::ES256), &issuer);
    server.set("/keys", Mode::Json(jwks_of(&[&a]), None));
    server.set(
        "/.well-known/openid-configuration",
        Mode::Json(
            serde_json::json!({"issuer": issuer, "jwks_uri": server.url("/keys")}).to_string(),
            None,
        ),
    );
    let source = JwksSource::discover(&issuer, Algorithm::ES256)
        .build()
        .unwrap();
    assert_eq!(source.discovered_issuer(), Some(issuer.as_str()));
    let manager = SessionManager::verify_only()
        .with_jwks(source.clone())
        .with_issuer(&issuer)
        .with_audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    ready(&source).await;
    assert!(manager.verify(&token(&a)).await.is_ok());
    assert_eq!(server.hits("/keys"), 1);

    // A manager for another issuer is refused at construction.
    let err = SessionManager::verify_only()
        .with_jwks(source)
        .with_issuer("https://other.example")
        .with_audience(TEST_AUDIENCE)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::JwksIssuerMismatch { .. }),
        "{err}"
    );

    // A document that names another issuer is refused.
    server.set(
        "/.well-known/openid-configuration",
        Mode::Json(
            serde_json::json!({"issuer": "https://evil.example", "jwks_uri": server.url("/keys")})
                .to_string(),
            None,
        ),
    );
    let other = JwksSource::discover(&issuer, Algorithm::ES256)
        .build()
        .unwrap();
    let err = other.refresh_now().await.unwrap_err();
    assert!(matches!(err, JwksError::IssuerMismatch { .. }), "{err:?}");
    assert!(!other.is_ready());
}

#[tokio::test]
async fn bad_configuration_fails_at_construction_with_a_named_error() {
    for url in [
        "ftp://example.com/jwks.json",
        "not a url",
        "file:///etc/passwd",
        "http://",
    ] {
        let err = JwksSource::builder(url, Algorithm::ES256)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidJwksUrl(_)),
            "{url}: {err}"
        );
    }
    let ok = "http://127.0.0.1:9/jwks.json";
    let err = JwksSource::builder(ok, Algorithm::ES256)
        .with_cooldown(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidTimeout(_)), "{err}");
    let err = JwksSource::builder(ok, Algorithm::ES256)
        .with_root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidCertificate(_)), "{err}");
    // Previous keys make no sense with a JWK Set.
    let source = JwksSource::builder(ok, Algorithm::ES256).build().unwrap();
    let err = SessionManager::verify_only()
        .with_jwks(source)
        .with_issuer(TEST_ISSUER)
        .with_audience(TEST_AUDIENCE)
        .with_previous_secrets(["x".repeat(32)])
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::PreviousKeyKind(_)), "{err}");
}

#[test]
fn a_source_needs_a_runtime() {
    let err = JwksSource::builder("http://127.0.0.1:9/jwks.json", Algorithm::ES256)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::NoRuntime);
}

#[tokio::test]
async fn a_kid_missed_by_a_fetch_that_predates_it_is_fetched_again() {
    let (a, b) = (signer("p256.pem"), signer("p256-other.pem"));
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    // A periodic-like fetch is under way, answering with the old set...
    server.set(KEYS, Mode::Slow(Duration::from_millis(800), jwks_of(&[&a])));
    let under_way = {
        let source = source.clone();
        tokio::spawn(async move { source.refresh_now().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...when the issuer rotates and a token of the new key arrives: it
    // shares that fetch, which does not have its key.
    server.set(KEYS, Mode::Json(jwks_of(&[&b]), None));
    let new = token(&b);
    assert!(matches!(
        manager.verify(&new).await,
        Err(VerifyError::UnknownKey)
    ));
    under_way.await.unwrap().unwrap();
    // That fetch began before the token: the kid is not written off, and
    // the next token with it causes a fetch of its own and passes.
    assert_eq!(through_layer(&manager, &new).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_key_replaced_under_its_kid_stops_verifying_the_tokens_it_verified() {
    let (a, b) = (signer("p256.pem"), signer("p256-other.pem"));
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let source = builder(&server).build().unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    let old = token(&a);
    // Verified once: the verified-token cache holds it.
    assert_eq!(through_layer(&manager, &old).await.status(), StatusCode::OK);
    assert_eq!(through_layer(&manager, &old).await.status(), StatusCode::OK);
    // The issuer withdraws a's key and publishes b's under the same kid.
    let a_kid = a.public_keys().next().unwrap().kid().to_owned();
    let mut swapped = b.public_keys().next().unwrap().to_jwk();
    swapped["kid"] = serde_json::Value::String(a_kid);
    server.set(KEYS, Mode::Json(jwk_set(&[swapped]), None));
    source.refresh_now().await.unwrap();
    assert_eq!(
        through_layer(&manager, &old).await.status(),
        StatusCode::UNAUTHORIZED,
        "a token of the withdrawn key is still served from the cache"
    );
    assert!(manager.verify(&old).await.is_err());
}

#[tokio::test]
async fn an_https_discovery_document_naming_an_http_jwks_uri_is_refused() {
    let plain = JwksServer::start().await;
    let tls = JwksServer::start_tls().await;
    let issuer = tls.url("");
    let a = signer_with(pair("p256.pem", Algorithm::ES256), &issuer);
    plain.set("/keys", Mode::Json(jwks_of(&[&a]), None));
    tls.set(
        "/.well-known/openid-configuration",
        Mode::Json(
            serde_json::json!({"issuer": issuer, "jwks_uri": plain.url("/keys")}).to_string(),
            None,
        ),
    );
    let ca = test_ca();
    let source = JwksSource::discover(&issuer, Algorithm::ES256)
        .with_root_certificate_pem(&ca)
        .build()
        .unwrap();
    let err = source.refresh_now().await.unwrap_err();
    assert!(matches!(err, JwksError::Discovery(_)), "{err:?}");
    assert!(err.to_string().contains("downgrade"), "{err}");
    assert!(!source.is_ready());
    assert_eq!(plain.hits("/keys"), 0, "the http:// set was fetched");
}

#[tokio::test]
async fn a_kid_guessed_ahead_of_a_rotation_delays_its_key_by_one_cooldown_at_most() {
    let (a, b) = (signer("p256.pem"), signer("p256-other.pem"));
    let server = JwksServer::start().await;
    server.set(KEYS, Mode::Json(jwks_of(&[&a]), None));
    let cooldown = Duration::from_secs(1);
    let source = builder(&server)
        .with_cooldown(cooldown)
        .with_refresh_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let manager = verifier(source.clone());
    ready(&source).await;
    // An attacker presents the issuer's next kid before the rotation: one
    // fetch, which does not have it, writes it off.
    let b_kid = b.public_keys().next().unwrap().kid().to_owned();
    tokio::time::sleep(cooldown).await;
    let guessed = with_kid(&token(&a), &b_kid);
    assert!(manager.verify(&guessed).await.is_err());
    assert_eq!(server.hits(KEYS), 2);
    // The issuer rotates to that kid; its first tokens are refused within
    // the cooldown, then one fetch brings the key.
    server.set(KEYS, Mode::Json(jwks_of(&[&b]), None));
    let new = token(&b);
    let started = Instant::now();
    while through_layer(&manager, &new).await.status() != StatusCode::OK {
        assert!(
            started.elapsed() < cooldown + PATIENCE,
            "the guessed kid is still written off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "rotated kid accepted {:?} after the rotation (cooldown {cooldown:?})",
        started.elapsed()
    );
    assert_eq!(server.hits(KEYS), 3);
}
