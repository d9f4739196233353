//! [`Session`]: the axum 0.8 extractor (feature `axum`).

use std::{convert::Infallible, fmt, ops::Deref};

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::{header, request::Parts, HeaderValue, StatusCode};

use crate::SessionData;

/// The verified session of the request, as an axum extractor.
/// Derefs to [`SessionData`].
///
/// `Session` in a handler's arguments requires a session; `Option<Session>`
/// accepts requests without one (with [`SessionLayer::optional`]). When the
/// layer is missing, `Session` answers `500` with a message saying to add it,
/// so the mistake shows on the first request rather than as an open door.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_jwt_session::{Session, SessionLayer, SessionManager};
///
/// async fn me(session: Session) -> String {
///     session.email().to_owned()
/// }
///
/// async fn home(session: Option<Session>) -> String {
///     match session {
///         Some(s) => format!("hello {}", s.user_id()),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let manager = SessionManager::builder("a secret of at least thirty-two bytes").build()?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route("/", get(home))
///     .layer(SessionLayer::new(manager).optional());
/// # let _ = app;
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
///
/// [`SessionLayer::optional`]: crate::SessionLayer::optional
#[derive(Clone, Debug)]
pub struct Session(pub SessionData);

impl Deref for Session {
    type Target = SessionData;

    fn deref(&self) -> &SessionData {
        &self.0
    }
}

impl Session {
    /// The session, by value.
    pub fn into_inner(self) -> SessionData {
        self.0
    }
}

/// The rejection of [`Session`] when no [`SessionLayer`](crate::SessionLayer)
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
        tracing::error!("a handler asked for a Session but no SessionLayer ran: add SessionLayer in front of it");
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

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SessionData>()
            .cloned()
            .map(Session)
            .ok_or(MissingSessionLayer)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<SessionData>().cloned().map(Session))
    }
}
