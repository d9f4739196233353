//! The `metrics` feature: counters reach an installed recorder.

mod common;

use std::{
    collections::HashMap,
    future::Future,
    pin::pin,
    sync::{atomic::AtomicU64, Arc, Mutex},
    task::{Context, Poll, Waker},
};

use common::*;
use http::{header::AUTHORIZATION, Request, Response};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tower::{Service, ServiceBuilder};
use tower_jwt_session::{SessionLayer, SessionManager};

/// Counts every counter by its name and labels.
#[derive(Default)]
struct Counting(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counting {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let counter = self.0.lock().unwrap().entry(name).or_default().clone();
        Counter::from_arc(counter)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn call(
    svc: &mut impl Service<
        Request<()>,
        Response = Response<tower_jwt_session::body::ResponseBody<String>>,
    >,
    token: Option<&str>,
) -> u16 {
    let mut req = Request::new(());
    if let Some(t) = token {
        req.headers_mut()
            .insert(AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
    }
    // The in-memory path completes at the first poll.
    let mut fut = pin!(svc.call(req));
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(res)) => res.status().as_u16(),
        _ => panic!("not ready"),
    }
}

#[test]
fn refusals_and_cache_results_are_counted() {
    let recorder = Counting::default();
    metrics::with_local_recorder(&recorder, || {
        let manager = SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .build()
            .unwrap();
        let mut svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager))
            .service_fn(|_r: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            });
        let token = sign(&claims());
        assert_eq!(call(&mut svc, Some(&token)), 200);
        assert_eq!(call(&mut svc, Some(&token)), 200);
        assert_eq!(call(&mut svc, None), 401);
        assert_eq!(call(&mut svc, Some("not.a.jwt")), 401);
    });
    assert_eq!(
        recorder.get("tower_jwt_session_refusals_total{reason=missing_credentials}"),
        1
    );
    assert_eq!(
        recorder.get("tower_jwt_session_refusals_total{reason=invalid_token}"),
        1
    );
    assert_eq!(
        recorder.get("tower_jwt_session_verified_cache_total{result=hit}"),
        1
    );
    assert_eq!(
        recorder.get("tower_jwt_session_verified_cache_total{result=miss}"),
        2
    );
}

/// A blocklist that answers through a future only (a remote backend's path).
#[derive(Debug, Default)]
struct Remote;

impl tower_jwt_session::blocklist::Blocklist for Remote {
    fn revoke(
        &self,
        _: &tower_jwt_session::blocklist::TokenKey,
        _: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<bool> {
        Box::pin(async { Ok(true) })
    }
    fn rotate(
        &self,
        _: &tower_jwt_session::blocklist::TokenKey,
        _: u64,
        _: i64,
        _: &str,
        _: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Rotation> {
        Box::pin(async {
            Ok(tower_jwt_session::blocklist::Rotation::Rotated {
                issued_at_micros: tower_jwt_session::blocklist::now_micros(),
            })
        })
    }
    fn set_valid_after(
        &self,
        _: &str,
        micros: i64,
        _: i64,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<i64> {
        Box::pin(async move { Ok(micros) })
    }
    fn check(
        &self,
        _: &tower_jwt_session::blocklist::TokenKey,
        _: &str,
    ) -> tower_jwt_session::blocklist::BlocklistFuture<tower_jwt_session::blocklist::Lookup> {
        Box::pin(async { Ok(Default::default()) })
    }
}

#[test]
fn backend_checks_are_counted() {
    let recorder = Counting::default();
    metrics::with_local_recorder(&recorder, || {
        let manager = SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_blocklist(Remote)
            .build()
            .unwrap();
        let mut svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager))
            .service_fn(|_r: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            });
        assert_eq!(call(&mut svc, Some(&sign(&claims()))), 200);
    });
    assert_eq!(
        recorder.get("tower_jwt_session_blocklist_checks_total{result=ok}"),
        1
    );
}
