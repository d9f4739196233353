//! Opaque access tokens, checked at the issuer's introspection endpoint
//! (RFC 7662): [`Introspection`], given to a trusted issuer with
//! [`TrustedIssuer::with_introspection`](crate::issuers::TrustedIssuer::with_introspection)
//! (feature `jwks`).
//!
//! Many providers issue opaque access tokens to some clients (ZITADEL to
//! dynamically registered clients, Okta's org authorization server, Auth0
//! without an API audience, oidc-provider without a resource). With an
//! introspecting issuer, a token that does not have the form of a JWT
//! (three base64url segments separated by dots; five, an encrypted JWT, is
//! refused) is sent to the endpoint; a JWT never is.
//!
//! - **The request**: `POST` with `token` and
//!   `token_type_hint=access_token`, the server authenticated by
//!   `client_secret_basic` (RFC 6749 §2.3.1) or `private_key_jwt` (RFC 7523,
//!   signed with the application's key); the endpoint is configured or
//!   read from the issuer's discovery document (`introspection_endpoint`).
//! - **The answer admits** the token when `active` is `true`, `token_type`
//!   is `Bearer` or `DPoP` (a refresh token is not an access token), `exp`
//!   is in the future, `nbf` is not, `iss` (when present) is the issuer and
//!   `aud` (when present) holds the issuer's audience. `sub` names the
//!   user, else `client_id` (a client acting for itself). The session's
//!   permissions come from the answer by the issuer's
//!   [`PermissionClaims`](crate::issuers::PermissionClaims), and
//!   [`SessionData::claims`](crate::SessionData::claims) holds the answer's
//!   members. An answer with `cnf.jkt` (or `token_type` `DPoP`) binds the
//!   token to its DPoP key, as for a JWT.
//! - **The cache** keeps active answers, keyed by the SHA-256 of the token
//!   (its text is never kept, nor logged), at most
//!   [`with_cache_ttl`](Introspection::with_cache_ttl) and never past the
//!   token's `exp`; inactive answers at most [`INACTIVE_TTL`]; a bounded
//!   number of entries. Concurrent requests with the same token make one
//!   request (single flight), and at most [`MAX_IN_FLIGHT`] requests are
//!   under way at once. Permissions are checked on every request, cached
//!   answer or not: the cache holds the session, the layer and
//!   [`RequirePermission`](crate::RequirePermission) check it each time.
//! - **Revocation reaches opaque tokens** like any other: the blocklist is
//!   asked on every request, cached answer or not. A logout revokes the
//!   token under the SHA-256 of its text; a log-out-everywhere, a
//!   back-channel logout or a security event of the issuer reaches it by
//!   `sub` (or by `sid`, when the answer carries one). A token revoked at
//!   the provider itself is refused once its cached answer ends.
//! - **Failure is explicit**: the endpoint unreachable, slow (beyond
//!   [`with_timeout`](Introspection::with_timeout), the discovery included)
//!   or answering anything but a well-formed `200` is
//!   [`VerifyError::Introspection`](crate::VerifyError::Introspection), which
//!   the layer answers `503`; the token is never admitted for it.
//!
//! ```no_run
//! use tower_jwt_session::{introspection::Introspection, issuers::TrustedIssuer, SessionManager};
//!
//! # async fn run() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::verify_only()
//!     .with_trusted_issuer(
//!         TrustedIssuer::discover("https://idp.example.com")
//!             .with_audience("orders-api")
//!             .with_introspection(Introspection::client_secret_basic("orders-api", "its secret")),
//!     )
//!     .build()?;
//! # let _ = manager;
//! # Ok(())
//! # }
//! ```

pub(crate) mod cache;
mod client;
pub(crate) mod introspector;

use std::{fmt, time::Duration};

use zeroize::Zeroizing;

use crate::jwt::asymmetric::KeyPair;

/// How long an active answer is reused, unless
/// [`with_cache_ttl`](Introspection::with_cache_ttl) says otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// How long the endpoint has to answer (the discovery included), unless
/// [`with_timeout`](Introspection::with_timeout) says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many answers the cache holds at most, unless
/// [`with_capacity`](Introspection::with_capacity) says otherwise.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// The longest an inactive answer is kept (never longer than the cache
/// time of active ones): a token the provider has just issued may be
/// unknown to a replica it asked.
pub const INACTIVE_TTL: Duration = Duration::from_secs(5);

