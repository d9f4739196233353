//! Wall-clock time in the units JWTs use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch; 0 for a clock before 1970.
pub(crate) fn now_micros() -> i64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    real.saturating_add(test_skew_micros())
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    now_micros() / 1_000_000
}

/// With the `testing` feature only: the environment variable
/// `TOWER_JWT_SESSION_TEST_CLOCK_SKEW_MS` (read once) moves this process's
/// clock by that many milliseconds, so that tests can run servers whose
/// clocks disagree. Never enable `testing` in production builds.
#[cfg(feature = "testing")]
fn test_skew_micros() -> i64 {
    static SKEW: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SKEW.get_or_init(|| {
        std::env::var("TOWER_JWT_SESSION_TEST_CLOCK_SKEW_MS")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map_or(0, |ms| ms.saturating_mul(1000))
    })
}

#[cfg(not(feature = "testing"))]
#[inline(always)]
fn test_skew_micros() -> i64 {
    0
}
