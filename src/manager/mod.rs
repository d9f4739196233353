//! [`SessionManager`]: issue, verify, refresh, revoke, log out everywhere.

use std::{fmt, sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use zeroize::Zeroizing;

use crate::{
    blocklist::{Blocklist, Lookup, MemoryBlocklist, Rotation, TokenKey},
    jwt::{
        claims::{MintClaims, SessionData, SessionInner, WireClaims},
        key::{HmacKey, KeySet},
        token::{verify_signature, KnownHeaders, SignedToken, MAX_TOKEN_LEN, SESSION_TYP},
        verified::VerifiedCache,
    },
    time::{now_micros, now_secs},
    BlocklistError, ConfigError, IssueError, KeyPair, NewSession, PublicKey, VerifyError,
};

pub(crate) mod config;

use config::SessionConfig;
pub use config::{Algorithm, DEFAULT_LEEWAY, DEFAULT_TTL};

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
/// - [`revoke_all_for_user`](SessionManager::revoke_all_for_user) sets a
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
/// assert_eq!(session.email(), "ada@example.com");
///
/// let refreshed = manager.refresh(issued.token()).await?;
/// assert_eq!(refreshed.session().session_id(), issued.session().session_id());
/// assert!(matches!(manager.verify(issued.token()).await, Err(VerifyError::Superseded)));
///
/// manager.revoke(refreshed.token()).await?;
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

/// Builds a [`SessionManager`]; every value is checked in
/// [`build`](SessionManagerBuilder::build).
pub struct SessionManagerBuilder {
    key: CurrentKey,
    config: SessionConfig,
    issuer: Option<String>,
    audience: Option<String>,
    blocklist: Option<Arc<dyn Blocklist>>,
    watermark_retention: Option<Duration>,
    verified_capacity: u64,
    reuse_detection: bool,
    previous_secrets: Vec<Zeroizing<Vec<u8>>>,
    previous_public_keys: Vec<PublicKey>,
}

/// The key a builder was started with.
enum CurrentKey {
    Secret(Zeroizing<Vec<u8>>),
    Pair(KeyPair),
    Public(PublicKey),
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksSource),
}

/// Default capacity of the verified-token cache.
pub const DEFAULT_VERIFIED_CACHE_CAPACITY: u64 = 10_000;

impl fmt::Debug for SessionManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match &self.key {
            CurrentKey::Secret(_) => "secret [redacted]".to_owned(),
            CurrentKey::Pair(pair) => format!("key pair {}", pair.kid()),
            CurrentKey::Public(public) => format!("public key {}", public.kid()),
            #[cfg(feature = "jwks")]
            CurrentKey::Jwks(source) => format!("{source:?}"),
        };
        f.debug_struct("SessionManagerBuilder")
            .field("key", &key)
            .field("config", &self.config)
            .field("blocklist", &self.blocklist)
            .finish()
    }
}

