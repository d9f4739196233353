//! [`SessionManagerBuilder`]: the configuration of a manager, every value
//! checked at [`build`](SessionManagerBuilder::build), and its keys.

use std::{fmt, sync::Arc, time::Duration};

use zeroize::Zeroizing;

use super::{config::SessionConfig, Inner, SessionManager};
use crate::{
    blocklist::{Blocklist, MemoryBlocklist},
    error::ConfigError,
    jwt::{
        algorithm::Algorithm,
        asymmetric::{KeyPair, PublicKey},
        key::{HmacKey, KeySet},
        token::KnownHeaders,
        verified::VerifiedCache,
    },
    resource::protected::ProtectedResource,
};

/// Builds a [`SessionManager`]; every value is checked in
/// [`build`](SessionManagerBuilder::build).
pub struct SessionManagerBuilder {
    pub(super) key: CurrentKey,
    pub(super) config: SessionConfig,
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) blocklist: Option<Arc<dyn Blocklist>>,
    pub(super) watermark_retention: Option<Duration>,
    pub(super) verified_capacity: u64,
    pub(super) reuse_detection: bool,
    pub(super) previous_secrets: Vec<Zeroizing<Vec<u8>>>,
    pub(super) previous_public_keys: Vec<PublicKey>,
    pub(super) trusted: Vec<crate::issuers::TrustedIssuer>,
    pub(super) custom: Option<super::CustomClaims>,
    /// A verification key was given to a builder that signs.
    pub(super) two_keys: bool,
    pub(super) resource: Option<ProtectedResource>,
    pub(super) implied: Vec<(String, Vec<String>)>,
}

/// The key a builder was started with.
pub(super) enum CurrentKey {
    Secret(Zeroizing<Vec<u8>>),
    Pair(KeyPair),
    Public(PublicKey),
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksSource),
    /// No key of its own: trusted issuers' tokens only.
    None,
}

/// What a manager signs its own tokens with: an HMAC secret (a `&str`,
/// `String` or bytes, used as bytes like the seed) or a [`KeyPair`].
///
/// ```
/// use tower_jwt_session::{Algorithm, KeyPair, SessionManager};
///
/// let hmac = SessionManager::builder("a secret of at least thirty-two bytes");
/// let pair = KeyPair::from_pkcs8_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pem"))?;
/// let ecdsa = SessionManager::builder(pair);
/// # let _ = (hmac, ecdsa);
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
pub struct SigningKey(CurrentKey);

impl From<&str> for SigningKey {
    fn from(secret: &str) -> Self {
        secret.as_bytes().into()
    }
}

impl From<&String> for SigningKey {
    fn from(secret: &String) -> Self {
        secret.as_bytes().into()
    }
}

impl From<String> for SigningKey {
    fn from(secret: String) -> Self {
        secret.into_bytes().into()
    }
}

impl From<&[u8]> for SigningKey {
    fn from(secret: &[u8]) -> Self {
        secret.to_vec().into()
    }
}

impl<const N: usize> From<&[u8; N]> for SigningKey {
    fn from(secret: &[u8; N]) -> Self {
        secret.as_slice().into()
    }
}

impl<const N: usize> From<[u8; N]> for SigningKey {
    fn from(secret: [u8; N]) -> Self {
        secret.as_slice().into()
    }
}

impl From<Vec<u8>> for SigningKey {
    fn from(secret: Vec<u8>) -> Self {
        Self(CurrentKey::Secret(Zeroizing::new(secret)))
    }
}

impl From<&Vec<u8>> for SigningKey {
    fn from(secret: &Vec<u8>) -> Self {
        secret.as_slice().into()
    }
}

impl From<KeyPair> for SigningKey {
    fn from(pair: KeyPair) -> Self {
        Self(CurrentKey::Pair(pair))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CurrentKey::Pair(pair) => write!(f, "SigningKey(key pair {})", pair.kid()),
            _ => f.write_str("SigningKey(secret [redacted])"),
        }
    }
}

impl SigningKey {
    pub(super) fn into_current(self) -> CurrentKey {
        self.0
    }
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
            CurrentKey::None => "none (trusted issuers only)".to_owned(),
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
    /// let token = SessionManager::builder(old.clone())
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?
    ///     .issue(NewSession::new("u-1", "ada@example.com")).unwrap().into_token();
    /// let new = KeyPair::from_pkcs8_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pem"))?;
    /// let manager = SessionManager::builder(new)
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

