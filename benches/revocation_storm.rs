//! A revocation storm, and a steady stream of refreshes, seen from another
//! server: two servers (each a `SessionManager` over its own `RedisReplica`
//! of one Redis on loopback, started here) in one process.
//!
//! 1. Quiet: a thread of its own sends requests with 1 000 cached tokens
//!    through server B's `SessionLayer` for 3 s: requests per second.
//! 2. Storm: 100 000 logouts (`STORM=n`) made on server A by 64 concurrent
//!    tasks; the time until every one is in force on B (each token checked
//!    on B's replica), and B's requests per second meanwhile.
//! 3. Quiet again (brackets the machine's drift).
//! 4. 1 000 refreshes per second on A for 5 s (each a rotation written to
//!    Redis and replayed on B), and B's requests per second meanwhile.
//! 5. 100 000 Security Event Tokens (CAEP `session-revoked`, one subject
//!    each, ES256-signed by a trusted provider) pushed to A's receiver by
//!    64 concurrent tasks: the receiver's events per second, and the time
//!    until a sample of 1 000 of those subjects' access tokens is refused
//!    on B (and B has applied every event).
//!
//! The same thread takes turns (batches of 256 requests) with a control: a
//! layer whose manager uses an in-memory blocklist that the storm does not
//! touch. Rates count each layer's own time, so both meet the same load:
//! the control's ratio is what the machine's load alone costs (two cores
//! here, shared with Redis and server A), and B's ratio over the control's
//! is what the storm costs the replica's hot path.
//!
//! Run with `cargo bench --bench revocation_storm` (needs `redis-server`).
//! The ratios are the figures: B's rate during each phase over the quiet
//! one, same run.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{hello, request, Redis, SECRET};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    blocklist::{
        Blocklist, BlocklistError, BlocklistFuture, Lookup, RedisBlocklist, RedisReplica, Rotation,
        TokenKey,
    },
    issuers::TrustedIssuer,
    receivers::SecurityEventReceiver,
    Algorithm, KeyPair, NewSession, SessionData, SessionLayer, SessionManager,
};

const PROVIDER: &str = "https://idp.example.com";
const AUDIENCE: &str = "atomic-crm-api";
const PROVIDER_KEY: &[u8] = include_bytes!("../tests/keys/p256.pem");

fn server(redis: &Redis) -> (SessionManager, RedisReplica) {
    let replica = RedisBlocklist::builder(redis.url())
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .into_replica();
    let provider = KeyPair::from_pkcs8_pem(Algorithm::ES256, PROVIDER_KEY).unwrap();
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience(AUDIENCE)
        .with_blocklist(replica.clone())
        .with_trusted_issuer(
            TrustedIssuer::with_public_keys(PROVIDER, [provider.public_key().clone()])
                .with_audience(AUDIENCE),
        )
        .build()
        .unwrap();
    (manager, replica)
}

/// A JWT of the provider's, signed with its key.
fn provider_jwt(typ: &str, claims: &serde_json::Value) -> String {
    use base64::Engine;
    static KEY: std::sync::OnceLock<jsonwebtoken::EncodingKey> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        // PKCS#8 PEM to DER: the base64 between the armour lines.
        let body: String = String::from_utf8_lossy(PROVIDER_KEY)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        jsonwebtoken::EncodingKey::from_ec_der(&der)
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// B's replica without its slots (`revision_slots` left at the trait's
/// default): every write anywhere sends a cached token to a full lookup,
/// as before the slots.
#[derive(Clone, Debug)]
struct WithoutSlots(RedisReplica);

impl Blocklist for WithoutSlots {
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        self.0.revoke(key, until)
    }
    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        self.0.rotate(key, from, until, user_id, issued_at_micros)
    }
    fn set_valid_after(&self, user_id: &str, micros: i64, until: i64) -> BlocklistFuture<i64> {
        self.0.set_valid_after(user_id, micros, until)
    }
    fn raise_valid_after(&self, user_id: &str, micros: i64, until: i64) -> BlocklistFuture<i64> {
        self.0.raise_valid_after(user_id, micros, until)
    }
    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        self.0.record_once(key, until)
    }
    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        self.0.check(key, user_id)
    }
    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        self.0.try_check(key, user_id)
    }
    fn revision(&self) -> Option<u64> {
        self.0.revision()
    }
    fn clock_micros(&self) -> i64 {
        self.0.clock_micros()
    }
}

