//! Error types: configuration, blocklist, issuing and verification.
//!
//! Every error is a typed enum. Configuration problems surface when a
//! [`SessionManager`](crate::SessionManager) or a layer is built, never later
//! and never as a panic. Verification failures carry the precise reason so
//! that callers (and the layer's refusals) can tell an expired token from a
//! forged one; what a *client* sees of that reason is decided by the
//! [`rejection`](crate::rejection) module.

use std::{error::Error as StdError, fmt, time::Duration};

use crate::Algorithm;

/// A configuration value that cannot be used safely.
///
/// Returned by the builders in this crate at construction time. The variants
/// carry the offending value (never a secret) so that the message names the
/// problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The HMAC secret is empty.
    #[error("the session secret is empty")]
    EmptySecret,
    /// The HMAC secret is shorter than RFC 7518 §3.2 requires for the algorithm.
    #[error("the session secret has {actual} bytes; {algorithm} needs at least {required} (RFC 7518 section 3.2)")]
    SecretTooShort {
        /// The configured algorithm.
        algorithm: Algorithm,
        /// The minimum length in bytes.
        required: usize,
        /// The length of the secret that was given.
        actual: usize,
    },
    /// A previous (verification-only) secret is empty or too short.
    #[error("previous secret #{index} has {actual} bytes; {algorithm} needs at least {required} (RFC 7518 section 3.2)")]
    PreviousSecretTooShort {
        /// Its position in the list, from 1.
        index: usize,
        /// The configured algorithm.
        algorithm: Algorithm,
        /// The minimum length in bytes.
        required: usize,
        /// The length of the secret that was given.
        actual: usize,
    },
    /// The algorithm name is not one this crate supports.
    #[error("unknown algorithm {0:?}; expected HS256, HS384, HS512, RS256, PS256, ES256, ES384 or EdDSA")]
    UnknownAlgorithm(String),
    /// An HMAC secret was given for an asymmetric algorithm.
    #[error("{0} signs with a key pair, not a secret; give it a private or public key")]
    SecretWithAsymmetricAlgorithm(Algorithm),
    /// A private or public key was given for an HMAC algorithm.
    #[error("{0} signs with a secret, not a private or public key")]
    KeyWithHmacAlgorithm(Algorithm),
    /// The key's algorithm differs from the configured one.
    #[error("the key is for {key}, but the algorithm is {configured}")]
    KeyAlgorithmMismatch {
        /// The algorithm the key was read for.
        key: Algorithm,
        /// The configured algorithm.
        configured: Algorithm,
    },
    /// A key file cannot be read as a key.
    #[error("invalid {algorithm} key: {reason}")]
    InvalidKey {
        /// The algorithm the key was read for.
        algorithm: Algorithm,
        /// What is wrong with it.
        reason: String,
    },
    /// The key is of another kind than the algorithm needs.
    #[error("the key is {found}; {algorithm} needs {expected}")]
    WrongKeyKind {
        /// The algorithm the key was read for.
        algorithm: Algorithm,
        /// The kind it needs.
        expected: &'static str,
        /// The kind that was found.
        found: &'static str,
    },
    /// An RSA key under 2048 bits.
    #[error("the RSA key has {bits} bits; at least 2048 are required")]
    WeakRsaKey {
        /// The modulus size.
        bits: usize,
    },
    /// An RSA key over 4096 bits, beyond what the RSA implementation verifies.
    #[error("the RSA key has {bits} bits; at most 4096 are supported")]
    RsaKeyTooLarge {
        /// The modulus size.
        bits: usize,
    },
    /// The public key given is not the private key's pair.
    #[error("the public key is not the private key's pair")]
    KeyPairMismatch,
    /// Previous secrets were given with an asymmetric key, or previous
    /// public keys with a secret.
    #[error("previous keys must be of the same kind as the current one ({0})")]
    PreviousKeyKind(Algorithm),
    /// No issuer was set ([`SessionManagerBuilder::with_issuer`](crate::SessionManagerBuilder::with_issuer)).
    #[error("no issuer set: call with_issuer(..) on the builder (the `iss` every token is minted with and must carry, RFC 8725 §3.8)")]
    MissingIssuer,
    /// No audience was set ([`SessionManagerBuilder::with_audience`](crate::SessionManagerBuilder::with_audience)).
    #[error("no audience set: call with_audience(..) on the builder (the `aud` every token is minted with and must carry, RFC 8725 §3.9)")]
    MissingAudience,
    /// The issuer (`iss`) is empty.
    #[error("the issuer is empty")]
    EmptyIssuer,
    /// The audience (`aud`) is empty.
    #[error("the audience is empty")]
    EmptyAudience,
    /// The token lifetime is zero or unreasonably long.
    #[error("the token lifetime {0:?} is out of range (1 s to 366 days)")]
    TtlOutOfRange(Duration),
    /// The clock leeway is larger than the crate allows.
    #[error("the leeway {0:?} is too large (at most 300 s)")]
    LeewayTooLarge(Duration),
    /// The absolute session lifetime is shorter than one token lifetime.
    #[error("the absolute session lifetime {max:?} is shorter than the token lifetime {ttl:?}")]
    MaxLifetimeShorterThanTtl {
        /// The configured absolute lifetime.
        max: Duration,
        /// The configured token lifetime.
        ttl: Duration,
    },
    /// The realm cannot be written inside a quoted `WWW-Authenticate` parameter.
    #[error("the realm {0:?} contains a character that cannot appear in a quoted string")]
    InvalidRealm(String),
    /// The Redis URL cannot be used.
    #[error("the Redis URL cannot be used: {0}")]
    InvalidRedisUrl(String),
    /// A timeout of zero.
    #[error("the timeout {0:?} must be more than zero")]
    InvalidTimeout(Duration),
    /// A component that needs a tokio runtime was built outside one.
    #[error("this must be built inside a tokio runtime")]
    NoRuntime,
    /// The JWK Set (or OpenID Connect issuer) URL cannot be used.
    #[error("the JWKS URL cannot be used: {0}")]
    InvalidJwksUrl(String),
    /// A root certificate given for the JWKS client cannot be read.
    #[error("the root certificate cannot be read: {0}")]
    InvalidCertificate(String),
    /// The JWKS source was discovered for one issuer and the manager is
    /// configured for another: tokens would never verify.
    #[error("the JWKS source was discovered for issuer {discovered:?}, but the manager's issuer is {configured:?}")]
    JwksIssuerMismatch {
        /// The issuer the source reads its keys for.
        discovered: String,
        /// The manager's issuer.
        configured: String,
    },
    /// A trusted issuer cannot be used as configured.
    #[error("trusted issuer {issuer:?}: {reason}")]
    TrustedIssuer {
        /// The issuer, as configured.
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// The public URL (DPoP's `htu` base) cannot be used.
    #[error(
        "the public URL {0:?} is not an absolute http:// or https:// URL without query or fragment"
    )]
    InvalidPublicUrl(String),
    /// A permission claim path cannot be used.
    #[error("the permission claim {0:?} cannot be used: a claim name or a dotted path of names, none empty")]
    InvalidPermissionClaim(String),
    /// A permission cannot be named in a `WWW-Authenticate` `scope` (RFC 6750 §3).
    #[error("the permission {0:?} is empty or has a character RFC 6750 forbids in a scope (space, quote, backslash, control)")]
    InvalidPermission(String),
}

