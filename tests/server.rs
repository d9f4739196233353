//! The demo server (`examples/server.rs`) over real HTTP on loopback: every
//! row of the contract.

mod common;

use std::{io::Write, net::TcpStream, time::Duration};

use common::*;
use http::{Method, StatusCode};
use serde_json::json;

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
const SALES: (&str, &str) = ("sales@example.com", "sales-password");

fn assert_json_refusal(r: &Reply, status: u16, challenge: Option<&str>, error: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.challenge(), challenge);
    assert_eq!(r.json()["error"], error);
}

#[tokio::test]
async fn health_answers_ok() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let r = http.get("/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn login_me_and_admin_follow_the_contract() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let (token, expires_at) = http.login(ADMIN.0, ADMIN.1).await;
    let claims = payload(&token);
    assert_eq!(claims["exp"], expires_at);
    assert!(claims["jti"].is_string());

    let me = http.get("/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["userId"], claims["userId"]);
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["companyId"], "acme");
    assert_eq!(
        me["permissions"],
        json!(["contacts:read", "contacts:write", "admin"])
    );
    assert_eq!(me["metadata"], json!({"name": "Ada Admin"}));
    assert_eq!(me["expiresAt"], expires_at);
    assert!(me["createdAt"].is_i64());
    assert_eq!(me.as_object().unwrap().len(), 8);

    let admin = http.get("/admin", Some(&token)).await;
    assert_eq!(admin.status, 200);
    assert_eq!(admin.json(), json!({"ok": true}));

    let (sales, _) = http.login(SALES.0, SALES.1).await;
    let me = http.get("/me", Some(&sales)).await.json();
    assert_eq!(me["permissions"], json!(["contacts:read"]));
    assert_eq!(me["metadata"], json!({"name": "Sam Sales"}));
    let r = http.get("/admin", Some(&sales)).await;
    assert_json_refusal(
        &r,
        403,
        Some("Bearer error=\"insufficient_scope\""),
        "insufficient_scope",
    );
}

#[tokio::test]
async fn login_refuses_wrong_credentials_and_malformed_bodies() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    for body in [
        json!({"email": ADMIN.0, "password": "wrong"}).to_string(),
        json!({"email": "nobody@example.com", "password": ADMIN.1}).to_string(),
        json!({"email": ADMIN.0, "password": SALES.1}).to_string(),
    ] {
        let r = http.post("/login", None, &body).await;
        assert_eq!(r.status, 401);
        assert!(r.json()["error"].is_string());
    }
    for body in ["", "not json", "{}", r#"{"email":1,"password":2}"#, "[]"] {
        let r = http.post("/login", None, body).await;
        assert!(
            matches!(r.status.as_u16(), 400 | 422),
            "{body}: {}",
            r.status
        );
        assert!(r.json()["error"].is_string());
    }
}

#[tokio::test]
async fn refresh_rotates_and_revokes_the_presented_token() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let (old, _) = http.login(ADMIN.0, ADMIN.1).await;
    let r = http.post("/refresh", Some(&old), "").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let new = j["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(payload(&new)["exp"], j["expiresAt"]);
    // Immediately (same second): the old one is refused, the new one works.
    assert_json_refusal(
        &http.get("/me", Some(&old)).await,
        401,
        Some("Bearer error=\"invalid_token\""),
        "invalid_token",
    );
    assert_eq!(http.get("/me", Some(&new)).await.status, 200);
    // Refreshing twice in a row yields distinct tokens.
    let again = http.post("/refresh", Some(&new), "").await.json();
    assert_ne!(again["token"], json!(new));
    let again = again["token"].as_str().unwrap().to_owned();
    // Refreshing a replaced token again is a replay (reuse detection): it
    // is refused and ends the session, the newest token included.
    assert_json_refusal(
        &http.post("/refresh", Some(&old), "").await,
        401,
        Some("Bearer error=\"invalid_token\""),
        "invalid_token",
    );
    assert_eq!(http.get("/me", Some(&again)).await.status, 401);
}