fn new_session(i: usize) -> NewSession {
    NewSession::new(format!("u-{i}"), format!("u{i}@example.com")).with_role("user")
}

/// Requests per service and nanoseconds spent in each.
#[derive(Default)]
struct Tally {
    requests: [AtomicU64; 3],
    nanos: [AtomicU64; 3],
}

impl Tally {
    fn read(&self) -> [(u64, u64); 3] {
        [0, 1, 2].map(|i| {
            (
                self.requests[i].load(Ordering::Relaxed),
                self.nanos[i].load(Ordering::Relaxed),
            )
        })
    }
}

/// Requests on a thread of its own, in batches of 256 taking turns
/// between B's layer, B's without slots and the control's (so both meet the same load),
/// round-robin over `tokens`, until `stop`.
fn hit_loop(
    managers: [SessionManager; 3],
    tokens: Vec<String>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut services = managers.map(|m| {
            ServiceBuilder::new()
                .layer(SessionLayer::new(m))
                .service_fn(hello)
        });
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            for (s, svc) in services.iter_mut().enumerate() {
                let started = Instant::now();
                for _ in 0..256 {
                    let req = request(&tokens[i % tokens.len()]);
                    i += 1;
                    let res = svc.ready().await.unwrap().call(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                }
                tally.nanos[s].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                tally.requests[s].fetch_add(256, Ordering::Relaxed);
            }
        }
    });
}

