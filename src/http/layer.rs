//! [`SessionLayer`]: configuration of the session middleware.

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use crate::{
    http::rejection::{DefaultRejectionResponse, RejectionResponse, SharedResponse},
    http::source::{CookieSource, Sources, TokenSource},
    SessionManager, SessionService,
};

/// Whether requests without credentials may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// No valid session, no entry (the default).
    #[default]
    Required,
    /// Requests without bearer credentials pass without a [`SessionData`];
    /// invalid, expired or revoked credentials are still refused.
    ///
    /// [`SessionData`]: crate::SessionData
    Optional,
}

/// What the layer does when the blocklist cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutagePolicy {
    /// Refuse with `503 Service Unavailable` (the default): a token revoked
    /// during the outage cannot slip in.
    #[default]
    FailClosed,
    /// ⚠️ Admit requests whose token is otherwise valid, **without** checking
    /// revocation, and log a warning for every such request. Revoked tokens
    /// (logged-out sessions, rotated refresh tokens) are accepted until the
    /// blocklist is back. Choose it only when availability matters more than
    /// logout.
    AdmitUncheckedDangerously,
}

/// Verifies the bearer token of every request and puts the
/// [`SessionData`](crate::SessionData) in its extensions.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) manager: SessionManager,
    pub(crate) mode: SessionMode,
    pub(crate) outage: OutagePolicy,
    pub(crate) respond: SharedResponse,
    pub(crate) sources: Sources,
}

impl SessionLayer {
    /// A layer that checks tokens with `manager` (and its blocklist), in
    /// [`SessionMode::Required`], answering refusals with
    /// [`DefaultRejectionResponse`].
    pub fn new(manager: SessionManager) -> Self {
        Self {
            shared: Arc::new(Shared {
                manager,
                mode: SessionMode::Required,
                outage: OutagePolicy::FailClosed,
                sources: Sources::default(),
                respond: Arc::new(DefaultRejectionResponse::new()),
            }),
        }
    }

    /// Sets the mode. Default: [`SessionMode::Required`].
    pub fn with_mode(mut self, mode: SessionMode) -> Self {
        Arc::make_mut(&mut self.shared).mode = mode;
        self
    }

    /// Shortcut for `with_mode(SessionMode::Optional)`.
    pub fn optional(self) -> Self {
        self.with_mode(SessionMode::Optional)
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
    /// [`Rejection`]: crate::Rejection
    pub fn with_rejection_response(mut self, respond: impl RejectionResponse) -> Self {
        Arc::make_mut(&mut self.shared).respond = Arc::new(respond);
        self
    }

    /// The manager this layer checks tokens with.
    pub fn manager(&self) -> &SessionManager {
        &self.shared.manager
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("manager", &self.shared.manager)
            .field("mode", &self.shared.mode)
            .field("outage", &self.shared.outage)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}
