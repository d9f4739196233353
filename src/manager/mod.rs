//! [`SessionManager`]: issue, verify, refresh, revoke, log out everywhere.

use std::{fmt, sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::{
    blocklist::Blocklist,
    error::BlocklistError,
    error::IssueError,
    error::VerifyError,
    jwt::algorithm::Algorithm,
    jwt::asymmetric::PublicKey,
    jwt::{claims::SessionData, key::KeySet, token::KnownHeaders, verified::VerifiedCache},
    resource::protected::ProtectedResource,
};

pub(crate) mod builder;
pub(crate) mod config;
mod implied;
mod issue;
pub(crate) mod presented;
mod refresh;
pub(crate) mod revoke;
mod verify;

use builder::CurrentKey;
pub use builder::{SessionManagerBuilder, SigningKey, DEFAULT_VERIFIED_CACHE_CAPACITY};
use config::SessionConfig;
pub use config::{DEFAULT_LEEWAY, DEFAULT_TTL};
pub use presented::PresentedToken;
pub use revoke::IssuerRevocations;
pub(crate) use verify::DecodeWait;

const MICROS: i64 = 1_000_000;

/// Issues, verifies, refreshes and revokes session tokens.
///
/// Cheap to clone (one `Arc`): share one manager between the
/// [`SessionLayer`](crate::SessionLayer) and your handlers.
///
/// The TypeScript seed's `StatelessSessionManager`, fixed:
///
/// - every token gets a unique `jti`, so two tokens minted in the same second
///   differ and each can be revoked alone;
/// - [`verify`](SessionManager::verify) returns a typed [`VerifyError`]
///   instead of `null`;
/// - [`refresh`](SessionManager::refresh) rotates: the presented token is
///   revoked, and a token can be refreshed once only;
/// - [`revoke`](SessionManager::revoke) stores the revocation in the
///   [`Blocklist`] and returns `Ok` only once it is stored;
/// - [`log_out_user`](SessionManager::log_out_user) sets a
///   per-user watermark with microsecond precision, so that a login right
///   after it, even in the same second, works.
///
/// # Example
///
/// ```
/// use tower_jwt_session::{NewSession, SessionManager, VerifyError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::builder("a secret of at least thirty-two bytes")
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .build()?;
/// let issued = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
/// let session = manager.verify(issued.token()).await?;
/// assert_eq!(session.email(), Some("ada@example.com"));
///
/// let refreshed = manager.refresh(issued.token()).await?;
/// assert_eq!(refreshed.session().session_id(), issued.session().session_id());
/// assert!(matches!(manager.verify(issued.token()).await, Err(VerifyError::Superseded)));
///
/// manager.revoke(refreshed.session()).await?; // log out
/// assert!(manager.verify(refreshed.token()).await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: SessionConfig,
    keys: KeySet,
    /// The headers of tokens minted here, read without parsing them.
    known_headers: KnownHeaders,
    blocklist: Arc<dyn Blocklist>,
    watermark_retention: Duration,
    verified: Option<VerifiedCache>,
    reuse_detection: bool,
    /// Other issuers whose tokens are accepted; `None` when there are none.
    trusted: Option<crate::issuers::verify::Issuers>,
    /// The application's claims type, when one was given.
    custom: Option<CustomClaims>,
    /// This API as an OAuth protected resource (RFC 9728), if it is one.
    resource: Option<ProtectedResource>,
    /// Scopes that stand for others, declared by the application.
    implied: implied::ImpliedScopes,
}

/// The application's claims type `C`, behind function pointers: parsed at
/// verification, put into the request's extensions by the layer.
#[derive(Clone, Copy)]
pub(crate) struct CustomClaims {
    from_json: fn(&[u8]) -> ParsedClaims,
    from_map: fn(&serde_json::Map<String, serde_json::Value>) -> ParsedClaims,
    insert: fn(&SessionData, &mut http::Extensions),
}

/// The application's claims, parsed and type-erased.
type ParsedClaims = Result<Arc<dyn std::any::Any + Send + Sync>, serde_json::Error>;

