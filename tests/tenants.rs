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

#[tokio::test]
async fn an_applications_tenant_check_is_asked_once_per_tenant_after_the_signature() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    use tower_jwt_session::{
        issuers::TrustedIssuer, Algorithm, KeyPair, SessionManager, VerifyError,
    };

    let idp = TestIssuer::start("p256.pem").await;
    let template = format!("{}/{{tenantid}}/v2.0", idp.issuer);
    let tenants = Tenants {
        idp,
        template: template.clone(),
    };
    let key = KeyPair::from_pkcs8_pem(
        Algorithm::ES256,
        &std::fs::read(key_file("p256.pem")).unwrap(),
    )
    .unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let manager = SessionManager::verify_only()
        .with_trusted_issuer(
            TrustedIssuer::with_public_keys(template, [key.public_key().clone()])
                .with_audience(AUDIENCE)
                .with_tenant_check(move |tenant: String| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        tenant.starts_with("customer-")
                    }
                }),
        )
        .build()
        .unwrap();

    // A known customer: asked once, then kept.
    let token = tenants.token("customer-1", "customer-1", "ann");
    assert!(matches!(
        manager.decode(&token),
        Err(VerifyError::RequestNeeded)
    ));
    assert_eq!(asked.load(Ordering::SeqCst), 0, "decode makes no request");
    let session = manager.verify(&token).await.unwrap();
    assert_eq!(session.tenant(), Some("customer-1"));
    let other = tenants.token("customer-1", "customer-1", "bob");
    manager.verify(&other).await.unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // An unknown tenant: refused, and the refusal kept (a flood of its
    // tokens asks once).
    for sub in ["eve", "mallory", "trent"] {
        let token = tenants.token("intruder", "intruder", sub);
        assert!(matches!(
            manager.verify(&token).await,
            Err(VerifyError::InvalidIssuer)
        ));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    // Never asked before the signature holds, nor for a tenant claim that
    // does not match, nor for an `iss` that is no tenant.
    let forged = {
        let (rest, _) = tenants
            .token("customer-2", "customer-2", "ann")
            .rsplit_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        format!("{rest}.{}", "A".repeat(86))
    };
    assert!(manager.verify(&forged).await.is_err());
    let mismatch = tenants.token("customer-3", "customer-4", "ann");
    assert!(manager.verify(&mismatch).await.is_err());
    let dotted = tenants.token("..", "..", "ann");
    assert!(manager.verify(&dotted).await.is_err());
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked without cause");
}