/// Why fetching or reading a JWK Set (RFC 7517) failed. A source keeps its
/// last good set when a fetch fails; these are logged and counted, and
/// returned by [`JwkSet::parse`](crate::jwks::JwkSet::parse) and
/// [`JwksSource::refresh_now`](crate::jwks::JwksSource::refresh_now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The request failed: connection, TLS, or reading the body.
    #[error("the JWKS request failed: {0}")]
    Request(String),
    /// No answer within the timeout.
    #[error("the JWKS request took longer than {0:?}")]
    Timeout(Duration),
    /// An answer other than `200 OK` (redirects are not followed).
    #[error("the JWKS URL answered {0}, not 200")]
    Status(u16),
    /// A body over the limit.
    #[error("the JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JWK Set (a JSON object with a `keys` array).
    #[error("the document is not a JWK Set: {0}")]
    NotAJwkSet(String),
    /// The set holds no key usable with the configured algorithm.
    #[error("the JWK Set holds no key usable with {algorithm} ({skipped} skipped)")]
    NoUsableKey {
        /// The configured algorithm.
        algorithm: &'static str,
        /// Keys in the set that were not usable.
        skipped: usize,
    },
    /// The OpenID Connect discovery document is unusable.
    #[error("OpenID Connect discovery failed: {0}")]
    Discovery(String),
    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document's issuer is {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer the document names.
        found: String,
    },
}

