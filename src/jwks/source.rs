//! [`JwksSource`]: keys fetched from a JWKS URL (or found through OpenID
//! Connect discovery), kept current in the background.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, RwLock, Weak,
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{fetch, JwkSet};
use crate::{
    error::ConfigError, error::JwksError, error::VerifyError, jwt::algorithm::Algorithm,
    time::now_micros,
};

/// Default interval between two fetches of the set.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Default shortest interval between two fetches caused by unknown `kid`s.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);
/// Default bound on one fetch, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default age after which a set that could not be refreshed is no longer
/// used (requests then answer `503`).
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest refresh interval, whatever `Cache-Control` says.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// The longest refresh interval, whatever `Cache-Control` says.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Unknown `kid`s remembered between two fetches (beyond it, forgotten).
const NEGATIVE_CAPACITY: usize = 1024;
/// The first retry after a failed fetch; doubled up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Where the set is.
#[derive(Debug, Clone)]
enum TargetSpec {
    Jwks(String),
    Issuer(String),
}

enum Target {
    Jwks(reqwest::Url),
    /// OpenID Connect discovery: the issuer, its configuration document, and
    /// the `jwks_uri` it named (found again after a failed fetch).
    Discovery {
        issuer: String,
        configuration: reqwest::Url,
        jwks: Mutex<Option<reqwest::Url>>,
    },
}

/// Builds a [`JwksSource`]; see its docs.
#[derive(Debug, Clone)]
#[must_use]
pub struct JwksSourceBuilder {
    target: TargetSpec,
    algorithm: Option<Algorithm>,
    refresh: Duration,
    cooldown: Duration,
    timeout: Duration,
    max_key_age: Option<Duration>,
    roots: Vec<Vec<u8>>,
}

impl JwksSourceBuilder {
    /// How often the set is fetched again. Default: 300 s. A shorter
    /// `Cache-Control: max-age` on the answer wins; either way never more
    /// often than every 10 s nor less often than every 24 h (a shorter or
    /// longer interval is taken as that bound).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// The shortest time between two fetches caused by tokens whose `kid`
    /// is not in the set. Default: 10 s. Whatever the number of such tokens
    /// and kids, they cause at most one fetch per cooldown.
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The bound on one fetch, connection included. Default: 5 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the last good set stays in use when fetches fail: beyond
    /// it, requests answer `503` until a fetch succeeds. `None` keeps it
    /// forever. Default: 24 h.
    pub fn with_max_key_age(mut self, age: Option<Duration>) -> Self {
        self.max_key_age = age;
        self
    }

    /// Trusts the certificates of `pem` (one or more `CERTIFICATE` blocks)
    /// as roots, besides the webpki roots: for an issuer behind a private
    /// certificate authority.
    pub fn with_root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.roots.push(pem.as_ref().to_vec());
        self
    }

    /// Checks the settings and starts the task that fetches the set (at
    /// once, then periodically). The source is usable at once: until a
    /// first set arrives, verification fails with
    /// [`VerifyError::KeysUnavailable`] (the layer answers `503`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidJwksUrl`] for a URL that is not `http://` or
    /// `https://`, [`ConfigError::InvalidTimeout`] for a zero timeout or
    /// cooldown,
    /// [`ConfigError::InvalidCertificate`] for an unreadable root
    /// certificate, [`ConfigError::NoRuntime`] outside a tokio runtime.
    pub fn build(self) -> Result<JwksSource, ConfigError> {
        for d in [self.timeout, self.cooldown] {
            if d.is_zero() {
                return Err(ConfigError::InvalidTimeout(d));
            }
        }
        let target = match &self.target {
            TargetSpec::Jwks(url) => Target::Jwks(http_url(url)?),
            TargetSpec::Issuer(issuer) => {
                let base = http_url(issuer)?;
                let configuration = http_url(&format!(
                    "{}/.well-known/openid-configuration",
                    base.as_str().trim_end_matches('/')
                ))?;
                Target::Discovery {
                    issuer: issuer.clone(),
                    configuration,
                    jwks: Mutex::new(None),
                }
            }
        };
        let client = fetch::http_client(self.timeout, &self.roots)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime);
        }
        let state = Arc::new(State {
            algorithm: self.algorithm,
            target,
            client,
            refresh: self.refresh,
            cooldown: self.cooldown,
            timeout: self.timeout,
            max_key_age: self.max_key_age,
            current: RwLock::new(None),
            flight: Mutex::new(Flight::default()),
            negative: Mutex::new(HashMap::new()),
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            last_error: Mutex::new(None),
            max_age_hint: Mutex::new(None),
            epoch: AtomicU64::new(0),
            usable_epoch: AtomicU64::new(0),
            fresh_until_micros: AtomicI64::new(i64::MIN),
        });
        tokio::spawn(refresher(Arc::downgrade(&state)));
        Ok(JwksSource { state })
    }
}

