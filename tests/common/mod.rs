//! Shared test helpers: raw token minting, the demo server as a process, and a
//! small HTTP client over loopback.
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

pub mod jwks_server;
pub mod proxy;

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

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

/// The demo server, started as a process; killed (by its PID) on drop.
pub struct DemoServer {
    child: Child,
    pub addr: String,
}

/// Builds the examples once per test binary, so that the processes under
/// test are never stale (`cargo test` compiles examples but does not always
/// leave them under their plain names).
fn build_examples() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--example",
                "server",
                "--example",
                "hyper",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo to build the examples");
        assert!(status.success(), "building the examples failed");
    });
}

pub fn example_path(name: &str) -> PathBuf {
    build_examples();
    // target/<profile>/deps/<test binary> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; run it from the crate root",
        path.display()
    );
    path
}

impl DemoServer {
    pub fn start(envs: &[(&str, &str)]) -> Self {
        Self::start_example("server", envs)
    }

    pub fn start_example(name: &str, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(example_path(name));
        cmd.env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("SESSION_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits (bounded) for the exit status.
    pub fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "server did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the demo server with `envs` and expects it to refuse to start.
pub fn start_fails(envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(example_path("server"));
    cmd.env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn challenge(&self) -> Option<&str> {
        self.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap())
    }
}

pub struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub fn new(addr: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("no answer within 10 s")
            .expect("request failed");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        self.send(Method::GET, path, &headers, "").await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        self.send(Method::POST, path, &headers, body).await
    }

    /// Logs in as a demo user and returns (token, expiresAt).
    pub async fn login(&self, email: &str, password: &str) -> (String, i64) {
        let r = self
            .post(
                "/login",
                None,
                &json!({"email": email, "password": password}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let j = r.json();
        (
            j["token"].as_str().unwrap().to_owned(),
            j["expiresAt"].as_i64().unwrap(),
        )
    }
}

/// Decodes a token's payload without checking it.
pub fn payload(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// A real `redis-server` on a free loopback port, with append-only
/// persistence in its own directory; stopped by its PID on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server started with `extra` arguments after the usual ones.
    pub fn start_with(extra: &[&str]) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tjs-redis-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.spawn();
        server
    }

    /// A second server, a replica of `primary` (same machine, loopback).
    pub fn start_replica_of(primary: &RedisServer) -> Self {
        let server = Self::start();
        server.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
        let started = std::time::Instant::now();
        while !server
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the replica did not connect"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
                "--dir",
            ])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "redis-server is required for these tests (apt-get install redis-server): {e}"
                )
            });
        self.child = Some(child);
        let started = std::time::Instant::now();
        while !self.answers_ping() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends one command with redis-cli and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is required (apt-get install redis-server)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Sentinel process on loopback, watching `master` at `primary_port`