/// A blocklist backend could not answer or could not store.
///
/// A blocklist error is never read as "not revoked": the layer answers
/// `503 Service Unavailable` (fail closed) and the manager's `revoke` returns
/// the error instead of a false `Ok`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlocklistError {
    /// The backend cannot be reached (connection refused, reset, closed).
    #[error("the blocklist backend is unreachable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The backend did not answer within the configured time.
    #[error("the blocklist backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend answered with something this crate cannot read.
    #[error("the blocklist backend gave an unexpected answer: {0}")]
    Protocol(String),
    /// The primary stored the write but too few of its replicas confirmed
    /// it in time (`WAIT`): nothing is promised. A Sentinel or Cluster
    /// setup refuses every write this way until its replicas are online.
    #[error("only {acknowledged} of {wanted} replicas acknowledged the write within {waited:?} (the minimum set by `with_min_replicas`, REDIS_MIN_REPLICAS in the demo server)")]
    TooFewReplicas {
        /// Replicas that confirmed the write.
        acknowledged: u32,
        /// Replicas that must confirm it.
        wanted: u32,
        /// How long the primary waited for them.
        waited: Duration,
    },
    /// Any other backend failure.
    #[error("the blocklist backend failed: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl BlocklistError {
    /// Wraps any error as [`BlocklistError::Backend`], keeping it as the source.
    pub fn backend(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend(err.into())
    }

    /// Wraps any error as [`BlocklistError::Unavailable`], keeping it as the source.
    pub fn unavailable(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Unavailable(err.into())
    }
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A required session field (user id or email) is empty.
    #[error("the session field {0} is empty")]
    EmptyField(&'static str),
    /// The absolute session lifetime has ended; the user must log in again.
    #[error("the session has reached its absolute lifetime")]
    SessionLifetimeExceeded,
    /// Signing failed.
    #[error("signing the token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Randomness,
    /// The system clock is before 1970 or otherwise unusable.
    #[error("the system clock is unusable")]
    Clock,
    /// The manager holds a public key only: it verifies but cannot sign.
    #[error("this session manager only verifies tokens: it has no private key")]
    VerifyOnly,
    /// The token was minted by another issuer (a trusted identity
    /// provider): only tokens minted here are refreshed.
    #[error("only tokens minted here are refreshed; this one is from a trusted issuer")]
    NotMintedHere,
}

/// Why a token was not accepted.
///
/// The variants split into client faults (everything but
/// [`VerifyError::Backend`]), which the layer answers with
/// `401 invalid_token`, and backend faults, answered with `503`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is not three base64url segments of a JWS compact serialization.
    #[error("the token is malformed: {0}")]
    Malformed(MalformedToken),
    /// The token is longer than the crate accepts.
    #[error("the token is longer than {0} bytes")]
    TooLong(usize),
    /// The header names an algorithm other than the configured one.
    #[error("the token's algorithm is not the configured one")]
    AlgorithmMismatch,
    /// The header has a `crit` parameter; no extension is understood here.
    #[error("the token has a crit header parameter")]
    CriticalHeader,
    /// The header's `typ` names another kind of token (RFC 8725 §3.11).
    #[error("the token is not a session token")]
    WrongType,
    /// The header's `kid` names no configured key (or is not a string).
    #[error("the token names an unknown key")]
    UnknownKey,
    /// The signature does not match.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// The claims are not the expected JSON object (a missing or mistyped claim).
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
    /// A required claim is missing or empty.
    #[error("the token lacks the claim {0}")]
    MissingClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("the token's issuer is not accepted")]
    InvalidIssuer,
    /// `aud` does not contain the configured audience.
    #[error("the token's audience is not accepted")]
    InvalidAudience,
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token itself was revoked (logout, refresh).
    #[error("the token was revoked")]
    Revoked,
    /// A refresh replaced this token: its session is at a later generation.
    #[error("the token was replaced by a refresh")]
    Superseded,
    /// A token that a refresh had already replaced was presented to
    /// `refresh` again: the session was ended (reuse detection, RFC 9700
    /// §4.14.2).
    #[error("a replaced token was presented to refresh: the session was ended")]
    ReuseDetected,
    /// Every session of the user issued before a cut-off was revoked.
    #[error("the token was revoked by a log-out-everywhere")]
    RevokedForUser,
    /// The session's absolute lifetime has ended.
    #[error("the session has reached its absolute lifetime")]
    SessionLifetimeExceeded,
    /// The token is bound to a key (`cnf`, RFC 9449 / RFC 8705) and was
    /// presented as a plain Bearer token: a downgrade, refused in every
    /// mode.
    #[error("the token is bound to a key and was presented as a Bearer token")]
    BoundToKey,
    /// The DPoP proof presented with the token is not by the key the token
    /// is bound to, or was not made for this token (its `ath`), or the
    /// token is bound to no key.
    #[error("the DPoP proof is not by the token's key or not for this token")]
    ProofMismatch,
    /// The blocklist could not answer: the token's state is unknown.
    #[error("the revocation state is unknown")]
    Backend(#[source] BlocklistError),
    /// The keys to verify with are not available: no JWK Set fetched yet,
    /// or the last good one is older than its allowed age.
    #[error("the signing keys are unavailable: {0}")]
    KeysUnavailable(&'static str),
}

impl VerifyError {
    /// Returns `true` when the client is at fault (as opposed to a backend failure).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Backend(_) | Self::KeysUnavailable(_))
    }
}

impl From<BlocklistError> for VerifyError {
    fn from(err: BlocklistError) -> Self {
        Self::Backend(err)
    }
}

/// What is wrong with the shape of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedToken {
    /// Not exactly three dot-separated segments.
    SegmentCount,
    /// A segment is not canonical unpadded base64url.
    Base64,
    /// The header is not a JSON object with a string `alg`.
    Header,
    /// The signature has the wrong length for the algorithm.
    SignatureLength,
}

impl fmt::Display for MalformedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::SegmentCount => "not three segments",
            Self::Base64 => "a segment is not base64url",
            Self::Header => "the header is not valid",
            Self::SignatureLength => "the signature has the wrong length",
        })
    }
}