pub(crate) fn http_url(text: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(text).map_err(|e| ConfigError::InvalidJwksUrl(format!("{e}")))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(ConfigError::InvalidJwksUrl("no host".to_owned())),
        other => Err(ConfigError::InvalidJwksUrl(format!(
            "the scheme is {other:?}; use http:// or https://"
        ))),
    }
}

/// Public keys from an issuer's JWK Set (RFC 7517), fetched over `https://`
/// (rustls, certificates verified against the webpki roots and any given
/// with [`with_root_certificate_pem`](JwksSourceBuilder::with_root_certificate_pem))
/// or `http://`, for verify-only services:
/// [`SessionManager::verify_only`](crate::SessionManager::verify_only) with [`with_jwks`](crate::SessionManagerBuilder::with_jwks).
///
/// - **Parsed once per fetch**: only keys usable with the configured
///   algorithm count (see [`JwkSet`]); lookups by `kid` are O(1).
/// - **Refreshed off the request path**: at start, then every
///   [refresh interval](JwksSourceBuilder::with_refresh_interval) (sooner
///   when `Cache-Control: max-age` says so, clamped to 10 s to 24 h).
/// - **Unknown `kid`**: a token naming a key that is not in the set causes
///   one fetch, at most one per [cooldown](JwksSourceBuilder::with_cooldown),
///   shared by every request that needs it (they wait for that one fetch,
///   never longer than its timeout). A `kid` still unknown after a fetch that began after its token arrived is
///   remembered (up to 1 024) and refused without a fetch for one cooldown
///   (or until the set changes): a kid guessed ahead of the issuer's next
///   rotation delays that key by one cooldown at most. A token whose `kid` is known but whose signature is wrong
///   never causes a fetch.
/// - **Failures** (no answer within 5 s, a status other than 200, a
///   redirect, a body over 256 KiB, a document that is not a JWK Set or has
///   no usable key) keep the last good set, with a warning, retried with
///   backoff from 1 s to 60 s; beyond the
///   [maximum key age](JwksSourceBuilder::with_max_key_age) requests answer
///   `503`. Before the first good set every request answers `503`, never a
///   pass.
/// - Proxies from the environment are not used: the set is fetched
///   directly.
///
/// ```no_run
/// use tower_jwt_session::{jwks::JwksSource, Algorithm, SessionLayer, SessionManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
/// let keys = JwksSource::builder("https://auth.example.com/.well-known/jwks.json", Algorithm::EdDSA)
///     .build()?;
/// let manager = SessionManager::verify_only().with_jwks(keys)
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .build()?;
/// let layer = SessionLayer::new(manager);
/// # let _ = layer; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwksSource {
    state: Arc<State>,
}

