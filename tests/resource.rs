//! Protected Resource Metadata (RFC 9728) on the demo server, over loopback:
//! the document at its path-inserted location, `resource_metadata` on every
//! challenge, and trusted issuers' tokens held to the resource as audience
//! (RFC 8707).

mod common;

use common::{provider::*, *};
use http::StatusCode;
use serde_json::json;

const RESOURCE: &str = "https://API.example.com/v1";
const METADATA_URL: &str = "https://API.example.com/.well-known/oauth-protected-resource/v1";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/v1";

/// `GET path` with `token`, again while the server answers 503: until the
/// trusted issuer's keys arrive (fetched at start), within PATIENCE.
async fn get_once_keys_are_in(http: &Http, path: &str, token: &str) -> Reply {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let r = http.get(path, Some(token)).await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_finds_the_issuers_from_any_challenge_and_tokens_must_name_the_resource() {
    let idp = TestIssuer::start("p256.pem").await;
    let server = DemoServer::start(&[
        ("SESSION_TRUSTED_ISSUERS", &idp.issuer),
        ("SESSION_RESOURCE", RESOURCE),
        ("SESSION_SCOPES_SUPPORTED", "projects:read  admin"),
    ]);
    let http = Http::new(&server.addr);

    // The document, public, at the path-inserted location only.
    let doc = http.get(METADATA_PATH, None).await;
    assert_eq!(doc.status, StatusCode::OK, "{:?}", doc.body);
    assert_eq!(doc.headers["content-type"], "application/json");
    assert_eq!(doc.headers["access-control-allow-origin"], "*");
    assert!(doc.headers.contains_key("cache-control"));
    assert_eq!(
        doc.json(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [idp.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["projects:read", "admin"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "PS256"],
            "dpop_bound_access_tokens_required": false,
        })
    );
    let root = http
        .get("/.well-known/oauth-protected-resource", None)
        .await;
    assert_eq!(root.status, StatusCode::NOT_FOUND, "served at the root too");
    let post = http.post(METADATA_PATH, None, "{}").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(post.headers["allow"].to_str().unwrap().contains("GET"));

    // Every challenge names the document.
    let none = http.get("/me", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.challenge(),
        Some(format!("Bearer resource_metadata=\"{METADATA_URL}\"").as_str())
    );
    let forged = http.get("/me", Some("a.b.c")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        forged.challenge(),
        Some(
            format!("Bearer error=\"invalid_token\", resource_metadata=\"{METADATA_URL}\"")
                .as_str()
        )
    );

    // A trusted issuer's token must name the resource: scheme and host in
    // any case, the path exactly.
    for (aud, status) in [
        ("https://api.example.com/v1", StatusCode::OK),
        ("HTTPS://API.EXAMPLE.COM/v1/", StatusCode::OK),
        (RESOURCE, StatusCode::OK),
        ("https://api.example.com/V1", StatusCode::UNAUTHORIZED),
        ("https://api.example.com/v2", StatusCode::UNAUTHORIZED),
        (
            "https://api.example.com.evil.example/v1",
            StatusCode::UNAUTHORIZED,
        ),
        ("atomic-crm-api", StatusCode::UNAUTHORIZED),
    ] {
        let token = idp.mint(Some("at+jwt"), &idp.claims("user-1", aud));
        let r = get_once_keys_are_in(&http, "/me", &token).await;
        assert_eq!(r.status, status, "aud {aud:?}: {:?}", r.body);
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                r.challenge(),
                Some(
                    format!("Bearer error=\"invalid_token\", resource_metadata=\"{METADATA_URL}\"")
                        .as_str()
                )
            );
        }
    }
    // An array naming it among others is fine (RFC 7519 §4.1.3).
    let mut claims = idp.claims("user-1", "x");
    claims["aud"] = json!(["other-api", "https://api.example.com/v1"]);
    let r = http.get("/me", Some(&idp.mint(None, &claims))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // 403 too; the server's own tokens keep SESSION_AUDIENCE.
    let (sales, _) = http.login("sales@example.com", "sales-password").await;
    assert_eq!(http.get("/me", Some(&sales)).await.status, StatusCode::OK);
    let refused = http.get("/admin", Some(&sales)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.challenge(),
        Some(
            format!("Bearer error=\"insufficient_scope\", resource_metadata=\"{METADATA_URL}\"")
                .as_str()
        )
    );
    // The refresh route's refusals and the handlers' own 401s name it too.
    let r = http.post("/refresh", Some("a.b.c"), "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.challenge()
            .unwrap()
            .contains(&format!("resource_metadata=\"{METADATA_URL}\"")),
        "{:?}",
        r.challenge()
    );
}

#[tokio::test]
async fn dpop_challenges_and_the_document_follow_the_dpop_mode() {
    let idp = TestIssuer::start("p256.pem").await;
    let required = DemoServer::start(&[
        ("SESSION_TRUSTED_ISSUERS", &idp.issuer),
        ("SESSION_RESOURCE", "http://127.0.0.1:9/"),
        ("SESSION_DPOP", "required"),
    ]);
    let http = Http::new(&required.addr);
    let doc = http
        .get("/.well-known/oauth-protected-resource", None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["resource"], "http://127.0.0.1:9/");
    assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    assert!(doc.get("scopes_supported").is_none());
    let token = idp.mint(None, &idp.claims("user-1", "http://127.0.0.1:9"));
    let r = get_once_keys_are_in(&http, "/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.challenge().unwrap();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains(
            "resource_metadata=\"http://127.0.0.1:9/.well-known/oauth-protected-resource\""
        ),
        "{challenge}"
    );

    let off = DemoServer::start(&[
        ("SESSION_TRUSTED_ISSUERS", &idp.issuer),
        ("SESSION_RESOURCE", "http://127.0.0.1:9"),
        ("SESSION_DPOP", "off"),
    ]);
    let doc = Http::new(&off.addr)
        .get("/.well-known/oauth-protected-resource", None)
        .await
        .json();
    assert!(
        doc.get("dpop_signing_alg_values_supported").is_none(),
        "{doc}"
    );
    assert!(
        doc.get("dpop_bound_access_tokens_required").is_none(),
        "{doc}"
    );
}

#[tokio::test]
async fn without_a_resource_there_is_no_document_and_challenges_stay_as_they_were() {
    let server = DemoServer::start(&[]);
    let http = Http::new(&server.addr);
    let r = http
        .get("/.well-known/oauth-protected-resource", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(http.get("/me", None).await.challenge(), Some("Bearer"));
}

#[test]
fn a_resource_that_is_not_an_http_url_without_query_or_fragment_stops_the_server() {
    for bad in [
        "api.example.com",
        "ftp://api.example.com",
        "https://api.example.com/?tenant=1",
        "https://api.example.com/#top",
        "https://user@api.example.com",
        "https://",
        "https://api.example.com/a b",
    ] {
        let (code, _, stderr) = start_fails(&[("SESSION_RESOURCE", bad)]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{bad:?}: {stderr}");
        assert!(lines[0].contains("SESSION_RESOURCE"), "{bad:?}: {stderr}");
    }
}
