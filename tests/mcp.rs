//! The MCP example (`examples/mcp.rs`, rmcp's Streamable HTTP server behind
//! the session layer) driven over loopback as an MCP client would: from the
//! first `401` to the metadata document, then JSON-RPC with tokens of a
//! trusted issuer that name the resource.

mod common;

use common::{provider::*, *};
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// The JSON-RPC messages of an answer (a JSON body, or the `data:` lines of
/// an event stream).
fn messages(reply: &Reply) -> Vec<Value> {
    let text = String::from_utf8_lossy(&reply.body);
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return vec![value];
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// The MCP example on a free port of 127.0.0.1, trusting `issuer`; and its
/// resource identifier (its `/mcp` URL).
fn start_mcp(issuer: &str) -> (DemoServer, String) {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let bind = format!("127.0.0.1:{port}");
    let envs = [
        ("BIND_ADDR", bind.as_str()),
        ("SESSION_TRUSTED_ISSUERS", issuer),
        ("SESSION_RESOURCE", resource.as_str()),
    ];
    (DemoServer::start_example("mcp", &envs), resource)
}

struct McpClient<'a> {
    http: &'a Http,
    token: String,
    session: Option<String>,
}

impl McpClient<'_> {
    async fn post(&self, body: &Value) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
        ];
        if let Some(id) = &self.session {
            headers.push(("mcp-session-id", id));
        }
        self.http
            .send(Method::POST, "/mcp", &headers, &body.to_string())
            .await
    }

    async fn initialize(&mut self) {
        let r = self
            .post(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "tests", "version": "1"},
                },
            }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        self.session = r
            .headers
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let r = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert!(r.status.is_success(), "{:?}", r.status);
    }

    async fn call(&self, id: u64, tool: &str, arguments: Value) -> Reply {
        self.post(&json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }))
        .await
    }
}