struct State {
    algorithm: Option<Algorithm>,
    target: Target,
    client: reqwest::Client,
    refresh: Duration,
    cooldown: Duration,
    timeout: Duration,
    max_key_age: Option<Duration>,
    current: RwLock<Option<Snapshot>>,
    flight: Mutex<Flight>,
    /// Kids written off, with when: each only for one cooldown, so a kid
    /// an attacker guessed ahead of a rotation (the issuer's predictable
    /// next kid) is refused without a fetch for one cooldown at most.
    negative: Mutex<HashMap<String, Instant>>,
    attempts: AtomicU64,
    failures: AtomicU64,
    consecutive_failures: AtomicU32,
    last_error: Mutex<Option<JwksError>>,
    max_age_hint: Mutex<Option<Duration>>,
    /// Bumped each time the set's keys change. Entries of the
    /// verified-token cache carry the epoch they were verified in, so a key
    /// removed from the set stops verifying at once, cached or not.
    epoch: AtomicU64,
    /// The epoch while the set may be used; 0 before the first set and
    /// once it is older than the maximum key age (the refresher wakes up to
    /// mark it). One atomic load on the hot path, no clock read.
    usable_epoch: AtomicU64,
    /// Until when (Unix microseconds) the set in use may be used: its
    /// fetch time plus the maximum key age.
    fresh_until_micros: AtomicI64,
}

struct Snapshot {
    set: JwkSet,
    fetched_at: Instant,
}

/// The fetch under way, if any; when the last one started (the periodic
/// fetch counts from it) and when the last one caused by an unknown `kid`
/// started (the cooldown counts from it).
#[derive(Default)]
struct Flight {
    running: Option<watch::Receiver<()>>,
    last_started: Option<Instant>,
    last_by_token: Option<Instant>,
}

/// What a [`JwksSource`] has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// Fetches started (periodic, unknown-`kid` and forced).
    pub fetches: u64,
    /// Fetches that failed (the last good set stayed in use).
    pub failures: u64,
    /// Usable keys in the set in use (0 before the first good fetch).
    pub keys: usize,
    /// Time since the set in use was fetched.
    pub age: Option<Duration>,
}

/// Waits for a fetch to end.
pub(crate) type KeysWait = Pin<Box<dyn Future<Output = ()> + Send>>;

impl JwksSource {
    /// Starts a builder for the JWK Set at `url` (`https://` or `http://`),
    /// keeping the keys usable with `algorithm`.
    pub fn builder(url: impl Into<String>, algorithm: Algorithm) -> JwksSourceBuilder {
        Self::builder_for(TargetSpec::Jwks(url.into()), Some(algorithm))
    }

    /// Starts a builder for the JWK Set at `url`, keeping every key usable
    /// with a supported asymmetric algorithm, each for its own (see
    /// [`JwkSet::parse_any`]): an identity provider's keys, for a
    /// [`TrustedIssuer`](crate::issuers::TrustedIssuer).
    pub fn builder_any(url: impl Into<String>) -> JwksSourceBuilder {
        Self::builder_for(TargetSpec::Jwks(url.into()), None)
    }

    /// [`discover`](Self::discover), keeping every key usable with a
    /// supported asymmetric algorithm, each for its own (see
    /// [`JwkSet::parse_any`]).
    pub fn discover_any(issuer: impl Into<String>) -> JwksSourceBuilder {
        Self::builder_for(TargetSpec::Issuer(issuer.into()), None)
    }

    /// Starts a builder that finds the JWK Set through OpenID Connect
    /// discovery: reads `{issuer}/.well-known/openid-configuration`, checks
    /// that its `issuer` is exactly `issuer`, and uses its `jwks_uri`. The
    /// manager built on it must be configured with the same issuer
    /// ([`ConfigError::JwksIssuerMismatch`] otherwise).
    pub fn discover(issuer: impl Into<String>, algorithm: Algorithm) -> JwksSourceBuilder {
        Self::builder_for(TargetSpec::Issuer(issuer.into()), Some(algorithm))
    }

