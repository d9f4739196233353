//! The contract's "Opaque tokens (RFC 7662 introspection)", with real
//! processes over loopback: panva's `oidc-provider` issuing opaque access
//! tokens and answering at its introspection and revocation endpoints
//! (`client_secret_basic` through the demo server, `private_key_jwt`
//! through the library); an issuer of the tests' own whose endpoint
//! answers what a real provider would not (garbage, errors, a slow answer,
//! answers that must be refused) and counts its requests; two demo servers
//! sharing a real Redis for revocations.

mod common;

use std::time::Duration;

use common::{jwks_server::Mode, provider::*, *};
use serde_json::{json, Value};
use tower_jwt_session::{
    introspection::Introspection, issuers::TrustedIssuer, Algorithm, KeyPair, SessionManager,
    VerifyError,
};

const AUDIENCE: &str = "atomic-crm-api";

fn introspecting(issuer: &str, cache_secs: &str, extra: &[(&str, &str)]) -> DemoServer {
    let mut envs = vec![
        ("SESSION_TRUSTED_ISSUERS", issuer),
        ("SESSION_JWKS_COOLDOWN_SECS", "1"),
        ("SESSION_INTROSPECTION_ISSUER", issuer),
        ("SESSION_INTROSPECTION_CLIENT_ID", "rs-basic"),
        ("SESSION_INTROSPECTION_CLIENT_SECRET", "secret"),
        ("SESSION_INTROSPECTION_CACHE_SECS", cache_secs),
    ];
    envs.extend_from_slice(extra);
    DemoServer::start(&envs)
}

/// Revokes `token` at the provider (RFC 7009), as its client `client`.
async fn revoke_at_provider(provider: &OidcProvider, client: &str, token: &str) {
    let http = Http::new(provider.issuer.trim_start_matches("http://"));
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{client}:secret")
        )
    );
    let r = http
        .send(
            http::Method::POST,
            "/token/revocation",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic),
            ],
            &format!("token={token}&token_type_hint=access_token"),
        )
        .await;
    assert_eq!(r.status, 200, "revocation at the provider: {:?}", r.body);
}

