//! Tokens from identity providers you trust: [`TrustedIssuer`].
//!
//! A manager verifies its own tokens with its own keys; with
//! [`SessionManagerBuilder::with_trusted_issuer`](crate::SessionManagerBuilder::with_trusted_issuer)
//! it also accepts the access tokens of other issuers (Keycloak, Auth0,
//! Entra ID, Cognito, Okta, any OpenID Connect provider), each with its
//! own keys, audiences, algorithms, accepted `typ` and permission mapping:
//!
//! - the issuers form an allowlist keyed by the exact `iss` string. A token
//!   naming an issuer that is not on it is refused (`401 invalid_token`)
//!   **without any network request**: no fetch is ever driven by an
//!   unverified `iss`;
//! - a key of one issuer never verifies a token that names another: the
//!   `iss` a token claims only chooses whose keys are tried, and is checked
//!   again once the signature holds;
//! - keys come from a JWKS URL or OpenID Connect discovery (feature
//!   `jwks`, with the refresh, cooldown and stale-key rules of
//!   [`JwksSource`](crate::jwks::JwksSource); each JWK is used with the
//!   algorithm it names, or the one its type implies), from PEM public
//!   keys, or from an HMAC secret. An issuer whose keys cannot be fetched
//!   does not stop the others: its tokens get `503` until its keys arrive;
//! - RFC 9068 access tokens (`typ` `at+jwt` or `application/at+jwt`) are
//!   accepted, and `JWT` or no `typ` unless
//!   [`require_access_token_type`](TrustedIssuer::require_access_token_type)
//!   is on; any other explicit type (`logout+jwt`, `secevent+jwt`,
//!   `dpop+jwt`, `id_token+jwt`, ...) is refused. ID tokens are refused in
//!   two ways: their audience is the client, not the API, and a token
//!   carrying `nonce`, `at_hash` or `c_hash` (ID-token-only claims) is
//!   refused as the wrong type. A token with an `events` claim (a logout
//!   token or a security event) is never an access token either;
//! - only `iss`, `sub`, `aud` and `exp` are required. `nbf` and `iat` are
//!   checked when present, `jti`, `sid`, `client_id` and `scope` must be
//!   strings when present; every claim stays readable through
//!   [`SessionData::claims`](crate::SessionData::claims);
//! - revocation works as for tokens minted here, through the same
//!   blocklist (0 store commands per request with a replica): a token is
//!   keyed by `(iss, jti)` (or by the SHA-256 of its signing input when it
//!   has no `jti`), log-out-everywhere by `(iss, sub)`. Refreshing is for
//!   tokens minted here only ([`IssueError::NotMintedHere`](crate::IssueError::NotMintedHere)).
//!
//! # Issuers by template
//!
//! Many tenants behind one issuer pattern (Microsoft Entra ID's
//! multi-tenant applications: `https://login.microsoftonline.com/{tenantid}/v2.0`,
//! one `iss` per customer tenant, signed by common keys): give the issuer
//! with one [`{tenantid}`](TENANT_PLACEHOLDER) path segment and its keys
//! ([`with_jwks`](TrustedIssuer::with_jwks) or
//! [`with_public_keys`](TrustedIssuer::with_public_keys); discovery needs one
//! issuer). A token whose `iss` fits the pattern is that tenant's: the
//! tenant must be one path segment of ASCII letters, digits, `-` and `.`
//! (not `.` or `..`), equal the token's `tid` claim
//! ([`with_tenant_claim`](TrustedIssuer::with_tenant_claim)), and be allowed
//! ([`with_tenants`](TrustedIssuer::with_tenants)); anything else is an
//! untrusted issuer, refused before any key lookup and with no request
//! made. Tenants known only at run time pass an application's check
//! ([`with_tenant_check`](TrustedIssuer::with_tenant_check)), asked only
//! once a token's signature and claims hold, its answers kept (a refused
//! tenant for [`TENANT_REFUSED_TTL`]). Each tenant is an issuer of its own for revocation: a logout of
//! `sub` in one tenant never reaches the same `sub` in another, and a
//! logout token or security event of a tenant (its `iss`, and its `tid` when
//! it carries one) revokes within that tenant only.
//!
//! ```
//! use tower_jwt_session::{issuers::TrustedIssuer, Algorithm, KeyPair, SessionManager};
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! # let pem = include_bytes!("../../tests/keys/p256.pem");
//! # let common_key = KeyPair::from_pkcs8_pem(Algorithm::ES256, pem)?.public_key().clone();
//! let manager = SessionManager::verify_only()
//!     .with_trusted_issuer(
//!         TrustedIssuer::with_public_keys("https://login.microsoftonline.com/{tenantid}/v2.0", [common_key])
//!             .with_audience("api://orders")
//!             .with_tenants(["72f988bf-86f1-41af-91ab-2d7cd011db47"]),
//!     )
//!     .build()?;
//! assert!(manager.trusted_issuer("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0").is_some());
//! assert!(manager.trusted_issuer("https://login.microsoftonline.com/another-tenant/v2.0").is_none());
//! assert!(manager.trusted_issuer("https://login.microsoftonline.com/../v2.0").is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Example
//!
//! ```
//! use tower_jwt_session::{issuers::{PermissionClaims, TrustedIssuer}, Algorithm, SessionManager};
//!
//! # fn main() -> Result<(), tower_jwt_session::ConfigError> {
//! let manager = SessionManager::verify_only()
//!     .with_trusted_issuer(
//!         TrustedIssuer::with_secret("https://idp.example.com", Algorithm::HS256,
//!                                    "a secret of the identity provider, 32+ bytes")
//!             .with_audience("orders-api")
//!             .with_permission_claims(PermissionClaims::empty().claim("scope")?),
//!     )
//!     .build()?;
//! assert!(!manager.can_issue());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "jwks")]
mod opaque;
mod permissions;
pub(crate) mod verify;

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use zeroize::Zeroizing;

