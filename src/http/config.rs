//! What a [`SessionLayer`](crate::SessionLayer) was configured with: its
//! mode, its outage policy, and the settings its services share.

use std::sync::Arc;

use crate::{
    dpop::Dpop, http::rejection::SharedResponse, http::source::Sources, manager::SessionManager,
};

/// What every challenge of a layer adds (and of the permission checks
/// behind it): the URL of the protected resource metadata document (RFC
/// 9728 §5.1) and the scopes its routes need (named where a refusal names
/// no scope of its own).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) resource_metadata: Option<Arc<str>>,
    pub(crate) scope: Option<Arc<str>>,
}

/// Whether requests without credentials may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SessionMode {
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

/// The layer's settings, shared by every service it makes.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) manager: SessionManager,
    pub(crate) mode: SessionMode,
    pub(crate) outage: OutagePolicy,
    pub(crate) respond: SharedResponse,
    pub(crate) sources: Sources,
    /// The routes behind guard a refresh: a replayed token ends its session.
    pub(crate) refresh_route: bool,
    /// DPoP (RFC 9449), when the layer takes it.
    pub(crate) dpop: Option<Dpop>,
    /// What its challenges add; `None` when nothing.
    pub(crate) challenge: Option<Arc<Challenge>>,
}
