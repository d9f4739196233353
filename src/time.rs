//! Wall-clock time in the units JWTs use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch; 0 for a clock before 1970.
pub(crate) fn now_micros() -> i64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    real.saturating_add(test_skew_micros())
}

/// A Unix time (microseconds) as a point of this process's clock: whether
/// it has passed is one clock read and one comparison, with no conversion
/// to Unix time on each check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expiry(Option<SystemTime>);

impl Expiry {
    /// The Unix time `micros` (as [`now_micros`] counts it).
    pub(crate) fn at_micros(micros: i64) -> Self {
        let real = u64::try_from(micros.saturating_sub(test_skew_micros())).unwrap_or(0);
        // `None`: past what the clock can hold, so never reached.
        Self(UNIX_EPOCH.checked_add(Duration::from_micros(real)))
    }

    /// Whether [`now_micros`] has reached it.
    #[inline]
    pub(crate) fn has_passed(self) -> bool {
        self.0.is_some_and(|at| SystemTime::now() >= at)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_passes_with_the_clock_that_counts_it() {
        let now = now_micros();
        assert!(Expiry::at_micros(now).has_passed());
        assert!(Expiry::at_micros(now - 1).has_passed());
        assert!(Expiry::at_micros(-5).has_passed());
        assert!(!Expiry::at_micros(now + 10_000_000).has_passed());
        assert!(!Expiry::at_micros(i64::MAX).has_passed());
    }
}
