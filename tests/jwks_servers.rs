//! The contract's "Keys from a JWKS URL", with demo servers as processes
//! over HTTP on loopback: a verifier fed by a signer's
//! `/.well-known/jwks.json`, revocation shared through a real Redis, the
//! signer restarted with a new key, a verifier that starts before its
//! issuer, a random-kid flood counted on a JWKS server of the tests' own,
//! bad values, and interoperability with jose both ways.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::{
    jwks_server::{JwksServer, Mode},
    *,
};
use http::StatusCode;
use serde_json::{json, Value};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

fn key(file: &str) -> String {
    format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// An ES256 signer on `port` with `tests/keys/<file>`.
fn signer(port: u16, file: &str, redis: &str) -> DemoServer {
    let bind = format!("127.0.0.1:{port}");
    let key = key(file);
    DemoServer::start(&[
        ("BIND_ADDR", &bind),
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PRIVATE_KEY_FILE", &key),
        ("REDIS_URL", redis),
    ])
}

#[tokio::test]
async fn a_verifier_follows_its_signers_jwks_and_shares_revocations_through_redis() {
    let redis = RedisServer::start();
    let port = free_port();
    let mut issuer = Some(signer(port, "p256.pem", &redis.url()));
    let jwks_url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    let verifier = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_JWKS_URL", &jwks_url),
        ("REDIS_URL", &redis.url()),
    ]);
    let (hs, hv) = (
        Http::new(&format!("127.0.0.1:{port}")),
        Http::new(&verifier.addr),
    );

    let (token, _) = hs.login(ADMIN.0, ADMIN.1).await;
    status_until(&hv, &token, 200, PATIENCE).await;
    assert_eq!(hv.get("/admin", Some(&token)).await.status, 200);

    // Verify only: no login, no refresh, no key set of its own.
    let login = hv
        .post(
            "/login",
            None,
            &json!({"email": ADMIN.0, "password": ADMIN.1}).to_string(),
        )
        .await;
    assert_eq!(login.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(login.json()["error"], "not_implemented");
    assert_eq!(hv.post("/refresh", Some(&token), "").await.status, 501);
    assert_eq!(
        hs.get("/me", Some(&token)).await.status,
        200,
        "a 501 refresh changes nothing"
    );
    assert_eq!(hv.get("/.well-known/jwks.json", None).await.status, 404);

    // Revocation works on the verifier and reaches the signer.
    let (gone, _) = hs.login(ADMIN.0, ADMIN.1).await;
    assert_eq!(hv.get("/me", Some(&gone)).await.status, 200);
    assert_eq!(hv.post("/logout", Some(&gone), "").await.status, 204);
    status_until(&hs, &gone, 401, PATIENCE).await;
    assert_eq!(hv.get("/me", Some(&gone)).await.status, 401);

    // The issuer restarts with a new key. Its first new token costs the
    // verifier one fetch and passes; tokens of the old key are refused as
    // soon as that fetch has replaced the set (cached ones included).
    assert_eq!(hv.get("/me", Some(&token)).await.status, 200);
    let (status, _) = issuer.take().unwrap().stop_with("TERM");
    assert!(status.success());
    let _issuer = signer(port, "p256-other.pem", &redis.url());
    // A new client: the old one's pooled connection died with the process.
    let hs = Http::new(&format!("127.0.0.1:{port}"));
    let (rotated, _) = hs.login(ADMIN.0, ADMIN.1).await;
    let started = Instant::now();
    assert_eq!(hv.get("/me", Some(&rotated)).await.status, 200);
    eprintln!(
        "first token of the new key accepted in {:?}",
        started.elapsed()
    );
    let old = hv.get("/me", Some(&token)).await;
    assert_eq!(old.status, 401);
    assert_eq!(old.challenge(), Some("Bearer error=\"invalid_token\""));

    // Logout-all on the verifier ends the new session on the signer too.
    assert_eq!(hv.post("/logout-all", Some(&rotated), "").await.status, 204);
    status_until(&hs, &rotated, 401, PATIENCE).await;
}