#[tokio::test]
async fn logout_revokes_the_presented_token_only() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let (a, _) = http.login(ADMIN.0, ADMIN.1).await;
    let (b, _) = http.login(ADMIN.0, ADMIN.1).await;
    let r = http.post("/logout", Some(&a), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_json_refusal(
        &http.get("/me", Some(&a)).await,
        401,
        Some("Bearer error=\"invalid_token\""),
        "invalid_token",
    );
    assert_json_refusal(
        &http.post("/logout", Some(&a), "").await,
        401,
        Some("Bearer error=\"invalid_token\""),
        "invalid_token",
    );
    assert_eq!(http.get("/me", Some(&b)).await.status, 200);
}

#[tokio::test]
async fn logout_all_revokes_every_earlier_token_and_a_login_right_after_works() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let (a, _) = http.login(ADMIN.0, ADMIN.1).await;
    let (b, _) = http.login(ADMIN.0, ADMIN.1).await;
    let (sales, _) = http.login(SALES.0, SALES.1).await;
    let r = http.post("/logout-all", Some(&a), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Within the same second as the call.
    let (c, _) = http.login(ADMIN.0, ADMIN.1).await;
    for t in [&a, &b] {
        assert_json_refusal(
            &http.get("/me", Some(t)).await,
            401,
            Some("Bearer error=\"invalid_token\""),
            "invalid_token",
        );
    }
    assert_eq!(http.get("/me", Some(&c)).await.status, 200);
    assert_eq!(http.get("/me", Some(&sales)).await.status, 200);
}

#[tokio::test]
async fn every_protected_route_refuses_missing_and_malformed_credentials() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let routes = [
        (Method::GET, "/me"),
        (Method::POST, "/refresh"),
        (Method::POST, "/logout"),
        (Method::POST, "/logout-all"),
        (Method::GET, "/admin"),
    ];
    let (token, _) = http.login(ADMIN.0, ADMIN.1).await;
    let bearer = format!("Bearer {token}");
    let no_space = format!("Bearer{token}");
    for (method, path) in routes {
        let none = http.send(method.clone(), path, &[], "").await;
        assert_json_refusal(&none, 401, Some("Bearer"), "unauthorized");
        let basic = http
            .send(
                method.clone(),
                path,
                &[("authorization", "Basic dXNlcjpwYXNz")],
                "",
            )
            .await;
        assert_json_refusal(&basic, 401, Some("Bearer"), "unauthorized");
        let glued = http
            .send(method.clone(), path, &[("authorization", &no_space)], "")
            .await;
        assert_json_refusal(&glued, 401, Some("Bearer"), "unauthorized");
        let alone = http
            .send(method.clone(), path, &[("authorization", "Bearer")], "")
            .await;
        assert_json_refusal(
            &alone,
            400,
            Some("Bearer error=\"invalid_request\""),
            "invalid_request",
        );
        let twice = http
            .send(
                method.clone(),
                path,
                &[("authorization", &bearer), ("authorization", &bearer)],
                "",
            )
            .await;
        assert_json_refusal(
            &twice,
            400,
            Some("Bearer error=\"invalid_request\""),
            "invalid_request",
        );
        let garbage = http
            .send(
                method.clone(),
                path,
                &[("authorization", "Bearer not.a.jwt")],
                "",
            )
            .await;
        assert_json_refusal(
            &garbage,
            401,
            Some("Bearer error=\"invalid_token\""),
            "invalid_token",
        );
    }
    // The token survived all of that (nothing above revoked it).
    assert_eq!(http.get("/me", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_invalid_token() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    let mut wrong_iss = claims();
    wrong_iss["iss"] = json!("elsewhere");
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("elsewhere");
    let tokens = [
        sign(&expired),
        sign(&wrong_iss),
        sign(&wrong_aud),
        sign_raw(
            "HS512",
            &[b'k'; 64],
            r#"{"alg":"HS512"}"#,
            &claims().to_string(),
        ),
        sign_raw(
            "HS256",
            SECRET.as_bytes(),
            r#"{"alg":"none"}"#,
            &claims().to_string(),
        ),
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(&claims().to_string())
        ),
        sign_raw(
            "HS256",
            b"not-the-server-secret-but-long-enough!!",
            r#"{"alg":"HS256"}"#,
            &claims().to_string(),
        ),
    ];
    for t in tokens {
        let r = http.get("/me", Some(&t)).await;
        assert_json_refusal(
            &r,
            401,
            Some("Bearer error=\"invalid_token\""),
            "invalid_token",
        );
    }
    // A valid seed-shaped token signed with the server's secret works.
    assert_eq!(http.get("/me", Some(&sign(&claims()))).await.status, 200);
}