/// (quorum 2, down after 1 s); stopped by PID when dropped.
pub struct Sentinel {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Sentinel {
    pub fn start(master: &str, primary_port: u16) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tjs-sentinel-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 3000\n\
                 sentinel parallel-syncs {master} 2\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required (it runs Sentinels with --sentinel)");
        let sentinel = Self { child, port, dir };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the Sentinel did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        sentinel
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster on loopback: `primaries` primaries with `replicas`
/// replicas each, created with `redis-cli --cluster create`; every node
/// stopped by PID when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    replicas: usize,
}

impl RedisCluster {
    pub fn start(primaries: usize, replicas: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is required (apt-get install redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes, replicas };
        cluster.wait_ok();
        let started = std::time::Instant::now();
        // Every primary's replicas linked and in sync.
        while !cluster.nodes.iter().all(|n| {
            let info = n.cli(&["INFO", "replication"]);
            info.contains("role:slave") && info.contains("master_link_status:up")
                || info.contains(&format!("connected_slaves:{}", cluster.replicas))
                    && info.matches("state=online").count() == cluster.replicas
        }) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster's replicas did not link"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Waits (bounded) until every live node says the cluster is ok.
    pub fn wait_ok(&self) {
        let started = std::time::Instant::now();
        while !self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster did not become ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `REDIS_CLUSTER_URLS` for the demo server: every node.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the live primary that serves `key`'s slot.
    pub fn primary_for(&self, key: &str) -> usize {
        let slot: u32 = self.nodes[0]
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        self.nodes
            .iter()
            .position(|n| {
                n.child.is_some()
                    && n.cli(&["CLUSTER", "NODES"]).lines().any(|line| {
                        let fields: Vec<&str> = line.split(' ').collect();
                        fields
                            .get(2)
                            .is_some_and(|f| f.contains("myself") && f.contains("master"))
                            && fields.iter().skip(8).any(|range| {
                                let mut ends = range.split('-');
                                match (ends.next().and_then(|a| a.parse::<u32>().ok()), ends.next())
                                {
                                    (Some(a), Some(b)) => {
                                        b.parse::<u32>().is_ok_and(|b| a <= slot && slot <= b)
                                    }
                                    (Some(a), None) => a == slot,
                                    _ => false,
                                }
                            })
                    })
            })
            .expect("no live primary serves the slot")
    }
}

/// `tests/seed`: the node scripts that run jose.
pub fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seed")
}

/// Installs jose (pinned in `tests/seed/package-lock.json`) on first use;
/// fails loudly without npm.
pub fn npm_ci() {
    let dir = seed_dir();
    if !dir.join("node_modules/jose").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("`npm` is required for the jose tests (apt-get install nodejs npm)");
        assert!(status.success(), "npm ci in tests/seed failed");
    }
}

/// Runs `script` (in `tests/seed`) under node with one batch of requests.
pub fn run_node(script: &str, requests: &Value) -> Vec<Value> {
    use std::io::Write;
    npm_ci();
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(seed_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("`node` is required for the jose tests (apt-get install nodejs)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node {script} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `GET /me` with `token` until it answers `want`, and returns how
/// long that took; fails the test after `bound`.
pub async fn status_until(http: &Http, token: &str, want: u16, bound: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let r = http.get("/me", Some(token)).await;
        if r.status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "/me never answered {want} (last {}: {:?}) within {bound:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Tokens of the failover scenario, for checks the caller adds afterwards.
pub struct Failover {
    pub live: String,
    pub gone: String,
    pub after: String,
}

/// The failover scenario that Sentinel and Cluster share, on two demo
/// servers `ha` and `hb` behind one replicated store. A logout on `a` is
/// refused on `b`; then `cut` cuts the primary's replica links, a logout
/// races it, and `kill` SIGKILLs the primary. The racing logout is either
/// refused (503) or survives the promotion; both servers follow it without
/// a restart; every acknowledged revocation stays refused. `what` names the
/// deployment in the reported figures.
pub async fn failover_scenario(
    what: &str,
    ha: &Http,
    hb: &Http,
    cut: impl FnOnce(),
    kill: impl FnOnce(),
) -> Failover {
    const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
    // Normal operation: acknowledged by a replica first (the default with
    // Sentinel and Cluster), refused on the other server.
    let (live, _) = ha.login(ADMIN.0, ADMIN.1).await;
    let (gone, _) = ha.login(ADMIN.0, ADMIN.1).await;
    status_until(hb, &live, 200, Duration::from_secs(5)).await;
    assert_eq!(ha.post("/logout", Some(&gone), "").await.status, 204);
    status_until(hb, &gone, 401, Duration::from_millis(100)).await;

    // Cut the replicas' links, revoke at once, kill the primary at once.
    let (racing, _) = ha.login(ADMIN.0, ADMIN.1).await;
    cut();
    let logout = ha.post("/logout", Some(&racing), "").await.status.as_u16();
    kill();
    let killed = std::time::Instant::now();
    assert!(
        logout == 204 || logout == 503,
        "the racing logout answered {logout}"
    );
    eprintln!("{what}: logout right after the replicas' links were cut: {logout}");

    // Both servers follow the promotion by themselves: the first
    // acknowledged write after the kill marks the new primary in service.
    let (after, _) = hb.login(ADMIN.0, ADMIN.1).await;
    loop {
        // A revoked token is never admitted meanwhile.
        assert_ne!(ha.get("/me", Some(&gone)).await.status, 200);
        match hb.post("/logout", Some(&after), "").await.status.as_u16() {
            204 => break,
            503 => {
                assert!(killed.elapsed() < Duration::from_secs(30), "no failover");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("logout during the failover answered {other}"),
        }
    }
    let failover = killed.elapsed();
    for h in [ha, hb] {
        status_until(h, &live, 200, Duration::from_secs(10)).await;
    }
    eprintln!(
        "{what}: SIGKILL of the primary to the first acknowledged revocation: {failover:?}, both servers answering 200 after {:?}",
        killed.elapsed()
    );
    // Acknowledged before the failover: still refused, on both.
    for h in [ha, hb] {
        assert_eq!(h.get("/me", Some(&gone)).await.status, 401);
        if logout == 204 {
            assert_eq!(
                h.get("/me", Some(&racing)).await.status,
                401,
                "acknowledged and lost"
            );
        }
    }
    // The revocation made on the new primary reaches the other server.
    status_until(ha, &after, 401, Duration::from_millis(500)).await;
    Failover { live, gone, after }
}
