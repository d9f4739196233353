//! The `axum` feature: `SessionData` and `Option<SessionData>` extractors, served by
//! axum 0.8 over loopback.

mod common;

use axum::{routing::get, Router};
use common::*;
use serde_json::json;
use tower_jwt_session::{NewSession, SessionData, SessionLayer, SessionManager};

async fn me(session: SessionData) -> String {
    session.user_id().to_owned()
}

async fn home(session: Option<SessionData>) -> String {
    session.map_or("anonymous".to_owned(), |s| s.user_id().to_owned())
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn session_and_optional_session_extract_over_http() {
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let token = manager
        .issue(NewSession::new("u-7", "g@example.com"))
        .unwrap()
        .into_token();
    let app = Router::new()
        .route("/me", get(me))
        .route("/", get(home))
        .layer(SessionLayer::new(manager).optional());
    let http = Http::new(&serve(app).await);
    let r = http.get("/me", Some(&token)).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"u-7"[..]));
    let r = http.get("/", None).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"anonymous"[..]));
    let r = http.get("/", Some(&token)).await;
    assert_eq!(&r.body[..], b"u-7");
    // Optional mode still refuses bad credentials before any handler runs.
    let r = http.get("/", Some("not.a.token")).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_missing_layer_is_a_500_that_says_so() {
    let app = Router::new().route("/me", get(me)).route("/", get(home));
    let http = Http::new(&serve(app).await);
    let r = http.get("/me", None).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        json!({"error": "server_error", "error_description": "Missing request extension: Is `SessionLayer` applied?"})
    );
    // `Option<SessionData>` cannot tell; it sees no session.
    assert_eq!(&http.get("/", None).await.body[..], b"anonymous");
}

fn manager() -> SessionManager {
    SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_anonymous_request_to_a_session_handler_under_an_optional_layer_gets_the_challenge() {
    let app = Router::new()
        .route("/me", get(me))
        .route("/", get(home))
        .layer(SessionLayer::new(manager()).optional());
    let http = Http::new(&serve(app).await);
    let r = http.get("/me", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some("Bearer"));
    assert_eq!(r.json(), json!({"error": "unauthorized"}));
    // The handler taking `Option<SessionData>` still serves anonymous requests.
    let r = http.get("/", None).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"anonymous"[..]));
}

