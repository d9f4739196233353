//! [`SessionLayer`]: configuration of the session middleware.

use std::{fmt, marker::PhantomData, sync::Arc};

use tower_layer::Layer;

use crate::{
    error::ConfigError,
    http::body::{InnerBody, WrapBody},
    http::config::{Challenge, OutagePolicy, SessionMode, Shared},
    http::rejection::{DefaultRejectionResponse, RejectionResponse},
    http::service::SessionService,
    http::source::{CookieSource, Sources, TokenSource},
    manager::SessionManager,
    scope::is_scope_token,
};

/// Verifies the bearer token of every request and puts the
/// [`SessionData`](crate::SessionData) in its extensions.
///
/// See the [crate docs](crate) for an example. `M` says how responses carry
/// their body: [`WrapBody`] (the default, any inner body) or, after
/// [`with_inner_body`](Self::with_inner_body), [`InnerBody`].
#[must_use]
pub struct SessionLayer<M = WrapBody> {
    pub(crate) shared: Arc<Shared>,
    body: PhantomData<fn() -> M>,
}

impl<M> Clone for SessionLayer<M> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            body: PhantomData,
        }
    }
}

impl<M> SessionLayer<M> {
    /// Keeps the inner service's response body type (it must be
    /// `From<Bytes>`, as axum's `Body` and `Full<Bytes>` are): refusals are
    /// built as that type instead of wrapping every body in a
    /// [`ResponseBody`](crate::body::ResponseBody). axum then does not box the
    /// body again (one allocation less per response). See the
    /// [`body`](crate::body) module.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use http_body_util::Full;
    /// use bytes::Bytes;
    /// use tower::{service_fn, Layer};
    /// use tower_jwt_session::{SessionLayer, SessionManager};
    ///
    /// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// let service = SessionLayer::new(manager).with_inner_body().layer(service_fn(
    ///     |_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi")))) },
    /// ));
    /// // Its responses are `Response<Full<Bytes>>`, refusals included.
    /// # let _ = service;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_inner_body(self) -> SessionLayer<InnerBody> {
        SessionLayer {
            shared: self.shared,
            body: PhantomData,
        }
    }

    /// Takes DPoP requests (RFC 9449) as `dpop` says: `Authorization: DPoP`
    /// with a proof checked on every request, bound tokens only with a proof
    /// by their key, and in [`DpopMode::Required`](crate::dpop::DpopMode)
    /// no Bearer at all. Without it, the `DPoP` scheme is unknown; a token
    /// bound to a key is never accepted as Bearer either way. See the
    /// [`dpop`](crate::dpop) module.
    pub fn with_dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        Arc::make_mut(&mut self.shared).dpop = Some(dpop);
        self
    }

    /// Lets requests without credentials through, with no
    /// [`SessionData`](crate::SessionData) in their extensions (a handler
    /// takes `Option<SessionData>`); invalid, expired or revoked
    /// credentials are still refused. Without it, a session is required.
    ///
    /// ```
    /// use tower_jwt_session::{SessionLayer, SessionManager};
    ///
    /// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let manager = SessionManager::builder("an example secret of at least 32 bytes!")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let layer = SessionLayer::new(manager).optional();
    /// # let _ = layer; Ok(())
    /// # }
    /// ```
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.shared).mode = SessionMode::Optional;
        self
    }

    /// Marks the routes behind this layer as **refresh** routes (handlers
    /// that call [`SessionManager::refresh_session`]). A token that an
    /// earlier refresh already replaced is then a replay, the act of a thief
    /// or of a victim holding the same credential (RFC 9700 §4.14.2): the
    /// layer ends its whole session (when the manager's
    /// [reuse detection](crate::SessionManagerBuilder::with_reuse_detection)
    /// is on, the default) before answering `401`. On other routes such a
    /// token is only refused, so that a second browser tab still holding it
    /// ends nothing. Default: off.
    ///
    /// ```
    /// use axum::{routing::{get, post}, Router};
    /// use tower_jwt_session::{SessionData, SessionLayer, SessionManager};
    ///
    /// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// let app: Router = Router::new()
    ///     .route("/me", get(|s: SessionData| async move { s.user_id().to_owned() }))
    ///     .route_layer(SessionLayer::new(manager.clone()))
    ///     .merge(
    ///         Router::new()
    ///             .route("/refresh", post(|| async { "call manager.refresh_session here" }))
    ///             .route_layer(SessionLayer::new(manager).for_refresh()),
    ///     );
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_refresh(mut self) -> Self {
        Arc::make_mut(&mut self.shared).refresh_route = true;
        self
    }

    /// What to do when the blocklist cannot answer. Default:
    /// [`OutagePolicy::FailClosed`] (`503`).
    ///
    /// # ⚠️ Warning
    ///
    /// [`OutagePolicy::AdmitUncheckedDangerously`] lets revoked tokens in
    /// during an outage.
    pub fn with_outage_policy(mut self, policy: OutagePolicy) -> Self {
        Arc::make_mut(&mut self.shared).outage = policy;
        self
    }

    /// Also reads the token from the cookie called `name`. See the
    /// [`source`](crate::source) module for the CSRF caveat. Default: the
    /// `Authorization` header only.
    pub fn with_cookie(self, name: impl Into<String>) -> Self {
        self.add_token_source(CookieSource::new(name))
    }

    /// Also reads the token from `source`, after the sources already set.
    /// Two sources presenting different tokens make a `400 invalid_request`.
    pub fn add_token_source(mut self, source: impl TokenSource) -> Self {
        Arc::make_mut(&mut self.shared)
            .sources
            .add(Arc::new(source));
        self
    }

    /// Stops reading the `Authorization` header (for example with a cookie
    /// as the only source).
    pub fn without_bearer_header(mut self) -> Self {
        Arc::make_mut(&mut self.shared).sources.without_bearer();
        self
    }

    /// Replaces the refusal response. Default: [`DefaultRejectionResponse`]
    /// (RFC 6750, no realm, no descriptions). The [`Rejection`] is added to
    /// the response's extensions whatever builds the response.
    ///
    /// [`Rejection`]: crate::rejection::Rejection
    pub fn with_rejection_response(mut self, respond: impl RejectionResponse) -> Self {
        Arc::make_mut(&mut self.shared).respond = Arc::new(respond);
        self
    }

    /// The manager this layer checks tokens with.
    pub fn manager(&self) -> &SessionManager {
        &self.shared.manager
    }

    /// Names `scope` (space-separated scopes) in this layer's `401`
    /// challenges, and first in the scope challenges of the
    /// [`RequirePermissionLayer`](crate::RequirePermissionLayer)s behind it:
    /// the scopes every route behind it needs, so that a client asks for
    /// them (the MCP authorization spec's SHOULD). It names them; it does
    /// not check them (a `RequirePermissionLayer` does).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPermission`] naming a scope that is empty or
    /// has a character a scope token cannot have (RFC 6749 §3.3).
    ///
    /// ```
    /// use tower_jwt_session::{RequirePermissionLayer, SessionLayer, SessionManager};
    ///
    /// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let manager = SessionManager::builder("an example secret of at least 32 bytes!")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let layer = SessionLayer::new(manager).with_challenge_scope("mcp:tools")?;
    /// let check = RequirePermissionLayer::permission("mcp:tools");
    /// # let _ = (layer, check); Ok(())
    /// # }
    /// ```
    pub fn with_challenge_scope(mut self, scope: impl Into<String>) -> Result<Self, ConfigError> {
        let scope = scope.into();
        if let Some(bad) = scope.split(' ').find(|t| !is_scope_token(t)) {
            return Err(ConfigError::InvalidPermission(bad.to_owned()));
        }
        let shared = Arc::make_mut(&mut self.shared);
        let resource_metadata = shared
            .challenge
            .as_ref()
            .and_then(|c| c.resource_metadata.clone());
        shared.challenge = Some(Arc::new(Challenge {
            resource_metadata,
            scope: Some(scope.into()),
        }));
        Ok(self)
    }

    /// The layer's DPoP settings, if it takes DPoP.
    pub(crate) fn dpop(&self) -> Option<&crate::dpop::Dpop> {
        self.shared.dpop.as_ref()
    }
}

impl SessionLayer {
    /// A layer that checks tokens with `manager` (and its blocklist),
    /// requiring a session (see [`optional`](Self::optional)), answering refusals with
    /// [`DefaultRejectionResponse`].
    pub fn new(manager: SessionManager) -> Self {
        let challenge = manager.protected_resource().map(|resource| {
            Arc::new(Challenge {
                resource_metadata: Some(resource.metadata_url_shared()),
                scope: None,
            })
        });
        Self {
            shared: Arc::new(Shared {
                challenge,
                manager,
                mode: SessionMode::Required,
                outage: OutagePolicy::FailClosed,
                sources: Sources::default(),
                respond: Arc::new(DefaultRejectionResponse::new()),
                refresh_route: false,
                dpop: None,
            }),
            body: PhantomData,
        }
    }
}

impl<M> fmt::Debug for SessionLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("manager", &self.shared.manager)
            .field("mode", &self.shared.mode)
            .field("outage", &self.shared.outage)
            .finish_non_exhaustive()
    }
}

impl<S, M> Layer<S> for SessionLayer<M> {
    type Service = SessionService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
            body: PhantomData,
        }
    }
}
