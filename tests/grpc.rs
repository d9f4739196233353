//! The layer in front of a real tonic server (the standard health service),
//! called by a real tonic client over loopback: refusals arrive as proper
//! gRPC statuses.

mod common;

use std::time::Duration;

use common::*;
use tonic::{transport::Server, Code, Request};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
use tower_jwt_session::{
    blocklist::RedisBlocklist, NewSession, RequirePermissionLayer, SessionLayer, SessionManager,
};

async fn serve(layer: SessionLayer, permission: Option<&'static str>) -> String {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let mut builder = Server::builder().layer(layer);
        match permission {
            Some(p) => builder
                .layer(RequirePermissionLayer::permission(p))
                .add_service(health)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
            None => builder
                .add_service(health)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
        }
    });
    format!("http://{addr}")
}

async fn check(url: &str, token: Option<&str>) -> Result<(), tonic::Status> {
    let endpoint = tonic::transport::Channel::from_shared(url.to_owned()).unwrap();
    let channel = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
        .await
        .expect("connect in time")
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let mut req = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    client.check(req).await.map(|_| ())
}

#[tokio::test]
async fn grpc_clients_get_unauthenticated_permission_denied_and_ok() {
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let admin = m
        .issue(NewSession::new("u-a", "a@example.com").with_permissions(["admin"]))
        .unwrap();
    let sales = m.issue(NewSession::new("u-s", "s@example.com")).unwrap();
    let url = serve(SessionLayer::new(m.clone()), None).await;
    check(&url, Some(admin.token())).await.unwrap();
    assert_eq!(
        check(&url, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        check(&url, Some("not.a.token")).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    m.revoke(sales.session()).await.unwrap();
    assert_eq!(
        check(&url, Some(sales.token())).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let guarded = serve(SessionLayer::new(m.clone()), Some("admin")).await;
    check(&guarded, Some(admin.token())).await.unwrap();
    let other = m.issue(NewSession::new("u-o", "o@example.com")).unwrap();
    let status = check(&guarded, Some(other.token())).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "the session lacks the required permission"
    );
}

#[tokio::test]
async fn an_unreachable_blocklist_is_unavailable_over_grpc() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let list = RedisBlocklist::builder(url).build().unwrap().into_cached();
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .with_blocklist(list)
        .build()
        .unwrap();
    let token = m
        .issue(NewSession::new("u", "e@example.com"))
        .unwrap()
        .into_token();
    let server = serve(SessionLayer::new(m), None).await;
    assert_eq!(
        check(&server, Some(&token)).await.unwrap_err().code(),
        Code::Unavailable
    );
}

/// gRPC runs on HTTP/2 only: an HTTP/1.1 request that claims a gRPC content
/// type gets the real status (401/503 with the JSON body), never a 200.
#[tokio::test]
async fn grpc_shaped_refusals_only_for_http2() {
    use http::{header, Request as HttpRequest, Version};
    use tower::{ServiceBuilder, ServiceExt};
    let m = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(SessionLayer::new(m))
        .service_fn(|_req: HttpRequest<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
    let req = |version: Version, token: Option<&str>| {
        let mut b = HttpRequest::builder()
            .version(version)
            .header(header::CONTENT_TYPE, "application/grpc+proto");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(String::new()).unwrap()
    };
    for version in [Version::HTTP_10, Version::HTTP_11] {
        for token in [None, Some("not.a.token")] {
            let res = svc.clone().oneshot(req(version, token)).await.unwrap();
            assert_eq!(res.status(), 401, "{version:?} {token:?}");
            assert!(res.headers().get("grpc-status").is_none());
            assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
            assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        }
    }
    let res = svc.oneshot(req(Version::HTTP_2, None)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["grpc-status"], "16");
}
