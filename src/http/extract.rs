//! [`SessionData`] as an axum 0.8 extractor (feature `axum`): the type the
//! layer puts into the request's extensions is the one handlers take.
//!
//! `SessionData` in a handler's arguments requires a session;
//! `Option<SessionData>` accepts requests without one (with
//! [`SessionLayer::optional`]). Under an optional layer, an anonymous
//! request to a handler that takes `SessionData` gets the layer's own
//! refusal: `401` with `WWW-Authenticate: Bearer` and the JSON body. When no
//! layer ran at all, it answers `500` with a message saying to add it, so
//! the mistake shows on the first request rather than as an open door.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_jwt_session::{SessionData, SessionLayer, SessionManager};
//!
//! async fn me(session: SessionData) -> String {
//!     session.user_id().to_owned()
//! }
//!
//! async fn home(session: Option<SessionData>) -> String {
//!     match session {
//!         Some(s) => format!("hello {}", s.user_id()),
//!         None => "hello stranger".to_owned(),
//!     }
//! }
//!
//! let manager = SessionManager::builder("a secret of at least thirty-two bytes")
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("example-api")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/", get(home))
//!     .layer(SessionLayer::new(manager).optional());
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use tower::ServiceExt;
//! let anonymous = |path| http::Request::get(path).body(axum::body::Body::empty()).unwrap();
//! // `/` takes `Option<SessionData>`: anonymous requests pass.
//! let res = app.clone().oneshot(anonymous("/")).await.unwrap();
//! assert_eq!(res.status(), 200);
//! // `/me` takes `SessionData`: the layer's challenge.
//! let res = app.oneshot(anonymous("/me")).await.unwrap();
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer");
//! # });
//! # Ok::<(), tower_jwt_session::ConfigError>(())
//! ```
//!
//! [`SessionLayer::optional`]: crate::SessionLayer::optional

use std::{convert::Infallible, fmt, sync::Arc};

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{header, request::Parts, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::{
    http::{decision::is_grpc, service::PassedAnonymous},
    jwt::{app_claims::Claims, claims::SessionData},
};

/// The rejection of [`SessionData`] as an extractor when no [`SessionLayer`](crate::SessionLayer)
/// ran before the handler: a server configuration error, answered `500`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSessionLayer;

impl fmt::Display for MissingSessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Missing request extension: Is `SessionLayer` applied?")
    }
}

impl std::error::Error for MissingSessionLayer {}

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!("a handler asked for a SessionData but no SessionLayer ran: add SessionLayer in front of it");
        let mut res = Response::new(
            r#"{"error":"server_error","error_description":"Missing request extension: Is `SessionLayer` applied?"}"#.into(),
        );
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

/// The rejection of [`SessionData`] as an extractor: either the request is anonymous (an
/// optional [`SessionLayer`](crate::SessionLayer) let it through without
/// credentials), answered with that layer's `401` challenge, or no layer ran
/// at all ([`MissingSessionLayer`], `500`).
pub struct SessionRejection(RejectionKind);

enum RejectionKind {
    Anonymous(http::Response<Bytes>),
    MissingLayer,
}

impl SessionRejection {
    /// Whether no [`SessionLayer`](crate::SessionLayer) ran before the
    /// handler (a server configuration error) rather than the request being
    /// anonymous.
    pub fn is_missing_layer(&self) -> bool {
        matches!(self.0, RejectionKind::MissingLayer)
    }

    /// The status of the response: `401` for an anonymous request, `500`
    /// when no layer ran.
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            RejectionKind::Anonymous(res) => res.status(),
            RejectionKind::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RejectionKind::Anonymous(res) => f
                .debug_tuple("SessionRejection::Anonymous")
                .field(&res.status())
                .finish(),
            RejectionKind::MissingLayer => f.debug_tuple("SessionRejection::MissingLayer").finish(),
        }
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RejectionKind::Anonymous(_) => f.pad("the request carries no session"),
            RejectionKind::MissingLayer => fmt::Display::fmt(&MissingSessionLayer, f),
        }
    }
}

impl std::error::Error for SessionRejection {}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self.0 {
            RejectionKind::Anonymous(res) => res.map(axum_core::body::Body::from),
            RejectionKind::MissingLayer => MissingSessionLayer.into_response(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionData {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<SessionData>() {
            return Ok(session.clone());
        }
        Err(SessionRejection(
            match parts.extensions.get::<PassedAnonymous>() {
                Some(anonymous) => RejectionKind::Anonymous(
                    anonymous.challenge(is_grpc(parts.version, &parts.headers)),
                ),
                None => RejectionKind::MissingLayer,
            },
        ))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SessionData {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<SessionData>().cloned())
    }
}

/// `Claims<C>` as an extractor: from the extensions when the manager was
/// built with `with_claims::<C>()`, else parsed from the session's claims.
impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        if let Some(claims) = parts.extensions.get::<Claims<C>>() {
            return Ok(claims.clone());
        }
        let session = <SessionData as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match session.deserialize_claims::<C>() {
            Ok(claims) => Ok(Claims(Arc::new(claims))),
            Err(e) => {
                tracing::debug!(reason = %e, "the token's claims do not fit the handler's type");
                let mut res = Response::new(r#"{"error":"invalid_token"}"#.into());
                *res.status_mut() = StatusCode::UNAUTHORIZED;
                let headers = res.headers_mut();
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Err(res)
            }
        }
    }
}
