//! [`StoreClock`]: a shared store's clock as this process knows it, from
//! samples (Redis's `TIME`, PostgreSQL's `clock_timestamp()`; the offset of
//! the fastest recent round trip), never running backwards.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Mutex,
};

use crate::time::now_micros;

/// Samples kept; the one with the shortest round trip gives the offset.
const SAMPLES: usize = 8;
/// The largest backward correction that readings absorb by holding still
/// (microseconds); a larger one is a jump.
const MAX_HELD_BACK: i64 = 1_000_000;

/// The store's clock minus this process's.
///
/// A sample's error is at most half its round trip, so of the last
/// [`SAMPLES`] the one with the shortest round trip wins: a sample taken
/// while a connection was still being made (or through a congested link)
/// does not move the clock once a better one exists. Readings never run
/// backwards across corrections of up to a second (they hold still until
/// the corrected clock catches up); the first measurement and larger
/// corrections are taken at once.
#[derive(Debug)]
pub(crate) struct StoreClock {
    /// Recent samples, (round trip, offset) in microseconds.
    samples: Mutex<Vec<(i64, i64)>>,
    /// The offset in use.
    offset: AtomicI64,
    /// The latest reading handed out.
    last: AtomicI64,
}

impl StoreClock {
    pub(crate) fn new() -> Self {
        Self {
            samples: Mutex::new(Vec::with_capacity(SAMPLES)),
            offset: AtomicI64::new(0),
            last: AtomicI64::new(i64::MIN),
        }
    }

    /// Records one `TIME` answer (`store_now`) to a command sent at `sent`
    /// and answered at `received` (this process's clock).
    pub(crate) fn record(&self, sent: i64, received: i64, store_now: i64) {
        let rtt = received.saturating_sub(sent).max(0);
        let offset = store_now.saturating_sub(sent.saturating_add(rtt / 2));
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == SAMPLES {
            samples.remove(0);
        }
        samples.push((rtt, offset));
        let first = samples.len() == 1;
        if let Some(&(_, best)) = samples.iter().min_by_key(|(rtt, _)| *rtt) {
            let before = self.offset.swap(best, Ordering::AcqRel);
            // Readings never run backwards across the small corrections of
            // a measured clock; the first measurement, or a correction of
            // over a second (a failover to a server with another clock),
            // is taken at once instead of holding readings back that long.
            if first || before.saturating_sub(best) > MAX_HELD_BACK {
                self.last.store(i64::MIN, Ordering::Release);
            }
        }
    }

    /// The offset in use, in microseconds (0 until measured).
    #[cfg(test)]
    pub(crate) fn offset_micros(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// The store's time now, as this process knows it; never earlier than a
    /// reading handed out before.
    pub(crate) fn now_micros(&self) -> i64 {
        let now = now_micros().saturating_add(self.offset.load(Ordering::Relaxed));
        let before = self.last.fetch_max(now, Ordering::AcqRel);
        now.max(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_round_trip_wins_and_readings_never_go_back() {
        let clock = StoreClock::new();
        // A slow first sample (a connection being made): 20 ms round trip.
        clock.record(0, 20_000, 1_000_000 + 15_000);
        assert_eq!(clock.offset_micros(), 1_005_000);
        // A fast one: 200 µs round trip.
        clock.record(100_000, 100_200, 1_100_100);
        assert_eq!(clock.offset_micros(), 1_000_000);
        // A later slow one does not move it.
        clock.record(200_000, 230_000, 1_220_000);
        assert_eq!(clock.offset_micros(), 1_000_000);
        // Readings never run backwards when the offset drops by half a
        // second...
        let before = clock.now_micros();
        for i in 0..SAMPLES as i64 {
            clock.record(300_000 + i, 300_001 + i, 300_000 + i + 500_000);
        }
        assert_eq!(clock.offset_micros(), 500_000);
        assert!(clock.now_micros() >= before);
        // ...but a correction of over a second is a jump.
        for i in 0..SAMPLES as i64 {
            clock.record(400_000 + i, 400_000 + i, 400_000 + i - 5_000_000);
        }
        assert_eq!(clock.offset_micros(), -5_000_000);
        assert!(clock.now_micros() < before);
    }
}