#[tokio::test]
async fn an_oversized_token_is_refused_and_the_server_goes_on() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let huge = "a".repeat(64 * 1024);
    let r = http.get("/me", Some(&huge)).await;
    assert!(matches!(r.status.as_u16(), 400 | 401 | 431), "{}", r.status);
    if r.status != 431 {
        assert!(r.challenge().unwrap().starts_with("Bearer error="));
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(http.get("/health", None).await.status, 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let r = http.get("/nope", None).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let r = http.send(Method::DELETE, "/health", &[], "").await;
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn configuration_follows_the_environment() {
    let secret = "s".repeat(64);
    let server = DemoServer::start(&[
        ("SESSION_SECRET", &secret),
        ("SESSION_ALGORITHM", "HS512"),
        ("SESSION_ISSUER", "my-iss"),
        ("SESSION_AUDIENCE", "my-aud"),
        ("SESSION_TTL_SECS", "120"),
    ]);
    let http = Http::new(&server.addr);
    let (token, exp) = http.login(ADMIN.0, ADMIN.1).await;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS512");
    let c = payload(&token);
    assert_eq!(c["iss"], "my-iss");
    assert_eq!(c["aud"], "my-aud");
    assert_eq!(exp - c["iat"].as_i64().unwrap(), 120);
    // An HS256 token with the same secret is refused: one algorithm only.
    let mut hs256 = claims();
    hs256["iss"] = json!("my-iss");
    hs256["aud"] = json!("my-aud");
    let t = sign_raw(
        "HS256",
        secret.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &hs256.to_string(),
    );
    assert_eq!(http.get("/me", Some(&t)).await.status, 401);
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let cases: &[&[(&str, &str)]] = &[
        &[("SESSION_ALGORITHM", "none")],
        &[("SESSION_ALGORITHM", "RS257")],
        &[("SESSION_SECRET", "")],
        &[("SESSION_SECRET", "short")],
        &[("SESSION_SECRET", "x"), ("SESSION_ALGORITHM", "HS256")],
        &[("SESSION_TTL_SECS", "0")],
        &[("SESSION_TTL_SECS", "-5")],
        &[("SESSION_TTL_SECS", "1.5")],
        &[("SESSION_TTL_SECS", "soon")],
        &[("BIND_ADDR", "not an address")],
        &[("BIND_ADDR", "127.0.0.1")],
        &[("REDIS_URL", "::not a url::")],
        &[("SESSION_PRIVATE_KEY_FILE", "/nonexistent/key.pem")],
        &[("SESSION_PUBLIC_KEY_FILE", "/nonexistent/key.pem")],
        &[("SESSION_MAX_STALENESS_SECS", "-1")],
        &[("SESSION_MAX_STALENESS_SECS", "ten")],
        &[("REDIS_MIN_REPLICAS", "one")],
        &[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("REDIS_CLUSTER_URLS", "redis://127.0.0.1:7000"),
        ],
        &[("REDIS_SENTINEL_URLS", "redis://127.0.0.1:26379")],
        &[
            ("REDIS_SENTINEL_URLS", "::not a url::"),
            ("REDIS_SENTINEL_MASTER", "mymaster"),
        ],
        &[("REDIS_CLUSTER_URLS", "::not a url::")],
        &[("REDIS_CLUSTER_URLS", " , ")],
    ];
    let long32 = "k".repeat(32);
    let more: Vec<Vec<(&str, &str)>> = vec![
        vec![("SESSION_SECRET", &long32), ("SESSION_ALGORITHM", "HS384")],
        vec![("SESSION_SECRET", &long32), ("SESSION_ALGORITHM", "HS512")],
    ];
    for envs in cases.iter().copied().chain(more.iter().map(Vec::as_slice)) {
        let (code, stdout, stderr) = start_fails(envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{envs:?}: {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let named = envs.iter().any(|(k, _)| stderr.contains(k));
        assert!(named, "the line names the variable: {stderr}");
    }
}

#[test]
fn a_missing_secret_is_generated_with_a_warning() {
    let mut cmd = std::process::Command::new(example_path("server"));
    cmd.env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSION_SECRET"), "{stderr}");
}

#[test]
fn sigterm_and_sigint_stop_gracefully_with_idle_keep_alive_connections() {
    for signal in ["TERM", "INT"] {
        let server = DemoServer::start(&[]);
        // An idle keep-alive connection that has served one request.
        let mut conn = TcpStream::connect(&server.addr).unwrap();
        conn.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = read_some(&mut conn, &mut buf);
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let (status, took) = server.stop_with(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        assert!(took < Duration::from_secs(10), "SIG{signal} took {took:?}");
    }
}

#[tokio::test]
async fn the_bare_hyper_example_guards_its_route() {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(example_path("hyper"));
    cmd.env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    let token = second.trim().strip_prefix("token: ").unwrap().to_owned();
    let http = Http::new(&addr);
    let r = http.get("/", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some("Bearer"));
    let r = http.get("/", Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"hello u-demo\n");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_token_tool_mints_and_inspects() {
    let run = |args: &[&str], secret: Option<&str>| {
        let mut cmd = std::process::Command::new(example_path("token"));
        cmd.env_clear().args(args);
        if let Some(s) = secret {
            cmd.env("SESSION_SECRET", s);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, token) = run(
        &["mint", "u-9", "z@example.com", "--permission", "admin"],
        Some(SECRET),
    );
    assert_eq!(code, Some(0));
    let token = token.trim();
    let (code, shown) = run(&["inspect", token], Some(SECRET));
    assert_eq!(code, Some(0));
    assert!(
        shown.contains("\"userId\": \"u-9\"") && shown.contains("valid: user u-9"),
        "{shown}"
    );
    let (code, shown) = run(
        &["inspect", token],
        Some("another-secret-that-is-long-enough!!"),
    );
    assert_eq!(code, Some(1));
    assert!(shown.contains("invalid:"), "{shown}");
    assert_eq!(run(&["inspect", "abc"], None).0, Some(2));
    assert_eq!(run(&["mint", "u"], Some(SECRET)).0, Some(2));
    assert_eq!(run(&["mint", "u", "e@x"], None).0, Some(2));
}

#[tokio::test]
async fn metrics_are_exposed_when_asked() {
    let server = DemoServer::start(&[("METRICS", "1")]);
    let http = Http::new(&server.addr);
    assert_eq!(http.get("/me", None).await.status, 401);
    assert_eq!(http.get("/me", Some("not.a.jwt")).await.status, 401);
    let (token, _) = http.login(ADMIN.0, ADMIN.1).await;
    assert_eq!(http.get("/me", Some(&token)).await.status, 200);
    let text = String::from_utf8(http.get("/metrics", None).await.body.to_vec()).unwrap();
    assert!(
        text.contains("tower_jwt_session_refusals_total{reason=\"missing_credentials\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tower_jwt_session_refusals_total{reason=\"invalid_token\"} 1"),
        "{text}"
    );
    // Off by default.
    let plain = DemoServer::start(&[]);
    assert_eq!(
        Http::new(&plain.addr).get("/metrics", None).await.status,
        404
    );
}

#[tokio::test]
async fn login_takes_a_json_object_only_and_ignores_unknown_members() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    // serde alone would take an array for the struct.
    for body in [
        json!([ADMIN.0, ADMIN.1]).to_string(),
        json!({"email": [ADMIN.0], "password": ADMIN.1}).to_string(),
        json!({"email": ADMIN.0}).to_string(),
        json!("admin@example.com").to_string(),
        "null".to_owned(),
    ] {
        let r = http.post("/login", None, &body).await;
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.json()["error"], "invalid_request", "{body}");
    }
    let r = http.post("/login", None, "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    // Unknown members are ignored (documented in examples/server.rs).
    let body = json!({"email": ADMIN.0, "password": ADMIN.1, "remember": true}).to_string();
    assert_eq!(http.post("/login", None, &body).await.status, 200);
}

#[tokio::test]
async fn login_emails_match_trimmed_and_ascii_case_insensitively() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    for email in [
        "Admin@Example.com",
        "  ADMIN@EXAMPLE.COM\t",
        "admin@example.com ",
    ] {
        let body = json!({"email": email, "password": ADMIN.1}).to_string();
        let r = http.post("/login", None, &body).await;
        assert_eq!(r.status, 200, "{email:?}");
        let token = r.json()["token"].as_str().unwrap().to_owned();
        // The session carries the account's email, not what was typed.
        assert_eq!(payload(&token)["email"], ADMIN.0);
    }
    // The password stays exact.
    let body = json!({"email": ADMIN.0, "password": "Admin-Password"}).to_string();
    assert_eq!(http.post("/login", None, &body).await.status, 401);
}

/// The Redis URL in logs and errors never shows a password, whatever it
/// holds (`@`, `:`, `/`, percent-encoded or not).
#[test]
fn redis_passwords_never_reach_logs_or_errors() {
    use std::io::BufRead;
    // Accepted URLs: the server starts (Redis is contacted lazily) and logs
    // the redacted URL.
    for (url, secret_parts) in [
        ("redis://:hunter@2@127.0.0.1:1/0", &["hunter", "@2@"][..]),
        ("redis://:p:ss:w0rd@127.0.0.1:1/0", &["p:ss", "w0rd"][..]),
        (
            "redis://admin:s%2Fcr%40t@127.0.0.1:1/0",
            &["s%2Fcr", "cr%40t", "admin"][..],
        ),
    ] {
        let mut cmd = std::process::Command::new(example_path("server"));
        cmd.env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("SESSION_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .env("REDIS_URL", url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let logged = loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "no blocklist line");
            if line.contains("blocklist: Redis") {
                break line.clone();
            }
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(logged.contains("<redacted>@127.0.0.1:1/0"), "{logged}");
        for part in secret_parts {
            assert!(!logged.contains(part), "{part:?} leaked: {logged}");
        }
    }
    // A raw `/` in the password makes the URL mean another host or fail to
    // parse: it is refused (exit 2) without showing it.
    for url in [
        "redis://:pa/ss@127.0.0.1:1",
        "redis://user:se/cret@127.0.0.1:1",
    ] {
        let (code, _, stderr) = start_fails(&[("SESSION_SECRET", SECRET), ("REDIS_URL", url)]);
        assert_eq!(code, 2, "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: REDIS_URL"), "{stderr}");
        for part in ["pa/ss", "se/cret", "cret"] {
            assert!(!stderr.contains(part), "{part:?} leaked: {stderr}");
        }
    }
}