pub use permissions::{PermissionClaims, DEFAULT_PERMISSION_CLAIMS, ROLE_PREFIX};

/// The placeholder of an issuer by template: one whole path segment.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// How long a tenant check's "allowed" is kept.
pub const TENANT_ALLOWED_TTL: Duration = Duration::from_secs(600);

/// How long a tenant check's "refused" is kept (the negative cache): a
/// flood of tokens of an unknown tenant asks once per this time.
pub const TENANT_REFUSED_TTL: Duration = Duration::from_secs(60);

/// An application's check of a tenant known only at run time.
pub(crate) type TenantCheck =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The claim that names the tenant of an issuer by template, unless
/// [`with_tenant_claim`](TrustedIssuer::with_tenant_claim) says otherwise.
pub const DEFAULT_TENANT_CLAIM: &str = "tid";

use crate::{jwt::algorithm::Algorithm, jwt::asymmetric::PublicKey};

/// An identity provider whose access tokens a manager accepts, beside (or
/// instead of) its own. See the [module docs](self).
///
/// Built with the issuer's exact `iss` and its keys; every other setting
/// has a default: the manager's audience, every algorithm its keys are
/// for, `at+jwt`, `JWT` or no `typ`, the manager's leeway, and the
/// [default permission claims](PermissionClaims::default). Checked when the
/// manager is built.
#[derive(Clone)]
#[must_use]
pub struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) keys: IssuerKeys,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) require_at_jwt: bool,
    pub(crate) leeway: Option<Duration>,
    pub(crate) permissions: PermissionClaims,
    /// For an issuer by template: the claim that names the tenant.
    pub(crate) tenant_claim: String,
    /// For an issuer by template: the tenants allowed (`None`: any).
    pub(crate) tenants: Option<Vec<String>>,
    /// For an issuer by template: the application's check of a tenant.
    pub(crate) tenant_check: Option<TenantCheck>,
    /// Its opaque tokens go to its introspection endpoint.
    #[cfg(feature = "jwks")]
    pub(crate) introspection: Option<crate::introspection::Introspection>,
}

/// Where an issuer's keys come from.
#[derive(Clone)]
pub(crate) enum IssuerKeys {
    Public(Vec<PublicKey>),
    Secret(Algorithm, Zeroizing<Vec<u8>>),
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksSource),
    #[cfg(feature = "jwks")]
    Discover,
}

