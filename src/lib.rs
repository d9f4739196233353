//! Stateless JWT sessions for any [tower] service (axum, hyper, tonic) that
//! can still be revoked.
//!
//! [`SessionLayer`] reads `Authorization: Bearer <token>`, verifies the JWT
//! (one configured algorithm: HMAC, or RSA, ECDSA and EdDSA with
//! [`KeyPair`] and [`PublicKey`]), asks a [`Blocklist`](blocklist::Blocklist) whether the token
//! was revoked, and puts the [`SessionData`] in the request's extensions.
//! Refusals follow RFC 6750 (`WWW-Authenticate`, JSON body). A
//! [`SessionManager`] issues, verifies, refreshes (rotating) and revokes
//! tokens, and logs a user out everywhere. Services that only verify can
//! take their keys from the issuer's JWKS URL and follow its key rotations
//! (feature `jwks`, `jwks::JwksSource`).
//!
//! Tokens of identity providers you trust (Keycloak, Auth0, Entra ID,
//! Cognito, Okta, any OpenID Connect provider) are accepted beside your own
//! or instead of them ([`issuers`]), with your own claims type
//! ([`Claims`]) and their scopes and roles as permissions; their logouts
//! and security events revoke through the same store ([`receivers`]).
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Extension, Router};
//! use tower_jwt_session::{SessionData, SessionLayer, SessionManager};
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::builder("a secret of at least thirty-two bytes")
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("example-api")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/me", get(|Extension(s): Extension<SessionData>| async move { s.user_id().to_owned() }))
//!     .layer(SessionLayer::new(manager));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! With tower alone, the layer wraps any `Service<http::Request<_>>`:
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_session::{NewSession, SessionData, SessionLayer, SessionManager, rejection::{Rejection, RejectionKind}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::builder("a secret of at least thirty-two bytes")
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("example-api")
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(SessionLayer::new(manager.clone()))
//!     .service_fn(|req: Request<String>| async move {
//!         let session = req.extensions().get::<SessionData>().unwrap();
//!         Ok::<_, std::convert::Infallible>(Response::new(session.user_id().to_owned()))
//!     });
//!
//! // No token: 401 with a bare challenge.
//! let res = service.clone().oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer");
//!
//! // A valid token: the handler sees the session.
//! let issued = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
//! let req = Request::builder()
//!     .header("authorization", format!("Bearer {}", issued.token()))
//!     .body(String::new())?;
//! assert_eq!(service.clone().oneshot(req).await?.status(), StatusCode::OK);
//!
//! // Revoked: 401 invalid_token, and the reason in the response's extensions.
//! manager.revoke(issued.session()).await?;
//! let req = Request::builder()
//!     .header("authorization", format!("Bearer {}", issued.token()))
//!     .body(String::new())?;
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
//! assert_eq!(res.extensions().get::<Rejection>().unwrap().kind(), RejectionKind::Revoked);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `redis` | no | `blocklist::RedisBlocklist`: the shared blocklist for several servers, with a push-invalidated local cache |
//! | `axum` | no | `SessionData` as an axum 0.8 extractor (`SessionData` / `Option<SessionData>`), on axum-core only |
//! | `metrics` | no | counters through the `metrics` facade: refusals by reason, cache hits and misses, backend checks, outage admissions |
//! | `testing` | no | `testing::TestTokens`: valid, expired, not-yet-valid, wrong-audience, revoked and forged tokens for your tests |
//!
//! Without features the crate depends on tower-layer, tower-service, http,
//! jsonwebtoken (pure-Rust crypto backend, for signing), ring (verifying
//! RSA, ECDSA and EdDSA signatures) and moka, and on no runtime.
//!
//! # How it works
//!
//! ```text
//! request ──► bearer::parse ──► token::verify_signature ──► claims checks ──► Blocklist::check ──► inner service
//!              │ 400/401            │ 401 invalid_token       │ 401             │ 401 revoked / 503
//!              └────────────────────┴─────────────────────────┴─────────────────┴──► RejectionResponse
//! ```
//!
//! - The header is parsed strictly (one header, case-insensitive scheme,
//!   `token68`, 8 KiB cap).
//! - The token must be signed with the one configured algorithm (HS256,
//!   HS384, HS512, RS256, PS256, ES256, ES384 or EdDSA) by a known key, and
//!   carry the configured `iss` and `aud`, a numeric `exp`, `sub`, `userId`
//!   and `email`; `crit` headers are refused.
//! - The in-memory blocklist answers synchronously; a remote one through a
//!   boxed future. A blocklist failure is a `503`, never a pass.
//!
//! # Wire compatibility
//!
//! This crate began as a port of a TypeScript session manager built on
//! [`jose`] ("the seed"). Tokens use the seed's claim names (`userId`,
//! `email`, `role`, `companyId`, `permissions`, `metadata`, `createdAt`,
//! `expiresAt`), so the seed and this crate accept each other's tokens (same
//! secret, issuer, audience, algorithm).
//!
//! [`jose`]: https://github.com/panva/jose
//!
//! [tower]: https://docs.rs/tower

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    clippy::all
)]

// Where a request goes, top to bottom: `http` (layer, service, refusals)
// → `manager` (verify, issue, refresh, revoke) → `jwt` (token format, keys)
// → `blocklist` (revocations).
pub mod blocklist;
pub mod dpop;
mod error;
pub mod guide;
mod hash;
mod http;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod introspection;
pub mod issuers;
pub mod jwks;
mod jwt;
mod manager;
mod metrics;
pub mod receivers;
pub mod resource;
mod scope;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod time;

pub use self::http::{
    body, future, rejection, source, OutagePolicy, RequirePermission, RequirePermissionLayer,
    SessionLayer, SessionService,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use self::http::{MissingSessionLayer, SessionRejection};
pub use error::{
    BlocklistError, ConfigError, IntrospectionError, IssueError, JwksError, MalformedToken,
    VerifyError,
};
pub use jwt::{
    Algorithm, Claims, KeyPair, NewSession, PublicKey, SessionData, UnknownAlgorithm, MAX_RSA_BITS,
    MIN_RSA_BITS,
};
pub use manager::{
    IssuedToken, IssuerRevocations, PresentedToken, SessionError, SessionManager,
    SessionManagerBuilder, SigningKey, DEFAULT_LEEWAY, DEFAULT_TTL,
    DEFAULT_VERIFIED_CACHE_CAPACITY,
};

// The README's code blocks are compiled (and run, unless `no_run`) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
