//! Revocation that starts at the identity provider: receivers for OpenID
//! Connect Back-Channel Logout 1.0 and for Shared Signals (CAEP / RISC
//! Security Event Tokens pushed per RFC 8935).
//!
//! Each receiver checks what its trusted issuer sent with the same keys as
//! that issuer's access tokens (see [`issuers`](crate::issuers)) and turns
//! it into a revocation in the manager's blocklist: with a Redis replica it
//! is in force on every server within milliseconds, with 0 store commands
//! per request, and survives a store restart and failover like a logout.
//! A receiver answers success only once the revocation is stored (`503`
//! otherwise: the provider retries).
//!
//! | what arrives | effect |
//! | --- | --- |
//! | logout token with `sid` | every token of that issuer carrying that `sid` is refused |
//! | logout token with `sub` alone | every token of that issuer and subject issued at or before its `iat` |
//! | CAEP `session-revoked` | the session named in the subject (`complex` subject with an `opaque` `session`), else the subject everywhere up to the event time |
//! | CAEP `credential-change`, RISC `account-disabled`, `sessions-revoked` | the subject everywhere up to the event time (`event_timestamp`, else `iat`) |
//! | SSF `verification`, any other event | nothing (acknowledged; unknown ones counted) |
//!
//! Mount them as tower services ([`BackChannelLogout`],
//! [`SecurityEventReceiver`]) beside the routes the layer guards: they are
//! the one way in (any tower stack mounts them: axum, hyper, tonic's
//! router).
//!
//! ```
//! use axum::Router;
//! use tower_jwt_session::{
//!     issuers::TrustedIssuer, receivers::{BackChannelLogout, SecurityEventReceiver},
//!     Algorithm, SessionManager,
//! };
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::verify_only()
//!     .with_audience("orders-api")
//!     .with_trusted_issuer(TrustedIssuer::with_secret(
//!         "https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes"))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route_service("/backchannel-logout", BackChannelLogout::new(manager.clone(), "orders-api"))
//!     .route_service("/ssf/events", SecurityEventReceiver::new(manager, "orders-api"));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod logout_token;
mod security_event;
mod service;

use std::time::Duration;

use serde_json::{Map, Value};

pub use service::{BackChannelLogout, SecurityEventReceiver, MAX_BODY_BYTES};

use crate::{error::BlocklistError, error::VerifyError};

/// The oldest logout token accepted (its `iat`), beyond the leeway.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(300);

/// Why a logout token or a security event was not accepted, or not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReceiverError {
    /// Malformed, of the wrong type, or missing or invalid claims.
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// `iss` is not a trusted issuer (no key was looked up or fetched).
    #[error("the issuer is not trusted")]
    InvalidIssuer,
    /// The signature does not verify with the issuer's keys.
    #[error("the signature does not verify with the issuer's keys")]
    InvalidKey,
    /// `aud` does not hold this receiver's client id or audience.
    #[error("the audience is not this receiver")]
    InvalidAudience,
    /// The issuer's keys are not available yet (its JWK Set was never
    /// fetched, or is too old).
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
    /// The revocation could not be stored: nothing is promised.
    #[error(transparent)]
    Store(#[from] BlocklistError),
}

impl ReceiverError {
    /// The RFC 8935 §2.3 error code (`invalid_request`, `invalid_issuer`,
    /// `invalid_key`, `invalid_audience`), or `temporarily_unavailable` for
    /// a failure of ours (answered `503`).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidKey => "invalid_key",
            Self::InvalidAudience => "invalid_audience",
            Self::KeysUnavailable | Self::Store(_) => "temporarily_unavailable",
        }
    }

    /// Whether the fault is ours (`503`, the sender should retry) rather
    /// than the token's (`400`).
    pub(crate) fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable | Self::Store(_))
    }
}

impl From<VerifyError> for ReceiverError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::InvalidIssuer | VerifyError::MissingClaim("iss") => Self::InvalidIssuer,
            VerifyError::UnknownKey
            | VerifyError::InvalidSignature
            | VerifyError::AlgorithmMismatch => Self::InvalidKey,
            VerifyError::InvalidAudience => Self::InvalidAudience,
            VerifyError::KeysUnavailable(_) => Self::KeysUnavailable,
            VerifyError::Backend(e) => Self::Store(e),
            VerifyError::WrongType => Self::Invalid("the token's typ is not this kind of token"),
            VerifyError::Malformed(_) | VerifyError::TooLong(_) => Self::Invalid("malformed token"),
            VerifyError::CriticalHeader => Self::Invalid("unsupported crit header"),
            _ => Self::Invalid("invalid claims"),
        }
    }
}

/// A string claim, if present (`null` is absent); another type is invalid.
pub(crate) fn claim_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ReceiverError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ReceiverError::Invalid(
            "a claim that must be a string is not",
        )),
    }
}

/// A NumericDate claim in Unix microseconds, if present.
pub(crate) fn claim_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ReceiverError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|s| Some((s * 1_000_000.0) as i64))
            .ok_or(ReceiverError::Invalid(
                "a date claim is not a number of seconds",
            )),
        Some(_) => Err(ReceiverError::Invalid(
            "a date claim is not a number of seconds",
        )),
    }
}
