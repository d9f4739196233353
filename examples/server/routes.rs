//! The axum side of the demo: its routes, each a few lines over the
//! library, and the app that puts the session layers in front of them.

use super::*;

pub(crate) fn error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// The public keys as a JWKS, for verifiers in other languages; 404 with an
/// HMAC secret (a secret is never published).
pub(crate) async fn jwks(State(manager): State<SessionManager>) -> Response {
    let keys: Vec<_> = manager.public_keys().map(PublicKey::to_jwk).collect();
    if keys.is_empty() {
        return error(StatusCode::NOT_FOUND, "not_found");
    }
    Json(json!({ "keys": keys })).into_response()
}

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 501 on a server that holds a public key only.
pub(crate) fn verify_only() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        Json(json!({
            "error": "not_implemented",
            "error_description": "this server only verifies tokens: it has no private key",
        })),
    )
        .into_response()
}

pub(crate) async fn login(
    State(manager): State<SessionManager>,
    Extension(dpop): Extension<Dpop>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if !manager.can_issue() {
        return verify_only();
    }
    // A DPoP proof (over POST and this URL) binds the new token to its key;
    // in `required` mode one is needed.
    let mut jkt = None;
    if dpop.mode() != DpopMode::Off
        && (headers.contains_key("dpop") || dpop.mode() == DpopMode::Required)
    {
        let mut verified = dpop.verify_request(&method, &uri, &headers, None);
        // Single use on every server too, when proofs are recorded in the
        // store (`SESSION_DPOP_REPLAY=store`).
        if let Some(record) = verified
            .as_ref()
            .ok()
            .and_then(|proof| dpop.record(&**manager.blocklist(), proof))
        {
            match record.await {
                Ok(true) => {}
                Ok(false) => verified = Err(DpopError::Replayed),
                Err(e) => {
                    tracing::warn!(error = %e, "blocklist unavailable");
                    return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
                }
            }
        }
        match verified {
            Ok(proof) => jkt = Some(proof.jkt().to_owned()),
            Err(err) => {
                let code = match err {
                    DpopError::UseNonce => "use_dpop_nonce",
                    DpopError::MissingProof => "invalid_request",
                    _ => "invalid_dpop_proof",
                };
                let mut res = (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": code, "error_description": err.to_string()})),
                )
                    .into_response();
                if let Some(nonce) = dpop.nonce().and_then(|n| n.parse().ok()) {
                    res.headers_mut().insert("dpop-nonce", nonce);
                }
                return res;
            }
        }
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
    let bound = jkt.is_some();
    let new = match jkt {
        Some(jkt) => new.with_dpop_jkt(jkt),
        None => new,
    };
    match manager.issue(new) {
        Ok(issued) if bound => Json(json!({
            "token": issued.token(), "expiresAt": issued.expires_at(), "tokenType": "DPoP",
        }))
        .into_response(),
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
pub(crate) async fn me(Extension(session): Extension<SessionData>) -> Response {
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
pub(crate) fn session_failure(manager: &SessionManager, err: SessionError) -> Response {
    match err {
        SessionError::Blocklist(e) | SessionError::Verify(VerifyError::Backend(e)) => {
            tracing::warn!(error = %e, "blocklist unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        SessionError::Issue(IssueError::VerifyOnly) => verify_only(),
        SessionError::Verify(_) | SessionError::Issue(IssueError::SessionLifetimeExceeded) => {
            // Like the layer's challenges: with the metadata document's URL
            // when this server is a protected resource (RFC 9728 §5.1).
            let challenge = match manager.protected_resource() {
                Some(resource) => format!(
                    "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
                    resource.metadata_url()
                ),
                None => "Bearer error=\"invalid_token\"".to_owned(),
            };
            (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", challenge)],
                Json(json!({"error": "invalid_token"})),
            )
                .into_response()
        }
        SessionError::Issue(e) => {
            tracing::error!(error = %e, "issuing a token failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

pub(crate) async fn refresh(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    if !manager.can_issue() {
        return verify_only();
    }
    if session.trusted_issuer().is_some() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_request",
                "error_description": "only tokens minted here are refreshed",
            })),
        )
            .into_response();
    }
    match manager.refresh_session(&session).await {
        Ok(issued) => {
            if issued.session().dpop_jkt().is_some() {
                Json(json!({
                    "token": issued.token(), "expiresAt": issued.expires_at(), "tokenType": "DPoP",
                }))
                .into_response()
            } else {
                Json(json!({"token": issued.token(), "expiresAt": issued.expires_at()}))
                    .into_response()
            }
        }
        Err(e) => session_failure(&manager, e),
    }
}

pub(crate) async fn logout(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    match manager.revoke(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => session_failure(&manager, e.into()),
    }
}

pub(crate) async fn logout_all(
    State(manager): State<SessionManager>,
    Extension(session): Extension<SessionData>,
) -> Response {
    // For a trusted issuer's token: every token of that issuer and subject.
    match manager.log_out_everywhere(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => session_failure(&manager, e.into()),
    }
}

pub(crate) async fn admin() -> Json<serde_json::Value> {
    Json(json!({"ok": true}))
}

pub(crate) fn app(manager: SessionManager, client_id: Option<Vec<String>>, dpop: Dpop) -> Router {
    // `/refresh` has its own layer: there, a token that a refresh already
    // replaced is a replay and ends its session (reuse detection); on the
    // other routes it is only refused.
    // The layers keep axum's body type (`with_inner_body`): responses are not
    // wrapped, so axum does not box them again.
    let refresh_route = Router::new().route("/refresh", post(refresh)).route_layer(
        SessionLayer::new(manager.clone())
            .for_refresh()
            .with_dpop(dpop.clone())
            .with_inner_body(),
    );
    // The layer of the protected routes; with `SESSION_RESOURCE`, the
    // metadata document (RFC 9728) is derived from it and served beside it.
    let layer = SessionLayer::new(manager.clone()).with_dpop(dpop.clone());
    let metadata = match ResourceMetadata::for_layer(&layer) {
        Ok(metadata) => {
            let path = metadata.path().to_owned();
            Router::new().route_service(&path, metadata)
        }
        Err(_) => Router::new(),
    };
    let protected = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route(
            "/admin",
            // The contract's challenge is `Bearer error="insufficient_scope"`
            // exactly: the missing permission is not named in it.
            get(admin).route_layer(
                RequirePermissionLayer::permission("admin")
                    .with_scope_in_challenge(false)
                    .with_inner_body(),
            ),
        )
        .route_layer(layer.with_inner_body());
    // The identity providers' logouts and security events, with trusted
    // issuers: revocations in the same store as a logout.
    let receivers = match client_id.as_deref() {
        Some([first, more @ ..]) => {
            let logout = more.iter().fold(
                BackChannelLogout::new(manager.clone(), first.clone()),
                |r, id| r.with_client_id(id.clone()),
            );
            let events = more.iter().fold(
                SecurityEventReceiver::new(manager.clone(), first.clone()),
                |r, id| r.with_audience(id.clone()),
            );
            Router::new()
                .route_service("/backchannel-logout", logout)
                .route_service("/ssf/events", events)
        }
        _ => Router::new(),
    };
    Router::new()
        .route("/health", get(health))
        .merge(receivers)
        .route("/.well-known/jwks.json", get(jwks))
        .route("/login", post(login).layer(Extension(dpop)))
        .merge(protected)
        .merge(refresh_route)
        .merge(metrics_route())
        .merge(metadata)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        })
        .with_state(manager)
}
