//! Protected Resource Metadata (RFC 9728): how an OAuth client that got a
//! `401` finds out which authorization servers issue tokens for this API,
//! which scopes exist, and whether tokens must be DPoP-bound.
//!
//! Give the manager a [`ProtectedResource`] (the resource identifier: the
//! base URL the API is served under). Then:
//!
//! - every challenge the [`SessionLayer`](crate::SessionLayer) and
//!   [`RequirePermissionLayer`](crate::RequirePermissionLayer) write carries
//!   `resource_metadata="<URL of the document>"` (401 and 403, `Bearer` and
//!   `DPoP` alike);
//! - trusted issuers' tokens must name the resource in `aud` (RFC 8707
//!   resource indicators; scheme and host compare case-insensitively), unless
//!   a trusted issuer was given its own audience;
//! - [`ResourceMetadata`] serves the document, as a tower service, at the
//!   path-inserted well-known location (RFC 9728 §3.1:
//!   `https://api.example.com/v1` → `/.well-known/oauth-protected-resource/v1`).
//!   Mount it beside the layer, not behind it: the document is public.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_jwt_session::{
//!     issuers::TrustedIssuer,
//!     resource::{ProtectedResource, ResourceMetadata},
//!     Algorithm, SessionLayer, SessionManager,
//! };
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::verify_only()
//!     .with_trusted_issuer(TrustedIssuer::with_secret(
//!         "https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes"))
//!     .with_protected_resource(
//!         ProtectedResource::new("https://api.example.com/v1")?
//!             .with_scopes_supported(["files:read", "files:write"]),
//!     )
//!     .build()?;
//! let layer = SessionLayer::new(manager);
//! let metadata = ResourceMetadata::for_layer(&layer)?;
//! let path = metadata.path().to_owned();
//! assert_eq!(path, "/.well-known/oauth-protected-resource/v1");
//! let app: Router = Router::new()
//!     .route("/files", get(|| async { "files" }))
//!     .layer(layer)
//!     .route_service(&path, metadata);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod metadata;
pub(crate) mod protected;

pub use metadata::ResourceMetadata;
pub use protected::ProtectedResource;