#[tokio::test]
async fn an_mcp_client_goes_from_the_first_401_to_a_tool_call_and_scopes_are_enforced_before_the_handler(
) {
    let idp = TestIssuer::start("p256.pem").await;
    let (server, resource) = start_mcp(&idp.issuer);
    let metadata_url = resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let http = Http::new(&server.addr);

    // 1. No token: 401 naming the scope and the document.
    let r = http
        .send(
            Method::POST,
            "/mcp",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge(),
        Some(format!(r#"Bearer scope="mcp:tools", resource_metadata="{metadata_url}""#).as_str())
    );
    // 2. The document names the issuer and the scopes.
    let doc = http
        .get("/.well-known/oauth-protected-resource/mcp", None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["resource"], resource.as_str());
    assert_eq!(doc["authorization_servers"], json!([idp.issuer]));
    assert_eq!(doc["scopes_supported"], json!(["mcp:tools", "admin"]));

    let token = |scope: &str, aud: &str| {
        let mut claims = idp.claims("user-7", aud);
        claims["scope"] = json!(scope);
        idp.mint(Some("at+jwt"), &claims)
    };
    // 3. A token for another audience, or without mcp:tools.
    let mut other = McpClient {
        http: &http,
        token: token("mcp:tools", "http://127.0.0.1:1/mcp"),
        session: None,
    };
    // (Again while 503: until the issuer's keys, fetched at start, are in.)
    assert_eq!(
        until(&http, &other.token, StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED
    );
    other.token = token("profile", &resource);
    let r = other
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge(),
        Some(
            format!(r#"Bearer error="insufficient_scope", scope="mcp:tools", resource_metadata="{metadata_url}""#)
                .as_str()
        )
    );

    // 4. With mcp:tools: initialize, list, whoami; admin_echo is a 403 scope
    // challenge, alone or inside a batch, before rmcp sees it.
    let mut client = McpClient {
        http: &http,
        token: token("mcp:tools", &resource),
        session: None,
    };
    client.initialize().await;
    let list = client
        .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<String> = messages(&list)
        .iter()
        .filter_map(|m| m.pointer("/result/tools"))
        .flat_map(|t| t.as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["whoami", "admin_echo"]);
    let who = client.call(3, "whoami", json!({})).await;
    assert_eq!(who.status, StatusCode::OK);
    let text = messages(&who)
        .iter()
        .find_map(|m| m.pointer("/result/content/0/text").cloned());
    assert_eq!(text, Some(json!("user-7")));
    let admin_challenge = format!(
        r#"Bearer error="insufficient_scope", scope="mcp:tools admin", resource_metadata="{metadata_url}""#
    );
    let r = client.call(4, "admin_echo", json!({"text": "hi"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.challenge(), Some(admin_challenge.as_str()));
    let r = client
        .post(&json!([
            {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
             "params": {"name": "admin_echo", "arguments": {"text": "hi"}}},
        ]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.challenge(), Some(admin_challenge.as_str()));

    // 5. The session id never stands in for the token.
    let anonymous = http
        .send(
            Method::POST,
            "/mcp",
            &[
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
                ("mcp-session-id", client.session.as_deref().unwrap_or("x")),
            ],
            &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).to_string(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // 6. With admin as well, admin_echo answers the text unchanged.
    let mut admin = McpClient {
        http: &http,
        token: token("mcp:tools admin", &resource),
        session: None,
    };
    admin.initialize().await;
    let r = admin
        .call(8, "admin_echo", json!({"text": "héllo \"world\""}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let text = messages(&r)
        .iter()
        .find_map(|m| m.pointer("/result/content/0/text").cloned());
    assert_eq!(text, Some(json!("héllo \"world\"")));
}

/// The official MCP TypeScript SDK as the client, oidc-provider as the
/// authorization server: given only the server's URL, the client follows the
/// first 401 to the metadata, logs the user in (authorization code with PKCE
/// and the resource indicator), calls the tools, steps up its scope on the
/// 403 scope challenge, and after the user logs out at the provider
/// (back-channel logout to the example) its token is refused.
#[tokio::test]
async fn the_official_mcp_sdk_logs_in_calls_tools_steps_up_and_is_logged_out() {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let provider = OidcProvider::start_with(
        0,
        "resource",
        &[(
            "BACKCHANNEL_URI",
            &format!("http://127.0.0.1:{port}/backchannel-logout"),
        )],
    );
    let bind = format!("127.0.0.1:{port}");
    let _server = DemoServer::start_example(
        "mcp",
        &[
            ("BIND_ADDR", &bind),
            ("SESSION_TRUSTED_ISSUERS", &provider.issuer),
            ("SESSION_RESOURCE", &resource),
            ("SESSION_CLIENT_ID", "mcp-client"),
        ],
    );
    let out = std::process::Command::new("node")
        .args(["mcp-user.mjs", &resource, "ada", &provider.issuer])
        .current_dir(seed_dir())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("`node` is required for the MCP SDK test (apt-get install nodejs)");
    let out: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(out.get("error").is_none(), "{:#}", out["error"]);
    assert_eq!(out["tools"], json!(["whoami", "admin_echo"]));
    assert_eq!(out["whoami"], "ada");
    assert_eq!(out["admin"], "step up");
    assert_eq!(out["aud"], resource.as_str());
    assert_eq!(out["scopes"], "mcp:tools admin");
    // What it saw on the way: the first 401, the document, the 403 scope
    // challenge, and the refusal after the logout.
    let requests = out["requests"].as_array().unwrap();
    assert_eq!(
        requests[0]["www"],
        format!(r#"Bearer scope="mcp:tools", resource_metadata="{metadata_url}""#).as_str()
    );
    assert_eq!(requests[1]["url"], metadata_url.as_str());
    assert!(
        requests.iter().any(|r| r["status"] == 403
            && r["www"]
                == format!(r#"Bearer error="insufficient_scope", scope="mcp:tools admin", resource_metadata="{metadata_url}""#).as_str()),
        "{requests:#?}"
    );
    assert_eq!(
        out["afterLogout"]["status"], 401,
        "{:#}",
        out["afterLogout"]
    );
    assert!(
        out["afterLogout"]["www"]
            .as_str()
            .unwrap()
            .starts_with(r#"Bearer error="invalid_token""#),
        "{:#}",
        out["afterLogout"]
    );
}

#[test]
fn the_mcp_example_refuses_to_start_without_its_issuers_or_resource() {
    for envs in [
        vec![("SESSION_RESOURCE", "http://127.0.0.1:3001/mcp")],
        vec![("SESSION_TRUSTED_ISSUERS", "http://127.0.0.1:9")],
        vec![
            ("SESSION_TRUSTED_ISSUERS", "http://127.0.0.1:9"),
            ("SESSION_RESOURCE", "http://127.0.0.1:3001/mcp?x=1"),
        ],
    ] {
        let out = std::process::Command::new(example_path("mcp"))
            .env_clear()
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{envs:?}: {stderr}");
    }
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_mcp_example_with_an_event_stream_open() {
    use std::io::Write;
    let idp = TestIssuer::start("p256.pem").await;
    for signal in ["TERM", "INT"] {
        let (server, resource) = start_mcp(&idp.issuer);
        let http = Http::new(&server.addr);
        let mut claims = idp.claims("user-7", &resource);
        claims["scope"] = json!("mcp:tools");
        let mut client = McpClient {
            http: &http,
            token: idp.mint(Some("at+jwt"), &claims),
            session: None,
        };
        // Until the issuer's keys are in (503 before), within PATIENCE.
        assert_eq!(
            until(&http, &client.token, StatusCode::OK).await,
            StatusCode::OK
        );
        client.initialize().await;
        // The session's event stream, held open.
        let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
        write!(
            stream,
            "GET /mcp HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
             accept: text/event-stream\r\nmcp-session-id: {}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n",
            server.addr,
            client.token,
            client.session.as_deref().unwrap_or(""),
        )
        .unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut head = [0u8; 64];
        let n = read_some(&mut stream, &mut head);
        assert!(
            String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&head[..n])
        );
        // The contract's bound: exit 0 within 10 s.
        let (status, took) = server.stop_with(signal);
        eprintln!("SIG{signal}: stopped in {took:?} with an event stream open");
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        assert!(
            took < std::time::Duration::from_secs(10),
            "SIG{signal} took {took:?}"
        );
        drop(stream);
    }
}

/// The status of an `initialize` with `token`.
async fn initialize_status(http: &Http, token: &str) -> StatusCode {
    let auth = format!("Bearer {token}");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "tests", "version": "1"}}});
    http.send(
        Method::POST,
        "/mcp",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ],
        &body.to_string(),
    )
    .await
    .status
}

/// [`initialize_status`] again until it is `wanted`, within PATIENCE.
async fn until(http: &Http, token: &str, wanted: StatusCode) -> StatusCode {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = initialize_status(http, token).await;
        if status == wanted || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Two MCP servers sharing Redis (behind one resource URL, as behind a load
/// balancer): a back-channel logout received by one refuses the subject's
/// token on the other.
#[tokio::test]
async fn a_provider_logout_received_by_one_mcp_server_reaches_the_other_through_redis() {
    let redis = RedisServer::start();
    let idp = TestIssuer::start("p256.pem").await;
    let (port_a, port_b) = (free_port(), free_port());
    let resource = format!("http://127.0.0.1:{port_a}/mcp");
    let start = |port: u16| {
        let bind = format!("127.0.0.1:{port}");
        DemoServer::start_example(
            "mcp",
            &[
                ("BIND_ADDR", &bind),
                ("SESSION_TRUSTED_ISSUERS", &idp.issuer),
                ("SESSION_RESOURCE", &resource),
                ("SESSION_CLIENT_ID", "mcp-client"),
                ("REDIS_URL", &redis.url()),
            ],
        )
    };
    let (a, b) = (start(port_a), start(port_b));
    let (http_a, http_b) = (Http::new(&a.addr), Http::new(&b.addr));
    let mut claims = idp.claims("user-9", &resource);
    claims["scope"] = json!("mcp:tools");
    let token = idp.mint(Some("at+jwt"), &claims);
    assert_eq!(until(&http_a, &token, StatusCode::OK).await, StatusCode::OK);
    assert_eq!(until(&http_b, &token, StatusCode::OK).await, StatusCode::OK);

    let logout = idp.mint(
        Some("logout+jwt"),
        &json!({
            "iss": idp.issuer, "aud": "mcp-client", "sub": "user-9",
            "iat": now(), "exp": now() + 120, "jti": format!("lt-{}", rand_suffix()),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }),
    );
    let r = http_a
        .send(
            Method::POST,
            "/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            &format!("logout_token={logout}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let acknowledged = std::time::Instant::now();
    assert_eq!(
        until(&http_b, &token, StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED
    );
    eprintln!(
        "refused on the other MCP server {:?} after the logout's 200",
        acknowledged.elapsed()
    );
    assert_eq!(
        initialize_status(&http_a, &token).await,
        StatusCode::UNAUTHORIZED
    );
}