#[tokio::test]
async fn a_verifier_started_before_its_issuer_answers_503_until_it_has_keys() {
    let port = free_port();
    let jwks_url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    let verifier = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_JWKS_URL", &jwks_url),
    ]);
    let hv = Http::new(&verifier.addr);
    // A token of the right shape from a key the verifier cannot know yet.
    let key = key("p256.pem");
    let early = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PRIVATE_KEY_FILE", &key),
    ]);
    let (token, _) = Http::new(&early.addr).login(ADMIN.0, ADMIN.1).await;
    let r = hv.get("/me", Some(&token)).await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "never a pass without keys"
    );
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert_eq!(hv.get("/health", None).await.status, 200);

    let bind = format!("127.0.0.1:{port}");
    let _issuer = DemoServer::start(&[
        ("BIND_ADDR", &bind),
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PRIVATE_KEY_FILE", &key),
    ]);
    let waited = status_until(&hv, &token, 200, Duration::from_secs(10)).await;
    eprintln!("keys fetched {waited:?} after the issuer started (retries back off from 1 s)");
}

#[tokio::test]
async fn a_thousand_random_kids_cost_at_most_one_fetch_per_cooldown() {
    let key = key("p256.pem");
    let signer = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_PRIVATE_KEY_FILE", &key),
    ]);
    let hs = Http::new(&signer.addr);
    let jwks = hs.get("/.well-known/jwks.json", None).await;
    let server = JwksServer::start().await;
    server.set(
        "/jwks.json",
        Mode::Json(String::from_utf8(jwks.body.to_vec()).unwrap(), None),
    );
    let url = server.url("/jwks.json");
    // The contract's default cooldown (10 s).
    let verifier = DemoServer::start(&[("SESSION_ALGORITHM", "ES256"), ("SESSION_JWKS_URL", &url)]);
    let hv = Http::new(&verifier.addr);
    let (token, _) = hs.login(ADMIN.0, ADMIN.1).await;
    status_until(&hv, &token, 200, PATIENCE).await;
    let before = server.hits("/jwks.json");

    let body = token.split_once('.').unwrap().1.to_owned();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..20 {
        let addr = verifier.addr.clone();
        let body = body.clone();
        tasks.spawn(async move {
            let http = Http::new(&addr);
            for i in 0..50 {
                let header = URL_SAFE_NO_PAD.encode(format!(
                    r#"{{"alg":"ES256","typ":"JWT","kid":"flood-{worker}-{i}-{}"}}"#,
                    started.elapsed().as_nanos()
                ));
                let r = http.get("/me", Some(&format!("{header}.{body}"))).await;
                assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let fetches = server.hits("/jwks.json") - before;
    let bound = 1 + (elapsed.as_secs_f64() / 10.0).floor() as usize;
    eprintln!("1000 random kids over HTTP in {elapsed:?}: {fetches} fetch(es), bound {bound}");
    assert!(fetches <= bound);
    assert_eq!(hv.get("/me", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn bad_jwks_settings_stop_the_server_with_one_line() {
    let pem = key("p256.pub.pem");
    let url = "http://127.0.0.1:9/jwks.json";
    let secret = "k".repeat(64);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("SESSION_JWKS_URL", url)],
        vec![
            ("SESSION_ALGORITHM", "HS512"),
            ("SESSION_JWKS_URL", url),
            ("SESSION_SECRET", &secret),
        ],
        vec![
            ("SESSION_ALGORITHM", "ES256"),
            ("SESSION_JWKS_URL", url),
            ("SESSION_PUBLIC_KEY_FILE", &pem),
        ],
        vec![
            ("SESSION_ALGORITHM", "ES256"),
            ("SESSION_JWKS_URL", "ftp://127.0.0.1/jwks.json"),
        ],
        vec![
            ("SESSION_ALGORITHM", "ES256"),
            ("SESSION_JWKS_URL", "not a url"),
        ],
        vec![
            ("SESSION_ALGORITHM", "ES256"),
            ("SESSION_JWKS_URL", url),
            ("SESSION_JWKS_COOLDOWN_SECS", "0"),
        ],
        vec![
            ("SESSION_ALGORITHM", "ES256"),
            ("SESSION_JWKS_URL", url),
            ("SESSION_JWKS_REFRESH_SECS", "ten"),
        ],
    ];
    for envs in &cases {
        let (code, stdout, stderr) = start_fails(envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{envs:?}: {stderr:?}");
        assert!(stdout.is_empty());
        assert!(
            envs.iter()
                .any(|(k, _)| k.starts_with("SESSION_JWKS") && stderr.contains(k)),
            "{envs:?}: {stderr}"
        );
    }
}

/// jose's own JWKS server (node), with one key per algorithm and a token
/// minted by jose for each; stopped when dropped.
struct JoseJwks {
    child: std::process::Child,
    url: String,
    tokens: Value,
}

impl JoseJwks {
    fn start() -> Self {
        npm_ci();
        let claims = json!({
            "userId": "u-jose", "email": "jose@example.com", "role": "admin",
            "permissions": ["admin"], "iss": "atomic-crm", "aud": "atomic-crm-api",
        });
        let mut child = Command::new("node")
            .arg("jwks-server.mjs")
            .arg(claims.to_string())
            .current_dir(seed_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("`node` is required for the jose tests (apt-get install nodejs)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let first: Value = serde_json::from_str(&line).expect("jwks-server.mjs did not start");
        Self {
            child,
            url: first["url"].as_str().unwrap().to_owned(),
            tokens: first["tokens"].clone(),
        }
    }
}

impl Drop for JoseJwks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn tokens_minted_by_jose_are_accepted_with_the_keys_its_node_server_publishes() {
    let jose = JoseJwks::start();
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let verifier =
            DemoServer::start(&[("SESSION_ALGORITHM", alg), ("SESSION_JWKS_URL", &jose.url)]);
        let hv = Http::new(&verifier.addr);
        let token = jose.tokens[alg].as_str().unwrap();
        status_until(&hv, token, 200, PATIENCE).await;
        let me = hv.get("/me", Some(token)).await.json();
        assert_eq!(me["userId"], "u-jose", "{alg}");
        assert_eq!(hv.get("/admin", Some(token)).await.status, 200, "{alg}");
        // The set holds a key of every algorithm: only this one's counts.
        for other in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
            if other != alg {
                let r = hv
                    .get("/me", Some(jose.tokens[other].as_str().unwrap()))
                    .await;
                assert_eq!(r.status, 401, "{alg} verifier, {other} token");
            }
        }
    }
}

#[tokio::test]
async fn joses_remote_jwk_set_accepts_tokens_of_our_demo_server() {
    let mut requests = Vec::new();
    let mut servers = Vec::new();
    for (alg, file) in [
        ("ES256", "p256.pem"),
        ("EdDSA", "ed25519.pem"),
        ("RS256", "rsa2048.pem"),
    ] {
        let key = key(file);
        let server = DemoServer::start(&[
            ("SESSION_ALGORITHM", alg),
            ("SESSION_PRIVATE_KEY_FILE", &key),
        ]);
        let http = Http::new(&server.addr);
        let (token, _) = http.login(ADMIN.0, ADMIN.1).await;
        requests.push(json!({
            "op": "verify_remote", "algorithm": alg,
            "url": format!("http://{}/.well-known/jwks.json", server.addr),
            "issuer": "atomic-crm", "audience": "atomic-crm-api", "token": token,
        }));
        servers.push(server);
    }
    let answers = tokio::task::spawn_blocking(move || run_node("keys.mjs", &json!(requests)))
        .await
        .unwrap();
    for answer in answers {
        assert!(answer.get("error").is_none(), "{answer}");
        assert_eq!(answer["payload"]["userId"], "u-admin");
        assert!(answer["header"]["kid"].is_string());
    }
}