#[tokio::test]
async fn a_providers_opaque_tokens_are_introspected_and_their_permissions_checked_every_time() {
    let provider = OidcProvider::start_with(0, AUDIENCE, &[("OPAQUE", "1")]);
    let demo = introspecting(&provider.issuer, "60", &[]);
    let uncached = introspecting(&provider.issuer, "0", &[]);
    let (http, every_time) = (Http::new(&demo.addr), Http::new(&uncached.addr));

    let token = provider
        .client_credentials("cc-es256", "api:read admin")
        .await;
    assert_eq!(token.split('.').count(), 1, "not an opaque token: {token}");
    for http in [&http, &every_time] {
        let r = http.get("/me", Some(&token)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let me = r.json();
        assert_eq!(me["iss"], provider.issuer);
        assert_eq!(me["sub"], "cc-es256");
        assert_eq!(me["clientId"], "cc-es256");
        assert_eq!(me["permissions"], json!(["api:read", "admin"]));
        assert_eq!(me["claims"]["active"], true);
        assert_eq!(me["claims"]["token_type"], "Bearer");
        assert_eq!(http.get("/admin", Some(&token)).await.status, 200);
        // Only tokens minted here are refreshed.
        assert_eq!(http.post("/refresh", Some(&token), "").await.status, 400);
    }

    // Permissions on every request, cached answer or not.
    let reader = provider.client_credentials("cc-es256", "api:read").await;
    for _ in 0..3 {
        let r = http.get("/admin", Some(&reader)).await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        assert_eq!(r.challenge(), Some(r#"Bearer error="insufficient_scope""#));
        assert_eq!(http.get("/me", Some(&reader)).await.status, 200);
    }

    // A user's token: the user is the subject.
    let (access, _) = provider.authorization_code("cc-rs256", "alice", "openid email api:read");
    let me = http.get("/me", Some(&access)).await.json();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["userId"], "alice");
    assert_eq!(me["clientId"], "cc-rs256");
    assert_eq!(me["permissions"], json!(["api:read"]));

    // A token the provider never issued.
    let r = http.get("/me", Some("2YotnFZFEjr1zCsicMWpAA")).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert!(r.challenge().unwrap().contains("invalid_token"));

    // Revoked at the provider: refused at once where nothing is cached; the
    // cached answer keeps admitting until its cache time ends.
    revoke_at_provider(&provider, "cc-es256", &token).await;
    assert_eq!(every_time.get("/me", Some(&token)).await.status, 401);
    assert_eq!(http.get("/me", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn private_key_jwt_authenticates_the_resource_server() {
    let pem = std::fs::read(key_file("p256.pem")).unwrap();
    let key = KeyPair::from_pkcs8_pem(Algorithm::ES256, &pem).unwrap();
    let mut jwk = key.public_key().to_jwk();
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let provider = OidcProvider::start_with(
        0,
        AUDIENCE,
        &[("OPAQUE", "1"), ("RS_JWK", &jwk.to_string())],
    );
    let manager = |key: KeyPair| {
        SessionManager::verify_only()
            .with_trusted_issuer(
                TrustedIssuer::discover(provider.issuer.clone())
                    .with_audience(AUDIENCE)
                    .with_introspection(Introspection::private_key_jwt("rs-pkjwt", key)),
            )
            .build()
            .unwrap()
    };
    let good = manager(key);
    let token = provider.client_credentials("cc-eddsa", "api:read").await;
    let session = good.verify(&token).await.expect("introspected");
    assert_eq!(session.user_id(), "cc-eddsa");
    assert!(session.has_permission("api:read"));
    // `decode` makes no request: a cached answer, or RequestNeeded.
    assert!(good.decode(&token).is_ok());
    let fresh = provider.client_credentials("cc-eddsa", "api:read").await;
    assert!(matches!(
        good.decode(&fresh),
        Err(VerifyError::RequestNeeded)
    ));

    // Another key: the provider refuses the client; the token's state is
    // unknown, never admitted.
    let other = std::fs::read(key_file("p256-other.pem")).unwrap();
    let impostor = manager(KeyPair::from_pkcs8_pem(Algorithm::ES256, &other).unwrap());
    match impostor.verify(&token).await {
        Err(err @ VerifyError::Introspection(_)) => assert!(!err.is_client_error()),
        other => panic!("{other:?}"),
    }
}

/// An issuer of the tests' own with an introspection endpoint at
/// `/introspect` answering `answer`.
async fn issuer_answering(answer: Value) -> TestIssuer {
    let idp = TestIssuer::start("p256.pem").await;
    idp.server.set(
        "/.well-known/openid-configuration",
        Mode::Json(
            json!({
                "issuer": idp.issuer,
                "jwks_uri": idp.server.url("/jwks"),
                "introspection_endpoint": idp.server.url("/introspect"),
            })
            .to_string(),
            None,
        ),
    );
    idp.server
        .set("/introspect", Mode::Json(answer.to_string(), None));
    idp
}

fn active(idp: &TestIssuer, sub: &str) -> Value {
    json!({
        "active": true, "token_type": "Bearer", "iss": idp.issuer, "aud": AUDIENCE,
        "sub": sub, "client_id": "some-client", "scope": "api:read", "exp": now() + 600,
        "iat": now(),
    })
}

#[tokio::test]
async fn every_answer_is_checked_and_no_usable_answer_is_503() {
    let idp = issuer_answering(active_placeholder()).await;
    let demo = introspecting(&idp.issuer, "60", &[]);
    let http = Http::new(&demo.addr);
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        format!("opaque-token-{n}-{}", rand_suffix())
    };

    // Answers that admit.
    idp.server.set(
        "/introspect",
        Mode::Json(active(&idp, "carol").to_string(), None),
    );
    let token = fresh();
    let me = http.get("/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json()["sub"], "carol");
    let mut client_only = active(&idp, "x");
    client_only.as_object_mut().unwrap().remove("sub");
    client_only.as_object_mut().unwrap().remove("iss");
    client_only.as_object_mut().unwrap().remove("aud");
    client_only["token_type"] = json!("bearer");
    idp.server
        .set("/introspect", Mode::Json(client_only.to_string(), None));
    let me = http.get("/me", Some(&fresh())).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json()["sub"], "some-client");

    // Answers that refuse: 401 invalid_token.
    let refused: Vec<(&str, Value)> = vec![
        ("inactive", json!({"active": false})),
        ("active is a string", {
            let mut a = active(&idp, "carol");
            a["active"] = json!("true");
            a
        }),
        ("a refresh token (no token_type)", {
            let mut a = active(&idp, "carol");
            a.as_object_mut().unwrap().remove("token_type");
            a
        }),
        ("token_type refresh_token", {
            let mut a = active(&idp, "carol");
            a["token_type"] = json!("refresh_token");
            a
        }),
        ("expired", {
            let mut a = active(&idp, "carol");
            a["exp"] = json!(now() - 60);
            a
        }),
        ("no exp", {
            let mut a = active(&idp, "carol");
            a.as_object_mut().unwrap().remove("exp");
            a
        }),
        ("not yet valid", {
            let mut a = active(&idp, "carol");
            a["nbf"] = json!(now() + 600);
            a
        }),
        ("another issuer", {
            let mut a = active(&idp, "carol");
            a["iss"] = json!("https://evil.example");
            a
        }),
        ("another audience", {
            let mut a = active(&idp, "carol");
            a["aud"] = json!(["another-api"]);
            a
        }),
        ("no sub, no client_id", {
            let mut a = active(&idp, "carol");
            a.as_object_mut().unwrap().remove("sub");
            a.as_object_mut().unwrap().remove("client_id");
            a
        }),
    ];
    for (what, answer) in refused {
        idp.server
            .set("/introspect", Mode::Json(answer.to_string(), None));
        let r = http.get("/me", Some(&fresh())).await;
        // A string `active` is no answer at all: 503; the others 401.
        let want = if what == "active is a string" {
            503
        } else {
            401
        };
        assert_eq!(r.status, want, "{what}: {:?}", r.body);
    }

    // No usable answer: 503, never admitted; the cached active answer of
    // `token` keeps admitting.
    let failures: Vec<(&str, Mode)> = vec![
        ("garbage", Mode::Garbage),
        ("500", Mode::Status(500)),
        ("401", Mode::Status(401)),
        ("closed connection", Mode::Reset),
        (
            "slower than 2 s",
            Mode::Slow(Duration::from_secs(6), active(&idp, "carol").to_string()),
        ),
    ];
    for (what, mode) in failures {
        idp.server.set("/introspect", mode);
        let r = http.get("/me", Some(&fresh())).await;
        assert_eq!(r.status, 503, "{what}: {:?}", r.body);
        assert_eq!(http.get("/me", Some(&token)).await.status, 200, "{what}");
    }

    // No introspection endpoint in the discovery document: 503.
    let bare = TestIssuer::start("p256.pem").await;
    let demo = introspecting(&bare.issuer, "60", &[]);
    let r = Http::new(&demo.addr).get("/me", Some(&fresh())).await;
    assert_eq!(r.status, 503, "{:?}", r.body);
}

fn active_placeholder() -> Value {
    json!({"active": false})
}

#[tokio::test]
async fn one_request_per_token_and_never_a_jwt() {
    let idp = issuer_answering(json!({"active": false})).await;
    let slow =
        |idp: &TestIssuer| Mode::Slow(Duration::from_millis(500), active(idp, "dave").to_string());
    idp.server.set("/introspect", slow(&idp));
    let demo = introspecting(&idp.issuer, "60", &[]);
    let http = Http::new(&demo.addr);
    let token = format!("concurrent-{}", rand_suffix());
    let before = idp.server.hits("/introspect");
    let answers = futures_join(
        (0..8)
            .map(|_| {
                let http = Http::new(&demo.addr);
                let token = token.clone();
                tokio::spawn(async move { http.get("/me", Some(&token)).await.status })
            })
            .collect(),
    )
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert_eq!(idp.server.hits("/introspect") - before, 1, "single flight");
    // Cached: no more requests.
    for _ in 0..5 {
        assert_eq!(http.get("/me", Some(&token)).await.status, 200);
    }
    assert_eq!(idp.server.hits("/introspect") - before, 1, "cached");

    // A JWT (signed, or encrypted: five segments) is never sent there.
    let jwt = idp.mint(Some("at+jwt"), &idp.claims("erin", AUDIENCE));
    let r = http.get("/me", Some(&jwt)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn";
    assert_eq!(http.get("/me", Some(jwe)).await.status, 401);
    assert_eq!(
        idp.server.hits("/introspect") - before,
        1,
        "a JWT was introspected"
    );
}

async fn futures_join(
    handles: Vec<tokio::task::JoinHandle<http::StatusCode>>,
) -> Vec<http::StatusCode> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn revocation_reaches_opaque_tokens_on_every_server() {
    let redis = RedisServer::start();
    let idp = issuer_answering(json!({"active": false})).await;
    let envs = [
        ("REDIS_URL", redis.url()),
        ("SESSION_CLIENT_ID", "my-client".to_owned()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (a, b) = (
        introspecting(&idp.issuer, "60", &envs),
        introspecting(&idp.issuer, "60", &envs),
    );
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let answer = |sub: &str, sid: Option<&str>| {
        let mut a = active(&idp, sub);
        if let Some(sid) = sid {
            a["sid"] = json!(sid);
        }
        Mode::Json(a.to_string(), None)
    };
    // Each token introspected (and cached) on both servers.
    let admit = |token: String, mode: Mode| {
        idp.server.set("/introspect", mode);
        let (ha, hb) = (&ha, &hb);
        async move {
            for http in [ha, hb] {
                let r = http.get("/me", Some(&token)).await;
                assert_eq!(r.status, 200, "{:?}", r.body);
            }
        }
    };
    let t1 = format!("frank-1-{}", rand_suffix());
    let t2 = format!("frank-2-{}", rand_suffix());
    let t3 = format!("grace-{}", rand_suffix());
    let t4 = format!("heidi-{}", rand_suffix());
    admit(t1.clone(), answer("frank", None)).await;
    admit(t2.clone(), answer("frank", None)).await;
    admit(t3.clone(), answer("grace", Some("idp-session-1"))).await;
    admit(t4.clone(), answer("heidi", None)).await;

    // A logout of one opaque token: refused on the other server, from its
    // cached answer; the user's other token stays.
    assert_eq!(ha.post("/logout", Some(&t1), "").await.status, 204);
    status_until(&hb, &t1, 401, PATIENCE).await;
    assert_eq!(hb.get("/me", Some(&t2)).await.status, 200);

    // Log-out-everywhere from an opaque token: every token of the subject
    // issued at or before it.
    assert_eq!(hb.post("/logout-all", Some(&t2), "").await.status, 204);
    status_until(&ha, &t2, 401, PATIENCE).await;

    // The provider's back-channel logout by `sid` (from the introspection
    // answer) and by `sub`: cached answers refused on both servers.
    let logout = |claims: Value| idp.mint(Some("logout+jwt"), &claims);
    let base = || {
        json!({
            "iss": idp.issuer, "aud": "my-client", "iat": now(), "exp": now() + 120,
            "jti": format!("lt-{}", rand_suffix()),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        })
    };
    let mut by_sid = base();
    by_sid["sid"] = json!("idp-session-1");
    let r = ha.back_channel_logout(&logout(by_sid)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut by_sub = base();
    by_sub["sub"] = json!("heidi");
    let r = hb.back_channel_logout(&logout(by_sub)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for http in [&ha, &hb] {
        for t in [&t3, &t4] {
            status_until(http, t, 401, PATIENCE).await;
        }
    }
}

#[test]
fn bad_introspection_settings_stop_the_server_with_one_line() {
    let issuer = "http://127.0.0.1:9/idp";
    let all = [
        ("SESSION_TRUSTED_ISSUERS", issuer),
        ("SESSION_INTROSPECTION_ISSUER", issuer),
        ("SESSION_INTROSPECTION_CLIENT_ID", "rs"),
        ("SESSION_INTROSPECTION_CLIENT_SECRET", "secret"),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        all.iter().copied().filter(|(k, _)| *k != name).collect()
    };
    let with = |extra: (&'static str, &'static str)| -> Vec<(&str, &str)> {
        let mut envs: Vec<(&str, &str)> = all.to_vec();
        envs.retain(|(k, _)| *k != extra.0);
        envs.push(extra);
        envs
    };
    for (envs, names) in [
        (
            with(("SESSION_INTROSPECTION_ISSUER", "http://127.0.0.1:9/other")),
            "SESSION_INTROSPECTION_ISSUER",
        ),
        (
            without("SESSION_TRUSTED_ISSUERS"),
            "SESSION_INTROSPECTION_ISSUER",
        ),
        (
            without("SESSION_INTROSPECTION_CLIENT_ID"),
            "SESSION_INTROSPECTION_CLIENT_ID",
        ),
        (
            without("SESSION_INTROSPECTION_CLIENT_SECRET"),
            "SESSION_INTROSPECTION_CLIENT_SECRET",
        ),
        (
            with(("SESSION_INTROSPECTION_CACHE_SECS", "1.5")),
            "SESSION_INTROSPECTION_CACHE_SECS",
        ),
        (
            with(("SESSION_INTROSPECTION_CACHE_SECS", "-1")),
            "SESSION_INTROSPECTION_CACHE_SECS",
        ),
    ] {
        let (code, _, stderr) = start_fails(&envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{envs:?}: {stderr}");
        assert!(lines[0].contains(names), "{envs:?}: {stderr}");
    }
}
