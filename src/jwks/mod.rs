//! Keys from a JWK Set (RFC 7517): [`JwkSet`] reads one; with the `jwks`
//! feature, [`JwksSource`] fetches it from an issuer's JWKS URL (or through
//! OpenID Connect discovery) and keeps it current, for verify-only services
//! that follow the issuer's key rotations without restarts.

mod set;

pub use set::JwkSet;

#[cfg(feature = "jwks")]
pub(crate) mod fetch;
#[cfg(feature = "jwks")]
mod source;

#[cfg(feature = "jwks")]
pub use fetch::MAX_DOCUMENT_BYTES;
#[cfg(feature = "jwks")]
pub(crate) use source::KeysWait;
#[cfg(feature = "jwks")]
pub use source::{
    JwksSource, JwksSourceBuilder, JwksStats, DEFAULT_COOLDOWN, DEFAULT_MAX_KEY_AGE,
    DEFAULT_REFRESH, DEFAULT_TIMEOUT, MAX_REFRESH, MIN_REFRESH,
};
