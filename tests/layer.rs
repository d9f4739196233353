//! The layer in front of a plain tower service: every refusal class, the two
//! modes, readiness, and the rejection in the response's extensions.

mod common;

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use common::*;
use http::{header::AUTHORIZATION, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    body::ResponseBody, rejection::DefaultRejectionResponse, rejection::Rejection,
    rejection::RejectionKind, Algorithm, NewSession, RequirePermissionLayer, SessionData,
    SessionLayer, SessionManager,
};

fn manager() -> SessionManager {
    SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

type Res = Response<ResponseBody<String>>;

async fn echo(req: Request<()>) -> Result<Response<String>, Infallible> {
    let body = match req.extensions().get::<SessionData>() {
        Some(s) => serde_json::to_string(s).unwrap(),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(body))
}

async fn send(layer: SessionLayer, headers: &[&[u8]]) -> Res {
    let svc = ServiceBuilder::new().layer(layer).service_fn(echo);
    let mut req = Request::new(());
    for h in headers {
        req.headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_bytes(h).unwrap());
    }
    svc.oneshot(req).await.unwrap()
}

async fn with_token(token: &str) -> Res {
    send(
        SessionLayer::new(manager()),
        &[format!("Bearer {token}").as_bytes()],
    )
    .await
}

async fn body(res: Res) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

/// Asserts status, challenge, JSON body and the rejection kind.
async fn assert_refused(res: Res, status: u16, challenge: Option<&str>, kind: RejectionKind) {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        challenge
    );
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.extensions().get::<Rejection>().unwrap().kind(), kind);
    let error = match kind {
        RejectionKind::MissingCredentials => "unauthorized",
        RejectionKind::InvalidRequest => "invalid_request",
        RejectionKind::InsufficientScope => "insufficient_scope",
        RejectionKind::BackendUnavailable => "temporarily_unavailable",
        _ => "invalid_token",
    };
    let json: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(json, json!({ "error": error }));
}

const INVALID: Option<&str> = Some("Bearer error=\"invalid_token\"");

async fn assert_invalid_token(token: &str) {
    let res = with_token(token).await;
    let kind = res
        .extensions()
        .get::<Rejection>()
        .unwrap_or_else(|| panic!("accepted {token}"))
        .kind();
    assert!(
        matches!(
            kind,
            RejectionKind::InvalidToken | RejectionKind::Expired | RejectionKind::Revoked
        ),
        "{kind:?} for {token}"
    );
    assert_refused(res, 401, INVALID, kind).await;
}

#[tokio::test]
async fn a_valid_seed_shaped_token_reaches_the_handler_with_its_session() {
    let res = with_token(&sign(&claims())).await;
    assert_eq!(res.status(), 200);
    let json: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(json["userId"], "u-1");
    assert_eq!(json["companyId"], "acme");
}

#[tokio::test]
async fn no_credentials_get_a_bare_challenge() {
    assert_refused(
        send(SessionLayer::new(manager()), &[]).await,
        401,
        Some("Bearer"),
        RejectionKind::MissingCredentials,
    )
    .await;
}

