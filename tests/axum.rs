//! The `axum` feature: `Session` and `Option<Session>` extractors, served by
//! axum 0.8 over loopback.

mod common;

use axum::{routing::get, Router};
use common::*;
use serde_json::json;
use tower_jwt_session::{NewSession, Session, SessionLayer, SessionManager};

async fn me(session: Session) -> String {
    session.user_id().to_owned()
}

async fn home(session: Option<Session>) -> String {
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
    let manager = SessionManager::builder(SECRET).build().unwrap();
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
    // `Option<Session>` cannot tell; it sees no session.
    assert_eq!(&http.get("/", None).await.body[..], b"anonymous");
}