impl TrustedIssuer {
    fn new(issuer: impl Into<String>, keys: IssuerKeys) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
            audiences: Vec::new(),
            algorithms: None,
            require_at_jwt: false,
            leeway: None,
            permissions: PermissionClaims::default(),
            tenant_claim: DEFAULT_TENANT_CLAIM.to_owned(),
            tenants: None,
            tenant_check: None,
            #[cfg(feature = "jwks")]
            introspection: None,
        }
    }

    /// An issuer whose keys are found through OpenID Connect discovery
    /// (`{issuer}/.well-known/openid-configuration`, whose `issuer` must be
    /// exactly `issuer`, then its `jwks_uri`), with the default refresh
    /// rules of [`JwksSource`](crate::jwks::JwksSource). The source is
    /// started when the manager is built, inside a tokio runtime; for other
    /// refresh settings, build the source yourself
    /// ([`JwksSource::discover_any`](crate::jwks::JwksSource::discover_any))
    /// and use [`with_jwks`](Self::with_jwks).
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::new(issuer, IssuerKeys::Discover)
    }

    /// An issuer whose keys come from `source`, e.g.
    /// `JwksSource::builder_any("https://idp.example.com/jwks").build()?`.
    /// A source built with [`discover_any`](crate::jwks::JwksSource::discover_any)
    /// must be for this issuer.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn with_jwks(issuer: impl Into<String>, source: crate::jwks::JwksSource) -> Self {
        Self::new(issuer, IssuerKeys::Jwks(source))
    }

    /// Sends the access tokens that are not JWTs to this issuer's
    /// introspection endpoint (RFC 7662): see [`introspection`](crate::introspection).
    /// One trusted issuer at most takes opaque tokens (a token that is not a
    /// JWT names no issuer), and not an issuer by template.
    ///
    /// ```no_run
    /// use tower_jwt_session::{introspection::Introspection, issuers::TrustedIssuer};
    ///
    /// let okta = TrustedIssuer::discover("https://example.okta.com")
    ///     .with_audience("api://default")
    ///     .with_introspection(Introspection::client_secret_basic("0oa-orders-api", "its secret"));
    /// ```
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn with_introspection(
        mut self,
        introspection: crate::introspection::Introspection,
    ) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Names the claim that must equal the tenant of an issuer by template
    /// (see [Issuers by template](self#issuers-by-template)). Default:
    /// `tid` (Microsoft Entra ID).
    pub fn with_tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self
    }

    /// Admits only `tenants` for an issuer by template (see
    /// [Issuers by template](self#issuers-by-template)); without it, any
    /// tenant whose tokens the keys sign. An issuer of another tenant is
    /// not trusted: refused with no request made.
    pub fn with_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// Admits a tenant of an issuer by template only when `check` says so,
    /// for tenants known only at run time (a table of customers). It is
    /// asked only for a token whose signature and claims already checked
    /// out (never because of an unverified `iss`), at most once per
    /// [`TENANT_ALLOWED_TTL`] for an allowed tenant and once per
    /// [`TENANT_REFUSED_TTL`] for a refused one (at most 10,000 tenants
    /// kept); requests of an unknown tenant wait for its answer, so bound
    /// its time (a timeout that answers `false`). With
    /// [`with_tenants`](Self::with_tenants) too, a tenant must pass both.
    ///
    /// ```
    /// use tower_jwt_session::issuers::TrustedIssuer;
    /// # let key = tower_jwt_session::KeyPair::from_pkcs8_pem(
    /// #     tower_jwt_session::Algorithm::ES256, include_bytes!("../../tests/keys/p256.pem")).unwrap();
    ///
    /// let entra = TrustedIssuer::with_public_keys("https://login.microsoftonline.com/{tenantid}/v2.0", [key.public_key().clone()])
    ///     .with_tenant_check(|tenant: String| async move {
    ///         // e.g. SELECT 1 FROM customers WHERE tenant_id = $1
    ///         tenant.starts_with("72f988bf")
    ///     });
    /// ```
    pub fn with_tenant_check<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.tenant_check = Some(Arc::new(move |tenant| Box::pin(check(tenant))));
        self
    }

    /// An issuer with fixed public keys (read from PEM or a JWK). A token
    /// with a `kid` is checked against the key of that `kid` alone; without
    /// one, against each key of its algorithm.
    pub fn with_public_keys(
        issuer: impl Into<String>,
        keys: impl IntoIterator<Item = PublicKey>,
    ) -> Self {
        Self::new(issuer, IssuerKeys::Public(keys.into_iter().collect()))
    }

    /// An issuer that signs with an HMAC secret shared with this service
    /// (`HS256`, `HS384` or `HS512`, with the length rule of RFC 7518
    /// §3.2).
    pub fn with_secret(
        issuer: impl Into<String>,
        algorithm: Algorithm,
        secret: impl AsRef<[u8]>,
    ) -> Self {
        Self::new(
            issuer,
            IssuerKeys::Secret(algorithm, Zeroizing::new(secret.as_ref().to_vec())),
        )
    }

    /// Adds an audience: a token must carry at least one of them in `aud`.
    /// Default: the manager's audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithms accepted from this issuer. Default: every algorithm
    /// its keys are for.
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// `true`: tokens must carry `typ` `at+jwt` or `application/at+jwt`
    /// (RFC 9068 §2.1). Default: `false` (`JWT` and no `typ` are accepted
    /// too, as many providers send).
    pub fn require_access_token_type(mut self, on: bool) -> Self {
        self.require_at_jwt = on;
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat`, at most 300 s. Default: the
    /// manager's.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Which claims become the session's permissions. Default:
    /// [`PermissionClaims::default`].
    pub fn with_permission_claims(mut self, permissions: PermissionClaims) -> Self {
        self.permissions = permissions;
        self
    }

    /// The issuer, exactly as tokens must name it in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            IssuerKeys::Public(keys) => format!("{} public keys", keys.len()),
            IssuerKeys::Secret(alg, _) => format!("{alg} secret [redacted]"),
            #[cfg(feature = "jwks")]
            IssuerKeys::Jwks(source) => format!("{source:?}"),
            #[cfg(feature = "jwks")]
            IssuerKeys::Discover => "OpenID Connect discovery".to_owned(),
        };
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("keys", &keys)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("permissions", &self.permissions)
            .field("tenant_claim", &self.tenant_claim)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}
