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
//! `SESSION_JWKS_COOLDOWN_SECS`, `SESSION_TRUSTED_ISSUERS`,
//! `SESSION_TRUSTED_AUDIENCE`, `SESSION_PERMISSION_CLAIMS`,
//! `SESSION_REQUIRE_AT_JWT`, `SESSION_CLIENT_ID`, `SESSION_RESOURCE`,
//! `SESSION_SCOPES_SUPPORTED`, `SESSION_TRUSTED_ISSUER_TEMPLATE`,
//! `SESSION_TEMPLATE_JWKS_URL`, `SESSION_TENANTS`,
//! `SESSION_INTROSPECTION_ISSUER`, `SESSION_INTROSPECTION_CLIENT_ID`,
//! `SESSION_INTROSPECTION_CLIENT_SECRET`, `SESSION_INTROSPECTION_CACHE_SECS`,
//! `SESSION_DPOP`,
//! `SESSION_PUBLIC_URL`, `SESSION_DPOP_NONCE`, `SESSION_DPOP_REPLAY`, `BIND_ADDR`, `REDIS_URL`,
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER`, `REDIS_CLUSTER_URLS`,
//! `SESSION_MAX_STALENESS_SECS`, `REDIS_MIN_REPLICAS`, `DATABASE_URL`);
//! a bad value stops the
//! server with one line on stderr and exit code 2. `METRICS=1` adds
//! `GET /metrics` (the crate's counters in Prometheus text format).
//!
//! Files: `routes.rs` (the axum part: routes and layers), `config.rs` (the
//! environment variables and their errors), `users.rs` (the demo's users),
//! `counters.rs` (`/metrics`), and here the wiring: store, manager, serve.

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
    blocklist::{PostgresBlocklist, RedisBlocklist},
    dpop::{Dpop, DpopError, DpopMode, ReplayScope},
    introspection::Introspection,
    issuers::{PermissionClaims, TrustedIssuer},
    jwks::JwksSource,
    receivers::{BackChannelLogout, SecurityEventReceiver},
    resource::{ProtectedResource, ResourceMetadata},
    Algorithm, IssueError, KeyPair, NewSession, PublicKey, RequirePermissionLayer, SessionData,
    SessionError, SessionLayer, SessionManager, SessionManagerBuilder, VerifyError,
};

mod config;
mod counters;
mod routes;
mod users;

use config::*;
use counters::*;
use routes::*;
use users::*;

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
        Some(("Redis", url)) => {
            tracing::info!(redis = %url, "blocklist: Redis, shared with every server on it")
        }
        Some((store, url)) => {
            tracing::info!(database = %url, "blocklist: {store}, shared with every server on it")
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
    let server = axum::serve(
        listener,
        app(settings.manager, settings.client_id, settings.dpop),
    )
    .with_graceful_shutdown(async move {
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