impl CustomClaims {
    pub(crate) fn of<C>() -> Self
    where
        C: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        Self {
            from_json: |json| Ok(Arc::new(serde_json::from_slice::<C>(json)?)),
            from_map: |map| {
                Ok(Arc::new(serde_json::from_value::<C>(
                    serde_json::Value::Object(map.clone()),
                )?))
            },
            insert: |session, extensions| {
                if let Some(claims) = session.claims_as::<C>() {
                    extensions.insert(crate::jwt::app_claims::Claims(claims));
                }
            },
        }
    }
}

/// The session a token is minted for: a new one at login, the same one at
/// the next generation on refresh.
struct SessionRef {
    id: String,
    generation: u64,
}

impl SessionRef {
    /// A new session: 128 random bits.
    fn new() -> Result<Self, IssueError> {
        Ok(Self {
            id: random_id()?,
            generation: 0,
        })
    }
}

/// 16 random bytes, base64url: a `jti` or a `sid`.
fn random_id() -> Result<String, IssueError> {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).map_err(|_| IssueError::Randomness)?;
    Ok(URL_SAFE_NO_PAD.encode(id))
}

/// The longest `sid` accepted; ours are 22 characters.
const MAX_SESSION_ID_LEN: usize = 64;

/// A freshly signed token and the session it carries.
#[derive(Clone)]
pub struct IssuedToken {
    token: String,
    session: SessionData,
}

impl IssuedToken {
    /// The compact JWT, for the client.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token's `exp`, in seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.session.expires_at()
    }

    /// The session the token carries.
    pub fn session(&self) -> &SessionData {
        &self.session
    }

    /// The compact JWT, by value.
    pub fn into_token(self) -> String {
        self.token
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("session", &self.session)
            .finish()
    }
}

/// Why a refresh or a revocation by token failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The presented token is not valid (including already revoked).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The new token could not be issued.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The blocklist could not store the revocation; nothing changed.
    #[error(transparent)]
    Blocklist(#[from] BlocklistError),
}

