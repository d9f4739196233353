//! `GET /metrics`: the crate's counters through a minimal `metrics`
//! recorder, in the Prometheus text format.

use super::*;

/// A minimal Prometheus text exposition of the crate's counters, for
/// `METRICS=1`. (A real deployment would install the exporter of its choice;
/// the crate only talks to the `metrics` facade.)
#[derive(Default)]
pub(crate) struct Counters(std::sync::Mutex<std::collections::BTreeMap<String, Arc<AtomicU64>>>);

impl ::metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: ::metrics::KeyName,
        _: Option<::metrics::Unit>,
        _: ::metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: ::metrics::KeyName,
        _: Option<::metrics::Unit>,
        _: ::metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: ::metrics::KeyName,
        _: Option<::metrics::Unit>,
        _: ::metrics::SharedString,
    ) {
    }

    fn register_counter(
        &self,
        key: &::metrics::Key,
        _: &::metrics::Metadata<'_>,
    ) -> ::metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        let counter = self
            .0
            .lock()
            .map(|mut m| m.entry(name).or_default().clone())
            .unwrap_or_default();
        ::metrics::Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &::metrics::Key, _: &::metrics::Metadata<'_>) -> ::metrics::Gauge {
        ::metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &::metrics::Key,
        _: &::metrics::Metadata<'_>,
    ) -> ::metrics::Histogram {
        ::metrics::Histogram::noop()
    }
}

impl Counters {
    fn render(&self) -> String {
        let Ok(map) = self.0.lock() else {
            return String::new();
        };
        map.iter()
            .map(|(k, v)| format!("{k} {}\n", v.load(Ordering::Relaxed)))
            .collect()
    }
}

/// `GET /metrics` in Prometheus text format when `METRICS=1`.
pub(crate) fn metrics_route() -> Router<SessionManager> {
    if env("METRICS").as_deref() != Some("1") {
        return Router::new();
    }
    let counters: &'static Counters = Box::leak(Box::default());
    if ::metrics::set_global_recorder(counters).is_err() {
        tracing::warn!("a metrics recorder is already installed: /metrics stays off");
        return Router::new();
    }
    Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [("content-type", "text/plain; version=0.0.4")],
                counters.render(),
            )
        }),
    )
}
