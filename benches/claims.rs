//! Same-run ratios for the trusted-issuer work (issue: tokens from any
//! identity provider):
//!
//! 1. the application's own claims type (`with_claims::<C>()`) against plain
//!    `SessionData`, on verified-token cache hits and on cold verification;
//! 2. ES256 and RS256 cold verification by the manager (signature, header,
//!    claims: the whole `decode`) against ring's signature check alone on
//!    the same token: the fastest verifier reachable from the registry
//!    without cmake (aws-lc-rs needs it). The manager verifies with ring
//!    itself since this measurement (it was 3.55x / 6.50x behind with
//!    jsonwebtoken's RustCrypto backend), so the ratio is its overhead.
//!
//! Each pair is timed in alternation, ten rounds, median of per-round
//! ratios (`benches/common`). Run with `cargo bench --bench claims`.

use std::hint::black_box;

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::compare;
use tower_jwt_session::{Algorithm, KeyPair, NewSession, SessionManager};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "example-api";

/// What an application declares: a few of the seed's claims, one of its own.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    sub: String,
    email: String,
    permissions: Vec<String>,
    #[serde(default)]
    tenant: Option<String>,
}

fn hmac_manager(cache: u64, custom: bool) -> SessionManager {
    let mut b = SessionManager::builder(common::SECRET)
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_verified_cache(cache);
    if custom {
        b = b.with_claims::<AppClaims>();
    }
    b.build().unwrap()
}

fn pair_manager(alg: Algorithm, file: &str) -> SessionManager {
    let pem = std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    SessionManager::builder(KeyPair::from_pkcs8_pem(alg, &pem).unwrap())
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_verified_cache(0)
        .build()
        .unwrap()
}

fn token(manager: &SessionManager) -> String {
    manager
        .issue(
            NewSession::new("u-1", "ada@example.com")
                .with_role("admin")
                .with_company_id("acme")
                .with_permissions(["contacts:read", "contacts:write", "admin"])
                .with_metadata(serde_json::json!({"name": "Ada Admin"})),
        )
        .unwrap()
        .into_token()
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn main() {
    let n = 20_000;
    println!("| comparison | base µs | variant µs | variant / base |");
    println!("| --- | --- | --- | --- |");
    let row = |name: &str, (b, v, r): (f64, f64, f64)| {
        println!("| {name} | {b:.3} | {v:.3} | {r:.3} |");
    };

    // 1. Own claims type vs SessionData.
    let (plain, custom) = (hmac_manager(10_000, false), hmac_manager(10_000, true));
    let t = token(&plain);
    plain.decode(&t).unwrap();
    custom.decode(&t).unwrap();
    row(
        "cache hit: with_claims::<C>() / SessionData",
        compare(
            n * 10,
            || {
                black_box(plain.decode(black_box(&t)).unwrap());
            },
            || {
                black_box(custom.decode(black_box(&t)).unwrap());
            },
        ),
    );
    let (plain, custom) = (hmac_manager(0, false), hmac_manager(0, true));
    row(
        "cold (HS256): with_claims::<C>() / SessionData",
        compare(
            n,
            || {
                black_box(plain.decode(black_box(&t)).unwrap());
            },
            || {
                black_box(custom.decode(black_box(&t)).unwrap());
            },
        ),
    );

    // 2. ES256 and RS256: the whole decode against ring's signature check.
    use ring::signature;
    let es = pair_manager(Algorithm::ES256, "p256.pem");
    let t = token(&es);
    let jwk = es.public_keys().next().unwrap().to_jwk();
    let mut point = vec![4u8];
    point.extend(b64(jwk["x"].as_str().unwrap()));
    point.extend(b64(jwk["y"].as_str().unwrap()));
    let key = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point);
    let (input, sig) = t.rsplit_once('.').unwrap();
    let sig = b64(sig);
    key.verify(input.as_bytes(), &sig).unwrap();
    row(
        "ES256 cold: manager decode / ring verify",
        compare(
            n / 4,
            || {
                key.verify(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap();
            },
            || {
                black_box(es.decode(black_box(&t)).unwrap());
            },
        ),
    );
    let rs = pair_manager(Algorithm::RS256, "rsa2048.pem");
    let t = token(&rs);
    let jwk = rs.public_keys().next().unwrap().to_jwk();
    let key = signature::RsaPublicKeyComponents {
        n: b64(jwk["n"].as_str().unwrap()),
        e: b64(jwk["e"].as_str().unwrap()),
    };
    let (input, sig) = t.rsplit_once('.').unwrap();
    let sig = b64(sig);
    key.verify(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        input.as_bytes(),
        &sig,
    )
    .unwrap();
    row(
        "RS256 cold: manager decode / ring verify",
        compare(
            n / 4,
            || {
                key.verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    black_box(input.as_bytes()),
                    black_box(&sig),
                )
                .unwrap();
            },
            || {
                black_box(rs.decode(black_box(&t)).unwrap());
            },
        ),
    );
}
