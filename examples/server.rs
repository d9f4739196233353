//! The demo server: the contract in `EXAMPLE-SERVER-CONTRACT.md`.
//!
//! Run with
//!
//! ```sh
//! cargo run --release --example server
//! ```
//!
//! then walk it with curl:
//!
//! ```sh
//! TOKEN=$(curl -s localhost:3000/login -d '{"email":"admin@example.com","password":"admin-password"}' \
//!   -H 'content-type: application/json' | sed 's/.*"token":"\([^"]*\)".*/\1/')
//! curl -s localhost:3000/me -H "authorization: Bearer $TOKEN"
//! curl -s localhost:3000/admin -H "authorization: Bearer $TOKEN"
//! curl -si -X POST localhost:3000/logout -H "authorization: Bearer $TOKEN"
//! ```
//!
//! Configuration comes from the environment (`SESSION_SECRET`,
//! `SESSION_ISSUER`, `SESSION_AUDIENCE`, `SESSION_TTL_SECS`,
//! `SESSION_ALGORITHM`, `SESSION_PREVIOUS_SECRETS`, `SESSION_PRIVATE_KEY_FILE`,
//! `SESSION_PUBLIC_KEY_FILE`, `SESSION_JWKS_URL`, `SESSION_JWKS_REFRESH_SECS`,
//! `SESSION_JWKS_COOLDOWN_SECS`, `BIND_ADDR`, `REDIS_URL`,
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER`, `REDIS_CLUSTER_URLS`,
//! `SESSION_MAX_STALENESS_SECS`, `REDIS_MIN_REPLICAS`);
//! a bad value stops the
//! server with one line on stderr and exit code 2. `METRICS=1` adds
//! `GET /metrics` (the crate's counters in Prometheus text format).

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_jwt_session::{
    blocklist::RedisBlocklist, jwks::JwksSource, Algorithm, IssueError, KeyPair, NewSession,
    PublicKey, RequirePermissionLayer, SessionData, SessionError, SessionLayer, SessionManager,
    SessionManagerBuilder, VerifyError,
};

/// Everything read from the environment, checked before anything starts.
struct Settings {
    manager: SessionManager,
    bind: SocketAddr,
    random_secret: bool,
    /// The (redacted) Redis URL when the blocklist is shared.
    shared: Option<String>,
}

/// `SESSION_ISSUER` when unset.
const DEMO_ISSUER: &str = "atomic-crm";
/// `SESSION_AUDIENCE` when unset.
const DEMO_AUDIENCE: &str = "atomic-crm-api";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn settings() -> Result<Settings, String> {
    let algorithm: Algorithm = env("SESSION_ALGORITHM")
        .as_deref()
        .unwrap_or("HS256")
        .parse()
        .map_err(|e| format!("SESSION_ALGORITHM: {e}"))?;
    // Older secrets still accepted for verification, never used to sign.
    let previous: Vec<String> = env("SESSION_PREVIOUS_SECRETS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let (mut builder, random_secret) = if algorithm.is_hmac() {
        if env("SESSION_JWKS_URL").is_some() {
            return Err(format!(
                "SESSION_JWKS_URL: a JWK Set holds public keys, for RS256, PS256, ES256, \
                 ES384 and EdDSA; {algorithm} uses SESSION_SECRET"
            ));
        }
        for var in ["SESSION_PRIVATE_KEY_FILE", "SESSION_PUBLIC_KEY_FILE"] {
            if key_file(var)?.is_some() {
                return Err(format!(
                    "{var}: key files are for RS256, PS256, ES256, ES384 and EdDSA; \
                     {algorithm} uses SESSION_SECRET"
                ));
            }
        }
        let (secret, random_secret) = hmac_secret(algorithm)?;
        let mut builder = SessionManager::builder(&secret).with_algorithm(algorithm);
        if !previous.is_empty() {
            builder = builder.with_previous_secrets(&previous);
        }
        (builder, random_secret)
    } else {
        if !previous.is_empty() {
            return Err(format!(
                "SESSION_PREVIOUS_SECRETS: secrets are not used with {algorithm}; unset it"
            ));
        }
        (asymmetric_builder(algorithm)?, false)
    };
    let ttl = match env("SESSION_TTL_SECS") {
        None => 3600,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "SESSION_TTL_SECS: {v:?} is not a whole number of at least 1"
                ))
            }
        },
    };
    let bind = env("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let bind: SocketAddr = bind
        .parse()
        .map_err(|_| format!("BIND_ADDR: {bind:?} is not an address such as 127.0.0.1:3000"))?;
    builder = builder.with_ttl(Duration::from_secs(ttl));
    let staleness = match env("SESSION_MAX_STALENESS_SECS") {
        None => 0,
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            format!(
                "SESSION_MAX_STALENESS_SECS: {v:?} is not a whole number of seconds (0 or more)"
            )
        })?,
    };
    let stores = ["REDIS_URL", "REDIS_SENTINEL_URLS", "REDIS_CLUSTER_URLS"]
        .into_iter()
        .filter(|v| env(v).is_some())
        .collect::<Vec<_>>();
    if stores.len() > 1 {
        return Err(format!(
            "{}: set at most one of REDIS_URL, REDIS_SENTINEL_URLS, REDIS_CLUSTER_URLS",
            stores.join(" and ")
        ));
    }
    if env("REDIS_SENTINEL_URLS").is_some() && env("REDIS_SENTINEL_MASTER").is_none() {
        return Err(
            "REDIS_SENTINEL_URLS: needs REDIS_SENTINEL_MASTER (the name of the primary)".into(),
        );
    }
    let list = |v: String| {
        v.split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect::<Vec<_>>()
    };
    let sentinels = env("REDIS_SENTINEL_URLS").map(list);
    let cluster = env("REDIS_CLUSTER_URLS").map(list);
    let min_replicas = match env("REDIS_MIN_REPLICAS") {
        // One replica must hold a revocation before it is acknowledged when
        // there are replicas to fail over to.
        None => u32::from(sentinels.is_some() || cluster.is_some()),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("REDIS_MIN_REPLICAS: {v:?} is not a whole number (0 or more)"))?,
    };
    // The shared blocklist: every revocation in this process's memory,
    // loaded from Redis and kept current by following its stream, so that
    // requests send no command to Redis. Nothing is sent yet: a server
    // started while Redis is down answers 503 until it is back.
    let (redis, var, shown) = match (env("REDIS_URL"), sentinels, cluster) {
        (Some(url), _, _) => (
            Some(RedisBlocklist::builder(url.as_str())),
            "REDIS_URL",
            redact_url(&url),
        ),
        (None, Some(urls), _) => {
            let master = env("REDIS_SENTINEL_MASTER").unwrap_or_default();
            let shown = format!(
                "Sentinel {} at {}",
                master,
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            (
                Some(RedisBlocklist::sentinel_builder(urls, master)),
                "REDIS_SENTINEL_URLS",
                shown,
            )
        }
        (None, None, Some(urls)) => {
            let shown = format!(
                "Cluster at {}",
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            (
                Some(RedisBlocklist::cluster_builder(urls)),
                "REDIS_CLUSTER_URLS",
                shown,
            )
        }
        (None, None, None) => (None, "", String::new()),
    };
    let mut shared = None;
    if let Some(redis) = redis {
        let redis = redis
            // Every live revocation must still be in the stream: the token
            // lifetime, the leeway, and a margin.
            .with_retention(Duration::from_secs(ttl + 120))
            .with_min_replicas(min_replicas)
            .build()
            .map_err(|e| format!("{var}: {shown:?}: {e}"))?;
        builder = builder.with_blocklist(
            redis
                .into_replica()
                .with_max_staleness(Duration::from_secs(staleness)),
        );
        shared = Some(shown);
    }
    // The library has no default issuer or audience; the demo keeps those of
    // the application the TypeScript seed came from (the contract's).
    builder = builder
        .with_issuer(env("SESSION_ISSUER").unwrap_or_else(|| DEMO_ISSUER.into()))
        .with_audience(env("SESSION_AUDIENCE").unwrap_or_else(|| DEMO_AUDIENCE.into()));
    let name = |e: &tower_jwt_session::ConfigError| match e {
        tower_jwt_session::ConfigError::EmptySecret
        | tower_jwt_session::ConfigError::SecretTooShort { .. } => "SESSION_SECRET",
        tower_jwt_session::ConfigError::PreviousSecretTooShort { .. } => "SESSION_PREVIOUS_SECRETS",
        tower_jwt_session::ConfigError::EmptyIssuer => "SESSION_ISSUER",
        tower_jwt_session::ConfigError::EmptyAudience => "SESSION_AUDIENCE",
        tower_jwt_session::ConfigError::TtlOutOfRange(_) => "SESSION_TTL_SECS",
        _ => "configuration",
    };
    let manager = builder.build().map_err(|e| format!("{}: {e}", name(&e)))?;
    Ok(Settings {
        manager,
        bind,
        random_secret,
        shared,
    })
}

/// The HMAC secret from `SESSION_SECRET`, or a random one.
fn hmac_secret(algorithm: Algorithm) -> Result<(Vec<u8>, bool), String> {
    match std::env::var_os("SESSION_SECRET") {
        Some(s) => {
            let s = s
                .into_string()
                .map_err(|_| "SESSION_SECRET: not valid UTF-8".to_owned())?;
            Ok((s.into_bytes(), false))
        }
        None => {
            let mut bytes = vec![0u8; algorithm.min_secret_len().unwrap_or(64)];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| format!("SESSION_SECRET: cannot generate a random secret: {e}"))?;
            Ok((bytes, true))
        }
    }
}

/// The contents of the key file named by `var`; `None` when unset or empty.
/// The value is only ever a path given by the operator, never anything
/// from a token.
fn key_file(var: &str) -> Result<Option<Vec<u8>>, String> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(path) if path.is_empty() => Ok(None),
        Some(path) => std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{var}: cannot read {}: {e}", path.to_string_lossy())),
    }
}

/// A manager for an asymmetric algorithm: with the private key it signs and
/// verifies; with the public key alone it only verifies.
fn asymmetric_builder(algorithm: Algorithm) -> Result<SessionManagerBuilder, String> {
    if let Some(url) = env("SESSION_JWKS_URL") {
        for var in ["SESSION_PRIVATE_KEY_FILE", "SESSION_PUBLIC_KEY_FILE"] {
            if env(var).is_some() {
                return Err(format!(
                    "SESSION_JWKS_URL: the keys come from the JWKS URL; unset {var}"
                ));
            }
        }
        let secs = |var: &str, default: u64, min: u64| -> Result<u64, String> {
            match env(var) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(format!(
                        "{var}: {v:?} is not a whole number of seconds of at least {min}"
                    )),
                },
            }
        };
        // Under 10 s the library fetches every 10 s (the contract's floor).
        let refresh = secs("SESSION_JWKS_REFRESH_SECS", 300, 1)?;
        let cooldown = secs("SESSION_JWKS_COOLDOWN_SECS", 10, 1)?;
        let source = JwksSource::builder(url.as_str(), algorithm)
            .with_refresh_interval(Duration::from_secs(refresh))
            .with_cooldown(Duration::from_secs(cooldown))
            .build()
            .map_err(|e| format!("SESSION_JWKS_URL: {:?}: {e}", redact_url(&url)))?;
        return Ok(SessionManager::builder_with_jwks(source));
    }
    let private = key_file("SESSION_PRIVATE_KEY_FILE")?;
    let public = key_file("SESSION_PUBLIC_KEY_FILE")?
        .map(|pem| {
            PublicKey::from_spki_pem(algorithm, &pem)
                .map_err(|e| format!("SESSION_PUBLIC_KEY_FILE: {e}"))
        })
        .transpose()?;
    match (private, public) {
        (Some(pem), public) => {
            let pair = KeyPair::from_pkcs8_pem(algorithm, &pem)
                .map_err(|e| format!("SESSION_PRIVATE_KEY_FILE: {e}"))?;
            if public.is_some_and(|p| &p != pair.public_key()) {
                return Err("SESSION_PUBLIC_KEY_FILE: not the public key of \
                     SESSION_PRIVATE_KEY_FILE (both files must be one pair)"
                    .to_owned());
            }
            Ok(SessionManager::builder_with_key_pair(pair))
        }
        (None, Some(public)) => Ok(SessionManager::builder_with_public_key(public)),
        (None, None) => Err(format!(
            "SESSION_PRIVATE_KEY_FILE: {algorithm} needs a key file \
             (SESSION_PRIVATE_KEY_FILE to sign, or SESSION_PUBLIC_KEY_FILE or \
             SESSION_JWKS_URL to verify only)"
        )),
    }
}

/// A Redis URL for messages: scheme, host, port and database, never the
/// credentials. The userinfo is found by a URL parser (the last `@` of the
/// authority), so a password holding `@`, `:` or `/` does not leak; a URL
/// that does not parse is not shown at all.
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparsable URL, not shown>".to_owned();
    };
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    // Both fail only for URLs that cannot have credentials at all.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    let shown = url.to_string();
    match shown.split_once("://") {
        Some((scheme, rest)) if had_credentials => format!("{scheme}://<redacted>@{rest}"),
        _ => shown,
    }
}

struct DemoUser {
    email: &'static str,
    password: &'static str,
    user_id: &'static str,
    role: &'static str,
    permissions: &'static [&'static str],
    name: &'static str,
}

const USERS: &[DemoUser] = &[
    DemoUser {
        email: "admin@example.com",
        password: "admin-password",
        user_id: "u-admin",
        role: "admin",
        permissions: &["contacts:read", "contacts:write", "admin"],
        name: "Ada Admin",
    },
    DemoUser {
        email: "sales@example.com",
        password: "sales-password",
        user_id: "u-sales",
        role: "sales",
        permissions: &["contacts:read"],
        name: "Sam Sales",
    },
];

/// SHA-256 of a credential: both sides of a comparison have the same
/// length, so comparing them says nothing about the stored one's length.
fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares two digests without stopping at the first difference.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// The body of `POST /login`: a JSON object with string members `email`
/// and `password`. Other members are ignored (a login form may send more,
/// such as "remember me"); anything else is refused.
#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

impl Login {
    /// 400 when the body is not JSON; 422 when it is JSON but not an object
    /// with string `email` and `password` (serde alone would also take an
    /// array `[email, password]` for the struct).
    fn parse(body: &[u8]) -> Result<Self, (StatusCode, &'static str)> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| (StatusCode::BAD_REQUEST, "the body is not JSON"))?;
        if !value.is_object() {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body must be a JSON object {\"email\", \"password\"}",
            ));
        }
        Login::deserialize(value).map_err(|_| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "`email` and `password` must be strings",
            )
        })
    }

    /// The demo user these credentials name: the email compared after
    /// trimming and ASCII case folding, both compared in constant time over
    /// digests, every user checked (no early exit).
    fn user(&self) -> Option<&'static DemoUser> {
        let email = digest(&self.email.trim().to_ascii_lowercase());
        let password = digest(&self.password);
        let mut found = None;
        for user in USERS {
            if same(&digest(user.email), &email) & same(&digest(user.password), &password) {
                found = Some(user);
            }
        }
        found
    }
}

/// The public keys as a JWKS, for verifiers in other languages; 404 with an
/// HMAC secret (a secret is never published).
async fn jwks(State(manager): State<SessionManager>) -> Response {
    let keys: Vec<_> = manager.public_keys().map(PublicKey::to_jwk).collect();
    if keys.is_empty() {
        return error(StatusCode::NOT_FOUND, "not_found");
    }
    Json(json!({ "keys": keys })).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 501 on a server that holds a public key only.
fn verify_only() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        Json(json!({
            "error": "not_implemented",
            "error_description": "this server only verifies tokens: it has no private key",
        })),
    )
        .into_response()
}

async fn login(State(manager): State<SessionManager>, body: Bytes) -> Response {
    if !manager.can_issue() {
        return verify_only();
    }
    let login = match Login::parse(&body) {
        Ok(login) => login,
        Err((status, why)) => {
            return (
                status,
                Json(json!({"error": "invalid_request", "error_description": why})),
            )
                .into_response()
        }
    };
    let Some(user) = login.user() else {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    };
    let new = NewSession::new(user.user_id, user.email)
        .with_role(user.role)
        .with_company_id("acme")
        .with_permissions(user.permissions.iter().copied())
        .with_metadata(json!({"name": user.name}));
    match manager.issue(new) {
        Ok(issued) => {
            Json(json!({"token": issued.token(), "expiresAt": issued.expires_at()})).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "issuing a token failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
}

/// The session as JSON. Serialized straight into a buffer sized for a
/// typical session (`Json` writes through `io::Write` into a 128-byte
/// buffer and grows it).
async fn me(Extension(session): Extension<SessionData>) -> Response {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, &session) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

/// Maps a failed refresh or revocation to a response: never a 2xx.
fn session_failure(err: SessionError) -> Response {
    match err {
        SessionError::Blocklist(e) | SessionError::Verify(VerifyError::Backend(e)) => {
            tracing::warn!(error = %e, "blocklist unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        SessionError::Issue(IssueError::VerifyOnly) => verify_only(),
        SessionError::Verify(_) | SessionError::Issue(IssueError::SessionLifetimeExceeded) => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer error=\"invalid_token\"")],
            Json(json!({"error": "invalid_token"})),
        )
            .into_response(),
        SessionError::Issue(e) => {
            tracing::error!(error = %e, "issuing a token failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

async fn refresh(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    match manager.refresh_session(&session).await {
        Ok(issued) => {
            Json(json!({"token": issued.token(), "expiresAt": issued.expires_at()})).into_response()
        }
        Err(e) => session_failure(e),
    }
}

async fn logout(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    match manager.revoke_session(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => session_failure(e.into()),
    }
}

async fn logout_all(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    match manager.revoke_all_for_user(session.user_id()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => session_failure(e.into()),
    }
}

async fn admin() -> Json<serde_json::Value> {
    Json(json!({"ok": true}))
}

/// A minimal Prometheus text exposition of the crate's counters, for
/// `METRICS=1`. (A real deployment would install the exporter of its choice;
/// the crate only talks to the `metrics` facade.)
#[derive(Default)]
struct Counters(std::sync::Mutex<std::collections::BTreeMap<String, Arc<AtomicU64>>>);

impl metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
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
        metrics::Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
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

fn app(manager: SessionManager) -> Router {
    // `/refresh` has its own layer: there, a token that a refresh already
    // replaced is a replay and ends its session (reuse detection); on the
    // other routes it is only refused.
    let refresh_route = Router::new()
        .route("/refresh", post(refresh))
        .route_layer(SessionLayer::new(manager.clone()).for_refresh());
    let protected = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route(
            "/admin",
            get(admin).route_layer(RequirePermissionLayer::permission("admin")),
        )
        .route_layer(SessionLayer::new(manager.clone()));
    Router::new()
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/login", post(login))
        .merge(protected)
        .merge(refresh_route)
        .merge(metrics_route())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        })
        .with_state(manager)
}

/// `GET /metrics` in Prometheus text format when `METRICS=1`.
fn metrics_route() -> Router<SessionManager> {
    if env("METRICS").as_deref() != Some("1") {
        return Router::new();
    }
    let counters: &'static Counters = Box::leak(Box::default());
    if metrics::set_global_recorder(counters).is_err() {
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

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the server runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let settings = match settings() {
        Ok(s) => s,
        Err(line) => {
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if settings.random_secret {
        tracing::warn!(
            "SESSION_SECRET is not set: using a random secret; tokens will not survive a restart"
        );
    }
    match &settings.shared {
        Some(url) => {
            tracing::info!(redis = %url, "blocklist: Redis, shared with every server on it")
        }
        None => tracing::info!("blocklist: in memory (this process only)"),
    }
    serve(settings).await
}

async fn serve(settings: Settings) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(settings.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: BIND_ADDR: cannot listen on {}: {e}", settings.bind);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot read the listening address: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let server = axum::serve(listener, app(settings.manager)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
    });
    let mut stopped = stop_rx;
    let deadline = async move {
        let _ = stopped.changed().await;
        tokio::time::sleep(Duration::from_secs(8)).await;
    };
    tokio::select! {
        result = server => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the server failed: {e}");
                ExitCode::FAILURE
            }
        },
        () = deadline => {
            tracing::warn!("connections still open after 8 s: closing them");
            ExitCode::SUCCESS
        }
    }
}
