//! [`RequirePermissionLayer`]: `403 insufficient_scope` unless the session has a permission.

use std::{
    fmt,
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    http::{
        body::{InnerBody, ResponseBodyMode, WrapBody},
        config::Challenge,
        decision::{is_grpc, refusal},
        future::PermissionFuture,
        rejection::{DefaultRejectionResponse, Rejection, RejectionResponse, SharedResponse},
        service::PassedAnonymous,
    },
    jwt::claims::SessionData,
    scope::is_scope_token,
};

type Predicate = Arc<dyn Fn(&SessionData) -> bool + Send + Sync>;

#[derive(Clone)]
enum Requirement {
    Permission(Arc<str>),
    AnyOf(Arc<[String]>),
    AllOf(Arc<[String]>),
    Check(Predicate),
}

impl Requirement {
    fn is_met(&self, session: &SessionData) -> bool {
        match self {
            Self::Permission(p) => session.has_permission(p),
            Self::AnyOf(all) => all.iter().any(|p| session.has_permission(p)),
            Self::AllOf(all) => all.iter().all(|p| session.has_permission(p)),
            Self::Check(f) => f(session),
        }
    }

    /// What a refusal names in `WWW-Authenticate`'s `scope` (RFC 6750 §3;
    /// the MCP authorization spec's scope challenge): every scope the
    /// request needs, the layer's `layer_scope` first, then the permission,
    /// every permission of an any-of or an all-of; only the layer's for a
    /// check; nothing when a permission cannot be written as a scope token.
    fn scope(&self, layer_scope: Option<&str>) -> Option<Arc<str>> {
        let own: Vec<&str> = match self {
            Self::Permission(p) => vec![&**p],
            Self::AnyOf(all) | Self::AllOf(all) => all.iter().map(String::as_str).collect(),
            Self::Check(_) => Vec::new(),
        };
        let mut scopes: Vec<&str> = layer_scope
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        for p in own {
            if !scopes.contains(&p) {
                scopes.push(p);
            }
        }
        let valid = !scopes.is_empty() && scopes.iter().all(|t| is_scope_token(t));
        valid.then(|| scopes.join(" ").into())
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permission(p) => f.debug_tuple("Permission").field(p).finish(),
            Self::AnyOf(all) => f.debug_tuple("AnyOf").field(all).finish(),
            Self::AllOf(all) => f.debug_tuple("AllOf").field(all).finish(),
            Self::Check(_) => f.write_str("Check(..)"),
        }
    }
}

/// Refuses sessions that lack a permission, a role, or pass no check.
///
/// Put it inside a [`SessionLayer`](crate::SessionLayer): it reads the
/// [`SessionData`] that layer inserted. A request with no session (optional
/// mode) gets `401` with a bare `Bearer` challenge.
///
/// # Layer order
///
/// The session layer must run first, so it is the **outer** one. With
/// `tower::ServiceBuilder` that is the first `.layer(..)` (as below); with
/// axum's `Router::layer` and `MethodRouter::layer` it is the **last** call,
/// because each call wraps what is already there:
///
/// ```text
/// Router::new().route("/admin", get(admin))
///     .layer(RequirePermissionLayer::permission("admin")) // runs second
///     .layer(SessionLayer::new(manager))                   // runs first
/// ```
///
/// In the wrong order no session exists yet when the permission is
/// checked: every request is answered `500` with
/// `{"error":"server_error","error_description":"RequirePermissionLayer ran before SessionLayer..."}`
/// and an `error!` log, so the mistake shows on the first request.
///
/// # Example
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_jwt_session::{NewSession, RequirePermissionLayer, SessionLayer, SessionManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::builder("a secret of at least thirty-two bytes")
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .build()?;
/// let admin = ServiceBuilder::new()
///     .layer(SessionLayer::new(manager.clone()))
///     .layer(RequirePermissionLayer::permission("admin"))
///     .service_fn(|_req: Request<String>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("welcome")))
///     });
///
/// let sales = manager.issue(NewSession::new("u-2", "sam@example.com")
///     .with_role("admin") // the permission decides, not the role
///     .with_permissions(["contacts:read"]))?;
/// let req = Request::builder()
///     .header("authorization", format!("Bearer {}", sales.token()))
///     .body(String::new())?;
/// let res = admin.clone().oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// assert_eq!(res.headers()["www-authenticate"], r#"Bearer error="insufficient_scope", scope="admin""#);
/// # Ok(())
/// # }
/// ```
///
/// `M` says how responses carry their body, as for
/// [`SessionLayer`](crate::SessionLayer): [`WrapBody`] by default,
/// [`InnerBody`] after [`with_inner_body`](Self::with_inner_body).
#[must_use]
pub struct RequirePermissionLayer<M = WrapBody> {
    requirement: Requirement,
    respond: SharedResponse,
    scope_in_challenge: bool,
    body: PhantomData<fn() -> M>,
}

impl<M> Clone for RequirePermissionLayer<M> {
    fn clone(&self) -> Self {
        Self {
            requirement: self.requirement.clone(),
            respond: self.respond.clone(),
            scope_in_challenge: self.scope_in_challenge,
            body: PhantomData,
        }
    }
}

impl RequirePermissionLayer {
    /// Requires `permission` in the session's `permissions`.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::with(Requirement::Permission(permission.into().into()))
    }

    /// Requires at least one of `permissions`. A refusal names them all in
    /// `WWW-Authenticate` (`scope="a b"`).
    ///
    /// ```
    /// use tower_jwt_session::RequirePermissionLayer;
    /// let layer = RequirePermissionLayer::any_of(["orders:read", "admin"]);
    /// ```
    pub fn any_of<I, P>(permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        Self::with(Requirement::AnyOf(
            permissions.into_iter().map(Into::into).collect(),
        ))
    }

    /// Requires every one of `permissions`. A refusal names the missing
    /// ones in `WWW-Authenticate` (`scope="..."`).
    ///
    /// ```
    /// use tower_jwt_session::RequirePermissionLayer;
    /// let layer = RequirePermissionLayer::all_of(["orders:read", "orders:write"]);
    /// ```
    pub fn all_of<I, P>(permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        Self::with(Requirement::AllOf(
            permissions.into_iter().map(Into::into).collect(),
        ))
    }

    /// Requires `check` to return `true` for the session.
    pub fn check<F>(check: F) -> Self
    where
        F: Fn(&SessionData) -> bool + Send + Sync + 'static,
    {
        Self::with(Requirement::Check(Arc::new(check)))
    }

    fn with(requirement: Requirement) -> Self {
        Self {
            requirement,
            respond: Arc::new(DefaultRejectionResponse::new()),
            scope_in_challenge: true,
            body: PhantomData,
        }
    }
}