    /// Verifies tokens signed by `public`'s private key (another service
    /// mints them): for [`SessionManager::verify_only`]. [`issue`] and the
    /// refreshes then fail with [`IssueError::VerifyOnly`](crate::IssueError::VerifyOnly) and change
    /// nothing; revocations work as usual.
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, IssueError, KeyPair, NewSession, PublicKey, SessionManager};
    /// let signer = SessionManager::builder(
    ///     KeyPair::from_pkcs8_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pem"))?,
    /// )
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let verifier = SessionManager::verify_only()
    ///     .with_public_key(PublicKey::from_spki_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pub.pem"))?)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// let issued = signer.issue(NewSession::new("u-1", "ada@example.com")).unwrap();
    /// assert!(verifier.decode(issued.token()).is_ok());
    /// assert!(matches!(verifier.issue(NewSession::new("u-1", "ada@example.com")), Err(IssueError::VerifyOnly)));
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    ///
    /// [`issue`]: SessionManager::issue
    #[must_use]
    pub fn with_public_key(mut self, public: PublicKey) -> Self {
        self.verification_key(public.algorithm(), CurrentKey::Public(public));
        self
    }

    /// Verifies tokens with the keys of an issuer's JWK Set, kept current by
    /// `source` (feature `jwks`): the issuer's key rotations are followed
    /// without restarts. For [`SessionManager::verify_only`], as
    /// [`with_public_key`](Self::with_public_key).
    ///
    /// ```no_run
    /// use tower_jwt_session::{jwks::JwksSource, Algorithm, SessionManager};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let manager = SessionManager::verify_only()
    ///     .with_jwks(JwksSource::discover("https://auth.example.com", Algorithm::RS256).build()?)
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .build()?;
    /// assert!(!manager.can_issue());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "jwks")]
    #[must_use]
    pub fn with_jwks(mut self, source: crate::jwks::JwksSource) -> Self {
        let algorithm = source.algorithm().unwrap_or_default();
        self.verification_key(algorithm, CurrentKey::Jwks(source));
        self
    }

    /// Takes a verification key, on a builder without a key of its own.
    fn verification_key(&mut self, algorithm: Algorithm, key: CurrentKey) {
        match self.key {
            CurrentKey::Secret(_) | CurrentKey::Pair(_) => self.two_keys = true,
            _ => {
                self.config.algorithm = algorithm;
                self.key = key;
            }
        }
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
    /// request. See [the guide](crate::guide::layer) for the trade-off.
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
    /// refused ([`VerifyError::Superseded`](crate::VerifyError::Superseded)).
    #[must_use]
    pub fn with_reuse_detection(mut self, on: bool) -> Self {
        self.reuse_detection = on;
        self
    }

    /// Also accepts the tokens of `issuer`, an identity provider (see the
    /// [`issuers`](crate::issuers) module): each trusted issuer has its own
    /// keys, audiences, algorithms, accepted `typ` and permission mapping.
    /// May be called once per issuer.
    ///
    /// The manager's own issuer may be trusted too (a verify-only service
    /// whose JWKS belongs to an identity provider): its session tokens (the
    /// seed's shape, with `userId`) are then verified as the manager's own
    /// (sharing their revocations with the service that minted them), and
    /// its other tokens (access tokens) by the trusted issuer's rules.
    #[must_use]
    pub fn with_trusted_issuer(mut self, issuer: crate::issuers::TrustedIssuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// Makes this API an OAuth protected resource (RFC 9728; see the
    /// [`resource`](crate::resource) module): trusted issuers without an
    /// audience of their own then require `aud` to name the resource (RFC
    /// 8707), the layer's challenges carry `resource_metadata`, and
    /// [`ResourceMetadata`](crate::resource::ResourceMetadata) serves the
    /// document.
    ///
    /// ```
    /// use tower_jwt_session::{issuers::TrustedIssuer, resource::ProtectedResource, Algorithm, SessionManager};
    ///
    /// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
    /// let manager = SessionManager::verify_only()
    ///     .with_trusted_issuer(TrustedIssuer::with_secret(
    ///         "https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes"))
    ///     .with_protected_resource(ProtectedResource::new("https://api.example.com")?)
    ///     .build()?;
    /// assert_eq!(manager.protected_resource().unwrap().resource(), "https://api.example.com");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Declares that the scope `broader` stands for each of `narrower`: a
    /// token holding `broader` then holds them too, in
    /// [`SessionData::permissions`](crate::SessionData::permissions) and for
    /// every permission check (transitively: `files:admin` → `files:write`
    /// → `files:read`). Only what is declared here is implied; no scope is
    /// read as broader from its name.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .with_implied_scopes("files:write", ["files:read"])
    ///     .build()?;
    /// let issued = manager.issue(NewSession::new("u-1", "ada@example.com").with_permissions(["files:write"]))?;
    /// let session = manager.verify(issued.token()).await?;
    /// assert!(session.has_permission("files:read"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`build`](Self::build) refuses a scope that is empty or has a
    /// character a scope token cannot have ([`ConfigError::InvalidPermission`]).
    #[must_use]
    pub fn with_implied_scopes<I, S>(mut self, broader: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.implied.push((
            broader.into(),
            narrower.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Parses every verified token's claims into the application's own type
    /// `C` as well (once per token: the result is kept in the
    /// verified-token cache with the session). Handlers read it with
    /// [`SessionData::claims_as`](crate::SessionData::claims_as), from the request's extensions as
    /// [`Claims<C>`](crate::Claims) (the layer puts it there), or with the
    /// `Claims<C>` axum extractor.
    ///
    /// **`C` is a requirement on every token, on every route**: a token
    /// whose claims do not fit `C` is refused by the layer (`401
    /// invalid_token`, logged at `debug` with serde's reason), whoever
    /// issued it. Give every field a token may lack a `#[serde(default)]`
    /// or an `Option` (a trusted issuer's tokens carry no `userId` or
    /// `email`); to read a type on some routes only, leave this off and use
    /// the `Claims<C>` extractor there (a misfit is then a `401` on that
    /// route alone).
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { sub: String, email: String }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("example-api")
    ///     .with_claims::<MyClaims>()
    ///     .build()?;
    /// let issued = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
    /// let session = manager.verify(issued.token()).await?;
    /// let mine = session.claims_as::<MyClaims>().unwrap();
    /// assert_eq!((mine.sub.as_str(), mine.email.as_str()), ("u-1", "ada@example.com"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_claims<C>(mut self) -> Self
    where
        C: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        self.custom = Some(super::CustomClaims::of::<C>());
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
        if self.two_keys {
            return Err(ConfigError::VerificationKeyWithSigningKey);
        }
        let own_keys = !matches!(self.key, CurrentKey::None);
        let trusted = std::mem::take(&mut self.trusted);
        if own_keys {
            self.config.issuer = self.issuer.take().ok_or(ConfigError::MissingIssuer)?;
            self.config.audience = self.audience.take().ok_or(ConfigError::MissingAudience)?;
            self.config.validate()?;
        } else {
            if trusted.is_empty() {
                return Err(ConfigError::TrustedIssuer {
                    issuer: String::new(),
                    reason: "a manager without keys of its own needs at least one trusted issuer (with_trusted_issuer)".to_owned(),
                });
            }
            let audience = self.audience.take();
            self.config.issuer = self.issuer.take().unwrap_or_default();
            self.config.audience = audience.clone().unwrap_or_default();
            // Lifetimes and leeway are checked all the same.
            let mut check = self.config.clone();
            check.issuer = "-".to_owned();
            check.audience = "-".to_owned();
            check.validate()?;
        }
        let audience = (!self.config.audience.is_empty()).then_some(self.config.audience.as_str());
        let trusted = crate::issuers::verify::Issuers::build(
            trusted,
            audience,
            self.resource.as_ref(),
            self.config.leeway,
        )?;
        let trusted = (!trusted.is_empty()).then_some(trusted);
        let keys = self.keys()?;
        let implied = super::implied::ImpliedScopes::build(std::mem::take(&mut self.implied))?;
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
                trusted,
                custom: self.custom,
                resource: self.resource,
                implied,
            }),
        })
    }

    pub(super) fn keys(&self) -> Result<KeySet, ConfigError> {
        let algorithm = self.config.algorithm;
        let key_algorithm = match &self.key {
            CurrentKey::Secret(_) => algorithm,
            CurrentKey::Pair(pair) => pair.algorithm(),
            CurrentKey::Public(public) => public.algorithm(),
            #[cfg(feature = "jwks")]
            CurrentKey::Jwks(source) => {
                source.algorithm().ok_or_else(|| ConfigError::TrustedIssuer {
                    issuer: self.config.issuer.clone(),
                    reason: "a JWKS source for any algorithm (builder_any, discover_any) is for a TrustedIssuer; the manager's own keys need one algorithm".to_owned(),
                })?
            }
            CurrentKey::None => return Ok(KeySet::None(algorithm)),
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
            CurrentKey::None => return Ok(KeySet::None(algorithm)),
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
