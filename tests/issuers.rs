//! The contract's "Tokens from other issuers", with real processes over
//! loopback: panva's `oidc-provider` (node) issuing RFC 9068 access tokens
//! for ES256, RS256 and EdDSA; issuers of the tests' own for Keycloak-shaped
//! tokens, key swaps between two issuers, an issuer down at start, and a
//! counting decoy that proves an untrusted `iss` causes no request; demo
//! servers sharing a real Redis for revocations.

mod common;

use std::time::{Duration, Instant};

use common::{jwks_server::Mode, provider::*, *};
use serde_json::{json, Value};

const AUDIENCE: &str = "atomic-crm-api";

fn trusting(issuers: &str, extra: &[(&str, &str)]) -> DemoServer {
    let mut envs = vec![
        ("SESSION_TRUSTED_ISSUERS", issuers),
        ("SESSION_JWKS_COOLDOWN_SECS", "1"),
    ];
    envs.extend_from_slice(extra);
    DemoServer::start(&envs)
}

#[tokio::test]
async fn a_standard_providers_access_tokens_are_accepted_for_every_algorithm() {
    let provider = OidcProvider::start(0, AUDIENCE);
    let demo = trusting(&provider.issuer, &[]);
    let http = Http::new(&demo.addr);
    for (client, alg) in [
        ("cc-es256", "ES256"),
        ("cc-rs256", "RS256"),
        ("cc-eddsa", "EdDSA"),
    ] {
        let token = provider.client_credentials(client, "api:read admin").await;
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "at+jwt");
        let me = status_until_json(&http, &token).await;
        assert_eq!(me["iss"], provider.issuer);
        assert_eq!(me["sub"], client);
        assert_eq!(me["userId"], client);
        assert_eq!(me["clientId"], client);
        assert_eq!(me["permissions"], json!(["api:read", "admin"]));
        assert_eq!(me["claims"]["scope"], "api:read admin");
        assert_eq!(me["claims"]["client_id"], client);
        assert!(me.get("email").is_none(), "{me}");
        assert_eq!(http.get("/admin", Some(&token)).await.status, 200, "{alg}");

        // Without `admin` in the scope: 403.
        let reader = provider.client_credentials(client, "api:read").await;
        let r = http.get("/admin", Some(&reader)).await;
        assert_eq!(r.status, 403, "{alg}");
        assert_eq!(r.challenge(), Some(r#"Bearer error="insufficient_scope""#));
        assert_eq!(http.get("/me", Some(&reader)).await.status, 200);

        // Refresh is for tokens minted here.
        let r = http.post("/refresh", Some(&token), "").await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.json()["error"], "invalid_request");

        // A user's token by the authorization code flow: the user's claims;
        // the permissions are the granted scopes, never the user's roles
        // (`roles`, `realm_access.roles`) unless listed.
        let (access, id_token) =
            provider.authorization_code(client, "alice", "openid email api:read admin");
        let me = status_until_json(&http, &access).await;
        assert_eq!(me["sub"], "alice");
        assert_eq!(me["email"], "alice@example.com");
        assert_eq!(me["clientId"], client);
        assert_eq!(me["permissions"], json!(["api:read", "admin"]));
        assert_eq!(http.get("/admin", Some(&access)).await.status, 200);
        // Its ID token is not an access token (audience: the client; nonce).
        let r = http.get("/me", Some(&id_token)).await;
        assert_eq!(r.status, 401, "{alg}: the ID token was accepted");
    }
    // The demo server's own tokens keep working beside them.
    let (own, _) = http.login("admin@example.com", "admin-password").await;
    let me = http.get("/me", Some(&own)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], "admin@example.com");
    assert!(me.json().get("claims").is_none());

    // `SESSION_REQUIRE_AT_JWT=1` still accepts them; a plain `JWT` of a
    // trusted issuer is refused then.
    let strict = trusting(&provider.issuer, &[("SESSION_REQUIRE_AT_JWT", "1")]);
    let hs = Http::new(&strict.addr);
    let token = provider.client_credentials("cc-es256", "api:read").await;
    status_until_json(&hs, &token).await;
}

