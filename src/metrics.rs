//! Metrics through the `metrics` facade (feature `metrics`); without the
//! feature every function here is an empty inline no-op.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `tower_jwt_session_refusals_total` | counter | `reason`: `missing_credentials`, `invalid_request`, `invalid_token`, `expired`, `revoked`, `insufficient_scope`, `backend_unavailable` |
//! | `tower_jwt_session_verified_cache_total` | counter | `result`: `hit`, `miss` |
//! | `tower_jwt_session_blocklist_cache_total` | counter | `result`: `hit`, `miss` |
//! | `tower_jwt_session_blocklist_checks_total` | counter | `result`: `ok`, `error` (checks that went to the backend) |
//! | `tower_jwt_session_blocklist_seconds` | histogram | `result`: the backend's answer time |
//! | `tower_jwt_session_outage_admitted_total` | counter | requests admitted unchecked under `OutagePolicy::AdmitUncheckedDangerously` |

use crate::RejectionKind;

#[cfg(feature = "metrics")]
fn reason(kind: RejectionKind) -> &'static str {
    match kind {
        RejectionKind::MissingCredentials => "missing_credentials",
        RejectionKind::InvalidRequest => "invalid_request",
        RejectionKind::InvalidToken => "invalid_token",
        RejectionKind::Expired => "expired",
        RejectionKind::Revoked => "revoked",
        RejectionKind::InsufficientScope => "insufficient_scope",
        RejectionKind::BackendUnavailable => "backend_unavailable",
    }
}

#[cfg(feature = "metrics")]
fn result(hit: bool) -> &'static str {
    if hit {
        "hit"
    } else {
        "miss"
    }
}

#[inline]
pub(crate) fn refused(kind: RejectionKind) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_refusals_total", "reason" => reason(kind)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

#[inline]
pub(crate) fn verified_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_verified_cache_total", "result" => result(hit))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

#[inline]
pub(crate) fn blocklist_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_blocklist_cache_total", "result" => result(hit))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

#[inline]
pub(crate) fn blocklist_answered(ok: bool, took: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        let result = if ok { "ok" } else { "error" };
        metrics::counter!("tower_jwt_session_blocklist_checks_total", "result" => result)
            .increment(1);
        metrics::histogram!("tower_jwt_session_blocklist_seconds", "result" => result)
            .record(took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (ok, took);
}

#[inline]
pub(crate) fn admitted_unchecked() {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_outage_admitted_total").increment(1);
}