/// The most introspection requests under way at once; more wait for a
/// place, within the timeout.
pub const MAX_IN_FLIGHT: usize = 64;

/// The introspection settings of a trusted issuer: credentials, endpoint,
/// cache, timeout. See the [module docs](self).
#[derive(Clone)]
#[must_use]
pub struct Introspection {
    pub(crate) client_id: String,
    pub(crate) auth: ClientAuth,
    pub(crate) endpoint: Option<String>,
    pub(crate) cache_ttl: Duration,
    pub(crate) timeout: Duration,
    pub(crate) capacity: u64,
    pub(crate) roots: Vec<Vec<u8>>,
}

/// How this server authenticates to the endpoint.
#[derive(Clone)]
pub(crate) enum ClientAuth {
    SecretBasic(Zeroizing<String>),
    PrivateKeyJwt(Box<KeyPair>),
}

impl Introspection {
    fn new(client_id: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            client_id: client_id.into(),
            auth,
            endpoint: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            timeout: DEFAULT_TIMEOUT,
            capacity: DEFAULT_CAPACITY,
            roots: Vec::new(),
        }
    }

    /// Authenticates as `client_id` with `secret` in an
    /// `Authorization: Basic` header (`client_secret_basic`, each part
    /// form-encoded as RFC 6749 §2.3.1 says).
    pub fn client_secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::new(
            client_id,
            ClientAuth::SecretBasic(Zeroizing::new(secret.into())),
        )
    }

    /// Authenticates as `client_id` with a client assertion signed by `key`
    /// (`private_key_jwt`, RFC 7523: `iss` and `sub` the client id, `aud`
    /// the endpoint's URL, a fresh `jti`, valid for 60 s); the provider
    /// knows the key's public part (`kid`).
    pub fn private_key_jwt(client_id: impl Into<String>, key: KeyPair) -> Self {
        Self::new(client_id, ClientAuth::PrivateKeyJwt(Box::new(key)))
    }

    /// The endpoint's URL. Default: the discovery document's
    /// `introspection_endpoint` (read at the first opaque token; its
    /// `issuer` must be the trusted issuer).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The longest an active answer is reused (never past the token's
    /// `exp`); zero asks on every request. Default: [`DEFAULT_CACHE_TTL`].
    /// A token revoked at the provider is refused at most this long later
    /// (a logout here, or the provider's back-channel logout, at once).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long the endpoint (and the discovery before it) has to answer.
    /// Default: [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many answers the cache holds at most. Default:
    /// [`DEFAULT_CAPACITY`].
    pub fn with_capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Trusts the certificates of `pem` as roots, besides the webpki roots:
    /// for an endpoint behind a private certificate authority.
    pub fn with_root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.roots.push(pem.as_ref().to_vec());
        self
    }
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            ClientAuth::SecretBasic(_) => "client_secret_basic [redacted]".to_owned(),
            ClientAuth::PrivateKeyJwt(key) => format!("private_key_jwt ({})", key.kid()),
        };
        f.debug_struct("Introspection")
            .field("client_id", &self.client_id)
            .field("auth", &auth)
            .field("endpoint", &self.endpoint)
            .field("cache_ttl", &self.cache_ttl)
            .field("timeout", &self.timeout)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Whether `token` has the form of a JWT: three (signed) or five
/// (encrypted) non-empty base64url segments separated by dots. Anything
/// else is opaque.
pub(crate) fn is_jwt_shaped(token: &[u8]) -> bool {
    let mut segments = 0;
    for segment in token.split(|&b| b == b'.') {
        let base64url = segment
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // The signature of an unsecured JWT and a JWE's key segment may be
        // empty; the header never is.
        if !base64url || (segments == 0 && segment.is_empty()) {
            return false;
        }
        segments += 1;
    }
    segments == 3 || segments == 5
}

#[cfg(test)]
mod tests {
    use super::is_jwt_shaped;

    #[test]
    fn jwt_shapes() {
        assert!(is_jwt_shaped(b"eyJh.eyJi.c2ln"));
        assert!(is_jwt_shaped(b"eyJh.eyJi."));
        assert!(is_jwt_shaped(b"eyJh..aXY.Y3Q.dGFn"));
        for opaque in [
            &b"2YotnFZFEjr1zCsicMWpAA"[..],
            b"ory_at_abc.def",
            b"a.b.c.d",
            b".a.b",
            b"a+b.c.d",
            b"",
        ] {
            assert!(!is_jwt_shaped(opaque), "{opaque:?}");
        }
    }
}