    fn builder_for(target: TargetSpec, algorithm: Option<Algorithm>) -> JwksSourceBuilder {
        JwksSourceBuilder {
            target,
            algorithm,
            refresh: DEFAULT_REFRESH,
            cooldown: DEFAULT_COOLDOWN,
            timeout: DEFAULT_TIMEOUT,
            max_key_age: Some(DEFAULT_MAX_KEY_AGE),
            roots: Vec::new(),
        }
    }

    /// The algorithm every key verifies; `None` when each key has its own
    /// ([`builder_any`](Self::builder_any), [`discover_any`](Self::discover_any)).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.state.algorithm
    }

    /// The issuer whose discovery document names the set, with
    /// [`discover`](Self::discover).
    pub fn discovered_issuer(&self) -> Option<&str> {
        match &self.state.target {
            Target::Discovery { issuer, .. } => Some(issuer),
            Target::Jwks(_) => None,
        }
    }

    /// `true` once a set is in use and not older than the maximum key age.
    pub fn is_ready(&self) -> bool {
        self.with_set(|_| ()).is_ok()
    }

    /// Counters and the state of the set in use.
    pub fn stats(&self) -> JwksStats {
        let current = self.state.current.read().unwrap_or_else(|e| e.into_inner());
        JwksStats {
            fetches: self.state.attempts.load(Ordering::Relaxed),
            failures: self.state.failures.load(Ordering::Relaxed),
            keys: current.as_ref().map_or(0, |s| s.set.len()),
            age: current.as_ref().map(|s| s.fetched_at.elapsed()),
        }
    }

    /// Fetches the set now (or joins the fetch under way), whatever the
    /// cooldown, and says how it went.
    ///
    /// # Errors
    ///
    /// The [`JwksError`] of a failed fetch; the last good set stays in use.
    pub async fn refresh_now(&self) -> Result<(), JwksError> {
        let wait = self.state.fetch(false);
        if let Some(wait) = wait {
            wait.await;
        }
        match self.state.consecutive_failures.load(Ordering::Acquire) {
            0 => Ok(()),
            _ => Err(self
                .state
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| {
                    JwksError::Request(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                        "unknown failure",
                    )))
                })),
        }
    }

    /// Runs `f` on the set in use.
    pub(crate) fn with_set<R>(&self, f: impl FnOnce(&JwkSet) -> R) -> Result<R, VerifyError> {
        let current = self.state.current.read().unwrap_or_else(|e| e.into_inner());
        let snapshot = current
            .as_ref()
            .ok_or(VerifyError::KeysUnavailable("no JWK Set fetched yet"))?;
        if self.epoch().is_none() {
            return Err(VerifyError::KeysUnavailable(
                "the last JWK Set fetched is older than its maximum age",
            ));
        }
        Ok(f(&snapshot.set))
    }

    /// The set's epoch, or `None` while no set may be used (none fetched
    /// yet, or older than the maximum key age).
    #[inline]
    pub(crate) fn epoch(&self) -> Option<u64> {
        let epoch = self.state.usable_epoch.load(Ordering::Acquire);
        (epoch != 0).then_some(epoch)
    }

    /// While no set was ever fetched: a future that ends when the first
    /// fetch (under way, or started now unless a token started one within
    /// the cooldown) has ended; `None` once a set was fetched, or when no
    /// fetch may start now.
    pub(crate) fn wait_for_first_set(&self) -> Option<KeysWait> {
        if self
            .state
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return None;
        }
        self.state.fetch_started(true).map(|(wait, _)| wait)
    }

    /// For a token naming `kid`, absent from the set: a future that ends
    /// when a fetch that may bring it has ended, or `None` when no fetch
    /// may happen now (cooldown, or `kid` known to be absent).
    pub(crate) fn wait_for_kid(&self, kid: &str) -> Option<KeysWait> {
        if self
            .state
            .negative
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .is_some_and(|at| at.elapsed() < self.state.cooldown)
        {
            return None;
        }
        let (wait, started) = self.state.fetch_started(true)?;
        let state = self.state.clone();
        let kid = kid.to_owned();
        Some(Box::pin(async move {
            wait.await;
            // Only a fetch that began after this token arrived says the
            // issuer does not publish its key: one already under way may
            // predate a rotation.
            if !started {
                return;
            }
            let known = state
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|s| s.set.get(&kid).is_some());
            let fetched = state.consecutive_failures.load(Ordering::Acquire) == 0;
            if fetched && !known {
                let mut negative = state.negative.lock().unwrap_or_else(|e| e.into_inner());
                if negative.len() >= NEGATIVE_CAPACITY {
                    let cooldown = state.cooldown;
                    negative.retain(|_, at| at.elapsed() < cooldown);
                    if negative.len() >= NEGATIVE_CAPACITY {
                        negative.clear();
                    }
                }
                negative.insert(kid, Instant::now());
            }
        }))
    }
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.state.shown_url();
        f.debug_struct("JwksSource")
            .field("url", &url)
            .field("algorithm", &self.state.algorithm)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Joins the fetch under way, or starts one; `by_token`: only if the
    /// cooldown since the last start has passed. `None` when no fetch is
    /// under way and none may start (or there is no runtime).
    fn fetch(self: &Arc<Self>, by_token: bool) -> Option<KeysWait> {
        self.fetch_started(by_token).map(|(wait, _)| wait)
    }

    /// [`fetch`](Self::fetch), and whether this call started the fetch
    /// (rather than joining one that began earlier).
    fn fetch_started(self: &Arc<Self>, by_token: bool) -> Option<(KeysWait, bool)> {
        let mut flight = self.flight.lock().unwrap_or_else(|e| e.into_inner());
        let started = flight.running.is_none();
        let rx = match &flight.running {
            Some(rx) => rx.clone(),
            None => {
                if by_token
                    && flight
                        .last_by_token
                        .is_some_and(|t| t.elapsed() < self.cooldown)
                {
                    return None;
                }
                let runtime = tokio::runtime::Handle::try_current().ok()?;
                let (tx, rx) = watch::channel(());
                flight.running = Some(rx.clone());
                let now = Instant::now();
                if by_token {
                    flight.last_by_token = Some(now);
                }
                flight.last_started = Some(now);
                runtime.spawn(run_fetch(self.clone(), tx));
                rx
            }
        };
        drop(flight);
        // No request waits longer than one fetch's timeout, whatever the
        // fetch does (with discovery it makes two requests); the others
        // wait for the fetch to end (it is bounded by two timeouts).
        let bound = if by_token {
            self.timeout
        } else {
            self.timeout * 2 + Duration::from_secs(1)
        };
        let wait: KeysWait = Box::pin(async move {
            let mut rx = rx;
            let _ =
                tokio::time::timeout(bound, async { while rx.changed().await.is_ok() {} }).await;
        });
        Some((wait, started))
    }

    /// The delay before the next periodic fetch.
    fn next_delay(&self) -> Duration {
        let hint = *self.max_age_hint.lock().unwrap_or_else(|e| e.into_inner());
        refresh_delay(
            self.refresh,
            hint,
            self.consecutive_failures.load(Ordering::Acquire),
        )
    }

    /// One fetch: discovery if needed, then the set.
    async fn fetch_once(&self) -> Result<(JwkSet, Option<Duration>), JwksError> {
        let url = match &self.target {
            Target::Jwks(url) => url.clone(),
            Target::Discovery {
                issuer,
                configuration,
                jwks,
            } => {
                let known = jwks.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover(issuer, configuration).await?;
                        *jwks.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
                        url
                    }
                }
            }
        };
        let result = async {
            let fetched = fetch::get(&self.client, &url, self.timeout).await?;
            let set = JwkSet::parse_for(self.algorithm, &fetched.body)?;
            Ok((set, fetched.max_age))
        }
        .await;
        if result.is_err() {
            // The issuer may have moved its keys: discover again next time.
            if let Target::Discovery { jwks, .. } = &self.target {
                *jwks.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        }
        result
    }

    /// Reads the OpenID Connect configuration and returns its `jwks_uri`.
    async fn discover(
        &self,
        issuer: &str,
        configuration: &reqwest::Url,
    ) -> Result<reqwest::Url, JwksError> {
        let fetched = fetch::get(&self.client, configuration, self.timeout).await?;
        let doc: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| JwksError::Discovery(format!("not JSON: {e}")))?;
        let member = |name: &str| {
            doc.get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| JwksError::Discovery(format!("no string `{name}`")))
        };
        let found = member("issuer")?;
        if found != issuer {
            return Err(JwksError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.to_owned(),
            });
        }
        let jwks_uri =
            http_url(member("jwks_uri")?).map_err(|e| JwksError::Discovery(e.to_string()))?;
        // A document fetched over TLS names keys fetched over TLS: an
        // `http://` `jwks_uri` there is a downgrade nobody chose.
        if configuration.scheme() == "https" && jwks_uri.scheme() != "https" {
            return Err(JwksError::Discovery(
                "the https discovery document names an http:// jwks_uri (a downgrade): refused"
                    .to_owned(),
            ));
        }
        Ok(jwks_uri)
    }

    /// Marks the set unusable once it is older than the maximum key age.
    fn expire_if_stale(&self) {
        if self.usable_epoch.load(Ordering::Acquire) != 0
            && now_micros() >= self.fresh_until_micros.load(Ordering::Acquire)
        {
            self.usable_epoch.store(0, Ordering::Release);
            tracing::error!(
                url = %self.shown_url(),
                "the JWK Set is older than its maximum age and could not be fetched again: requests answer 503 until a fetch succeeds"
            );
        }
    }

    /// Time left before the set in use becomes too old, if it may.
    fn until_stale(&self) -> Option<Duration> {
        if self.usable_epoch.load(Ordering::Acquire) == 0 {
            return None;
        }
        let until = self.fresh_until_micros.load(Ordering::Acquire);
        (until != i64::MAX).then(|| {
            Duration::from_micros(u64::try_from(until.saturating_sub(now_micros())).unwrap_or(0))
        })
    }

    /// The URL fetched (the discovery document's with discovery), without
    /// credentials.
    fn shown_url(&self) -> String {
        let mut url = match &self.target {
            Target::Jwks(url) => url.clone(),
            Target::Discovery { configuration, .. } => configuration.clone(),
        };
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.to_string()
    }

    fn install(&self, set: JwkSet, max_age: Option<Duration>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // A new epoch for any change: a kid added or removed, or a key
        // replaced under its kid (tokens the withdrawn key verified must stop
        // being served from the verified-token cache).
        let changed = current.as_ref().is_none_or(|old| !old.set.same_keys(&set));
        if changed {
            let mut kids: Vec<&str> = set.kids().collect();
            kids.sort_unstable();
            tracing::info!(kids = ?kids, skipped = set.skipped(), "JWK Set in use");
        }
        *current = Some(Snapshot {
            set,
            fetched_at: Instant::now(),
        });
        let fresh_until = match self.max_key_age {
            Some(age) => {
                now_micros().saturating_add(i64::try_from(age.as_micros()).unwrap_or(i64::MAX))
            }
            None => i64::MAX,
        };
        self.fresh_until_micros
            .store(fresh_until, Ordering::Release);
        let epoch = if changed {
            self.epoch.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.epoch.load(Ordering::Acquire)
        };
        self.usable_epoch.store(epoch, Ordering::Release);
        drop(current);
        if changed {
            self.negative
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        *self.max_age_hint.lock().unwrap_or_else(|e| e.into_inner()) = max_age;
    }
}

