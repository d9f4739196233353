//! The token format: JWS parsing and signature checks, claims, keys.
//!
//! - `algorithm`: [`Algorithm`], the JWS algorithms by their JWT names;
//! - `token`: splits and decodes a compact JWS, checks the header (`alg`
//!   pinned by configuration, `kid`, `crit`) and the signature, and derives
//!   the blocklist key of a token;
//! - `app_claims`: [`Claims<C>`], the application's own claims type;
//! - `claims`: the wire claims (the TypeScript seed's names) and
//!   [`SessionData`], what handlers see;
//! - `key`: HMAC secrets and the key set a manager verifies with (current
//!   and previous keys, looked up by `kid`);
//! - `asymmetric`: [`KeyPair`] and [`PublicKey`] (RSA, ECDSA, EdDSA) read
//!   from PEM, with their RFC 7638 thumbprints;
//! - `verified`: the verified-token cache, so a repeated token skips the
//!   signature check.
//!
//! Nothing here touches HTTP or storage.

pub(crate) mod algorithm;
pub(crate) mod app_claims;
pub(crate) mod asymmetric;
pub(crate) mod claims;
pub(crate) mod key;
mod roca;
pub(crate) mod token;
#[cfg(test)]
mod vectors;
pub(crate) mod verified;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use app_claims::Claims;
pub use asymmetric::{KeyPair, PublicKey, MAX_RSA_BITS, MIN_RSA_BITS};
pub use claims::{NewSession, SessionData};
#[cfg(feature = "jwks")]
pub(crate) use token::header_kid;
