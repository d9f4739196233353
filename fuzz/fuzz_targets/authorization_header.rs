//! The whole layer on arbitrary `Authorization` values: never a panic, an
//! answer at once, 400 or 401 for everything the manager would refuse, and
//! a pass only for what it accepts.
#![no_main]

mod common;

use std::{
    convert::Infallible,
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use http::{header::AUTHORIZATION, HeaderValue, Request, Response};
use libfuzzer_sys::fuzz_target;
use tower_jwt_session::SessionLayer;
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone)]
struct Echo;

impl Service<Request<()>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(String::new())))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    // What the manager alone says of the credentials, for comparison.
    let accepted = std::str::from_utf8(data)
        .ok()
        .and_then(|v| v.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer ")).map(|_| v[7..].trim_matches(' ')))
        .is_some_and(|t| common::manager().decode(t).is_ok());
    let mut svc = SessionLayer::new(common::manager().clone()).layer(Echo);
    let mut req = Request::new(());
    req.headers_mut().insert(AUTHORIZATION, value);
    // The in-memory blocklist answers synchronously: one poll completes.
    let mut fut = pin!(svc.call(req));
    let Poll::Ready(Ok(res)) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the layer did not answer at once");
    };
    let status = res.status().as_u16();
    if accepted {
        assert_eq!(status, 200, "refused what the manager accepts: {data:?}");
    } else {
        assert!(matches!(status, 400 | 401), "status {status} for {data:?}");
    }
});
