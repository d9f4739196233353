//! Shared test helpers: raw token minting here; the demo server as a process
//! (`demo`), a small HTTP client over loopback (`http_client`), Redis
//! topologies (`redis_servers`), a throwaway PostgreSQL (`postgres`), JWKS servers (`jwks_server`), a loopback
//! proxy for partitions (`proxy`), the seed under node (`node`), shared
//! scenarios (`scenarios`).
#![allow(dead_code, unreachable_pub)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{json, Value};

mod demo;
mod http_client;
pub mod jwks_server;
mod node;
mod postgres;
pub mod provider;
pub mod proxy;
mod redis_servers;
mod scenarios;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use self::{demo::*, http_client::*, node::*, postgres::*, redis_servers::*, scenarios::*};

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

/// How long a test waits for what the contract promises "within
/// milliseconds" (a revocation on another server, a push, a catch-up):
/// generous, so that a loaded 2-core machine meets it. Tests assert the
/// property (it happens, and nothing is admitted meanwhile); the figures
/// themselves are measured and printed, and by the benchmarks.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One blocking `read`, again when a signal interrupted it (`EINTR`: the
/// test binary's other tests install signal handlers for their children).
pub fn read_some(from: &mut impl std::io::Read, buf: &mut [u8]) -> usize {
    loop {
        match from.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.unwrap(),
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid seed-shaped claims for `SECRET` with the default issuer/audience.
pub fn claims() -> Value {
    let now = now();
    json!({
        "userId": "u-1",
        "email": "ada@example.com",
        "role": "admin",
        "companyId": "acme",
        "permissions": ["admin"],
        "metadata": {},
        "createdAt": now,
        "expiresAt": now + 600,
        "iat": now,
        "iss": "atomic-crm",
        "aud": "atomic-crm-api",
        "exp": now + 600,
        "sub": "u-1"
    })
}

/// Signs `header.payload` (raw JSON text) with HMAC over `secret`.
pub fn sign_raw(alg: &str, secret: &[u8], header: &str, payload: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header);
    let p = URL_SAFE_NO_PAD.encode(payload);
    let input = format!("{h}.{p}");
    let sig = match alg {
        "HS384" => {
            let mut m = Hmac::<sha2::Sha384>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An HS256 token over `SECRET` with the given claims.
pub fn sign(claims: &Value) -> String {
    sign_raw(
        "HS256",
        SECRET.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &claims.to_string(),
    )
}

pub fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// The seed's fixtures, copied from the seed's repository.
pub fn fixtures() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-fixtures.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
