//! An MCP server (the official Rust SDK, `rmcp`, Streamable HTTP) behind
//! `SessionLayer`: an OAuth protected resource that any MCP client finds
//! from its first `401` (RFC 9728), with provider tokens checked, scopes
//! enforced before the MCP handler, and revocation by the provider's
//! logouts. Its interface is fixed in the example server contract ("The MCP
//! example"):
//!
//! ```text
//! SESSION_TRUSTED_ISSUERS=https://idp.example.com \
//! SESSION_RESOURCE=http://127.0.0.1:3001/mcp \
//!     cargo run --release --example mcp
//! ```
//!
//! - `/mcp` needs a token (Bearer or DPoP) with scope `mcp:tools`, on every
//!   request; `tools/call` of `admin_echo` also needs `admin` (a `403` scope
//!   challenge naming `mcp:tools admin`, decided before the MCP handler).
//! - `/.well-known/oauth-protected-resource/mcp`: the metadata document.
//! - With `SESSION_CLIENT_ID`: `/backchannel-logout` and `/ssf/events`.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use axum::{body::Body, extract::Request, response::Response, Router};
use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    },
    ErrorData as McpError, RoleServer, ServerHandler,
};
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};
use tower_jwt_session::{
    blocklist::RedisBlocklist,
    dpop::{Dpop, DpopMode},
    issuers::TrustedIssuer,
    jwks::JwksSource,
    receivers::{BackChannelLogout, SecurityEventReceiver},
    resource::{ProtectedResource, ResourceMetadata},
    RequirePermissionLayer, SessionData, SessionLayer, SessionManager,
};

/// Every request to `/mcp` needs it.
const TOOLS_SCOPE: &str = "mcp:tools";
/// `admin_echo` needs it as well.
const ADMIN_SCOPE: &str = "admin";
/// The largest JSON-RPC body read to decide which scopes a request needs.
const MAX_BODY: usize = 1 << 20;

