//! The contract's "Revocation from the identity provider", with real
//! processes over loopback: panva's `oidc-provider` logging a user out over
//! Back-Channel Logout to one of two demo servers sharing a real Redis;
//! logout tokens and Security Event Tokens (CAEP, RISC) from an issuer of
//! the tests' own, every bad kind refused; the time from a receiver's
//! answer to the token's refusal on the other server.

mod common;

use std::time::{Duration, Instant};

use common::{provider::*, *};
use http::Method;
use serde_json::{json, Value};

const AUDIENCE: &str = "atomic-crm-api";
const BCL: &str = "http://schemas.openid.net/event/backchannel-logout";

fn pair(issuer: &str, redis: &str, client_id: &str) -> (DemoServer, DemoServer) {
    let envs = [
        ("SESSION_TRUSTED_ISSUERS", issuer),
        ("SESSION_JWKS_COOLDOWN_SECS", "1"),
        ("SESSION_CLIENT_ID", client_id),
        ("REDIS_URL", redis),
    ];
    (DemoServer::start(&envs), DemoServer::start(&envs))
}

async fn back_channel(http: &Http, token: &str) -> Reply {
    http.back_channel_logout(token).await
}

async fn push(http: &Http, set: &str) -> Reply {
    http.send(
        Method::POST,
        "/ssf/events",
        &[("content-type", "application/secevent+jwt")],
        set,
    )
    .await
}

#[tokio::test]
async fn a_logout_at_the_provider_reaches_every_server() {
    let redis = RedisServer::start();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    // The servers first (the provider registers one of them as its client's
    // back-channel logout URI): they wait for the provider's keys.
    let (a, b) = pair(&issuer, &redis.url(), "cc-es256");
    let backchannel = format!("http://{}/backchannel-logout", a.addr);
    let provider =
        OidcProvider::start_with(port, AUDIENCE, &[("BACKCHANNEL_URI", backchannel.as_str())]);
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));

    let login = provider.log_in("cc-es256", "alice", "openid email api:read", true);
    let other = provider.authorization_code("cc-es256", "bob", "openid api:read");
    for http in [&ha, &hb] {
        status_until(http, &login.access_token, 200, Duration::from_secs(10)).await;
        status_until(http, &other.0, 200, Duration::from_secs(10)).await;
    }
    let token = login.access_token.clone();
    login.log_out();
    // The provider posted its own logout token to `a` before the logout page
    // answered; `b` refuses the token too.
    status_until(&ha, &token, 401, PATIENCE).await;
    status_until(&hb, &token, 401, PATIENCE).await;
    assert_eq!(hb.get("/me", Some(&other.0)).await.status, 200);
    // A new login of the same user after the logout works.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = provider.authorization_code("cc-es256", "alice", "openid api:read");
    assert_eq!(hb.get("/me", Some(&again.0)).await.status, 200);
}

/// A logout token of `idp` for `client`.
fn logout_claims(idp: &TestIssuer, client: &str) -> Value {
    json!({
        "iss": idp.issuer, "aud": client, "iat": now(), "exp": now() + 120,
        "jti": format!("lt-{}", rand_suffix()), "events": {BCL: {}},
    })
}