#[tokio::test]
async fn the_anonymous_challenge_uses_the_layers_own_refusal_response() {
    use tower_jwt_session::rejection::DefaultRejectionResponse;
    let layer = SessionLayer::new(manager())
        .optional()
        .with_rejection_response(DefaultRejectionResponse::new().with_realm("notes").unwrap());
    let app = Router::new().route("/me", get(me)).layer(layer);
    let http = Http::new(&serve(app).await);
    let r = http.get("/me", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some(r#"Bearer realm="notes""#));
}

async fn admin(session: SessionData) -> String {
    format!("admin {}", session.user_id())
}

#[tokio::test]
async fn require_permission_in_the_right_order_answers_403_and_200() {
    use tower_jwt_session::RequirePermissionLayer;
    let manager = manager();
    let app = Router::new()
        .route("/admin", get(admin))
        .layer(RequirePermissionLayer::permission("admin"))
        .layer(SessionLayer::new(manager.clone()).optional());
    let http = Http::new(&serve(app).await);
    let sales = manager
        .issue(NewSession::new("u-2", "s@example.com").with_permissions(["contacts:read"]))
        .unwrap()
        .into_token();
    let root = manager
        .issue(NewSession::new("u-1", "a@example.com").with_permissions(["admin"]))
        .unwrap()
        .into_token();
    let r = http.get("/admin", Some(&sales)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.challenge(),
        Some(r#"Bearer error="insufficient_scope", scope="admin""#)
    );
    let r = http.get("/admin", Some(&root)).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"admin u-1"[..]));
    // Anonymous under the optional layer: the challenge, not a 500, naming
    // the scope the route needs (so that a client asks for it).
    let r = http.get("/admin", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), Some(r#"Bearer scope="admin""#));
}

#[tokio::test]
async fn require_permission_in_the_wrong_order_is_a_500_that_says_so() {
    use tower_jwt_session::RequirePermissionLayer;
    let manager = manager();
    // axum's `layer` wraps what is there: the permission check ends up
    // outside the session layer and runs first.
    let app = Router::new()
        .route("/admin", get(admin))
        .layer(SessionLayer::new(manager.clone()))
        .layer(RequirePermissionLayer::permission("admin"));
    let http = Http::new(&serve(app).await);
    let root = manager
        .issue(NewSession::new("u-1", "a@example.com").with_permissions(["admin"]))
        .unwrap()
        .into_token();
    let r = http.get("/admin", Some(&root)).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "server_error");
    let description = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(
        description.contains("RequirePermissionLayer ran before SessionLayer"),
        "{description}"
    );
}

/// The receivers with an API behind the layer, over loopback: mounted as
/// the guide shows (after `.layer(SessionLayer)`), a provider's
/// back-channel logout is applied; mounted before it (the trap), the push
/// is refused and the layer says so at `error` level, naming the path.
#[tokio::test]
async fn receivers_beside_the_layer_work_and_behind_it_are_reported() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use tower_jwt_session::{issuers::TrustedIssuer, receivers::BackChannelLogout, Algorithm};

    const IDP: &str = "https://idp.example.com";
    const IDP_SECRET: &str = "a secret of the identity provider, 32+ bytes";
    let sign = |typ: &str, claims: serde_json::Value| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": typ}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = jsonwebtoken::EncodingKey::from_secret(IDP_SECRET.as_bytes());
        let sig =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
                .unwrap();
        format!("{input}.{sig}")
    };
    let manager = SessionManager::verify_only()
        .with_audience("orders-api")
        .with_trusted_issuer(TrustedIssuer::with_secret(
            IDP,
            Algorithm::HS256,
            IDP_SECRET,
        ))
        .build()
        .unwrap();
    let access = sign(
        "at+jwt",
        json!({"iss": IDP, "sub": "ada", "aud": "orders-api", "iat": now() - 2, "exp": now() + 600}),
    );
    let logout = || {
        sign(
            "logout+jwt",
            json!({"iss": IDP, "sub": "ada", "aud": "orders-api", "iat": now(), "exp": now() + 120,
                   "jti": format!("lt-{}", now_nanos()),
                   "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
        )
    };

    // The trap: the receiver behind the layer. Refused, and said loudly.
    let logs = LogCapture::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::ERROR)
            .with_ansi(false)
            .finish(),
    );
    let trap = Router::new()
        .route(
            "/orders",
            get(|s: SessionData| async move { s.user_id().to_owned() }),
        )
        .route_service(
            "/backchannel-logout",
            BackChannelLogout::new(manager.clone(), "orders-api"),
        )
        .layer(SessionLayer::new(manager.clone()));
    let http = Http::new(&serve(trap).await);
    let r = post_logout(&http, logout()).await;
    assert_eq!(r.status, 401);
    let said = logs.text();
    assert!(
        said.contains("SessionLayer refused an identity provider's push")
            && said.contains("/backchannel-logout"),
        "nothing said: {said:?}"
    );
    assert_eq!(http.get("/orders", Some(&access)).await.status, 200);

    // The guide's way: the push is applied, and the API still needs a token.
    let app = Router::new()
        .route(
            "/orders",
            get(|s: SessionData| async move { s.user_id().to_owned() }),
        )
        .layer(SessionLayer::new(manager.clone()))
        .route_service(
            "/backchannel-logout",
            BackChannelLogout::new(manager, "orders-api"),
        );
    let http = Http::new(&serve(app).await);
    assert_eq!(http.get("/orders", None).await.status, 401);
    assert_eq!(http.get("/orders", Some(&access)).await.status, 200);
    let r = post_logout(&http, logout()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(http.get("/orders", Some(&access)).await.status, 401);
}

async fn post_logout(http: &Http, token: String) -> Reply {
    http.send(
        http::Method::POST,
        "/backchannel-logout",
        &[("content-type", "application/x-www-form-urlencoded")],
        &format!("logout_token={token}"),
    )
    .await
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// What a `tracing` subscriber wrote, for assertions.
#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