#[tokio::test]
async fn another_scheme_is_no_credentials() {
    for h in [
        &b"Basic dXNlcjpwYXNz"[..],
        b"Bearer.abc",
        b"Bearerabc.def.ghi",
        b"Token abc",
    ] {
        assert_refused(
            send(SessionLayer::new(manager()), &[h]).await,
            401,
            Some("Bearer"),
            RejectionKind::MissingCredentials,
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_headers_are_invalid_request() {
    let token = sign(&claims());
    let good = format!("Bearer {token}");
    let long = format!("Bearer {}", "a".repeat(64 * 1024));
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"Bearer"],
        vec![b"Bearer    "],
        vec![b"Bearer a b"],
        vec![b"Bearer \"abc\""],
        vec![b"Bearer abc,def"],
        vec![b""],
        vec![b"Bearer \xe9abc"],
        vec![good.as_bytes(), good.as_bytes()],
        vec![good.as_bytes(), b"Basic eA=="],
        vec![long.as_bytes()],
    ];
    for headers in cases {
        let res = send(SessionLayer::new(manager()), &headers).await;
        assert_refused(
            res,
            400,
            Some("Bearer error=\"invalid_request\""),
            RejectionKind::InvalidRequest,
        )
        .await;
    }
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    let token = sign(&claims());
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let res = send(
            SessionLayer::new(manager()),
            &[format!("{scheme} {token}").as_bytes()],
        )
        .await;
        assert_eq!(res.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn alg_none_in_any_case_is_refused() {
    let payload = claims().to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&format!(r#"{{"alg":"{alg}"}}"#));
        let body = b64(&payload);
        assert_invalid_token(&format!("{header}.{body}.")).await;
        // The same with a real HS256 signature attached.
        let signed = sign_raw(
            "HS256",
            SECRET.as_bytes(),
            &format!(r#"{{"alg":"{alg}"}}"#),
            &payload,
        );
        assert_invalid_token(&signed).await;
    }
}

#[tokio::test]
async fn another_hmac_algorithm_with_the_same_secret_is_refused() {
    let payload = claims().to_string();
    for alg in ["HS384", "HS512"] {
        assert_invalid_token(&sign_raw(
            alg,
            SECRET.as_bytes(),
            &format!(r#"{{"alg":"{alg}"}}"#),
            &payload,
        ))
        .await;
    }
    // And the other way around: an HS384 server refuses HS256 tokens.
    let secret = "x".repeat(48);
    let m = SessionManager::builder(&secret)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_algorithm(Algorithm::HS384)
        .build()
        .unwrap();
    let t = sign_raw("HS256", secret.as_bytes(), r#"{"alg":"HS256"}"#, &payload);
    let res = send(SessionLayer::new(m), &[format!("Bearer {t}").as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::InvalidToken).await;
}

#[tokio::test]
async fn an_rs256_header_on_an_hmac_signature_is_refused() {
    let payload = claims().to_string();
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "hs256", "HS256 "] {
        assert_invalid_token(&sign_raw(
            "HS256",
            SECRET.as_bytes(),
            &format!(r#"{{"alg":"{alg}"}}"#),
            &payload,
        ))
        .await;
    }
}

#[tokio::test]
async fn tampered_stripped_and_borrowed_signatures_are_refused() {
    let token = sign(&claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    // Tampered payload, original signature.
    let mut c = claims();
    c["permissions"] = json!(["admin", "root"]);
    assert_invalid_token(&format!("{header}.{}.{sig}", b64(&c.to_string()))).await;
    // Stripped signature.
    assert_invalid_token(&format!("{input}.")).await;
    // Borrowed signature from another valid token.
    let mut other = claims();
    other["userId"] = json!("u-2");
    let other = sign(&other);
    let other_sig = other.rsplit_once('.').unwrap().1;
    assert_invalid_token(&format!("{input}.{other_sig}")).await;
    // Signed with another secret.
    assert_invalid_token(&sign_raw(
        "HS256",
        b"another-secret-that-is-long-enough-for-it",
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
    ))
    .await;
    // A flipped bit in the signature.
    let mut bytes = sig.as_bytes().to_vec();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    assert_invalid_token(&format!("{input}.{}", String::from_utf8(bytes).unwrap())).await;
}

#[tokio::test]
async fn wrong_segment_counts_and_bad_base64_are_refused() {
    let token = sign(&claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    for bad in [
        "abc".to_owned(),
        input.to_owned(),
        format!("{token}.{sig}"),
        format!("{token}.."),
        format!("a.{token}"),
        format!("{token}="),
        format!("{input}.+{}", &sig[1..]),
        format!("{input}./{}", &sig[1..]),
        format!("{}+.{sig}", input),
        "...".to_owned(),
    ] {
        assert_invalid_token(&bad).await;
    }
}

#[tokio::test]
async fn non_json_header_or_payload_is_refused() {
    for (h, p) in [
        ("not json", claims().to_string()),
        (r#"{"alg":"HS256"}"#, "not json".to_owned()),
        (r#"["HS256"]"#, claims().to_string()),
        (r#"{"alg":"HS256"}"#, "[1,2]".to_owned()),
        (r#"{"alg":"HS256"}"#, "".to_owned()),
    ] {
        assert_invalid_token(&sign_raw("HS256", SECRET.as_bytes(), h, &p)).await;
    }
}

#[tokio::test]
async fn time_claims_are_enforced() {
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    assert_invalid_token(&sign(&c)).await;
    let mut c = claims();
    c["nbf"] = json!(now() + 3600);
    assert_invalid_token(&sign(&c)).await;
    for exp in [json!("9999999999"), json!(null), json!(true), json!([1])] {
        let mut c = claims();
        c["exp"] = exp;
        assert_invalid_token(&sign(&c)).await;
    }
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(&sign(&c)).await;
}

#[tokio::test]
async fn issuer_audience_and_identity_claims_are_required() {
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("iss", Some(json!("someone-else"))),
        ("iss", None),
        ("aud", Some(json!("another-api"))),
        ("aud", Some(json!(["another-api"]))),
        ("aud", None),
        ("sub", None),
        ("sub", Some(json!(""))),
        ("userId", None),
        ("userId", Some(json!(""))),
        ("userId", Some(json!(42))),
        ("email", None),
        ("email", Some(json!(""))),
    ];
    for (claim, value) in cases {
        let mut c = claims();
        match value {
            Some(v) => c[claim] = v,
            None => {
                c.as_object_mut().unwrap().remove(claim);
            }
        }
        assert_invalid_token(&sign(&c)).await;
    }
    // An audience list that contains ours is accepted.
    let mut c = claims();
    c["aud"] = json!(["other", "atomic-crm-api"]);
    assert_eq!(with_token(&sign(&c)).await.status(), 200);
}

#[tokio::test]
async fn crit_headers_and_duplicate_claims_are_refused() {
    let payload = claims().to_string();
    assert_invalid_token(&sign_raw(
        "HS256",
        SECRET.as_bytes(),
        r#"{"alg":"HS256","crit":["exp"]}"#,
        &payload,
    ))
    .await;
    let dup = payload.replacen('{', r#"{"userId":"u-evil","#, 1);
    assert_invalid_token(&sign_raw(
        "HS256",
        SECRET.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &dup,
    ))
    .await;
    let dup_alg = sign_raw(
        "HS256",
        SECRET.as_bytes(),
        r#"{"alg":"HS256","alg":"none"}"#,
        &payload,
    );
    assert_invalid_token(&dup_alg).await;
}

#[tokio::test]
async fn an_oversized_token_is_refused_and_the_service_goes_on() {
    let big = format!(
        "{}.{}.{}",
        "a".repeat(8000),
        "b".repeat(100),
        "c".repeat(43)
    );
    assert_invalid_token(&big).await;
    assert_eq!(with_token(&sign(&claims())).await.status(), 200);
}

#[tokio::test]
async fn revoked_tokens_and_reencodings_of_them_are_refused() {
    let m = manager();
    // A seed-shaped token without jti: keyed by its verified tag.
    let token = sign(&claims());
    m.revoke(&m.verify(&token).await.unwrap()).await.unwrap();
    let res = send(
        SessionLayer::new(m.clone()),
        &[format!("Bearer {token}").as_bytes()],
    )
    .await;
    assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;
    for text in [format!("{token}="), format!("{token}==")] {
        let res = send(
            SessionLayer::new(m.clone()),
            &[format!("Bearer {text}").as_bytes()],
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    // A token minted here: keyed by jti.
    let issued = m.issue(NewSession::new("u-9", "z@example.com")).unwrap();
    m.revoke(&m.verify(issued.token()).await.unwrap())
        .await
        .unwrap();
    let res = send(
        SessionLayer::new(m),
        &[format!("Bearer {}", issued.token()).as_bytes()],
    )
    .await;
    assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;
}

#[tokio::test]
async fn logout_everywhere_refuses_older_tokens_and_admits_new_ones() {
    let m = manager();
    let old = m.issue(NewSession::new("u-1", "a@example.com")).unwrap();
    let seed_now = sign(&claims()); // whole-second iat, same user
    let other_user = m.issue(NewSession::new("u-2", "b@example.com")).unwrap();
    m.log_out_user("u-1").await.unwrap();
    let fresh = m.issue(NewSession::new("u-1", "a@example.com")).unwrap();
    let layer = SessionLayer::new(m);
    for t in [old.token(), seed_now.as_str()] {
        let res = send(layer.clone(), &[format!("Bearer {t}").as_bytes()]).await;
        assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;
    }
    for t in [fresh.token(), other_user.token()] {
        let res = send(layer.clone(), &[format!("Bearer {t}").as_bytes()]).await;
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn optional_mode_admits_anonymous_requests_only() {
    let layer = SessionLayer::new(manager()).optional();
    let res = send(layer.clone(), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, "anonymous");
    let res = send(layer.clone(), &[b"Basic eA=="]).await;
    assert_eq!(res.status(), 200);
    // Bad credentials are still refused, never silently anonymous.
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let res = send(layer.clone(), &[format!("Bearer {}", sign(&c)).as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::Expired).await;
    let res = send(layer.clone(), &[b"Bearer"]).await;
    assert_eq!(res.status(), 400);
    let res = send(layer, &[format!("Bearer {}", sign(&claims())).as_bytes()]).await;
    assert_eq!(res.status(), 200);
    assert_ne!(body(res).await, "anonymous");
}

#[tokio::test]
async fn the_refusal_response_can_be_replaced() {
    let layer = SessionLayer::new(manager()).with_rejection_response(|r: &Rejection| {
        Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .body(Bytes::from(format!("custom {:?}", r.kind())))
            .unwrap()
    });
    let res = send(layer, &[]).await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::MissingCredentials
    );
    assert_eq!(body(res).await, "custom MissingCredentials");
}

#[tokio::test]
async fn descriptions_and_realm_can_be_turned_on() {
    let layer = SessionLayer::new(manager()).with_rejection_response(
        DefaultRejectionResponse::new()
            .with_realm("crm")
            .unwrap()
            .with_descriptions(true),
    );
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let res = send(layer, &[format!("Bearer {}", sign(&c)).as_bytes()]).await;
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="crm", error="invalid_token", error_description="the token has expired""#
    );
    let json: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(json["error_description"], "the token has expired");
}

#[tokio::test]
async fn any_of_and_all_of_name_every_scope_the_route_needs() {
    let m = manager();
    let check = |layer: RequirePermissionLayer| {
        ServiceBuilder::new()
            .layer(SessionLayer::new(m.clone()))
            .layer(layer)
            .service_fn(echo)
    };
    let token = m
        .issue(NewSession::new("u", "u@example.com").with_permissions(["a", "b"]))
        .unwrap()
        .into_token();
    let req = || {
        Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap()
    };
    for (layer, status, challenge) in [
        (RequirePermissionLayer::any_of(["x", "b"]), 200, None),
        (
            RequirePermissionLayer::any_of(["x", "y"]),
            403,
            Some(r#"Bearer error="insufficient_scope", scope="x y""#),
        ),
        (RequirePermissionLayer::all_of(["a", "b"]), 200, None),
        (
            // Every scope the route needs, not only the missing ones: a
            // client asks for them all in one token request (a new token's
            // scope replaces the old one's).
            RequirePermissionLayer::all_of(["a", "x", "b", "y"]),
            403,
            Some(r#"Bearer error="insufficient_scope", scope="a x b y""#),
        ),
        (
            RequirePermissionLayer::all_of(["x"]).with_scope_in_challenge(false),
            403,
            Some(r#"Bearer error="insufficient_scope""#),
        ),
        // A permission that cannot be written as a scope token is not named.
        (
            RequirePermissionLayer::permission("has \"quotes\""),
            403,
            Some(r#"Bearer error="insufficient_scope""#),
        ),
    ] {
        let res = check(layer).oneshot(req()).await.unwrap();
        assert_eq!(res.status(), status);
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            challenge
        );
    }
}

#[tokio::test]
async fn permission_checks_answer_403_insufficient_scope() {
    let m = manager();
    let svc = |m: SessionManager| {
        ServiceBuilder::new()
            .layer(SessionLayer::new(m).optional())
            .layer(RequirePermissionLayer::permission("admin"))
            .service_fn(echo)
    };
    let sales = m
        .issue(
            NewSession::new("u-s", "s@example.com")
                .with_role("admin")
                .with_permissions(["contacts:read"]),
        )
        .unwrap();
    let admin = m
        .issue(
            NewSession::new("u-a", "a@example.com")
                .with_role("sales")
                .with_permissions(["admin"]),
        )
        .unwrap();
    let req = |t: &str| {
        Request::builder()
            .header(AUTHORIZATION, format!("Bearer {t}"))
            .body(())
            .unwrap()
    };
    let res = svc(m.clone()).oneshot(req(sales.token())).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="admin""#
    );
    let rejection = res.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::InsufficientScope);
    assert_eq!(rejection.scope(), Some("admin"));
    let json: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json, json!({"error": "insufficient_scope"}));
    let res = svc(m.clone()).oneshot(req(admin.token())).await.unwrap();
    assert_eq!(res.status(), 200);
    // No session at all (optional mode): a challenge without an error
    // code, not a 403, naming the scope the route needs.
    let res = svc(m.clone()).oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer scope="admin""#);
    // Role checks.
    let by_role = ServiceBuilder::new()
        .layer(SessionLayer::new(m))
        .layer(RequirePermissionLayer::check(|s: &SessionData| {
            s.role() == "admin"
        }))
        .service_fn(echo);
    assert_eq!(
        by_role
            .clone()
            .oneshot(req(sales.token()))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        by_role.oneshot(req(admin.token())).await.unwrap().status(),
        403
    );
}

/// A blocklist that answers only through futures and can be switched off,
/// to drive the layer's asynchronous path and its fail-closed branch.
#[derive(Debug, Default, Clone)]
struct Switchable {
    memory: tower_jwt_session::blocklist::MemoryBlocklist,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl tower_jwt_session::blocklist::Blocklist for Switchable {
    fn revoke(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        until: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<bool> {
        self.memory.revoke(key, until)
    }
    fn rotate(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        from: u64,
        until: i64,
        user: &str,
        issued_at_micros: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Rotation> {
        self.memory.rotate(key, from, until, user, issued_at_micros)
    }
    fn set_valid_after(
        &self,
        user: &str,
        micros: i64,
        until: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<i64> {
        self.memory.set_valid_after(user, micros, until)
    }
    fn check(
        &self,
        key: &tower_jwt_session::blocklist::TokenKey,
        user: &str,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Lookup> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err(tower_jwt_session::BlocklistError::unavailable(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                ))
            });
        }
        let fut = self.memory.check(key, user);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            fut.await
        })
    }
}

#[tokio::test]
async fn an_unanswering_blocklist_fails_closed_with_503() {
    let list = Switchable::default();
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(list.clone())
        .build()
        .unwrap();
    let token = sign(&claims());
    let res = send(
        SessionLayer::new(m.clone()),
        &[format!("Bearer {token}").as_bytes()],
    )
    .await;
    assert_eq!(res.status(), 200);
    list.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let res = send(
        SessionLayer::new(m.clone()),
        &[format!("Bearer {token}").as_bytes()],
    )
    .await;
    assert_refused(res, 503, None, RejectionKind::BackendUnavailable).await;
    // Optional mode fails closed too.
    let res = send(
        SessionLayer::new(m).optional(),
        &[format!("Bearer {token}").as_bytes()],
    )
    .await;
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn readiness_is_forwarded_and_the_ready_service_is_called() {
    let list = Switchable::default();
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(list)
        .build()
        .unwrap();
    let (mut svc, mut handle) =
        tower_test::mock::spawn_layer::<Request<()>, Response<String>, _>(SessionLayer::new(m));
    // Not ready while the inner service is not.
    handle.allow(0);
    tokio_test_assert_pending(svc.poll_ready());
    handle.allow(1);
    assert!(svc.poll_ready().is_ready());
    let req = Request::builder()
        .header(AUTHORIZATION, format!("Bearer {}", sign(&claims())))
        .body(())
        .unwrap();
    let fut = svc.call(req);
    // The asynchronous blocklist path moved the ready service into the
    // future; the inner mock (allowing one call) receives the request.
    let (fut, ()) = tokio::join!(fut, async {
        let (req, send) = handle.next_request().await.unwrap();
        assert!(req.extensions().get::<SessionData>().is_some());
        send.send_response(Response::new("ok".to_owned()));
    });
    assert_eq!(fut.unwrap().status(), 200);
}

fn tokio_test_assert_pending<T: std::fmt::Debug>(p: std::task::Poll<T>) {
    assert!(p.is_pending(), "expected pending, got {p:?}");
}

#[tokio::test]
async fn the_verified_token_cache_never_admits_a_variant_of_a_cached_token() {
    let m = manager();
    let layer = SessionLayer::new(m.clone());
    let token = sign(&claims());
    // Warm the cache with the valid token.
    assert_eq!(
        send(layer.clone(), &[format!("Bearer {token}").as_bytes()])
            .await
            .status(),
        200
    );
    assert_eq!(m.verified_cache_len(), 1);
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let mut c = claims();
    c["permissions"] = json!(["admin", "root"]);
    let variants = [
        // Same signature, another payload.
        format!("{header}.{}.{sig}", b64(&c.to_string())),
        // Same signature, another header.
        format!(
            "{}.{}.{sig}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            input.split_once('.').unwrap().1
        ),
        // Same signature, nothing before it.
        format!("..{sig}"),
        format!(".{sig}"),
        // Re-encodings of the same bytes.
        format!("{token}="),
    ];
    for v in variants {
        let res = send(layer.clone(), &[format!("Bearer {v}").as_bytes()]).await;
        assert_eq!(res.status(), 401, "{v}");
    }
    // The original still passes, from the cache.
    assert_eq!(
        send(layer, &[format!("Bearer {token}").as_bytes()])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_leeway(Duration::ZERO)
        .build()
        .unwrap();
    let mut c = claims();
    c["exp"] = json!(now() + 2);
    let token = sign(&c);
    let layer = SessionLayer::new(m.clone());
    assert_eq!(
        send(layer.clone(), &[format!("Bearer {token}").as_bytes()])
            .await
            .status(),
        200
    );
    assert_eq!(m.verified_cache_len(), 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let res = send(layer, &[format!("Bearer {token}").as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::Expired).await;
}

/// Every write to the blocklist reaches tokens that already passed from the
/// verified-token cache: the first request verifies and caches, the second
/// is a hit checked against the blocklist, the third a hit that passed at
/// the blocklist's current revision.
#[tokio::test]
async fn a_cached_token_is_still_checked_against_the_blocklist() {
    async fn warm(layer: &SessionLayer, header: &str) {
        for _ in 0..3 {
            assert_eq!(
                send(layer.clone(), &[header.as_bytes()]).await.status(),
                200
            );
        }
    }
    let m = manager();
    let layer = SessionLayer::new(m.clone());
    let issued = m.issue(NewSession::new("u-5", "e@example.com")).unwrap();
    let header = format!("Bearer {}", issued.token());
    warm(&layer, &header).await;
    m.revoke(issued.session()).await.unwrap();
    let res = send(layer.clone(), &[header.as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;

    let other = m.issue(NewSession::new("u-6", "f@example.com")).unwrap();
    let header = format!("Bearer {}", other.token());
    warm(&layer, &header).await;
    m.log_out_user("u-6").await.unwrap();
    let res = send(layer.clone(), &[header.as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;

    // A revocation of another token changes nothing for this one.
    let third = m.issue(NewSession::new("u-7", "g@example.com")).unwrap();
    let header = format!("Bearer {}", third.token());
    warm(&layer, &header).await;
    let unrelated = m.issue(NewSession::new("u-8", "h@example.com")).unwrap();
    m.revoke(&m.verify(unrelated.token()).await.unwrap())
        .await
        .unwrap();
    warm(&layer, &header).await;
    // A refresh replaces the token: the one it replaced is refused.
    let refreshed = m.refresh(third.token()).await.unwrap();
    let res = send(layer.clone(), &[header.as_bytes()]).await;
    assert_refused(res, 401, INVALID, RejectionKind::Revoked).await;
    warm(&layer, &format!("Bearer {}", refreshed.token())).await;
}

#[tokio::test]
async fn the_verified_token_cache_is_bounded() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_verified_cache(100)
        .build()
        .unwrap();
    let layer = SessionLayer::new(m.clone());
    for i in 0..1000 {
        let mut c = claims();
        c["userId"] = json!(format!("u-{i}"));
        let t = sign(&c);
        assert_eq!(
            send(layer.clone(), &[format!("Bearer {t}").as_bytes()])
                .await
                .status(),
            200
        );
    }
    assert!(m.verified_cache_len() <= 100, "{}", m.verified_cache_len());
    let off = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_verified_cache(0)
        .build()
        .unwrap();
    off.decode(&sign(&claims())).unwrap();
    assert_eq!(off.verified_cache_len(), 0);
}

#[tokio::test]
async fn a_token_of_another_kind_signed_with_the_same_secret_is_refused() {
    let payload = claims().to_string();
    for typ in ["email-link+jwt", "at+jwt", "refresh+jwt"] {
        let t = sign_raw(
            "HS256",
            SECRET.as_bytes(),
            &format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#),
            &payload,
        );
        assert_invalid_token(&t).await;
    }
    // Tokens minted here say what they are.
    let m = manager();
    let issued = m.issue(NewSession::new("u", "e@example.com")).unwrap();
    let header = issued.token().split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "session+jwt");
}

/// A custom source: the token in an `X-Session-Token` header.
#[derive(Debug)]
struct HeaderSource;

impl tower_jwt_session::source::TokenSource for HeaderSource {
    fn credentials<'a>(
        &self,
        headers: &'a http::HeaderMap,
    ) -> Result<Option<&'a [u8]>, tower_jwt_session::source::SourceError> {
        Ok(headers.get("x-session-token").map(|v| v.as_bytes()))
    }
}

async fn send_headers(layer: SessionLayer, headers: &[(&str, String)]) -> Res {
    let svc = ServiceBuilder::new().layer(layer).service_fn(echo);
    let mut req = Request::new(());
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    svc.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn tokens_can_come_from_a_cookie_or_a_custom_source() {
    let m = manager();
    let a = m
        .issue(NewSession::new("u-a", "a@example.com"))
        .unwrap()
        .into_token();
    let b = m
        .issue(NewSession::new("u-b", "b@example.com"))
        .unwrap()
        .into_token();
    let cookie = SessionLayer::new(m.clone()).with_cookie("session");
    let res = send_headers(cookie.clone(), &[("cookie", format!("x=1; session={a}"))]).await;
    assert_eq!(res.status(), 200);
    // The same token in both places is fine; two different ones are not.
    let res = send_headers(
        cookie.clone(),
        &[
            ("cookie", format!("session={a}")),
            ("authorization", format!("Bearer {a}")),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = send_headers(
        cookie.clone(),
        &[
            ("cookie", format!("session={a}")),
            ("authorization", format!("Bearer {b}")),
        ],
    )
    .await;
    assert_refused(
        res,
        400,
        Some("Bearer error=\"invalid_request\""),
        RejectionKind::InvalidRequest,
    )
    .await;
    // A forged cookie is refused like a forged header.
    let res = send_headers(
        cookie.clone(),
        &[("cookie", "session=not.a.jwt".to_owned())],
    )
    .await;
    assert_refused(res, 401, INVALID, RejectionKind::InvalidToken).await;
    // Cookie only: the Authorization header is not read.
    let only = SessionLayer::new(m.clone())
        .with_cookie("session")
        .without_bearer_header();
    let res = send_headers(only, &[("authorization", format!("Bearer {a}"))]).await;
    assert_refused(res, 401, Some("Bearer"), RejectionKind::MissingCredentials).await;
    // A custom source.
    let custom = SessionLayer::new(m).add_token_source(HeaderSource);
    let res = send_headers(custom, &[("x-session-token", b.clone())]).await;
    assert_eq!(res.status(), 200);
    let json: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(json["userId"], "u-b");
}

/// With the inner body kept (`with_inner_body`), responses are the inner
/// service's body type, and every refusal is the one the default mode
/// gives: status, challenge, headers, JSON body, `Rejection`.
#[tokio::test]
async fn with_the_inner_body_responses_keep_its_type_and_refusals_are_the_same() {
    use http_body_util::Full;

    type Seen = (StatusCode, http::HeaderMap, Option<RejectionKind>, Bytes);
    async fn seen<B: http_body::Body>(res: Response<B>) -> Seen
    where
        B::Error: std::fmt::Debug,
    {
        let kind = res.extensions().get::<Rejection>().map(Rejection::kind);
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, kind, bytes)
    }
    async fn full(req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
        let user = req
            .extensions()
            .get::<SessionData>()
            .map_or("anonymous".to_owned(), |s| s.user_id().to_owned());
        Ok(Response::new(Full::new(Bytes::from(user))))
    }
    async fn both(header: Option<&str>, permission: &str) -> (Seen, Seen) {
        let request = || {
            let mut req = Request::new(());
            if let Some(h) = header {
                req.headers_mut()
                    .insert(AUTHORIZATION, HeaderValue::from_str(h).unwrap());
            }
            req
        };
        let wrapped = ServiceBuilder::new()
            .layer(SessionLayer::new(manager()))
            .layer(RequirePermissionLayer::permission(permission))
            .service_fn(echo);
        let inner = ServiceBuilder::new()
            .layer(SessionLayer::new(manager()).with_inner_body())
            .layer(RequirePermissionLayer::permission(permission).with_inner_body())
            .service_fn(full);
        // The type is the inner service's.
        let inner: Response<Full<Bytes>> = inner.oneshot(request()).await.unwrap();
        (
            seen(wrapped.oneshot(request()).await.unwrap()).await,
            seen(inner).await,
        )
    }
    let good = format!("Bearer {}", sign(&claims()));
    let forged = format!(
        "Bearer {}",
        sign_raw(
            "HS256",
            b"another secret of thirty-two bytes",
            r#"{"alg":"HS256"}"#,
            &claims().to_string()
        )
    );
    let cases = [
        (None, "admin"),
        (Some("Bearer"), "admin"),
        (Some(forged.as_str()), "admin"),
        (Some(good.as_str()), "root"),
    ];
    for (header, permission) in cases {
        let (wrapped, inner) = both(header, permission).await;
        assert_ne!(inner.0, StatusCode::OK, "{header:?}");
        assert!(inner.2.is_some(), "{header:?}");
        assert_eq!(wrapped, inner, "{header:?}");
    }
    // Admitted: the inner service's own body, untouched.
    let (_, (status, _, kind, user)) = both(Some(&good), "admin").await;
    assert_eq!((status, kind), (StatusCode::OK, None));
    assert_eq!(user, "u-1");
}

#[tokio::test]
async fn a_declared_broader_scope_satisfies_a_narrower_one_and_nothing_else_does() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("https://auth.example.com")
        .with_audience("atomic-crm-api")
        .with_implied_scopes("files:admin", ["files:write"])
        .with_implied_scopes("files:write", ["files:read"])
        .build()
        .unwrap();
    let check = |permission: &'static str| {
        ServiceBuilder::new()
            .layer(SessionLayer::new(m.clone()))
            .layer(RequirePermissionLayer::permission(permission))
            .service_fn(echo)
    };
    let token_with = |permission: &str| {
        m.issue(NewSession::new("u", "u@example.com").with_permissions([permission]))
            .unwrap()
            .into_token()
    };
    let req = |token: &str| {
        Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap()
    };
    for (held, needed, status) in [
        ("files:admin", "files:read", 200),
        ("files:write", "files:read", 200),
        ("files:read", "files:write", 403),
        ("files:writer", "files:read", 403),
        ("files", "files:read", 403),
    ] {
        let res = check(needed).oneshot(req(&token_with(held))).await.unwrap();
        assert_eq!(res.status(), status, "{held} for {needed}");
    }
    // The token itself is unchanged: the implication is this server's.
    let token = token_with("files:write");
    let payload = common::payload(&token);
    assert_eq!(payload["permissions"], json!(["files:write"]));
    let session = m.verify(&token).await.unwrap();
    assert_eq!(session.permissions(), ["files:write", "files:read"]);
}

#[tokio::test]
async fn challenges_name_the_metadata_document_and_every_scope_the_request_needs() {
    use tower_jwt_session::resource::ProtectedResource;
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_protected_resource(ProtectedResource::new("https://api.example.com/files").unwrap())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(
            SessionLayer::new(m.clone())
                .with_challenge_scope("files:read")
                .unwrap(),
        )
        .layer(RequirePermissionLayer::permission("files:write"))
        .service_fn(echo);
    let meta =
        r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/files""#;
    let res = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        format!(r#"Bearer scope="files:read", {meta}"#).as_str()
    );
    let reader = m
        .issue(NewSession::new("u", "u@example.com").with_permissions(["files:read"]))
        .unwrap()
        .into_token();
    let res = svc
        .clone()
        .oneshot(
            Request::builder()
                .header(AUTHORIZATION, format!("Bearer {reader}"))
                .body(())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        format!(r#"Bearer error="insufficient_scope", scope="files:read files:write", {meta}"#)
            .as_str()
    );
    // A bad scope is refused when the layer is built.
    assert!(SessionLayer::new(m)
        .with_challenge_scope("files:\"read\"")
        .is_err());
}