impl SessionManagerBuilder {
    /// The signing algorithm, and the only one accepted. Default: HS256 with
    /// a secret; the key's own algorithm with a key pair or public key (giving
    /// another one here is a [`ConfigError::KeyAlgorithmMismatch`]).
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.config.algorithm = algorithm;
        self
    }

    /// The issuer written to and required in `iss`: who mints the tokens,
    /// e.g. `https://auth.example.com`. Required: [`build`](Self::build)
    /// fails with [`ConfigError::MissingIssuer`] without it (RFC 8725 §3.8:
    /// a verifier must check who issued a token).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The audience written to and required in `aud`: the service (or group
    /// of services) the tokens are for, e.g. `orders-api`. Required:
    /// [`build`](Self::build) fails with [`ConfigError::MissingAudience`]
    /// without it (RFC 8725 §3.9: a token minted for one service must not be
    /// accepted by another).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The lifetime of an issued token, 1 s to 366 days. Default: 3600 s.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// Clock leeway applied to `exp` and `nbf`, at most 300 s. Default: 10 s.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.config.leeway = leeway;
        self
    }

    /// An absolute session lifetime, counted from login, that refreshes cannot
    /// extend. Default: none (refreshes may go on while the user is active).
    #[must_use]
    pub fn with_max_session_lifetime(mut self, max: Duration) -> Self {
        self.config.max_lifetime = Some(max);
        self
    }

    /// Older secrets still accepted for verification, never used to sign:
    /// the key rotation window. Each must meet the same length rule. Tokens
    /// signed here name their key (`kid`) and are checked against it alone;
    /// tokens without `kid` (the seed's) are tried against the current
    /// secret, then each previous one. Default: none.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// let old = SessionManager::builder("the old secret, thirty-two bytes long")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let token = old.issue(NewSession::new("u-1", "ada@example.com")).unwrap().into_token();
    /// let new = SessionManager::builder("the new secret, thirty-two bytes long")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .with_previous_secrets(["the old secret, thirty-two bytes long"])
    ///     .build()?;
    /// assert!(new.decode(&token).is_ok());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_previous_secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.previous_secrets = secrets
            .into_iter()
            .map(|s| Zeroizing::new(s.as_ref().to_vec()))
            .collect();
        self
    }

    /// Older public keys still accepted for verification: the rotation
    /// window of an asymmetric setup. Each must be for the same algorithm.
    /// Tokens name their key (`kid`, the RFC 7638 thumbprint); tokens
    /// without `kid` are tried against the current key, then each of these.
    /// Default: none.
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, KeyPair, NewSession, PublicKey, SessionManager};
    /// let old = KeyPair::from_pkcs8_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256-other.pem"))?;
    /// let token = SessionManager::builder_with_key_pair(old.clone())
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?
    ///     .issue(NewSession::new("u-1", "ada@example.com")).unwrap().into_token();
    /// let new = KeyPair::from_pkcs8_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pem"))?;
    /// let manager = SessionManager::builder_with_key_pair(new)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .with_previous_public_keys([old.public_key().clone()])
    ///     .build()?;
    /// assert!(manager.decode(&token).is_ok());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_previous_public_keys(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        self.previous_public_keys = keys.into_iter().collect();
        self
    }

    /// The revocation store. Default: a new [`MemoryBlocklist`].
    #[must_use]
    pub fn with_blocklist(mut self, blocklist: impl Blocklist) -> Self {
        self.blocklist = Some(Arc::new(blocklist));
        self
    }

    /// How long a log-out-everywhere watermark is kept. It must outlast every
    /// token it refuses. Default: the token lifetime (or the absolute session
    /// lifetime, when larger) plus the leeway. Raise it when tokens with longer
    /// lifetimes are minted elsewhere with the same secret.
    #[must_use]
    pub fn with_watermark_retention(mut self, retention: Duration) -> Self {
        self.watermark_retention = Some(retention);
        self
    }

    /// How many verified tokens to remember, so that a token seen before skips
    /// the signature check and the JSON parse. `0` turns the cache off.
    /// Default: 10 000.
    ///
    /// A hit needs the whole token text to match (compared in constant time);
    /// entries die at the token's `exp`; revocation is still checked on every
    /// request. See the README for the trade-off.
    #[must_use]
    pub fn with_verified_cache(mut self, capacity: u64) -> Self {
        self.verified_capacity = capacity;
        self
    }

    /// Whether presenting a token that a refresh already replaced to
    /// [`refresh`](SessionManager::refresh) ends its whole session (refresh
    /// token reuse detection, RFC 9700 §4.14.2). Default: on.
    ///
    /// Only a refresh counts: on other routes such a token is refused with
    /// `401` and nothing else happens, so that a second browser tab still
    /// holding the previous token does not end the session by reading a page.
    ///
    /// # ⚠️ Warning
    ///
    /// With detection on there is no grace: a client that sends the same
    /// refresh twice (a retry after a lost answer, two tabs refreshing at
    /// once) ends its own session, exactly as a thief replaying a stolen
    /// token would; see SECURITY.md for why. Off, such a replay is only
    /// refused ([`VerifyError::Superseded`]).
    #[must_use]
    pub fn with_reuse_detection(mut self, on: bool) -> Self {
        self.reuse_detection = on;
        self
    }

    /// Checks every value and builds the manager.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first problem: an empty or short secret
    /// (RFC 7518 §3.2), an empty issuer or audience, a lifetime out of range,
    /// a leeway over 300 s.
    pub fn build(mut self) -> Result<SessionManager, ConfigError> {
        self.config.issuer = self.issuer.take().ok_or(ConfigError::MissingIssuer)?;
        self.config.audience = self.audience.take().ok_or(ConfigError::MissingAudience)?;
        self.config.validate()?;
        let keys = self.keys()?;
        let config = self.config;
        let watermark_retention = self.watermark_retention.unwrap_or_else(|| {
            config.ttl.max(config.max_lifetime.unwrap_or_default()) + config.leeway
        });
        Ok(SessionManager {
            inner: Arc::new(Inner {
                known_headers: KnownHeaders::for_keys(&keys),
                keys,
                blocklist: self
                    .blocklist
                    .unwrap_or_else(|| Arc::new(MemoryBlocklist::new())),
                config,
                watermark_retention,
                verified: (self.verified_capacity > 0)
                    .then(|| VerifiedCache::new(self.verified_capacity)),
                reuse_detection: self.reuse_detection,
            }),
        })
    }

    fn keys(&self) -> Result<KeySet, ConfigError> {
        let algorithm = self.config.algorithm;
        let key_algorithm = match &self.key {
            CurrentKey::Secret(_) => algorithm,
            CurrentKey::Pair(pair) => pair.algorithm(),
            CurrentKey::Public(public) => public.algorithm(),
            #[cfg(feature = "jwks")]
            CurrentKey::Jwks(source) => source.algorithm(),
        };
        if key_algorithm != algorithm {
            return Err(ConfigError::KeyAlgorithmMismatch {
                key: key_algorithm,
                configured: algorithm,
            });
        }
        let current = match &self.key {
            CurrentKey::Secret(secret) => {
                self.config.validate_secret(secret)?;
                if !self.previous_public_keys.is_empty() {
                    return Err(ConfigError::PreviousKeyKind(algorithm));
                }
                let required = algorithm.min_secret_len().unwrap_or(0);
                let mut previous = Vec::with_capacity(self.previous_secrets.len());
                for (i, secret) in self.previous_secrets.iter().enumerate() {
                    if secret.len() < required {
                        return Err(ConfigError::PreviousSecretTooShort {
                            index: i + 1,
                            algorithm,
                            required,
                            actual: secret.len(),
                        });
                    }
                    previous.push(HmacKey::new(algorithm, secret)?);
                }
                return Ok(KeySet::Hmac {
                    current: HmacKey::new(algorithm, secret)?,
                    previous,
                });
            }
            CurrentKey::Pair(pair) => pair.public_key().clone(),
            CurrentKey::Public(public) => public.clone(),
            #[cfg(feature = "jwks")]
            CurrentKey::Jwks(source) => {
                if !self.previous_secrets.is_empty() || !self.previous_public_keys.is_empty() {
                    return Err(ConfigError::PreviousKeyKind(algorithm));
                }
                // Keys found for another issuer would never verify a token.
                if let Some(discovered) = source.discovered_issuer() {
                    if discovered != self.config.issuer {
                        return Err(ConfigError::JwksIssuerMismatch {
                            discovered: discovered.to_owned(),
                            configured: self.config.issuer.clone(),
                        });
                    }
                }
                return Ok(KeySet::Jwks(source.clone()));
            }
        };
        if !self.previous_secrets.is_empty() {
            return Err(ConfigError::PreviousKeyKind(algorithm));
        }
        if let Some(other) = self
            .previous_public_keys
            .iter()
            .find(|k| k.algorithm() != algorithm)
        {
            return Err(ConfigError::KeyAlgorithmMismatch {
                key: other.algorithm(),
                configured: algorithm,
            });
        }
        Ok(KeySet::Asymmetric {
            signer: match &self.key {
                CurrentKey::Pair(pair) => Some(pair.clone()),
                _ => None,
            },
            current,
            previous: self.previous_public_keys.clone(),
        })
    }
}

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
    /// Starts a builder with the HMAC secret (used as bytes, like the seed).
    /// Issuer and audience are required ([`with_issuer`](SessionManagerBuilder::with_issuer),
    /// [`with_audience`](SessionManagerBuilder::with_audience)); the other
    /// settings have defaults (HS256, one hour).
    pub fn builder(secret: impl AsRef<[u8]>) -> SessionManagerBuilder {
        Self::builder_with(
            CurrentKey::Secret(Zeroizing::new(secret.as_ref().to_vec())),
            Algorithm::default(),
        )
    }

    /// Starts a builder that signs with a private key and verifies with its
    /// public half (`RS256`, `PS256`, `ES256`, `ES384`, `EdDSA`).
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, KeyPair, SessionManager};
    /// let pair = KeyPair::from_pkcs8_pem(Algorithm::RS256, include_bytes!("../../tests/keys/rsa2048.pem"))?;
    /// let manager = SessionManager::builder_with_key_pair(pair)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// assert_eq!(manager.algorithm(), Algorithm::RS256);
    /// assert!(manager.can_issue());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn builder_with_key_pair(pair: KeyPair) -> SessionManagerBuilder {
        let algorithm = pair.algorithm();
        Self::builder_with(CurrentKey::Pair(pair), algorithm)
    }

    /// Starts a builder that only verifies, with a public key: the services
    /// behind the one that holds the private key. [`issue`](Self::issue) and
    /// the refreshes fail with [`IssueError::VerifyOnly`] and change nothing;
    /// revocations work as usual.
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, IssueError, KeyPair, NewSession, PublicKey, SessionManager};
    /// let signer = SessionManager::builder_with_key_pair(
    ///     KeyPair::from_pkcs8_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pem"))?,
    /// )
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let verifier = SessionManager::builder_with_public_key(
    ///     PublicKey::from_spki_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pub.pem"))?,
    /// )
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let issued = signer.issue(NewSession::new("u-1", "ada@example.com")).unwrap();
    /// assert!(verifier.decode(issued.token()).is_ok());
    /// assert!(matches!(verifier.issue(NewSession::new("u-1", "ada@example.com")), Err(IssueError::VerifyOnly)));
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn builder_with_public_key(public: PublicKey) -> SessionManagerBuilder {
        let algorithm = public.algorithm();
        Self::builder_with(CurrentKey::Public(public), algorithm)
    }

    /// Starts a builder that only verifies, with the keys of an issuer's
    /// JWK Set, kept current by `source` (feature `jwks`): the issuer's key
    /// rotations are followed without restarts. As with
    /// [`builder_with_public_key`](Self::builder_with_public_key),
    /// [`issue`](Self::issue) and the refreshes fail with
    /// [`IssueError::VerifyOnly`]; revocations work as usual.
    ///
    /// ```no_run
    /// use tower_jwt_session::{jwks::JwksSource, Algorithm, SessionManager};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let manager = SessionManager::builder_with_jwks(
    ///     JwksSource::discover("https://auth.example.com", Algorithm::RS256).build()?,
    /// )
    /// .with_issuer("https://auth.example.com")
    /// .with_audience("example-api")
    /// .build()?;
    /// assert!(!manager.can_issue());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "jwks")]
    pub fn builder_with_jwks(source: crate::jwks::JwksSource) -> SessionManagerBuilder {
        let algorithm = source.algorithm();
        Self::builder_with(CurrentKey::Jwks(source), algorithm)
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
        }
    }

    /// The public keys this manager verifies with, current first; none with
    /// an HMAC secret. Publish them as a JWKS with [`PublicKey::to_jwk`].
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, KeyPair, SessionManager};
    /// let pair = KeyPair::from_pkcs8_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pem"))?;
    /// let manager = SessionManager::builder_with_key_pair(pair)
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

    /// `false` when the manager holds a public key only and cannot sign.
    pub fn can_issue(&self) -> bool {
        self.inner.keys.signer().is_some()
    }

    /// The configured algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.config.algorithm
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        &self.inner.config.audience
    }

    /// The lifetime of an issued token.
    pub fn ttl(&self) -> Duration {
        self.inner.config.ttl
    }

    /// The blocklist this manager revokes into.
    pub fn blocklist(&self) -> &Arc<dyn Blocklist> {
        &self.inner.blocklist
    }

    /// Signs a new token for `new`, with a fresh `jti`.
    ///
    /// # Errors
    ///
    /// [`IssueError::EmptyField`] when the user id or email is empty,
    /// [`IssueError::VerifyOnly`] without a private key.
    pub fn issue(&self, new: NewSession) -> Result<IssuedToken, IssueError> {
        if new.user_id.is_empty() {
            return Err(IssueError::EmptyField("userId"));
        }
        if new.email.is_empty() {
            return Err(IssueError::EmptyField("email"));
        }
        let now = self.inner.blocklist.clock_micros();
        self.mint(new, now, now / MICROS, SessionRef::new()?)
    }

    /// The `exp` of a token minted at `now` (seconds) for a login at
    /// `auth_time`: the lifetime, capped by the absolute session lifetime.
    fn expiry(&self, now: i64, auth_time: i64) -> Result<i64, IssueError> {
        let config = &self.inner.config;
        let mut exp = now + config.ttl.as_secs() as i64;
        if let Some(max) = config.max_lifetime {
            let end = auth_time + max.as_secs() as i64;
            if end <= now {
                return Err(IssueError::SessionLifetimeExceeded);
            }
            exp = exp.min(end);
        }
        Ok(exp)
    }

    /// Until when a stored fact about a token expiring at `exp` must be
    /// kept: past `exp` and the leeway, the token is refused anyway.
    fn keep_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.inner.config.leeway.as_secs() as i64 + 1)
    }

    /// Until when a session's "ended" must be kept: past every token of it
    /// that can still exist, the latest of which was minted at most now.
    fn session_end_until(&self) -> i64 {
        let now = self.inner.blocklist.clock_micros() / MICROS;
        self.keep_until(now.saturating_add(self.inner.config.ttl.as_secs() as i64))
    }

    fn mint(
        &self,
        new: NewSession,
        now_us: i64,
        auth_time: i64,
        session_ref: SessionRef,
    ) -> Result<IssuedToken, IssueError> {
        if now_us <= 0 {
            return Err(IssueError::Clock);
        }
        let config = &self.inner.config;
        let now = now_us / MICROS;
        let exp = self.expiry(now, auth_time)?;
        let jti = random_id()?;
        let claims = MintClaims {
            user_id: &new.user_id,
            email: &new.email,
            role: &new.role,
            company_id: new.company_id.as_deref(),
            permissions: &new.permissions,
            metadata: &new.metadata,
            created_at: now,
            expires_at: exp,
            iat: now,
            iss: &config.issuer,
            aud: &config.audience,
            exp,
            sub: &new.user_id,
            jti: &jti,
            iat_micros: now_us,
            auth_time,
            sid: &session_ref.id,
            generation: session_ref.generation,
        };
        let (key, kid) = self.inner.keys.signer().ok_or(IssueError::VerifyOnly)?;
        let mut header = jsonwebtoken::Header::new(config.algorithm.to_jsonwebtoken());
        header.typ = Some(SESSION_TYP.to_owned());
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, key).map_err(IssueError::Signing)?;
        let session = SessionData(Arc::new(SessionInner {
            key: TokenKey::from_session(&session_ref.id),
            user_id: new.user_id,
            email: new.email,
            role: new.role,
            company_id: new.company_id,
            permissions: new.permissions,
            metadata: new.metadata,
            created_at: now,
            expires_at: exp,
            exp_micros: exp.saturating_mul(MICROS),
            issued_at_micros: now_us,
            issued_at_precise: true,
            auth_time,
            token_id: Some(jti),
            session_id: Some(session_ref.id),
            generation: session_ref.generation,
        }));
        tracing::debug!(user_id = %session.user_id(), exp, generation = session.generation(), "session issued");
        Ok(IssuedToken { token, session })
    }

    /// Checks the signature and the claims, without asking the blocklist.
    ///
    /// The layer uses this, then asks the blocklist itself; use
    /// [`verify`](Self::verify) for the whole check.
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] that names why the token is refused.
    pub fn decode(&self, token: &str) -> Result<SessionData, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong(MAX_TOKEN_LEN));
        }
        if let Some(session) = self.cached(token.as_bytes()) {
            return Ok(session);
        }
        self.decode_uncached(token.as_bytes())
    }

    /// A verified session for exactly these token bytes, from the
    /// verified-token cache.
    pub(crate) fn cached(&self, token: &[u8]) -> Option<SessionData> {
        let cache = self.inner.verified.as_ref()?;
        cache.get(token, self.key_epoch()?)
    }

    /// The epoch of the keys verifications use now: 0 for fixed keys; for a
    /// JWK Set, its epoch, or `None` while it may not be used.
    #[inline]
    fn key_epoch(&self) -> Option<u64> {
        match &self.inner.keys {
            #[cfg(feature = "jwks")]
            KeySet::Jwks(source) => source.epoch(),
            _ => Some(0),
        }
    }

    /// [`decode`](Self::decode) after a cache miss.
    pub(crate) fn decode_uncached(&self, token: &[u8]) -> Result<SessionData, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong(MAX_TOKEN_LEN));
        }
        // Read before verifying: a set that changes meanwhile leaves an
        // entry of the older epoch, which no lookup will match.
        let epoch = self.key_epoch();
        let signed = verify_signature(token, &self.inner.keys, &self.inner.known_headers)?;
        let session = self.validate_claims(signed)?;
        if let (Some(cache), Some(epoch)) = (&self.inner.verified, epoch) {
            cache.insert(token, &session, self.valid_until_micros(&session), epoch);
        }
        Ok(session)
    }

    /// Until when a verified session stays acceptable, barring revocation.
    fn valid_until_micros(&self, session: &SessionData) -> i64 {
        let config = &self.inner.config;
        let leeway = config.leeway.as_micros() as i64;
        let mut until = session.0.exp_micros.saturating_add(leeway);
        if let Some(max) = config.max_lifetime {
            let end = session.0.auth_time.saturating_add(max.as_secs() as i64);
            until = until.min(end.saturating_mul(MICROS));
        }
        until
    }

    /// Entries in the verified-token cache (for tests and metrics).
    #[doc(hidden)]
    pub fn verified_cache_len(&self) -> u64 {
        self.inner
            .verified
            .as_ref()
            .map_or(0, VerifiedCache::entry_count)
    }

    fn validate_claims(&self, signed: SignedToken<'_>) -> Result<SessionData, VerifyError> {
        let key = match (&signed.claims.sid, &signed.claims.jti) {
            (Some(sid), _) => {
                // A signed `sid` names a key in the store (and in pushed
                // messages): keep it short and plain.
                if sid.is_empty()
                    || sid.len() > MAX_SESSION_ID_LEN
                    || !sid
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(VerifyError::InvalidClaims(
                        "sid must be 1 to 64 base64url characters".to_owned(),
                    ));
                }
                TokenKey::from_session(sid)
            }
            (None, Some(jti)) if !jti.is_empty() => TokenKey::from_jti(jti),
            _ => signed.digest_key(),
        };
        let c: WireClaims = signed.claims;
        let config = &self.inner.config;
        let now = now_micros();
        let leeway = config.leeway.as_micros() as i64;

        let exp = c.exp.ok_or(VerifyError::MissingClaim("exp"))?;
        if now >= exp.micros().saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = c.nbf {
            if nbf.micros() > now.saturating_add(leeway) {
                return Err(VerifyError::NotYetValid);
            }
        }
        match c.iss {
            Some(iss) if iss == config.issuer => {}
            Some(_) => return Err(VerifyError::InvalidIssuer),
            None => return Err(VerifyError::MissingClaim("iss")),
        }
        match c.aud {
            Some(aud) if aud.contains(&config.audience) => {}
            Some(_) => return Err(VerifyError::InvalidAudience),
            None => return Err(VerifyError::MissingClaim("aud")),
        }
        let non_empty = |v: Option<String>, name| {
            v.filter(|s| !s.is_empty())
                .ok_or(VerifyError::MissingClaim(name))
        };
        non_empty(c.sub, "sub")?;
        let user_id = non_empty(c.user_id, "userId")?;
        let email = non_empty(c.email, "email")?;

        let iat_secs = c.iat.map(|d| d.secs());
        let (issued_at_micros, issued_at_precise) = match (c.iat_micros, iat_secs) {
            (Some(us), _) => (us, true),
            (None, Some(s)) => (s.saturating_mul(MICROS), false),
            // No issue time: the oldest possible, so any watermark refuses it.
            (None, None) => (i64::MIN, false),
        };
        let auth_time = c
            .auth_time
            .map(|d| d.secs())
            .or(iat_secs)
            .unwrap_or(i64::MIN);
        if let Some(max) = config.max_lifetime {
            if auth_time.saturating_add(max.as_secs() as i64) <= now / MICROS {
                return Err(VerifyError::SessionLifetimeExceeded);
            }
        }
        Ok(SessionData(Arc::new(SessionInner {
            user_id,
            email,
            role: c.role.unwrap_or_default(),
            company_id: c.company_id,
            permissions: c.permissions.unwrap_or_default(),
            metadata: c.metadata.unwrap_or_default(),
            created_at: c.created_at.map(|d| d.secs()).or(iat_secs).unwrap_or(0),
            expires_at: exp.secs(),
            exp_micros: exp.micros(),
            issued_at_micros,
            issued_at_precise,
            auth_time,
            token_id: c.jti,
            generation: c.generation.unwrap_or(0),
            session_id: c.sid,
            key,
        })))
    }

    /// Judges a decoded session against the blocklist's answer.
    pub(crate) fn judge(session: &SessionData, lookup: Lookup) -> Result<(), VerifyError> {
        if lookup.revoked {
            return Err(VerifyError::Revoked);
        }
        // Only the session's current generation is valid. (A token ahead of
        // the store, after the store lost its data, is let through: nothing
        // says it was replaced.)
        if session.0.session_id.is_some() && session.0.generation < lookup.generation {
            return Err(VerifyError::Superseded);
        }
        if let Some(mark) = lookup.valid_after_micros {
            let s = &session.0;
            let refused = if s.issued_at_precise {
                s.issued_at_micros < mark
            } else {
                // Whole-second `iat` (seed tokens): a token from the same
                // second as the watermark may predate it, so it is refused.
                s.issued_at_micros.div_euclid(MICROS) <= mark.div_euclid(MICROS)
            };
            if refused {
                return Err(VerifyError::RevokedForUser);
            }
        }
        Ok(())
    }

    /// Checks the signature, the claims and the blocklist.
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] that names why the token is refused;
    /// [`VerifyError::Backend`] when the blocklist cannot answer.
    pub async fn verify(&self, token: &str) -> Result<SessionData, VerifyError> {
        let session = self.decode_fetching(token).await?;
        Self::judge(&session, self.lookup(&session).await?)?;
        Ok(session)
    }

    /// [`decode`](Self::decode); with keys from a JWK Set, a token that
    /// names a key the set lacks waits for the fetch it may cause (see
    /// [`JwksSource`](crate::jwks::JwksSource)) and is decoded again.
    pub(crate) async fn decode_fetching(&self, token: &str) -> Result<SessionData, VerifyError> {
        match self.decode(token) {
            #[cfg(feature = "jwks")]
            Err(err) => match self.keys_wait(&err, token.as_bytes()) {
                Some(wait) => {
                    wait.await;
                    self.decode(token)
                }
                None => Err(err),
            },
            result => result,
        }
    }

    /// For a token refused for want of its key, a fetch of the JWK Set to
    /// wait for, when one may bring the key.
    #[cfg(feature = "jwks")]
    pub(crate) fn keys_wait(
        &self,
        err: &VerifyError,
        token: &[u8],
    ) -> Option<crate::jwks::KeysWait> {
        let KeySet::Jwks(source) = &self.inner.keys else {
            return None;
        };
        if !matches!(err, VerifyError::UnknownKey) {
            return None;
        }
        source.wait_for_kid(&crate::jwt::header_kid(token)?)
    }

    /// What the blocklist says of `session` now.
    async fn lookup(&self, session: &SessionData) -> Result<Lookup, BlocklistError> {
        self.inner
            .blocklist
            .check(session.revocation_key(), session.user_id())
            .await
    }

    /// Verifies `token`, replaces it, and issues its successor: the same
    /// session (`sid`) at the next generation, with the same user data and a
    /// fresh lifetime (capped by the absolute session lifetime, if set).
    ///
    /// The rotation is stored first and only once: of two concurrent
    /// refreshes of one token, one fails. A token that a refresh already
    /// replaced is a replay: with reuse detection on (the default) its whole
    /// session ends and the answer is [`VerifyError::ReuseDetected`]; off, it
    /// is [`VerifyError::Superseded`]. A token without `sid` (the seed's) is
    /// revoked once and its successor starts a session.
    ///
    /// # Errors
    ///
    /// [`SessionError::Verify`] for an invalid token, [`SessionError::Blocklist`]
    /// when the revocation could not be stored (no new token is issued then).
    pub async fn refresh(&self, token: &str) -> Result<IssuedToken, SessionError> {
        let session = self.decode_fetching(token).await?;
        match Self::judge(&session, self.lookup(&session).await?) {
            Err(VerifyError::Superseded) => return Err(self.replayed(&session).await),
            verdict => verdict?,
        }
        self.refresh_session(&session).await
    }

    /// Like [`refresh`](Self::refresh), for a session the layer already verified.
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh).
    pub async fn refresh_session(
        &self,
        session: &SessionData,
    ) -> Result<IssuedToken, SessionError> {
        // Checked before revoking: a verify-only node changes nothing.
        if !self.can_issue() {
            return Err(IssueError::VerifyOnly.into());
        }
        if let Some(max) = self.inner.config.max_lifetime {
            if session
                .authenticated_at()
                .saturating_add(max.as_secs() as i64)
                <= now_secs()
            {
                return Err(IssueError::SessionLifetimeExceeded.into());
            }
        }
        let s = &session.0;
        let new = NewSession {
            user_id: s.user_id.clone(),
            email: s.email.clone(),
            role: s.role.clone(),
            company_id: s.company_id.clone(),
            permissions: s.permissions.clone(),
            metadata: s.metadata.clone(),
        };
        match session.session_id() {
            Some(id) => {
                // The rotation reads the user's watermark in the same atomic
                // step and hands back the successor's issue time in the
                // store's clock, so a "log out everywhere" racing this
                // refresh either refuses it or covers the successor (the
                // layer's earlier check may be stale by now).
                let issued_at = self.rotate(session).await?;
                let successor = SessionRef {
                    id: id.to_owned(),
                    generation: session.generation() + 1,
                };
                Ok(self.mint(new, issued_at, s.auth_time, successor)?)
            }
            // A token without a session (the seed's, older versions): revoked
            // once, and its successor starts a session.
            None => {
                let issued_at = self.inner.blocklist.clock_micros();
                if !self.revoke_once(session).await? {
                    return Err(VerifyError::Revoked.into());
                }
                let lookup = self.lookup(session).await?;
                // The token is revoked now, by this call: only the
                // watermark counts.
                Self::judge(
                    session,
                    Lookup {
                        revoked: false,
                        generation: 0,
                        ..lookup
                    },
                )?;
                Ok(self.mint(new, issued_at, s.auth_time, SessionRef::new()?)?)
            }
        }
    }

    /// Verifies `token` and revokes it until its `exp` plus the leeway.
    ///
    /// # Errors
    ///
    /// [`SessionError::Verify`] for an invalid token (an already revoked one
    /// included), [`SessionError::Blocklist`] when the revocation could not be
    /// stored.
    pub async fn revoke(&self, token: &str) -> Result<(), SessionError> {
        let session = self.verify(token).await?;
        self.revoke_session(&session).await?;
        Ok(())
    }

    /// Revokes a verified session's token until its `exp` plus the leeway.
    /// `Ok` means stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_session(&self, session: &SessionData) -> Result<(), BlocklistError> {
        self.revoke_once(session).await.map(|_| ())
    }

    /// Moves `session` to its next generation, or explains why not. A
    /// replay of a replaced token ends the session when reuse detection is
    /// on.
    /// Moves `session` to its next generation and returns the successor's
    /// issue time (the store's clock), or explains why not. A replay of a
    /// replaced token ends the session when reuse detection is on.
    async fn rotate(&self, session: &SessionData) -> Result<i64, SessionError> {
        // The fact must outlive the successor: its lifetime counts from about
        // now (the store's time, as this node knows it).
        let estimate = self.inner.blocklist.clock_micros();
        let exp = self.expiry(estimate / MICROS, session.authenticated_at())?;
        let s = &session.0;
        // A whole-second `iat` counts from the start of its second: a
        // watermark within that second covers it, as in `judge`.
        let presented_iat = if s.issued_at_precise {
            s.issued_at_micros
        } else {
            s.issued_at_micros.div_euclid(MICROS).saturating_mul(MICROS)
        };
        let outcome = self
            .inner
            .blocklist
            .rotate(
                session.revocation_key(),
                session.generation(),
                self.keep_until(exp).saturating_add(1),
                session.user_id(),
                presented_iat,
            )
            .await?;
        match outcome {
            Rotation::Rotated { issued_at_micros } => Ok(issued_at_micros),
            Rotation::Ended => Err(VerifyError::Revoked.into()),
            Rotation::LoggedOut { .. } => Err(VerifyError::RevokedForUser.into()),
            Rotation::Superseded { .. } => Err(self.replayed(session).await),
        }
    }

    /// A refresh presented a token that an earlier refresh replaced: with
    /// reuse detection on, its session ends.
    async fn replayed(&self, session: &SessionData) -> SessionError {
        match self.end_replayed(session) {
            Some(end) => match end.await {
                Ok(_) => VerifyError::ReuseDetected.into(),
                Err(e) => e.into(),
            },
            None => VerifyError::Superseded.into(),
        }
    }

    /// The future that ends the session of a replayed token, counted and
    /// logged; `None` when reuse detection is off (or the token has no
    /// session).
    pub(crate) fn end_replayed(
        &self,
        session: &SessionData,
    ) -> Option<crate::blocklist::BlocklistFuture<bool>> {
        if !self.inner.reuse_detection || session.session_id().is_none() {
            return None;
        }
        crate::metrics::reuse_detected();
        tracing::warn!(
            session = %session.log_id(),
            user_id = %session.user_id(),
            generation = session.generation(),
            "a replaced token was presented to refresh: ending its session (reuse detection)"
        );
        Some(
            self.inner
                .blocklist
                .revoke(session.revocation_key(), self.session_end_until()),
        )
    }

    /// Ends the session `session_id` (every generation of it), without its
    /// token: for a "sign out this device" button, or an administrator.
    /// `Ok` means stored; ending an unknown or already ended session is `Ok`
    /// too.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// let issued = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
    /// let sid = issued.session().session_id().unwrap().to_owned(); // e.g. listed on a "devices" page
    /// manager.end_session(&sid).await?;
    /// assert!(manager.verify(issued.token()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn end_session(&self, session_id: &str) -> Result<(), BlocklistError> {
        self.inner
            .blocklist
            .revoke(
                &TokenKey::from_session(session_id),
                self.session_end_until(),
            )
            .await?;
        tracing::debug!("session ended");
        Ok(())
    }

    async fn revoke_once(&self, session: &SessionData) -> Result<bool, BlocklistError> {
        // A session's "ended" must outlive every generation of it, including
        // later ones than the presented token.
        let mut until = self.keep_until(session.expires_at());
        if session.session_id().is_some() {
            until = until.max(self.session_end_until());
        }
        let fresh = self
            .inner
            .blocklist
            .revoke(session.revocation_key(), until)
            .await?;
        tracing::debug!(user_id = %session.user_id(), "session revoked");
        Ok(fresh)
    }

    /// Refuses every token of `user_id` issued before this call ("log out
    /// everywhere"). Tokens issued after it, even within the same second, are
    /// accepted. `Ok` means stored.
    ///
    /// Tokens minted here carry a microsecond issue time written in the
    /// blocklist's clock ([`Blocklist::clock_micros`]), and the watermark is
    /// written in the same clock, so a server whose own clock is off cannot
    /// mint tokens that survive the call. Tokens with a whole-second `iat`
    /// only (the seed's) are refused when issued in the same second as the
    /// call.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_all_for_user(&self, user_id: &str) -> Result<(), BlocklistError> {
        let now = self.inner.blocklist.clock_micros();
        let until =
            (now / MICROS).saturating_add(self.inner.watermark_retention.as_secs() as i64 + 1);
        // The store raises the watermark past every refresh it answered
        // before this write (contract point 7), however long the write took.
        self.inner
            .blocklist
            .set_valid_after(user_id, now, until)
            .await?;
        tracing::debug!(user_id = %user_id, "all sessions of the user revoked");
        Ok(())
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