/// The delay before the next periodic fetch: the configured interval, or
/// the answer's `max-age` when shorter, within [10 s, 24 h]; after
/// failures, a backoff from 1 s doubling up to 60 s (and never beyond the
/// interval).
fn refresh_delay(refresh: Duration, max_age: Option<Duration>, failures: u32) -> Duration {
    if failures == 0 {
        let by_header = max_age.map_or(MAX_REFRESH, |h| h.clamp(MIN_REFRESH, MAX_REFRESH));
        return refresh.min(by_header).clamp(MIN_REFRESH, MAX_REFRESH);
    }
    let backoff = FIRST_RETRY.saturating_mul(1 << (failures - 1).min(16));
    backoff.min(MAX_RETRY).min(refresh)
}

/// Runs one fetch, installs its set or records its failure, then lets the
/// waiters go (by dropping `done`).
async fn run_fetch(state: Arc<State>, done: watch::Sender<()>) {
    state.attempts.fetch_add(1, Ordering::Relaxed);
    match state.fetch_once().await {
        Ok((set, max_age)) => {
            state.install(set, max_age);
            state.consecutive_failures.store(0, Ordering::Release);
            crate::metrics::jwks_fetched(true);
        }
        Err(e) => {
            state.failures.fetch_add(1, Ordering::Relaxed);
            state.consecutive_failures.fetch_add(1, Ordering::AcqRel);
            crate::metrics::jwks_fetched(false);
            let has_set = state
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_some();
            let url = state.shown_url();
            if has_set {
                tracing::warn!(url = %url, error = %e, "JWK Set fetch failed: the last good set stays in use");
            } else {
                tracing::warn!(url = %url, error = %e, "JWK Set fetch failed: no set yet, requests answer 503 until one is fetched");
            }
            *state.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        }
    }
    state
        .flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .running = None;
    drop(done);
}

