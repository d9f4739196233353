//! Metrics through the `metrics` facade (feature `metrics`); without the
//! feature every function here is an empty inline no-op.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `tower_jwt_session_refusals_total` | counter | `reason`: `missing_credentials`, `invalid_request`, `invalid_token`, `expired`, `revoked`, `insufficient_scope`, `backend_unavailable`, `invalid_dpop_proof` (every DPoP refusal) |
//! | `tower_jwt_session_verified_cache_total` | counter | `result`: `hit`, `miss` |
//! | `tower_jwt_session_blocklist_cache_total` | counter | `result`: `hit`, `miss` |
//! | `tower_jwt_session_blocklist_checks_total` | counter | `result`: `ok`, `error` (checks that went to the backend) |
//! | `tower_jwt_session_blocklist_seconds` | histogram | `result`: the backend's answer time |
//! | `tower_jwt_session_outage_admitted_total` | counter | requests admitted unchecked under `OutagePolicy::AdmitUncheckedDangerously` |
//! | `tower_jwt_session_reuse_detected_total` | counter | refreshes with a rotated-away token, each of which ended its session |
//! | `tower_jwt_session_provider_events_total` | counter | `kind`: `back_channel_logout`, `session_revoked`, `all_sessions` (applied), `unknown` (security events of a type not handled), `refused` (invalid logout tokens and SETs) |
//! | `tower_jwt_session_introspections_total` | counter | `result`: `active`, `inactive`, `refused` (active, but not for this server: issuer, audience, type, time), `error` (no usable answer: `503`) |
//! | `tower_jwt_session_introspection_cache_total` | counter | `result`: `hit`, `miss` |
//! | `tower_jwt_session_jwks_fetches_total` | counter | `result`: `ok`, `error` (fetches of a JWK Set; on `error` the last good set stays in use) |

// Every label value is a literal: the `metrics` macros then build the key
// once, in a static. A computed value would allocate a key on every call,
// on the hot path.
#[cfg(feature = "metrics")]
macro_rules! inc {
    ($name:literal, $label:literal => $value:literal) => {
        metrics::counter!($name, $label => $value).increment(1)
    };
}

/// A refusal, by its reason (`RejectionKind`'s metrics label).
#[inline]
pub(crate) fn refused(reason: &'static str) {
    #[cfg(feature = "metrics")]
    match reason {
        "missing_credentials" => {
            inc!("tower_jwt_session_refusals_total", "reason" => "missing_credentials")
        }
        "invalid_request" => {
            inc!("tower_jwt_session_refusals_total", "reason" => "invalid_request")
        }
        "invalid_token" => inc!("tower_jwt_session_refusals_total", "reason" => "invalid_token"),
        "expired" => inc!("tower_jwt_session_refusals_total", "reason" => "expired"),
        "revoked" => inc!("tower_jwt_session_refusals_total", "reason" => "revoked"),
        "insufficient_scope" => {
            inc!("tower_jwt_session_refusals_total", "reason" => "insufficient_scope")
        }
        "backend_unavailable" => {
            inc!("tower_jwt_session_refusals_total", "reason" => "backend_unavailable")
        }
        _ => inc!("tower_jwt_session_refusals_total", "reason" => "invalid_dpop_proof"),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

/// An identity provider's logout or security event, by what became of it.
#[inline]
pub(crate) fn security_event(kind: &'static str) {
    #[cfg(feature = "metrics")]
    match kind {
        "back_channel_logout" => {
            inc!("tower_jwt_session_provider_events_total", "kind" => "back_channel_logout")
        }
        "session_revoked" => {
            inc!("tower_jwt_session_provider_events_total", "kind" => "session_revoked")
        }
        "all_sessions" => {
            inc!("tower_jwt_session_provider_events_total", "kind" => "all_sessions")
        }
        "unknown" => inc!("tower_jwt_session_provider_events_total", "kind" => "unknown"),
        _ => inc!("tower_jwt_session_provider_events_total", "kind" => "refused"),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

#[inline]
pub(crate) fn verified_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        inc!("tower_jwt_session_verified_cache_total", "result" => "hit")
    } else {
        inc!("tower_jwt_session_verified_cache_total", "result" => "miss")
    }
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

#[inline]
pub(crate) fn blocklist_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        inc!("tower_jwt_session_blocklist_cache_total", "result" => "hit")
    } else {
        inc!("tower_jwt_session_blocklist_cache_total", "result" => "miss")
    }
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

#[inline]
pub(crate) fn blocklist_answered(ok: bool, took: std::time::Duration) {
    #[cfg(feature = "metrics")]
    if ok {
        inc!("tower_jwt_session_blocklist_checks_total", "result" => "ok");
        metrics::histogram!("tower_jwt_session_blocklist_seconds", "result" => "ok")
            .record(took.as_secs_f64());
    } else {
        inc!("tower_jwt_session_blocklist_checks_total", "result" => "error");
        metrics::histogram!("tower_jwt_session_blocklist_seconds", "result" => "error")
            .record(took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (ok, took);
}

#[inline]
pub(crate) fn reuse_detected() {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_reuse_detected_total").increment(1);
}

#[inline]
pub(crate) fn admitted_unchecked() {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_jwt_session_outage_admitted_total").increment(1);
}

#[cfg(feature = "jwks")]
#[inline]
pub(crate) fn jwks_fetched(ok: bool) {
    #[cfg(feature = "metrics")]
    {
        if ok {
            inc!("tower_jwt_session_jwks_fetches_total", "result" => "ok");
        } else {
            inc!("tower_jwt_session_jwks_fetches_total", "result" => "error");
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = ok;
}

/// A request to an introspection endpoint, by its outcome.
#[cfg(feature = "jwks")]
#[inline]
pub(crate) fn introspection(result: &'static str) {
    #[cfg(feature = "metrics")]
    match result {
        "active" => inc!("tower_jwt_session_introspections_total", "result" => "active"),
        "inactive" => inc!("tower_jwt_session_introspections_total", "result" => "inactive"),
        "refused" => inc!("tower_jwt_session_introspections_total", "result" => "refused"),
        _ => inc!("tower_jwt_session_introspections_total", "result" => "error"),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// A look into the introspection cache.
#[cfg(feature = "jwks")]
#[inline]
pub(crate) fn introspection_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        inc!("tower_jwt_session_introspection_cache_total", "result" => "hit");
    } else {
        inc!("tower_jwt_session_introspection_cache_total", "result" => "miss");
    }
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}
