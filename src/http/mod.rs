//! The HTTP side: everything between a request and a verified session.
//!
//! A request goes through these files top to bottom:
//!
//! - [`layer`](SessionLayer): the configuration ([`SessionLayer`], its
//!   mode, outage policy and token sources);
//! - `service`: [`SessionService::call`](SessionService), which takes the
//!   token from the request ([`source`], `bearer`), has the
//!   [`SessionManager`](crate::SessionManager) verify it (the `jwt` module)
//!   and asks the [`Blocklist`](crate::blocklist::Blocklist);
//! - [`future`]: the [`ResponseFuture`](future::ResponseFuture) that waits for
//!   an asynchronous blocklist answer, then calls the inner service;
//! - [`rejection`], [`body`], `grpc`: refusals per RFC 6750 (status,
//!   `WWW-Authenticate`, JSON body; gRPC status for gRPC clients);
//! - `require`: [`RequirePermissionLayer`], the per-route permission check
//!   that runs after the session layer;
//! - `extract` (feature `axum`): [`SessionData`](crate::SessionData) as an axum extractor.

pub(crate) mod bearer;
pub mod body;
pub(crate) mod config;
pub(crate) mod decision;
#[cfg(feature = "axum")]
mod extract;
pub mod future;
pub(crate) mod grpc;
pub(crate) mod layer;
pub mod rejection;
pub(crate) mod require;
pub(crate) mod service;
pub mod source;

pub use config::OutagePolicy;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{MissingSessionLayer, SessionRejection};
pub use layer::SessionLayer;
pub use require::{RequirePermission, RequirePermissionLayer};
pub use service::SessionService;
