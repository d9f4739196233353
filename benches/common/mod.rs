//! Shared by the benchmarks: the secret, the seed's claims shape, a
//! seed-shaped token, the verification floor, a `redis-server` child, and
//! the replica benchmarks' helpers (resident memory, a stream filled in
//! bulk).
#![allow(dead_code)]

use std::{
    hint::black_box,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use http::{header::AUTHORIZATION, Request, Response};
use serde::Deserialize;
use tower_jwt_session::{NewSession, SessionManager};

pub const SECRET: &str = "benchmark-secret-that-is-long-enough-for-hs256";

/// The seed's claims, for the floor and for jsonwebtoken.
#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
pub struct Claims {
    userId: String,
    email: String,
    role: String,
    companyId: Option<String>,
    permissions: Vec<String>,
    metadata: serde_json::Map<String, serde_json::Value>,
    createdAt: i64,
    expiresAt: i64,
    iat: i64,
    iss: String,
    aud: String,
    exp: i64,
    sub: String,
    jti: Option<String>,
}

/// A token shaped like the seed's admin session.
pub fn seed_shaped(manager: &SessionManager) -> String {
    manager
        .issue(
            NewSession::new("u-admin", "admin@example.com")
                .with_role("admin")
                .with_company_id("acme")
                .with_permissions(["contacts:read", "contacts:write", "admin"])
                .with_metadata(serde_json::json!({"name": "Ada Admin"})),
        )
        .unwrap()
        .into_token()
}

/// The verification floor: HMAC-SHA256 with a pre-keyed state, base64, one
/// serde pass into the same claims shape. The least a correct verifier does.
pub fn floor(keyed: &Hmac<sha2::Sha256>, token: &str) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut tag = [0u8; 32];
    URL_SAFE_NO_PAD.decode_slice(sig, &mut tag).unwrap();
    let mut m = keyed.clone();
    m.update(input.as_bytes());
    m.verify_slice(&tag).unwrap();
    let payload = URL_SAFE_NO_PAD
        .decode(input.split_once('.').unwrap().1)
        .unwrap();
    black_box(serde_json::from_slice::<Claims>(&payload).unwrap());
}

pub fn keyed() -> Hmac<sha2::Sha256> {
    Hmac::new_from_slice(SECRET.as_bytes()).unwrap()
}

/// A `redis-server` child on a free loopback port, killed (by PID) on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required for the Redis benchmarks");
        let redis = Self { child, port };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start");
    }

    /// Deletes `key` (through `redis-cli`).
    pub fn del(&self, key: &str) {
        let status = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "DEL", key])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(status.success());
    }

    /// Whether `key` exists (through `redis-cli`).
    pub fn exists(&self, key: &str) -> bool {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "EXISTS", key])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare inner service every benchmark wraps.
pub async fn hello(_req: Request<()>) -> Result<Response<String>, std::convert::Infallible> {
    Ok(Response::new(String::new()))
}

/// A request carrying `token` as a bearer credential.
pub fn request(token: &str) -> Request<()> {
    Request::builder()
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .unwrap()
}

/// Alternating rounds per comparison.
pub const ROUNDS: usize = 10;

/// Mean time per call of `f` over `n` calls.
pub fn time(n: u32, mut f: impl FnMut()) -> f64 {
    let t = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(n)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `base` and `variant` alternately; returns (base µs, variant µs, ratio).
pub fn compare(n: u32, mut base: impl FnMut(), mut variant: impl FnMut()) -> (f64, f64, f64) {
    let (mut b, mut v, mut r) = (Vec::new(), Vec::new(), Vec::new());
    time(n / 4, &mut base);
    time(n / 4, &mut variant);
    for _ in 0..ROUNDS {
        let tb = time(n, &mut base);
        let tv = time(n, &mut variant);
        b.push(tb);
        v.push(tv);
        r.push(tv / tb);
    }
    (median(b) * 1e6, median(v) * 1e6, median(r))
}

/// This process's resident memory, MiB.
pub fn rss_mib() -> f64 {
    memory_mib().0
}

/// This process's resident memory and its peak (`VmRSS`, `VmHWM`), MiB.
pub fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `n` revocations in the Redis stream (prefix `tjs:`), by `redis-cli
/// --pipe` (the RESP protocol written by hand: far faster than one round
/// trip each).
pub fn fill_redis_stream(redis: &Redis, n: usize) {
    use std::io::Write;
    let until = now_secs() + 3600;
    let mut child = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli");
    let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
    for i in 0..n {
        let event = format!("r {until} j:token-{i:08}");
        let args = ["XADD", "tjs:stream", "*", "e", &event];
        write!(stdin, "*{}\r\n", args.len()).unwrap();
        for a in args {
            write!(stdin, "${}\r\n{a}\r\n", a.len()).unwrap();
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