impl<M> RequirePermissionLayer<M> {
    /// Keeps the inner service's response body type, as
    /// [`SessionLayer::with_inner_body`](crate::SessionLayer::with_inner_body)
    /// does: refusals are built as that type (`From<Bytes>`).
    pub fn with_inner_body(self) -> RequirePermissionLayer<InnerBody> {
        RequirePermissionLayer {
            requirement: self.requirement,
            respond: self.respond,
            scope_in_challenge: self.scope_in_challenge,
            body: PhantomData,
        }
    }

    /// Whether a `403` names the missing permissions in its challenge
    /// (`Bearer error="insufficient_scope", scope="admin"`, RFC 6750 §3).
    /// Default: on. Off, the challenge is `Bearer error="insufficient_scope"`
    /// alone (for clients that compare it as a fixed string); the
    /// [`Rejection`] in the response's extensions still names them.
    pub fn with_scope_in_challenge(mut self, on: bool) -> Self {
        self.scope_in_challenge = on;
        self
    }

    /// Replaces the refusal response. Default: [`DefaultRejectionResponse`].
    pub fn with_rejection_response(mut self, respond: impl RejectionResponse) -> Self {
        self.respond = Arc::new(respond);
        self
    }
}

impl<M> fmt::Debug for RequirePermissionLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequirePermissionLayer")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, M> Layer<S> for RequirePermissionLayer<M> {
    type Service = RequirePermission<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequirePermission {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`RequirePermissionLayer`].
pub struct RequirePermission<S, M = WrapBody> {
    inner: S,
    layer: RequirePermissionLayer<M>,
}

impl<S: Clone, M> Clone for RequirePermission<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, M> RequirePermission<S, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, M> fmt::Debug for RequirePermission<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequirePermission")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for RequirePermission<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: ResponseBodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = PermissionFuture<S::Future, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let session = req.extensions().get::<SessionData>();
        if session.is_some_and(|session| self.layer.requirement.is_met(session)) {
            return PermissionFuture::inner(self.inner.call(req));
        }
        // What the session layer's challenges add (resource metadata, the
        // routes' scopes), as it left them for this check.
        let anonymous = req.extensions().get::<PassedAnonymous>();
        let challenge = match (req.extensions().get::<Arc<Challenge>>(), anonymous) {
            (Some(challenge), _) => Some(&**challenge),
            (None, Some(anonymous)) => anonymous.challenge.as_deref(),
            (None, None) => None,
        };
        let scope = self
            .layer
            .requirement
            .scope(challenge.and_then(|c| c.scope.as_deref()));
        let rejection = match session {
            Some(session) => {
                tracing::debug!(user_id = %session.user_id(), requirement = ?self.layer.requirement, "permission refused");
                let rejection = if self.layer.scope_in_challenge {
                    Rejection::insufficient_scope().with_scope(scope)
                } else {
                    Rejection::insufficient_scope().with_scope_unshown(scope)
                };
                // A session bound to a DPoP key was admitted with its proof:
                // the request used the `DPoP` scheme, and so does its
                // challenge (RFC 9449 §7.1).
                if session.dpop_jkt().is_some() {
                    rejection.with_dpop(None)
                } else {
                    rejection
                }
            }
            None if anonymous.is_some() && self.layer.scope_in_challenge => {
                Rejection::missing().with_scope(scope)
            }
            None if anonymous.is_some() => Rejection::missing(),
            None => return PermissionFuture::refused(no_session_layer()),
        };
        PermissionFuture::refused(refusal(
            &*self.layer.respond,
            rejection,
            challenge,
            is_grpc(req.version(), req.headers()),
        ))
    }
}

/// The answer when no `SessionLayer` ran before this check: a server
/// configuration error (usually axum's layer order), not a client's fault.
fn no_session_layer() -> Response<Bytes> {
    tracing::error!(
        "RequirePermission saw a request that no SessionLayer handled: apply SessionLayer \
         outside RequirePermissionLayer (in axum, call .layer(SessionLayer) after \
         .layer(RequirePermissionLayer))"
    );
    let mut res = Response::new(Bytes::from_static(
        br#"{"error":"server_error","error_description":"RequirePermissionLayer ran before SessionLayer: apply SessionLayer outside it (in axum, the later .layer call)"}"#,
    ));
    *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}
