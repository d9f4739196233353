//! Memory under the floods an unauthenticated client can send, through the
//! services a server exposes (in process): the `SessionLayer` of a manager
//! that issues HS256 tokens and trusts a provider (keys from a JWK Set
//! served on loopback, started here; DPoP optional, the default), the
//! Shared Signals receiver and the Back-Channel Logout receiver.
//!
//! Floods, `FLOOD=n` requests each (default 200 000), every request
//! distinct: bad-signature tokens, tokens naming unknown `kid`s of the
//! trusted issuer, DPoP proofs (with a bad token), security event tokens
//! and logout tokens naming unknown keys. For each: the process's peak
//! resident memory (`VmHWM`) after a quarter of the flood and at its end.
//! Bounded means the second is the first, give or take the allocator.
//!
//! Run with `cargo bench --bench flood_memory`.

mod common;
#[path = "../tests/common/jwks_server.rs"]
#[allow(dead_code)]
mod jwks_server;

use std::time::Instant;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use common::{hello, memory_mib, SECRET};
use http::{header, Request};
use jwks_server::{jwk_set, JwksServer, Mode};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    issuers::TrustedIssuer,
    jwks::JwksSource,
    receivers::{BackChannelLogout, SecurityEventReceiver},
    Algorithm, KeyPair, SessionLayer, SessionManager,
};

const ISSUER: &str = "https://idp.example.com";

fn jwt(header: serde_json::Value, payload: serde_json::Value, signature_len: usize) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string()),
        "A".repeat(signature_len)
    )
}

fn now() -> i64 {
    common::now_secs()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::var("FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let jwks = JwksServer::start().await;
    let key = KeyPair::from_pkcs8_pem(Algorithm::ES256, include_bytes!("../tests/keys/p256.pem"))
        .unwrap();
    let mut jwk = key.public_key().to_jwk();
    jwk["kid"] = json!("k1");
    jwks.set("/jwks", Mode::Json(jwk_set(&[jwk]), None));
    let source = JwksSource::builder_any(jwks.url("/jwks")).build().unwrap();
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_trusted_issuer(TrustedIssuer::with_jwks(ISSUER, source))
        .build()
        .unwrap();
    let layer = ServiceBuilder::new()
        .layer(SessionLayer::new(manager.clone()))
        .service_fn(hello);
    let events = SecurityEventReceiver::new(manager.clone(), "atomic-crm-api");
    let logouts = BackChannelLogout::new(manager.clone(), "atomic-crm-api");

    let bad_token = |i: usize| {
        jwt(
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"sub": format!("u-{i}"), "jti": format!("j-{i}"), "iss": "atomic-crm",
                   "aud": "atomic-crm-api", "exp": now() + 600, "iat": now()}),
            43,
        )
    };
    let unknown_kid = |i: usize| {
        jwt(
            json!({"alg": "ES256", "kid": format!("kid-{i}")}),
            json!({"sub": format!("u-{i}"), "jti": format!("j-{i}"), "iss": ISSUER,
                   "aud": "atomic-crm-api", "exp": now() + 600, "iat": now()}),
            86,
        )
    };
    let get = |authorization: String, dpop: Option<String>| {
        let mut req = Request::builder()
            .uri("http://127.0.0.1/me")
            .header(header::AUTHORIZATION, authorization);
        if let Some(proof) = dpop {
            req = req.header("dpop", proof);
        }
        req.body(()).unwrap()
    };

    // A server that has fetched its provider's keys once (before that, a
    // provider token is answered 503: the keys are unavailable).
    let warm = Instant::now();
    while layer
        .clone()
        .oneshot(get(format!("Bearer {}", unknown_kid(usize::MAX)), None))
        .await
        .unwrap()
        .status()
        == 503
    {
        assert!(
            warm.elapsed().as_secs() < 10,
            "the JWK Set was never fetched"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    println!("| flood ({n} distinct requests) | status | peak RSS after {} | peak RSS at the end | growth |", n / 4);
    println!("| --- | --- | --- | --- | --- |");
    let (_, start_peak) = memory_mib();
    for flood in [
        "bad signatures",
        "unknown kids",
        "DPoP proofs",
        "security events",
        "logout tokens",
    ] {
        let started = Instant::now();
        let mut quarter = 0.0;
        let mut status = 0;
        for i in 0..n {
            let res = match flood {
                "bad signatures" => layer
                    .clone()
                    .oneshot(get(format!("Bearer {}", bad_token(i)), None))
                    .await
                    .unwrap()
                    .status(),
                "unknown kids" => layer
                    .clone()
                    .oneshot(get(format!("Bearer {}", unknown_kid(i)), None))
                    .await
                    .unwrap()
                    .status(),
                "DPoP proofs" => {
                    let proof = jwt(
                        json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": key.public_key().to_jwk()}),
                        json!({"jti": format!("p-{i}"), "htm": "GET", "htu": "http://127.0.0.1/me", "iat": now()}),
                        86,
                    );
                    layer
                        .clone()
                        .oneshot(get(format!("DPoP {}", bad_token(i)), Some(proof)))
                        .await
                        .unwrap()
                        .status()
                }
                "security events" => {
                    let set = jwt(
                        json!({"alg": "ES256", "kid": format!("kid-{i}"), "typ": "secevent+jwt"}),
                        json!({"iss": ISSUER, "aud": "atomic-crm-api", "jti": format!("e-{i}"), "iat": now(),
                               "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked":
                                   {"subject": {"format": "iss_sub", "iss": ISSUER, "sub": format!("u-{i}")}}}}),
                        86,
                    );
                    let req = Request::post("/ssf/events")
                        .header(header::CONTENT_TYPE, "application/secevent+jwt")
                        .body(set)
                        .unwrap();
                    events.clone().oneshot(req).await.unwrap().status()
                }
                _ => {
                    let token = jwt(
                        json!({"alg": "ES256", "kid": format!("kid-{i}"), "typ": "logout+jwt"}),
                        json!({"iss": ISSUER, "aud": "atomic-crm-api", "jti": format!("l-{i}"), "iat": now(),
                               "sub": format!("u-{i}"),
                               "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
                        86,
                    );
                    let req = Request::post("/backchannel-logout")
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(format!("logout_token={token}"))
                        .unwrap();
                    logouts.clone().oneshot(req).await.unwrap().status()
                }
            };
            assert!(res.is_client_error(), "{flood}: {res}");
            status = res.as_u16();
            if i + 1 == n / 4 {
                quarter = memory_mib().1;
            }
        }
        let end = memory_mib().1;
        println!(
            "| {flood} ({:.1} s) | {status} | {quarter:.1} MiB | {end:.1} MiB | {:+.1} MiB |",
            started.elapsed().as_secs_f64(),
            end - quarter
        );
    }
    println!(
        "\nPeak RSS before the floods {start_peak:.1} MiB; JWK Set fetches: {}",
        jwks.hits("/jwks")
    );
}