/// The two tools; the session comes from the HTTP request's extensions,
/// which rmcp passes into every handler as `http::request::Parts`.
#[derive(Clone)]
struct Tools;

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let no_arguments = json!({"type": "object", "properties": {}});
        let text_argument = json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        });
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("whoami", "The token's subject", object(no_arguments)),
            Tool::new(
                "admin_echo",
                "Answers `text` back (needs the admin scope)",
                object(text_argument),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let session = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<SessionData>());
        let Some(session) = session else {
            // The layer runs before every request: never reached.
            return Err(McpError::internal_error("no session", None));
        };
        let text = match &*request.name {
            "whoami" => session.user_id().to_owned(),
            "admin_echo" => {
                // Checked before the request reached rmcp; checked again.
                if !session.has_permission(ADMIN_SCOPE) {
                    return Err(McpError::invalid_request(
                        "the admin scope is required",
                        None,
                    ));
                }
                match request.arguments.as_ref().and_then(|a| a.get("text")) {
                    Some(Value::String(text)) => text.clone(),
                    _ => return Err(McpError::invalid_params("`text` is a string", None)),
                }
            }
            other => {
                return Err(McpError::invalid_params(format!("no tool {other:?}"), None));
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn object(value: Value) -> Arc<serde_json::Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

/// Whether a JSON-RPC body (one message or a batch) calls `admin_echo`.
fn calls_admin_tool(body: &[u8]) -> bool {
    let is_admin_call = |m: &Value| {
        m.get("method").and_then(Value::as_str) == Some("tools/call")
            && m.pointer("/params/name").and_then(Value::as_str) == Some("admin_echo")
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch.iter().any(is_admin_call),
        Ok(message) => is_admin_call(&message),
        Err(_) => false,
    }
}

struct Settings {
    bind: SocketAddr,
    manager: SessionManager,
    dpop: Dpop,
    client_ids: Vec<String>,
    allowed_hosts: Vec<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn settings() -> Result<Settings, String> {
    let bind: SocketAddr = env("BIND_ADDR")
        .as_deref()
        .unwrap_or("127.0.0.1:3001")
        .parse()
        .map_err(|e| format!("BIND_ADDR: {e}"))?;
    let issuers = env("SESSION_TRUSTED_ISSUERS").ok_or("SESSION_TRUSTED_ISSUERS: required")?;
    let resource = env("SESSION_RESOURCE").ok_or("SESSION_RESOURCE: required")?;
    let resource = ProtectedResource::new(resource.trim())
        .map_err(|e| format!("SESSION_RESOURCE: {e}"))?
        .with_scopes_supported([TOOLS_SCOPE, ADMIN_SCOPE]);
    let url = url::Url::parse(resource.resource()).map_err(|e| format!("SESSION_RESOURCE: {e}"))?;
    let origin = url.origin().ascii_serialization();
    let mut allowed_hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    allowed_hosts.extend(url.host_str().map(str::to_owned));
    let mut builder = SessionManager::verify_only().with_protected_resource(resource);
    for issuer in issuers
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let valid = url::Url::parse(issuer)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !valid {
            return Err(format!(
                "SESSION_TRUSTED_ISSUERS: {issuer:?} is not an http(s) URL"
            ));
        }
        let keys = JwksSource::discover_any(issuer)
            .build()
            .map_err(|e| format!("SESSION_TRUSTED_ISSUERS: {issuer:?}: {e}"))?;
        builder = builder.with_trusted_issuer(TrustedIssuer::with_jwks(issuer, keys));
    }
    if let Some(redis) = env("REDIS_URL") {
        let store = RedisBlocklist::builder(redis.as_str())
            .build()
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        builder = builder.with_blocklist(store.into_replica());
    }
    let manager = builder
        .build()
        .map_err(|e| format!("SESSION_TRUSTED_ISSUERS: {e}"))?;
    let mode = match env("SESSION_DPOP").as_deref().map(str::trim) {
        None | Some("optional") => DpopMode::Optional,
        Some("off") => DpopMode::Off,
        Some("required") => DpopMode::Required,
        Some(v) => {
            return Err(format!(
                "SESSION_DPOP: {v:?} is none of off, optional, required"
            ))
        }
    };
    let dpop = Dpop::new(mode)
        .with_public_url(&origin)
        .map_err(|e| format!("SESSION_RESOURCE: {e}"))?;
    let client_ids = env("SESSION_CLIENT_ID")
        .map(|ids| ids.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Settings {
        bind,
        manager,
        dpop,
        client_ids,
        allowed_hosts,
    })
}

fn app(settings: Settings, mcp_config: StreamableHttpServerConfig) -> Result<Router, String> {
    let mcp = StreamableHttpService::new(
        || Ok(Tools),
        Arc::new(LocalSessionManager::default()),
        mcp_config.with_allowed_hosts(settings.allowed_hosts),
    );
    let layer = SessionLayer::new(settings.manager.clone())
        .with_dpop(settings.dpop)
        .with_challenge_scope(TOOLS_SCOPE)
        .map_err(|e| e.to_string())?;
    let metadata = ResourceMetadata::for_layer(&layer).map_err(|e| e.to_string())?;
    let metadata_path = metadata.path().to_owned();
    // `admin_echo` needs a second scope: decided here, from the JSON-RPC
    // body, before rmcp sees the request.
    let admin_only = RequirePermissionLayer::permission(ADMIN_SCOPE).layer(mcp.clone());
    let route = tower::service_fn(move |req: Request| {
        let (mcp, admin_only) = (mcp.clone(), admin_only.clone());
        async move {
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
                let mut res = Response::new(Body::from(r#"{"error":"request body too large"}"#));
                *res.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
                return Ok::<_, std::convert::Infallible>(res);
            };
            let admin = calls_admin_tool(&bytes);
            let req = Request::from_parts(parts, Body::from(bytes));
            let res = if admin {
                admin_only.oneshot(req).await?.map(Body::new)
            } else {
                mcp.oneshot(req).await?.map(Body::new)
            };
            Ok(res)
        }
    });
    let protected = Router::new()
        .route_service("/mcp", route)
        .layer(RequirePermissionLayer::permission(TOOLS_SCOPE))
        .layer(layer);
    let mut app = protected.route_service(&metadata_path, metadata);
    if let [first, more @ ..] = settings.client_ids.as_slice() {
        let logout = more.iter().fold(
            BackChannelLogout::new(settings.manager.clone(), first.clone()),
            |r, id| r.with_client_id(id.clone()),
        );
        let events = more.iter().fold(
            SecurityEventReceiver::new(settings.manager.clone(), first.clone()),
            |r, id| r.with_audience(id.clone()),
        );
        app = app
            .route_service("/backchannel-logout", logout)
            .route_service("/ssf/events", events);
    }
    Ok(app)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match settings() {
        Ok(s) => s,
        Err(line) => {
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let bind = settings.bind;
    let mcp_config = StreamableHttpServerConfig::default();
    // Cancelled at shutdown: open event streams end, so the server stops.
    let streams = mcp_config.cancellation_token.clone();
    let app = match app(settings, mcp_config) {
        Ok(app) => app,
        Err(line) => {
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: BIND_ADDR: cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => {
            eprintln!("error: cannot read the listening address: {e}");
            return ExitCode::FAILURE;
        }
    }
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(());
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        streams.cancel();
        let _ = stop_tx.send(());
    });
    let deadline = async move {
        let _ = stop_rx.changed().await;
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
        () = deadline => ExitCode::SUCCESS,
    }
}
