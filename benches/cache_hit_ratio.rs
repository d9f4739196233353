//! Hit ratio of the verified-token cache (default capacity) against moka's
//! TinyLFU and quick_cache's S3-FIFO at the same capacity, same run, same
//! access stream: Zipf (s = 1) over one million distinct valid tokens, then
//! a one-pass flood of one million new valid tokens, then the Zipf stream
//! again (right after the flood, and over a longer stretch).
//!
//! The crate's cache is driven through `SessionManager::decode` with real
//! HS256 tokens (its hits and misses read from its `metrics` counters); the
//! two libraries see the same sequence of token ids (their policy alone is
//! compared: the value does not matter).
//!
//! Run with `cargo bench --bench cache_hit_ratio` (`ACCESSES=n` sets the
//! length of each measured stretch, default 1 000 000).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tower_jwt_session::{SessionManager, DEFAULT_VERIFIED_CACHE_CAPACITY};

const SECRET: &str = "benchmark-secret-that-is-long-enough-for-hs256";
const UNIVERSE: u64 = 1_000_000;

/// Counts the verified-token cache's hits and misses.
#[derive(Default)]
struct CacheCounts {
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

struct Add(Arc<AtomicU64>);

impl CounterFn for Add {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl Recorder for CacheCounts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != "tower_jwt_session_verified_cache_total" {
            return Counter::noop();
        }
        match key
            .labels()
            .find(|l| l.key() == "result")
            .map(|l| l.value())
        {
            Some("hit") => Counter::from_arc(Arc::new(Add(self.hits.clone()))),
            Some("miss") => Counter::from_arc(Arc::new(Add(self.misses.clone()))),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf (s = 1) over `0..n` by inverse transform on the cumulative table.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64) -> Self {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / k as f64;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.next_f64();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// The valid token of user `i` (the same bytes every time).
fn token(i: u64, now: i64) -> String {
    let claims = serde_json::json!({
        "iss": "atomic-crm", "aud": "atomic-crm-api", "sub": format!("u{i}"),
        "userId": format!("u{i}"), "email": format!("u{i}@example.com"),
        "iat": now, "exp": now + 3600, "jti": format!("t{i}"),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// One cache under test: `access` answers whether the id was a hit.
trait Policy {
    fn name(&self) -> &'static str;
    fn access(&mut self, id: u64) -> bool;
}

struct Ours {
    manager: SessionManager,
    counts: (Arc<AtomicU64>, Arc<AtomicU64>),
    now: i64,
}

impl Policy for Ours {
    fn name(&self) -> &'static str {
        "tower-jwt-session verified-token cache"
    }

    fn access(&mut self, id: u64) -> bool {
        let before = self.counts.0.load(Ordering::Relaxed);
        self.manager.decode(&token(id, self.now)).unwrap();
        self.counts.0.load(Ordering::Relaxed) > before
    }
}

struct Moka(moka::sync::Cache<u64, ()>);

impl Policy for Moka {
    fn name(&self) -> &'static str {
        "moka 0.12 (TinyLFU)"
    }

    fn access(&mut self, id: u64) -> bool {
        if self.0.get(&id).is_some() {
            return true;
        }
        self.0.insert(id, ());
        false
    }
}

struct Quick(quick_cache::sync::Cache<u64, ()>);

impl Policy for Quick {
    fn name(&self) -> &'static str {
        "quick_cache 0.6 (S3-FIFO)"
    }

    fn access(&mut self, id: u64) -> bool {
        if self.0.get(&id).is_some() {
            return true;
        }
        self.0.insert(id, ());
        false
    }
}

fn ratio(policy: &mut dyn Policy, ids: &[u64]) -> f64 {
    let hits = ids.iter().filter(|&&id| policy.access(id)).count();
    hits as f64 / ids.len() as f64
}

fn main() {
    let accesses: usize = std::env::var("ACCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let counts = CacheCounts::default();
    let (hits, misses) = (counts.hits.clone(), counts.misses.clone());
    metrics::set_global_recorder(counts).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let capacity = DEFAULT_VERIFIED_CACHE_CAPACITY;
    let zipf = Zipf::new(UNIVERSE);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut stream = |n: usize| -> Vec<u64> { (0..n).map(|_| zipf.sample(&mut rng)).collect() };
    let warm = stream(accesses / 2);
    let measured = stream(accesses);
    let flood: Vec<u64> = (UNIVERSE..2 * UNIVERSE).collect();
    let after_short = stream(accesses / 10);
    let after_long = stream(accesses);

    let mut policies: Vec<Box<dyn Policy>> = vec![
        Box::new(Ours {
            manager: SessionManager::builder(SECRET)
                .with_issuer("atomic-crm")
                .with_audience("atomic-crm-api")
                .build()
                .unwrap(),
            counts: (hits, misses),
            now,
        }),
        Box::new(Moka(moka::sync::Cache::new(capacity))),
        Box::new(Quick(quick_cache::sync::Cache::new(capacity as usize))),
    ];
    println!(
        "capacity {capacity}, Zipf s = 1 over {UNIVERSE} tokens, {} measured accesses\n",
        accesses
    );
    println!(
        "| cache | Zipf | first {} after a flood of {UNIVERSE} new tokens | next {} |",
        accesses / 10,
        accesses
    );
    println!("| --- | --- | --- | --- |");
    for policy in &mut policies {
        ratio(policy.as_mut(), &warm);
        let steady = ratio(policy.as_mut(), &measured);
        ratio(policy.as_mut(), &flood);
        let short = ratio(policy.as_mut(), &after_short);
        let long = ratio(policy.as_mut(), &after_long);
        println!(
            "| {} | {:.1}% | {:.1}% | {:.1}% |",
            policy.name(),
            steady * 100.0,
            short * 100.0,
            long * 100.0
        );
    }
}