/// B's and the control's requests per second of their own time while
/// `phase` runs.
async fn rate_during<F: std::future::Future>(tally: &Tally, phase: F) -> ([f64; 3], F::Output) {
    let before = tally.read();
    let out = phase.await;
    let after = tally.read();
    let rates = [0, 1, 2].map(|i| {
        let (n, ns) = (after[i].0 - before[i].0, after[i].1 - before[i].1);
        n as f64 / (ns.max(1) as f64 / 1e9)
    });
    (rates, out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let storm: usize = std::env::var("STORM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let redis = Redis::start();
    let (a, replica_a) = server(&redis);
    let (b, replica_b) = server(&redis);
    while !replica_a.is_ready() || !replica_b.is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hot: Vec<String> = (0..1000)
        .map(|i| b.issue(new_session(i)).unwrap().into_token())
        .collect();
    let victims: Vec<SessionData> = (0..storm)
        .map(|i| a.issue(new_session(10_000 + i)).unwrap().session().clone())
        .collect();
    let refreshed: Vec<SessionData> = (0..5_000)
        .map(|i| a.issue(new_session(500_000 + i)).unwrap().session().clone())
        .collect();
    // The provider's events, one subject each, and access tokens of a
    // sample of those subjects, issued before the events.
    let now = common::now_secs();
    let events: Vec<String> = (0..storm)
        .map(|i| {
            provider_jwt(
                "secevent+jwt",
                &serde_json::json!({
                    "iss": PROVIDER, "aud": AUDIENCE, "iat": now, "jti": format!("set-{i}"),
                    "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked":
                        {"subject": {"format": "iss_sub", "iss": PROVIDER, "sub": format!("p-{i}")}}},
                }),
            )
        })
        .collect();
    let sampled: Vec<String> = (0..storm)
        .step_by(100)
        .map(|i| {
            provider_jwt(
                "at+jwt",
                &serde_json::json!({
                    "iss": PROVIDER, "aud": AUDIENCE, "sub": format!("p-{i}"), "jti": format!("at-{i}"),
                    "iat": now - 10, "exp": now + 600, "scope": "api:read",
                }),
            )
        })
        .collect();
    for token in &sampled {
        b.verify(token.as_str()).await.unwrap();
    }

    let control = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let hits = {
        let without_slots = SessionManager::builder(SECRET)
            .with_issuer("atomic-crm")
            .with_audience("atomic-crm-api")
            .with_blocklist(WithoutSlots(replica_b.clone()))
            .build()
            .unwrap();
        let managers = [b.clone(), without_slots, control];
        let (tally, stop) = (tally.clone(), stop.clone());
        std::thread::spawn(move || hit_loop(managers, hot, tally, stop))
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (quiet, ()) = rate_during(&tally, tokio::time::sleep(Duration::from_secs(3))).await;

    let victims = Arc::new(victims);
    let (during_storm, (sent, in_force)) = rate_during(&tally, async {
        let started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..64)
            .map(|_| {
                let (a, victims, next) = (a.clone(), victims.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(session) = victims.get(i) else { break };
                        a.revoke(session).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let sent = started.elapsed();
        // Every one in force on B: checked on its replica, the last ones
        // first (they arrive last).
        let mut pending: Vec<&SessionData> = victims.iter().rev().collect();
        while !pending.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(120), "not in force");
            pending.retain(|s| {
                !matches!(replica_b.try_check(s.revocation_key(), s.user_id()),
                    Some(Ok(l)) if l.revoked)
            });
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        (sent, started.elapsed())
    })
    .await;
    let (quiet_after, ()) = rate_during(&tally, tokio::time::sleep(Duration::from_secs(3))).await;

    let refreshed = Arc::new(refreshed);
    let (during_refreshes, rotated) = rate_during(&tally, async {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        let mut i = 0;
        while Instant::now() < deadline && i < refreshed.len() {
            tick.tick().await;
            let (a, refreshed) = (a.clone(), refreshed.clone());
            tasks.push(tokio::spawn(async move {
                a.refresh_session(&refreshed[i]).await.unwrap();
            }));
            i += 1;
        }
        for t in tasks {
            t.await.unwrap();
        }
        i
    })
    .await;
    let events = Arc::new(events);
    let applied_before = replica_b.stats().applied;
    let (during_events, (events_sent, events_in_force)) = rate_during(&tally, async {
        let started = Instant::now();
        let receiver = SecurityEventReceiver::new(a.clone(), AUDIENCE);
        let next = Arc::new(AtomicU64::new(0));
        let pushers: Vec<_> = (0..64)
            .map(|_| {
                let (receiver, events, next) = (receiver.clone(), events.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(set) = events.get(i) else { break };
                        let req = http::Request::post("/ssf/events")
                            .header(http::header::CONTENT_TYPE, "application/secevent+jwt")
                            .body(set.clone())
                            .unwrap();
                        let res = receiver.clone().oneshot(req).await.unwrap();
                        assert_eq!(res.status(), 202, "{:?}", res.body());
                    }
                })
            })
            .collect();
        for p in pushers {
            p.await.unwrap();
        }
        let sent = started.elapsed();
        let mut pending: Vec<&String> = sampled.iter().rev().collect();
        while !pending.is_empty() || replica_b.stats().applied < applied_before + storm as u64 {
            assert!(started.elapsed() < Duration::from_secs(120), "not in force");
            let mut still = Vec::new();
            for token in pending {
                if b.verify(token.as_str()).await.is_ok() {
                    still.push(token);
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (sent, started.elapsed())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    hits.join().unwrap();

    let quiet_mean = [0, 1, 2].map(|i| (quiet[i] + quiet_after[i]) / 2.0);
    println!("| requests/s of own time on B | B | B without slots | control (memory blocklist) | B / control | without slots / control |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, rates) in [
        ("quiet, before".to_owned(), quiet),
        ("quiet, after".to_owned(), quiet_after),
        (format!("during {storm} logouts on A"), during_storm),
        (
            format!("during {rotated} refreshes on A at 1,000/s"),
            during_refreshes,
        ),
        (
            format!("during {storm} security events to A's receiver"),
            during_events,
        ),
    ] {
        println!(
            "| {name} | {:.0} ({:.2}x quiet) | {:.0} ({:.2}x) | {:.0} ({:.2}x) | {:.2} | {:.2} |",
            rates[0],
            rates[0] / quiet_mean[0],
            rates[1],
            rates[1] / quiet_mean[1],
            rates[2],
            rates[2] / quiet_mean[2],
            rates[0] / rates[2],
            rates[1] / rates[2],
        );
    }
    println!(
        "\n{storm} logouts sent by 64 tasks in {:.2} s ({:.0}/s); every one in force on B after {:.2} s",
        sent.as_secs_f64(),
        storm as f64 / sent.as_secs_f64(),
        in_force.as_secs_f64()
    );
    println!(
        "{storm} security events pushed by 64 tasks in {:.2} s ({:.0}/s, each verified and applied); the sampled subjects refused on B, and every event applied there, after {:.2} s",
        events_sent.as_secs_f64(),
        storm as f64 / events_sent.as_secs_f64(),
        events_in_force.as_secs_f64()
    );
    println!("B's replica: {:?}", replica_b.stats());
}