/// Polls `/me` until 200 (the issuer's keys may still be on their way) and
/// returns its JSON.
async fn status_until_json(http: &Http, token: &str) -> Value {
    status_until(http, token, 200, Duration::from_secs(10)).await;
    http.get("/me", Some(token)).await.json()
}

#[tokio::test]
async fn keycloak_shaped_tokens_map_nested_roles_and_refuse_what_is_not_an_access_token() {
    let idp = TestIssuer::start("p256.pem").await;
    let demo = trusting(&idp.issuer, &[]);
    let http = Http::new(&demo.addr);

    let mut claims = idp.claims("kc-user", AUDIENCE);
    claims["realm_access"] = json!({"roles": ["admin", "offline_access"]});
    claims["resource_access"] = json!({"atomic-crm-api": {"roles": ["auditor"]}});
    claims["scope"] = json!("openid email");
    claims["email"] = json!("kc@example.com");
    claims["preferred_username"] = json!("kc");
    let token = idp.mint(Some("JWT"), &claims);
    let me = status_until_json(&http, &token).await;
    // By default, the granted scopes only: the user's role `admin` does not
    // stand in for the scope `admin`.
    assert_eq!(me["permissions"], json!(["openid", "email"]));
    assert_eq!(me["email"], "kc@example.com");
    assert_eq!(me["claims"]["preferred_username"], "kc");
    assert_eq!(http.get("/admin", Some(&token)).await.status, 403);
    // Roles listed: each as `role:NAME` (every client's with `*`), still
    // never the scope `admin`.
    let with_roles = trusting(
        &idp.issuer,
        &[(
            "SESSION_PERMISSION_CLAIMS",
            "scope realm_access.roles resource_access.*.roles",
        )],
    );
    let hr = Http::new(&with_roles.addr);
    let me = status_until_json(&hr, &token).await;
    assert_eq!(
        me["permissions"],
        json!([
            "openid",
            "email",
            "role:admin",
            "role:offline_access",
            "role:auditor"
        ])
    );
    assert_eq!(hr.get("/admin", Some(&token)).await.status, 403);
    // A mapped claim of the wrong type refuses the token (where it is read).
    let mut bad_roles = idp.claims("u", AUDIENCE);
    bad_roles["realm_access"] = json!({"roles": [1, 2]});
    let bad_roles = idp.mint(None, &bad_roles);
    assert_eq!(hr.get("/me", Some(&bad_roles)).await.status, 401);
    assert_eq!(http.get("/me", Some(&bad_roles)).await.status, 200);
    let mut scoped = claims.clone();
    scoped["scope"] = json!("openid admin");
    let scoped = idp.mint(Some("JWT"), &scoped);
    assert_eq!(http.get("/admin", Some(&scoped)).await.status, 200);

    // A session token minted here bound to a key (`cnf`): never as Bearer.
    let mut own = common::claims();
    own["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
    let r = http.get("/me", Some(&sign(&own))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some(r#"Bearer error="invalid_token""#));
    own.as_object_mut().unwrap().remove("cnf");
    assert_eq!(http.get("/me", Some(&sign(&own))).await.status, 200);

    // Another mapping: the client's roles only, so no `admin`.
    let narrow = trusting(
        &idp.issuer,
        &[(
            "SESSION_PERMISSION_CLAIMS",
            "resource_access.atomic-crm-api.roles",
        )],
    );
    let hn = Http::new(&narrow.addr);
    let me = status_until_json(&hn, &token).await;
    assert_eq!(me["permissions"], json!(["role:auditor"]));
    assert_eq!(hn.get("/admin", Some(&token)).await.status, 403);

    // Each of these is refused with 401 invalid_token.
    let now = now();
    let mut cases: Vec<(&str, String)> = Vec::new();
    for typ in ["logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt"] {
        cases.push((typ, idp.mint(Some(typ), &idp.claims("u", AUDIENCE))));
    }
    let mut id_token = idp.claims("u", "the-client-id");
    cases.push(("ID token (audience)", idp.mint(Some("JWT"), &id_token)));
    id_token["aud"] = json!(AUDIENCE);
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    cases.push(("ID token (nonce)", idp.mint(None, &id_token)));
    let mut logout = idp.claims("u", AUDIENCE);
    logout["events"] = json!({"http://schemas.openid.net/event/backchannel-logout": {}});
    cases.push(("logout token without typ", idp.mint(None, &logout)));
    let mut expired = idp.claims("u", AUDIENCE);
    expired["exp"] = json!(now - 60);
    cases.push(("expired", idp.mint(None, &expired)));
    let mut no_sub = idp.claims("u", AUDIENCE);
    no_sub.as_object_mut().unwrap().remove("sub");
    cases.push(("no sub", idp.mint(None, &no_sub)));
    let mut bad_scope = idp.claims("u", AUDIENCE);
    bad_scope["scope"] = json!(42);
    cases.push(("scope of the wrong type", idp.mint(None, &bad_scope)));
    let mut bound = idp.claims("u", AUDIENCE);
    bound["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
    cases.push((
        "bound to a key, as Bearer",
        idp.mint(Some("at+jwt"), &bound),
    ));
    let mut future = idp.claims("u", AUDIENCE);
    future["iat"] = json!(now + 3600);
    cases.push(("issued in the future", idp.mint(None, &future)));
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut tampered = claims.clone();
    tampered["realm_access"] = json!({"roles": ["superuser"]});
    let forged = format!("{head}.{}.{sig}", b64(&tampered.to_string()));
    cases.push(("forged", forged));
    for (what, bad) in cases {
        let r = http.get("/me", Some(&bad)).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert_eq!(
            r.challenge(),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );
    }
}

#[tokio::test]
async fn an_untrusted_issuer_is_refused_without_any_request() {
    let trusted = TestIssuer::start("p256.pem").await;
    let decoy = TestIssuer::start("p256-other.pem").await;
    let demo = trusting(&trusted.issuer, &[]);
    let http = Http::new(&demo.addr);
    // The trusted issuer works (its keys fetched once).
    let ok = trusted.mint(Some("at+jwt"), &trusted.claims("u", AUDIENCE));
    status_until_json(&http, &ok).await;

    // Tokens naming the decoy (signed by the decoy's own key, with kids
    // never seen): 401, and the decoy sees nothing.
    for i in 0..50 {
        let token = decoy.mint_as(
            &format!("kid-{i}"),
            Some("at+jwt"),
            &decoy.claims("u", AUDIENCE),
        );
        let r = http.get("/me", Some(&token)).await;
        assert_eq!(r.status, 401);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(decoy.server.hits("/.well-known/openid-configuration"), 0);
    assert_eq!(decoy.server.hits("/jwks"), 0);
}

#[tokio::test]
async fn two_issuers_keep_their_keys_apart_and_one_down_at_start_does_not_stop_the_other() {
    let a = TestIssuer::start("p256.pem").await;
    let b = TestIssuer::start("p256-other.pem").await;
    // `b` does not answer at first.
    b.server
        .set("/.well-known/openid-configuration", Mode::Status(503));
    let demo = trusting(&format!("{}, {}", a.issuer, b.issuer), &[]);
    let http = Http::new(&demo.addr);

    let token_a = a.mint(Some("at+jwt"), &a.claims("alice", AUDIENCE));
    let token_b = b.mint(Some("at+jwt"), &b.claims("bob", AUDIENCE));
    status_until_json(&http, &token_a).await;
    let r = http.get("/me", Some(&token_b)).await;
    assert_eq!(r.status, 503, "{:?}", r.body);

    // `b` comes up: its tokens are accepted once its keys arrive (retried
    // with backoff from 1 s).
    b.server.set(
        "/.well-known/openid-configuration",
        Mode::Json(
            json!({"issuer": b.issuer, "jwks_uri": b.server.url("/jwks")}).to_string(),
            None,
        ),
    );
    let waited = status_until(&http, &token_b, 200, Duration::from_secs(10)).await;
    eprintln!("issuer b accepted {waited:?} after it came up");

    // A token naming `a` signed with `b`'s key (under `b`'s kid, or under
    // `a`'s kid): refused. Each issuer's keys verify its own tokens only.
    let claims_a = a.claims("mallory", AUDIENCE);
    for token in [
        b.mint(Some("at+jwt"), &claims_a),
        b.mint_as(&a.kid, Some("at+jwt"), &claims_a),
    ] {
        assert_eq!(http.get("/me", Some(&token)).await.status, 401);
    }
    // The same subject at two issuers is two users: a log-out-everywhere
    // at one leaves the other.
    let alice_b = b.mint(Some("at+jwt"), &b.claims("alice", AUDIENCE));
    assert_eq!(http.get("/me", Some(&alice_b)).await.status, 200);
    assert_eq!(
        http.post("/logout-all", Some(&token_a), "").await.status,
        204
    );
    assert_eq!(http.get("/me", Some(&token_a)).await.status, 401);
    assert_eq!(http.get("/me", Some(&alice_b)).await.status, 200);
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_followed() {
    let provider = OidcProvider::start(0, AUDIENCE);
    let port = provider.port;
    let demo = trusting(&provider.issuer, &[]);
    let http = Http::new(&demo.addr);
    let before = provider.client_credentials("cc-es256", "api:read").await;
    status_until_json(&http, &before).await;

    // Restarted on the same port with fresh keys.
    provider.stop();
    let provider = OidcProvider::start(port, AUDIENCE);
    let after = provider.client_credentials("cc-es256", "api:read").await;
    let started = Instant::now();
    let r = http.get("/me", Some(&after)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    eprintln!("new key accepted in {:?}", started.elapsed());
    // The old key is gone from the set: its tokens stop verifying.
    assert_eq!(http.get("/me", Some(&before)).await.status, 401);
}

#[tokio::test]
async fn a_provider_token_revoked_on_one_server_is_refused_on_another() {
    let redis = RedisServer::start();
    let provider = OidcProvider::start(0, AUDIENCE);
    let url = redis.url();
    let a = trusting(&provider.issuer, &[("REDIS_URL", &url)]);
    let b = trusting(&provider.issuer, &[("REDIS_URL", &url)]);
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));

    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let token = provider.client_credentials("cc-es256", "api:read").await;
        status_until_json(&ha, &token).await;
        status_until_json(&hb, &token).await;
        // A 503 promises nothing (the store did not answer in time on a
        // loaded machine): the client asks again, as a client would.
        let deadline = Instant::now() + PATIENCE;
        let mut logout = ha.post("/logout", Some(&token), "").await.status;
        while logout == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            logout = ha.post("/logout", Some(&token), "").await.status;
        }
        assert_eq!(logout, 204);
        let took = status_until(&hb, &token, 401, PATIENCE).await;
        worst = worst.max(took);
        assert_eq!(ha.get("/me", Some(&token)).await.status, 401);
    }
    eprintln!("logout on a refused on b within {worst:?} (worst of 5)");

    // Log out everywhere: every token of that issuer and subject issued
    // up to the presented one, on both servers; a token issued later (next
    // second) works.
    // `two` first: a log-out-everywhere with `one` ends the tokens issued
    // at or before it (in the issuer's clock), never later ones.
    let two = provider
        .client_credentials("cc-rs256", "api:read admin")
        .await;
    let one = provider.client_credentials("cc-rs256", "api:read").await;
    status_until_json(&hb, &two).await;
    assert_eq!(ha.post("/logout-all", Some(&one), "").await.status, 204);
    status_until(&hb, &two, 401, PATIENCE).await;
    assert_eq!(ha.get("/me", Some(&one)).await.status, 401);
    // Another subject of the same issuer is untouched.
    let other = provider.client_credentials("cc-eddsa", "api:read").await;
    assert_eq!(status_until_json(&hb, &other).await["sub"], "cc-eddsa");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = provider.client_credentials("cc-rs256", "api:read").await;
    status_until_json(&hb, &later).await;
}

#[test]
fn bad_trusted_issuer_values_stop_the_server() {
    for (envs, needle) in [
        (
            vec![("SESSION_TRUSTED_ISSUERS", "not a url")],
            "SESSION_TRUSTED_ISSUERS",
        ),
        (
            vec![("SESSION_TRUSTED_ISSUERS", "ftp://idp.example.com")],
            "SESSION_TRUSTED_ISSUERS",
        ),
        (
            vec![("SESSION_TRUSTED_ISSUERS", " , ")],
            "SESSION_TRUSTED_ISSUERS",
        ),
        (
            vec![
                ("SESSION_TRUSTED_ISSUERS", "http://127.0.0.1:1"),
                ("SESSION_PERMISSION_CLAIMS", "a..b"),
            ],
            "SESSION_PERMISSION_CLAIMS",
        ),
        (
            vec![
                ("SESSION_TRUSTED_ISSUERS", "http://127.0.0.1:1"),
                ("SESSION_REQUIRE_AT_JWT", "yes"),
            ],
            "SESSION_REQUIRE_AT_JWT",
        ),
        (
            vec![("SESSION_TRUSTED_ISSUERS", "atomic-crm")],
            "SESSION_TRUSTED_ISSUERS",
        ),
    ] {
        let mut envs = envs;
        envs.push(("SESSION_SECRET", SECRET));
        let (code, _, stderr) = start_fails(&envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{envs:?}: {stderr}");
    }
}

#[tokio::test]
async fn the_jwks_url_form_takes_that_issuers_access_tokens_and_its_logouts() {
    // `SESSION_JWKS_URL` with `SESSION_ISSUER`: the one-issuer form.
    let idp = TestIssuer::start("p256.pem").await;
    let jwks = idp.server.url("/jwks");
    let demo = DemoServer::start(&[
        ("SESSION_ALGORITHM", "ES256"),
        ("SESSION_JWKS_URL", &jwks),
        ("SESSION_ISSUER", &idp.issuer),
        ("SESSION_CLIENT_ID", "my-client"),
    ]);
    let http = Http::new(&demo.addr);
    let mut claims = idp.claims("carol", AUDIENCE);
    claims["scope"] = json!("admin");
    let token = idp.mint(Some("at+jwt"), &claims);
    let me = status_until_json(&http, &token).await;
    assert_eq!(me["sub"], "carol");
    assert_eq!(me["iss"], idp.issuer);
    assert_eq!(me["claims"]["client_id"], "test-client");
    assert_eq!(http.get("/admin", Some(&token)).await.status, 200);
    // A session token of that issuer (the seed's shape) is still the
    // manager's own: the seed's JSON.
    let mut seed = idp.claims("u-9", AUDIENCE);
    seed["userId"] = json!("u-9");
    seed["email"] = json!("u9@example.com");
    let own = idp.mint(None, &seed);
    let me = http.get("/me", Some(&own)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json()["userId"], "u-9");
    assert!(me.json().get("claims").is_none());
    // Its logouts are received.
    let logout = idp.mint(
        Some("logout+jwt"),
        &json!({"iss": idp.issuer, "aud": "my-client", "iat": now(), "exp": now() + 120, "jti": "l-1", "sub": "carol",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    );
    let r = http
        .send(
            http::Method::POST,
            "/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            &format!("logout_token={logout}"),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(http.get("/me", Some(&token)).await.status, 401);
    assert_eq!(http.get("/me", Some(&own)).await.status, 200);
}