#[tokio::test]
async fn back_channel_logout_tokens_are_checked_as_the_specification_says() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let idp = TestIssuer::start("p256.pem").await;
    let other_idp = TestIssuer::start("p256-other.pem").await;
    let (a, b) = pair(&idp.issuer, &redis.url(), "my-client");
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));

    let access = |sub: &str, sid: &str| {
        let mut c = idp.claims(sub, AUDIENCE);
        c["sid"] = json!(sid);
        idp.mint(Some("at+jwt"), &c)
    };
    let s1 = access("alice", "sid-1");
    let s2 = access("alice", "sid-2");
    let bob = access("bob", "sid-3");
    for t in [&s1, &s2, &bob] {
        status_until(&hb, t, 200, Duration::from_secs(10)).await;
    }

    // Every kind of bad logout token: 400 invalid_request, nothing changes.
    let good = |f: &dyn Fn(&mut Value)| {
        let mut c = logout_claims(&idp, "my-client");
        c["sid"] = json!("sid-1");
        f(&mut c);
        c
    };
    let mut bad: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| c["aud"] = json!("another-client")),
            ),
        ),
        (
            "untrusted issuer",
            other_idp.mint(Some("logout+jwt"), &{
                let mut c = logout_claims(&other_idp, "my-client");
                c["sid"] = json!("sid-1");
                c
            }),
        ),
        (
            "no events",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| {
                    c.as_object_mut().unwrap().remove("events");
                }),
            ),
        ),
        (
            "other event",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| c["events"] = json!({"urn:other": {}})),
            ),
        ),
        (
            "nonce",
            idp.mint(Some("logout+jwt"), &good(&|c| c["nonce"] = json!("n"))),
        ),
        (
            "neither sid nor sub",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| {
                    c.as_object_mut().unwrap().remove("sid");
                }),
            ),
        ),
        (
            "no iat",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
            ),
        ),
        (
            "10 minutes old",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| c["iat"] = json!(now() - 600)),
            ),
        ),
        (
            "in the future",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| c["iat"] = json!(now() + 600)),
            ),
        ),
        (
            "expired",
            idp.mint(Some("logout+jwt"), &good(&|c| c["exp"] = json!(now() - 60))),
        ),
        (
            "no jti (REQUIRED, §2.4)",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
        ),
        (
            "no exp (REQUIRED, §2.4)",
            idp.mint(
                Some("logout+jwt"),
                &good(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        ("typ JWT", idp.mint(Some("JWT"), &good(&|_| {}))),
        ("typ at+jwt", idp.mint(Some("at+jwt"), &good(&|_| {}))),
        ("an access token", s2.clone()),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    let signed = idp.mint(Some("logout+jwt"), &good(&|_| {}));
    let (head, rest) = signed.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered = good(&|c| c["sid"] = json!("sid-2"));
    bad.push((
        "bad signature",
        format!("{head}.{}.{sig}", b64(&tampered.to_string())),
    ));
    for (what, token) in &bad {
        let r = back_channel(&ha, token).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.body);
        assert_eq!(r.json()["error"], "invalid_request", "{what}");
    }
    let r = ha
        .send(
            Method::POST,
            "/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            "x=1",
        )
        .await;
    assert_eq!(r.status, 400);
    for t in [&s1, &s2, &bob] {
        assert_eq!(hb.get("/me", Some(t)).await.status, 200);
    }
    // A logout token is never a Bearer token.
    let r = ha.get("/me", Some(&signed)).await;
    assert_eq!(r.status, 401);

    // With `sid` (and `sub`): that provider session only, on both servers.
    let mut c = good(&|_| {});
    c["sub"] = json!("alice");
    let logout = idp.mint(Some("logout+jwt"), &c);
    let r = back_channel(&ha, &logout).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    status_until(&hb, &s1, 401, PATIENCE).await;
    assert_eq!(hb.get("/me", Some(&s2)).await.status, 200);
    // Replayed: 200, nothing more.
    assert_eq!(back_channel(&ha, &logout).await.status, 200);
    assert_eq!(back_channel(&hb, &logout).await.status, 200);
    assert_eq!(hb.get("/me", Some(&s2)).await.status, 200);

    // With `sub` alone: every token of the subject issued until its `iat`.
    let mut c = logout_claims(&idp, "my-client");
    c["sub"] = json!("alice");
    assert_eq!(back_channel(&hb, &idp.mint(None, &c)).await.status, 200);
    status_until(&ha, &s2, 401, PATIENCE).await;
    assert_eq!(ha.get("/me", Some(&bob)).await.status, 200);

    // Acknowledged means kept: after a Redis restart both logouts are still
    // in force on both servers, and the untouched token works again.
    redis.restart();
    for http in [&ha, &hb] {
        status_until(http, &bob, 200, Duration::from_secs(10)).await;
        assert_eq!(http.get("/me", Some(&s1)).await.status, 401);
        assert_eq!(http.get("/me", Some(&s2)).await.status, 401);
    }
}

#[tokio::test]
async fn security_events_revoke_what_they_name_and_bad_ones_get_rfc_8935_errors() {
    let redis = RedisServer::start();
    let idp = TestIssuer::start("p256.pem").await;
    let other_idp = TestIssuer::start("p256-other.pem").await;
    let (a, b) = pair(&idp.issuer, &redis.url(), "my-client");
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let access = |sub: &str, sid: &str, email: &str| {
        let mut c = idp.claims(sub, AUDIENCE);
        c["sid"] = json!(sid);
        c["email"] = json!(email);
        idp.mint(Some("at+jwt"), &c)
    };
    let set = |events: Value, sub_id: Option<Value>| {
        let mut c = json!({
            "iss": idp.issuer, "aud": "my-client", "iat": now(),
            "jti": format!("set-{}", rand_suffix()), "events": events,
        });
        if let Some(s) = sub_id {
            c["sub_id"] = s;
        }
        idp.mint(Some("secevent+jwt"), &c)
    };
    let iss_sub = |sub: &str| json!({"format": "iss_sub", "iss": idp.issuer, "sub": sub});
    const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
    const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

    // Once the issuer's keys are in (the servers start before them).
    let t = access("u-ver", "s-ver", "ver@example.com");
    status_until(&ha, &t, 200, Duration::from_secs(10)).await;
    status_until(&hb, &t, 200, Duration::from_secs(10)).await;

    // Bad SETs.
    let mut claims = json!({"iss": idp.issuer, "aud": "my-client", "iat": now(), "jti": "j-bad",
                            "events": {format!("{CAEP}session-revoked"): {"subject": iss_sub("u")}}});
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong aud",
            idp.mint(Some("secevent+jwt"), &{
                let mut c = claims.clone();
                c["aud"] = json!("x");
                c
            }),
            "invalid_audience",
        ),
        (
            "untrusted issuer",
            other_idp.mint(Some("secevent+jwt"), &{
                let mut c = claims.clone();
                c["iss"] = json!(other_idp.issuer);
                c
            }),
            "invalid_issuer",
        ),
        (
            "a key of another issuer",
            other_idp.mint(Some("secevent+jwt"), &claims),
            "invalid_key",
        ),
        (
            "no events",
            idp.mint(Some("secevent+jwt"), &{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("events");
                c
            }),
            "invalid_request",
        ),
        (
            "no jti",
            idp.mint(Some("secevent+jwt"), &{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("jti");
                c
            }),
            "invalid_request",
        ),
        ("typ JWT", idp.mint(Some("JWT"), &claims), "invalid_request"),
        ("no typ", idp.mint(None, &claims), "invalid_request"),
        (
            "a logout token",
            idp.mint(Some("logout+jwt"), &claims),
            "invalid_request",
        ),
    ];
    for (what, token, code) in cases {
        let r = push(&ha, &token).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.body);
        assert_eq!(r.json()["err"], code, "{what}");
        assert!(r.json()["description"].is_string());
    }
    let r = ha
        .send(
            Method::POST,
            "/ssf/events",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["err"].clone()),
        (400, json!("invalid_request"))
    );
    claims["jti"] = json!("unused");

    // Verification and unknown events: 202, no effect.
    for events in [
        json!({"https://schemas.openid.net/secevent/ssf/event-type/verification": {"state": "x"}}),
        json!({"urn:example:unknown": {"subject": iss_sub("u-ver")}}),
    ] {
        assert_eq!(push(&ha, &set(events, None)).await.status, 202);
    }
    assert_eq!(hb.get("/me", Some(&t)).await.status, 200);

    // CAEP session-revoked with a session: that session only.
    let (s1, s2) = (
        access("u1", "sess-1", "u1@example.com"),
        access("u1", "sess-2", "u1@example.com"),
    );
    status_until(&hb, &s1, 200, PATIENCE).await;
    let subject = json!({"format": "complex", "user": iss_sub("u1"),
                         "session": {"format": "opaque", "id": "sess-1"}});
    let r = push(
        &ha,
        &set(
            json!({format!("{CAEP}session-revoked"): {"subject": subject}}),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    status_until(&hb, &s1, 401, PATIENCE).await;
    assert_eq!(hb.get("/me", Some(&s2)).await.status, 200);
    // Without a session: the subject everywhere (subject in `sub_id`).
    let r = push(
        &ha,
        &set(
            json!({format!("{CAEP}session-revoked"): {}}),
            Some(iss_sub("u1")),
        ),
    )
    .await;
    assert_eq!(r.status, 202);
    status_until(&hb, &s2, 401, PATIENCE).await;

    // credential-change, account-disabled (by e-mail), sessions-revoked
    // (opaque subject): the subject everywhere up to the event time.
    for (i, (kind, subject)) in [
        (format!("{CAEP}credential-change"), iss_sub("u2")),
        (
            format!("{RISC}account-disabled"),
            json!({"format": "email", "email": "u3@example.com"}),
        ),
        (
            format!("{RISC}sessions-revoked"),
            json!({"format": "opaque", "id": "u4"}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let n = i + 2;
        let victim = access(
            &format!("u{n}"),
            &format!("v{n}"),
            &format!("u{n}@example.com"),
        );
        let bystander = access(
            &format!("w{n}"),
            &format!("w{n}"),
            &format!("w{n}@example.com"),
        );
        status_until(&hb, &victim, 200, PATIENCE).await;
        let event = json!({"event_timestamp": now(), "subject": subject});
        let r = push(&ha, &set(json!({kind.clone(): event}), None)).await;
        assert_eq!(r.status, 202, "{kind}: {:?}", r.body);
        status_until(&hb, &victim, 401, PATIENCE).await;
        assert_eq!(hb.get("/me", Some(&bystander)).await.status, 200, "{kind}");
    }

    // Replayed jti: 202, nothing more.
    let once = set(
        json!({format!("{RISC}sessions-revoked"): {"subject": iss_sub("nobody")}}),
        None,
    );
    assert_eq!(push(&ha, &once).await.status, 202);
    assert_eq!(push(&ha, &once).await.status, 202);

    // From a receiver's 202 to the token's refusal on the other server,
    // over 200 events, and the receiver's rate (one sender, in sequence).
    let mut latencies = Vec::new();
    let mut receiver_time = Duration::ZERO;
    for i in 0..200 {
        let sub = format!("lat-{i}");
        let t = access(&sub, &format!("sl-{i}"), &format!("{sub}@example.com"));
        assert_eq!(hb.get("/me", Some(&t)).await.status, 200);
        let event = set(
            json!({format!("{RISC}account-disabled"): {"subject": iss_sub(&sub)}}),
            None,
        );
        let sent = Instant::now();
        let r = push(&ha, &event).await;
        let answered = Instant::now();
        receiver_time += answered - sent;
        assert_eq!(r.status, 202);
        loop {
            if hb.get("/me", Some(&t)).await.status == 401 {
                break;
            }
            assert!(
                answered.elapsed() < PATIENCE,
                "event {i} not in force on b within {PATIENCE:?}"
            );
        }
        latencies.push(answered.elapsed());
    }
    latencies.sort();
    eprintln!(
        "202 on a -> 401 on b over 200 events: p50 {:?}, p99 {:?}, max {:?}; receiver {:.0} events/s in sequence",
        latencies[100],
        latencies[197],
        latencies[199],
        200.0 / receiver_time.as_secs_f64()
    );
}

/// A logout names its provider session and its subject; the provider's
/// access tokens carry no `sid` (oidc-provider's RFC 9068 tokens, many
/// others'): those tokens of that subject issued up to the logout token's
/// `iat` are refused too, so that a logout is never a silent no-op; tokens
/// of the subject's other provider sessions, and tokens issued after the
/// logout, are not. With `sub` alone, the cut-off is the logout token's
/// `iat`, not its arrival, and replaying it changes nothing.
#[tokio::test]
async fn logouts_reach_tokens_without_sid_and_cut_off_at_the_logout_tokens_iat() {
    let redis = RedisServer::start();
    let idp = TestIssuer::start("p256.pem").await;
    let (a, b) = pair(&idp.issuer, &redis.url(), "my-client");
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let at = |sub: &str, iat: i64, sid: Option<&str>| {
        let mut c = idp.claims(sub, AUDIENCE);
        c["iat"] = json!(iat);
        if let Some(sid) = sid {
            c["sid"] = json!(sid);
        }
        idp.mint(Some("at+jwt"), &c)
    };
    let t = now();
    let no_sid = at("carol", t - 5, None);
    let other_session = at("carol", t - 5, Some("sid-other"));
    status_until(&hb, &no_sid, 200, PATIENCE).await;
    status_until(&hb, &other_session, 200, PATIENCE).await;

    // sid + sub, iat t-3: the token without sid (iat t-5) is refused on both
    // servers; the other provider session's token is not.
    let mut c = logout_claims(&idp, "my-client");
    c["sid"] = json!("sid-gone");
    c["sub"] = json!("carol");
    c["iat"] = json!(t - 3);
    let r = back_channel(&ha, &idp.mint(Some("logout+jwt"), &c)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    status_until(&hb, &no_sid, 401, PATIENCE).await;
    assert_eq!(ha.get("/me", Some(&no_sid)).await.status, 401);
    assert_eq!(hb.get("/me", Some(&other_session)).await.status, 200);
    // A token without sid issued after the logout token's iat is not.
    let later = at("carol", t - 1, None);
    assert_eq!(hb.get("/me", Some(&later)).await.status, 200);

    // sub alone, iat t-3: tokens issued at or before t-3 are refused,
    // tokens issued after it (t-2, and now) are not, although the logout
    // arrived after them.
    let before = at("dave", t - 4, Some("s-d"));
    let after = at("dave", t - 2, Some("s-d2"));
    let fresh = at("dave", now(), None);
    for token in [&before, &after, &fresh] {
        status_until(&hb, token, 200, PATIENCE).await;
    }
    let mut c = logout_claims(&idp, "my-client");
    c["sub"] = json!("dave");
    c["iat"] = json!(t - 3);
    let logout = idp.mint(Some("logout+jwt"), &c);
    assert_eq!(back_channel(&ha, &logout).await.status, 200);
    status_until(&hb, &before, 401, PATIENCE).await;
    for token in [&after, &fresh] {
        assert_eq!(hb.get("/me", Some(token)).await.status, 200);
        assert_eq!(ha.get("/me", Some(token)).await.status, 200);
    }
    // Replayed on the other server (its own replay memory has not seen
    // it): 200, and still nothing issued after its iat is refused.
    assert_eq!(back_channel(&hb, &logout).await.status, 200);
    let newest = at("dave", now(), None);
    for token in [&after, &fresh, &newest] {
        assert_eq!(hb.get("/me", Some(token)).await.status, 200);
    }
}

/// A Security Event Token is about its own issuer's subjects only: an
/// `iss_sub` subject naming another trusted issuer is 400 and revokes
/// nothing there. Events cut off at their time, never past their arrival:
/// a login after an event (even one dated in the future) works, and a
/// replayed event changes nothing.
#[tokio::test]
async fn security_events_stay_within_their_issuer_and_their_time() {
    let redis = RedisServer::start();
    let idp = TestIssuer::start("p256.pem").await;
    let other = TestIssuer::start("p256-other.pem").await;
    let issuers = format!("{} {}", idp.issuer, other.issuer);
    let envs = [
        ("SESSION_TRUSTED_ISSUERS", issuers.as_str()),
        ("SESSION_JWKS_COOLDOWN_SECS", "1"),
        ("SESSION_CLIENT_ID", "my-client"),
        ("REDIS_URL", &redis.url()),
    ];
    let (a, b) = (DemoServer::start(&envs), DemoServer::start(&envs));
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
    let set = |from: &TestIssuer, subject: Value, at: Option<i64>| {
        let mut event = json!({ "subject": subject });
        if let Some(at) = at {
            event["event_timestamp"] = json!(at);
        }
        from.mint(
            Some("secevent+jwt"),
            &json!({"iss": from.issuer, "aud": "my-client", "iat": now(),
                    "jti": format!("set-{}", rand_suffix()), "events": {RISC: event}}),
        )
    };
    let token = |of: &TestIssuer, sub: &str, iat: i64| {
        let mut c = of.claims(sub, AUDIENCE);
        c["iat"] = json!(iat);
        c["email"] = json!(format!("{sub}@example.com"));
        of.mint(Some("at+jwt"), &c)
    };
    let t = now();
    let victim = token(&other, "erin", t - 5);
    let own = token(&idp, "erin", t - 5);
    status_until(&hb, &victim, 200, PATIENCE).await;
    status_until(&hb, &own, 200, PATIENCE).await;

    // idp's SET naming other's subject (in a future time, too): 400
    // invalid_request, nothing revoked anywhere.
    for subject in [
        json!({"format": "iss_sub", "iss": other.issuer, "sub": "erin"}),
        json!({"format": "complex",
               "user": {"format": "iss_sub", "iss": other.issuer, "sub": "erin"}}),
    ] {
        let r = push(&ha, &set(&idp, subject, Some(now() + 3600))).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.json()["err"], "invalid_request");
    }
    // By e-mail: within the sender's issuer only.
    let r = push(
        &ha,
        &set(
            &idp,
            json!({"format": "email", "email": "erin@example.com"}),
            Some(t - 3),
        ),
    )
    .await;
    assert_eq!(r.status, 202);
    status_until(&hb, &own, 401, PATIENCE).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(hb.get("/me", Some(&victim)).await.status, 200);
    assert_eq!(ha.get("/me", Some(&victim)).await.status, 200);
    let next = token(&other, "erin", now());
    assert_eq!(hb.get("/me", Some(&next)).await.status, 200);

    // An event dated in the future cuts off at its arrival: a token
    // issued after it works.
    let before = token(&other, "frank", now() - 2);
    status_until(&hb, &before, 200, PATIENCE).await;
    let future = set(
        &other,
        json!({"format": "iss_sub", "iss": other.issuer, "sub": "frank"}),
        Some(now() + 24 * 3600),
    );
    assert_eq!(push(&ha, &future).await.status, 202);
    status_until(&hb, &before, 401, PATIENCE).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = token(&other, "frank", now());
    assert_eq!(hb.get("/me", Some(&after)).await.status, 200);
    // An event dated in the past cuts off there: tokens issued after its
    // time stay valid, and replaying it on the other server changes nothing.
    let t = now();
    let old = token(&other, "gina", t - 6);
    let newer = token(&other, "gina", t - 1);
    status_until(&hb, &old, 200, PATIENCE).await;
    let past = set(
        &other,
        json!({"format": "iss_sub", "iss": other.issuer, "sub": "gina"}),
        Some(t - 3),
    );
    assert_eq!(push(&ha, &past).await.status, 202);
    status_until(&hb, &old, 401, PATIENCE).await;
    assert_eq!(hb.get("/me", Some(&newer)).await.status, 200);
    assert_eq!(push(&hb, &past).await.status, 202);
    assert_eq!(hb.get("/me", Some(&newer)).await.status, 200);
    assert_eq!(ha.get("/me", Some(&newer)).await.status, 200);
}