impl SessionManager {
    /// Starts a builder for a manager that mints its own tokens, with an
    /// HMAC secret (a `&str`, `String` or bytes, used as bytes like the
    /// seed; HS256 by default) or a [`KeyPair`](crate::KeyPair) (its algorithm). Issuer and
    /// audience are required ([`with_issuer`](SessionManagerBuilder::with_issuer),
    /// [`with_audience`](SessionManagerBuilder::with_audience)); the other
    /// settings have defaults (one hour).
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, KeyPair, SessionManager};
    /// let pair = KeyPair::from_pkcs8_pem(Algorithm::RS256, include_bytes!("../../tests/keys/rsa2048.pem"))?;
    /// let manager = SessionManager::builder(pair)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// assert_eq!(manager.public_keys().next().map(|k| k.algorithm()), Some(Algorithm::RS256));
    /// assert!(manager.can_issue());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn builder(key: impl Into<SigningKey>) -> SessionManagerBuilder {
        let key = key.into().into_current();
        let algorithm = match &key {
            CurrentKey::Pair(pair) => pair.algorithm(),
            _ => Algorithm::default(),
        };
        Self::builder_with(key, algorithm)
    }

    /// Starts a builder for a manager that only verifies: the tokens of
    /// another service that signs, with its public key
    /// ([`with_public_key`](SessionManagerBuilder::with_public_key)) or its
    /// JWK Set ([`with_jwks`](SessionManagerBuilder::with_jwks)), and
    /// the tokens of [trusted issuers](SessionManagerBuilder::with_trusted_issuer)
    /// (a service behind an identity provider). With trusted issuers alone,
    /// issuer and audience are optional (the audience, when set, is the
    /// trusted issuers' default). [`issue`](Self::issue) fails with
    /// [`IssueError::VerifyOnly`]; revocations work as usual.
    ///
    /// See the [`issuers`](crate::issuers) module for an example.
    pub fn verify_only() -> SessionManagerBuilder {
        Self::builder_with(CurrentKey::None, Algorithm::default())
    }

    fn builder_with(key: CurrentKey, algorithm: Algorithm) -> SessionManagerBuilder {
        SessionManagerBuilder {
            key,
            config: SessionConfig {
                algorithm,
                issuer: String::new(),
                audience: String::new(),
                ttl: DEFAULT_TTL,
                leeway: DEFAULT_LEEWAY,
                max_lifetime: None,
            },
            issuer: None,
            audience: None,
            blocklist: None,
            watermark_retention: None,
            verified_capacity: DEFAULT_VERIFIED_CACHE_CAPACITY,
            reuse_detection: true,
            previous_secrets: Vec::new(),
            previous_public_keys: Vec::new(),
            trusted: Vec::new(),
            custom: None,
            two_keys: false,
            resource: None,
            implied: Vec::new(),
        }
    }

    /// The public keys this manager verifies with, current first; none with
    /// an HMAC secret. Publish them as a JWKS with [`PublicKey::to_jwk`].
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, KeyPair, SessionManager};
    /// let pair = KeyPair::from_pkcs8_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pem"))?;
    /// let manager = SessionManager::builder(pair)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let jwks = serde_json::json!({ "keys": manager.public_keys().map(|k| k.to_jwk()).collect::<Vec<_>>() });
    /// assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        let keys = match &self.inner.keys {
            KeySet::Asymmetric {
                current, previous, ..
            } => Some(std::iter::once(current).chain(previous)),
            _ => None,
        };
        keys.into_iter().flatten()
    }

    /// Puts the application's claims type (if any) into `extensions`.
    #[inline]
    pub(crate) fn insert_claims(&self, session: &SessionData, extensions: &mut http::Extensions) {
        if let Some(custom) = &self.inner.custom {
            (custom.insert)(session, extensions);
        }
    }

    /// The issuers whose tokens this manager accepts beside its own.
    pub fn trusted_issuers(&self) -> impl Iterator<Item = &str> {
        self.inner
            .trusted
            .iter()
            .flat_map(|t| t.iter().map(|i| &*i.issuer))
    }

    /// This API as an OAuth protected resource, when the builder was given
    /// one ([`with_protected_resource`](SessionManagerBuilder::with_protected_resource)).
    pub fn protected_resource(&self) -> Option<&ProtectedResource> {
        self.inner.resource.as_ref()
    }

    /// The issuers whose access tokens this API takes, for a metadata
    /// document's `authorization_servers`: the trusted issuers in the order
    /// configured, then the manager's own issuer when its keys come from a
    /// JWK Set (the one-issuer form of a verify-only service).
    pub(crate) fn authorization_servers(&self) -> impl Iterator<Item = &str> {
        #[cfg(feature = "jwks")]
        let own = matches!(self.inner.keys, KeySet::Jwks(_))
            .then_some(self.inner.config.issuer.as_str())
            .filter(|iss| !iss.is_empty() && !self.trusted_issuers().any(|t| t == *iss));
        #[cfg(not(feature = "jwks"))]
        let own: Option<&str> = None;
        let exact = self
            .inner
            .trusted
            .iter()
            .flat_map(|t| t.iter().filter(|i| !i.is_template()).map(|i| &*i.issuer));
        exact.chain(own)
    }

    /// `false` when the manager holds a public key only and cannot sign.
    pub fn can_issue(&self) -> bool {
        self.inner.keys.signer().is_some()
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        &self.inner.config.audience
    }

    /// The blocklist this manager revokes into.
    pub fn blocklist(&self) -> &Arc<dyn Blocklist> {
        &self.inner.blocklist
    }
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.inner.config)
            .field("keys", &self.inner.keys)
            .field("blocklist", &self.inner.blocklist)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::claims::NewSession;

    /// The fast path must see exactly the headers minted here: if the
    /// encoding of a header ever changed, tokens would still verify through
    /// the full check, only slower; this catches it.
    #[test]
    fn minted_headers_are_known_headers() {
        let manager = SessionManager::builder("a secret of at least thirty-two bytes")
            .with_issuer("i")
            .with_audience("a")
            .build()
            .unwrap();
        let token = manager
            .issue(NewSession::new("u", "u@example.com"))
            .unwrap()
            .into_token();
        let header = token.split('.').next().unwrap();
        let kid = manager.inner.keys.signer().unwrap().1.to_owned();
        let known = &manager.inner.known_headers;
        assert_eq!(known.find(header.as_bytes()), Some(Some(kid.as_str())));
        // The seed's header, without `kid`.
        assert_eq!(known.find(b"eyJhbGciOiJIUzI1NiJ9"), Some(None));
        assert_eq!(known.find(b"eyJhbGciOiJIUzM4NCJ9"), None);
    }
}
