//! Issuers by template (many tenants behind one issuer pattern, keys from
//! one JWK Set) on the demo server over loopback: the tenant must be one
//! plain path segment, equal the token's `tid` and be allowed; nothing is
//! fetched because of an unverified `iss`; revocation stays within its
//! tenant.

mod common;

use std::time::{Duration, Instant};

use common::{provider::*, *};
use http::StatusCode;
use serde_json::{json, Value};

const AUDIENCE: &str = "api://orders";
const BCL: &str = "http://schemas.openid.net/event/backchannel-logout";

struct Tenants {
    idp: TestIssuer,
    template: String,
}

impl Tenants {
    fn issuer(&self, tenant: &str) -> String {
        self.template.replace("{tenantid}", tenant)
    }

    /// An access token of `tenant`'s issuer with `tid`.
    fn token(&self, tenant: &str, tid: &str, sub: &str) -> String {
        let mut claims = self.idp.claims(sub, AUDIENCE);
        claims["iss"] = json!(self.issuer(tenant));
        claims["tid"] = json!(tid);
        self.idp.mint(Some("at+jwt"), &claims)
    }

    fn logout_token(&self, tenant: &str, tid: Option<&str>, sub: &str) -> String {
        let mut claims = json!({
            "iss": self.issuer(tenant), "aud": "orders-client", "sub": sub,
            "iat": now(), "exp": now() + 120,
            "jti": format!("lt-{}", rand_suffix()), "events": {BCL: {}},
        });
        if let Some(tid) = tid {
            claims["tid"] = json!(tid);
        }
        self.idp.mint(Some("logout+jwt"), &claims)
    }
}

/// `GET /me` with `token`, again while 503 (the keys not in yet).
async fn me(http: &Http, token: &str) -> Reply {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = http.get("/me", Some(token)).await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tenants_are_admitted_by_pattern_and_revoked_within_their_own_tenant() {
    let idp = TestIssuer::start("p256.pem").await;
    let template = format!("{}/{{tenantid}}/v2.0", idp.issuer);
    let jwks = idp.server.url("/jwks");
    let tenants = Tenants { idp, template };
    let server = DemoServer::start(&[
        ("SESSION_TRUSTED_ISSUER_TEMPLATE", &tenants.template),
        ("SESSION_TEMPLATE_JWKS_URL", &jwks),
        (
            "SESSION_TENANTS",
            "t-1, t-2 72f988bf-86f1-41af-91ab-2d7cd011db47",
        ),
        ("SESSION_TRUSTED_AUDIENCE", AUDIENCE),
        ("SESSION_CLIENT_ID", "orders-client"),
    ]);
    let http = Http::new(&server.addr);

    // A tenant's token: its issuer and tenant in the session.
    let alice_1 = tenants.token("t-1", "t-1", "alice");
    let r = me(&http, &alice_1).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let body: Value = r.json();
    assert_eq!(body["iss"], tenants.issuer("t-1").as_str());
    assert_eq!(body["tenant"], "t-1");
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    assert_eq!(
        me(&http, &tenants.token(guid, guid, "x")).await.status,
        StatusCode::OK
    );

    // Refused: tid not the tenant, a tenant not allowed, and a tenant that is
    // not one plain path segment; none of them makes a request.
    let fetches = tenants.idp.server.hits("/jwks");
    for (tenant, tid) in [
        ("t-1", "t-2"),
        ("t-3", "t-3"),
        ("..", ".."),
        (".", "."),
        ("", ""),
        ("t-1/x", "t-1/x"),
        ("t-1%2Fx", "t-1%2Fx"),
        ("t_1", "t_1"),
    ] {
        let r = http
            .get("/me", Some(&tenants.token(tenant, tid, "alice")))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "tenant {tenant:?}, tid {tid:?}"
        );
        assert_eq!(r.challenge(), Some(r#"Bearer error="invalid_token""#));
    }
    let mut no_tid = tenants.idp.claims("alice", AUDIENCE);
    no_tid["iss"] = json!(tenants.issuer("t-1"));
    let r = http
        .get("/me", Some(&tenants.idp.mint(None, &no_tid)))
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a tenant's token without tid"
    );
    assert_eq!(
        tenants.idp.server.hits("/jwks"),
        fetches,
        "no request for a refused iss"
    );

    // Log-out-everywhere of alice in t-1 leaves alice of t-2 alone.
    let alice_2 = tenants.token("t-2", "t-2", "alice");
    assert_eq!(me(&http, &alice_2).await.status, StatusCode::OK);
    let r = http.post("/logout-all", Some(&alice_1), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        http.get("/me", Some(&alice_1)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(http.get("/me", Some(&alice_2)).await.status, StatusCode::OK);

    // A tenant's back-channel logout: within that tenant only; a logout
    // token whose tid is another tenant is refused.
    let bob_1 = tenants.token("t-1", "t-1", "bob");
    let bob_2 = tenants.token("t-2", "t-2", "bob");
    assert_eq!(me(&http, &bob_1).await.status, StatusCode::OK);
    assert_eq!(me(&http, &bob_2).await.status, StatusCode::OK);
    let r = http
        .back_channel_logout(&tenants.logout_token("t-2", Some("t-1"), "bob"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(http.get("/me", Some(&bob_2)).await.status, StatusCode::OK);
    let r = http
        .back_channel_logout(&tenants.logout_token("t-3", None, "bob"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a tenant not allowed");
    let r = http
        .back_channel_logout(&tenants.logout_token("t-2", Some("t-2"), "bob"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        http.get("/me", Some(&bob_2)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(http.get("/me", Some(&bob_1)).await.status, StatusCode::OK);
}

#[test]
fn a_template_without_one_placeholder_a_url_or_its_keys_stops_the_server() {
    let jwks = ("SESSION_TEMPLATE_JWKS_URL", "http://127.0.0.1:9/jwks");
    for envs in [
        vec![
            (
                "SESSION_TRUSTED_ISSUER_TEMPLATE",
                "https://login.example.com/v2.0",
            ),
            jwks,
        ],
        vec![
            (
                "SESSION_TRUSTED_ISSUER_TEMPLATE",
                "https://login.example.com/{tenantid}/{tenantid}",
            ),
            jwks,
        ],
        vec![
            (
                "SESSION_TRUSTED_ISSUER_TEMPLATE",
                "login.example.com/{tenantid}/v2.0",
            ),
            jwks,
        ],
        vec![(
            "SESSION_TRUSTED_ISSUER_TEMPLATE",
            "https://login.example.com/{tenantid}/v2.0",
        )],
        vec![
            (
                "SESSION_TRUSTED_ISSUER_TEMPLATE",
                "https://login.example.com/t-{tenantid}/v2.0",
            ),
            jwks,
        ],
    ] {
        let (code, _, stderr) = start_fails(&envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{envs:?}: {stderr}");
        assert!(lines[0].contains("SESSION_T"), "{envs:?}: {stderr}");
    }
}