/// Fetches at start, then each time the delay has passed since the last
/// fetch of any kind (an unknown-`kid` fetch postpones the periodic one);
/// wakes up when the set reaches its maximum age to stop its use. Ends when
/// the source is dropped.
async fn refresher(state: Weak<State>) {
    loop {
        let Some(strong) = state.upgrade() else {
            return;
        };
        strong.expire_if_stale();
        let delay = strong.next_delay();
        let since = strong
            .flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_started
            .map_or(delay, |t| t.elapsed());
        if since >= delay {
            let wait = strong.fetch(false);
            drop(strong);
            if let Some(wait) = wait {
                wait.await;
            }
            continue;
        }
        let mut sleep = delay - since;
        if let Some(stale) = strong.until_stale() {
            sleep = sleep.min(stale);
        }
        drop(strong);
        // At least a millisecond: the clock may lag the deadline slightly.
        tokio::time::sleep(sleep.max(Duration::from_millis(1))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_delay_honours_max_age_within_bounds_and_backs_off() {
        let s = Duration::from_secs;
        assert_eq!(refresh_delay(s(300), None, 0), s(300));
        // A shorter max-age wins; a longer one does not stretch the interval.
        assert_eq!(refresh_delay(s(300), Some(s(60)), 0), s(60));
        assert_eq!(refresh_delay(s(300), Some(s(3600)), 0), s(300));
        // Never more often than every 10 s, never less than every 24 h.
        assert_eq!(refresh_delay(s(300), Some(s(1)), 0), s(10));
        assert_eq!(refresh_delay(s(1), None, 0), s(10));
        assert_eq!(refresh_delay(s(7 * 24 * 3600), None, 0), s(24 * 3600));
        // Failures: 1 s, 2 s, 4 s ... up to 60 s.
        assert_eq!(refresh_delay(s(300), None, 1), s(1));
        assert_eq!(refresh_delay(s(300), None, 3), s(4));
        assert_eq!(refresh_delay(s(300), None, 30), s(60));
    }
}
