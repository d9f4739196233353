//! Claims on the wire and the [`SessionData`] handlers see.
//!
//! The claim names are the TypeScript seed's (`userId`, `email`, `role`,
//! `companyId`, `permissions`, `metadata`, `createdAt`, `expiresAt`) plus the
//! registered ones (`sub`, `iat`, `iss`, `aud`, `exp`, `nbf`, `jti`). Tokens
//! minted here add `jti` (unique per token), `iatMicros` (the issue time in
//! microseconds, so that a log-out-everywhere and a login in the same second
//! are told apart) and `auth_time` (when the user logged in, kept across
//! refreshes, for the optional absolute session lifetime), `sid` (the
//! session id, 128 random bits, kept across refreshes) and `gen` (the
//! session's generation: 0 at login, one more at each refresh). The seed
//! ignores claims it does not know, so both sides keep accepting each other's
//! tokens.

use std::{
    any::Any,
    fmt,
    sync::{Arc, OnceLock},
};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{blocklist::TokenKey, error::VerifyError};

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional.
/// Strings, booleans and non-finite values are refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumericDate(pub(crate) f64);

impl NumericDate {
    /// The date in whole microseconds, saturating.
    pub(crate) fn micros(self) -> i64 {
        (self.0 * 1_000_000.0) as i64
    }

    /// The date in whole seconds, rounded down, saturating.
    pub(crate) fn secs(self) -> i64 {
        self.0.floor() as i64
    }
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                if v.is_finite() {
                    Ok(NumericDate(v))
                } else {
                    Err(E::custom("a date is not finite"))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// The claims as they arrive, before any check. Every field is optional
/// here so that a missing claim gets its own error; wrong types fail to
/// deserialize. Duplicate keys are refused by serde.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireClaims {
    pub(crate) user_id: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) company_id: Option<String>,
    pub(crate) permissions: Option<Vec<String>>,
    pub(crate) metadata: Option<Map<String, Value>>,
    pub(crate) created_at: Option<NumericDate>,
    pub(crate) sub: Option<String>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) iss: Option<String>,
    pub(crate) aud: Option<Audience>,
    pub(crate) exp: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
    pub(crate) jti: Option<String>,
    pub(crate) iat_micros: Option<i64>,
    #[serde(rename = "auth_time")]
    pub(crate) auth_time: Option<NumericDate>,
    /// The session id, kept across refreshes (tokens minted here).
    pub(crate) sid: Option<String>,
    /// The session's generation, incremented by each refresh.
    #[serde(rename = "gen")]
    pub(crate) generation: Option<u64>,
    /// A confirmation (RFC 7800): the token is bound to a key.
    pub(crate) cnf: Option<Confirmation>,
}

/// `cnf` (RFC 7800): the key a token is bound to. Only `jkt` (DPoP, RFC
/// 9449) is read; any other member still marks the token as bound.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct Confirmation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jkt: Option<String>,
}

/// The claims this crate writes, in the seed's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MintClaims<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) email: &'a str,
    pub(crate) role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) company_id: Option<&'a str>,
    pub(crate) permissions: &'a [String],
    pub(crate) metadata: &'a Map<String, Value>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) iat: i64,
    pub(crate) iss: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) exp: i64,
    pub(crate) sub: &'a str,
    pub(crate) jti: &'a str,
    pub(crate) iat_micros: i64,
    #[serde(rename = "auth_time")]
    pub(crate) auth_time: i64,
    pub(crate) sid: &'a str,
    #[serde(rename = "gen")]
    pub(crate) generation: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cnf: Option<Confirmation>,
}

/// What a new session is about: the user and what they may do.
///
/// ```
/// use tower_jwt_session::NewSession;
///
/// let session = NewSession::new("u-1", "ada@example.com")
///     .with_role("admin")
///     .with_company_id("acme")
///     .with_permissions(["contacts:read", "admin"])
///     .with_metadata(serde_json::json!({"name": "Ada"}));
/// assert_eq!(session.user_id(), "u-1");
/// ```
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) company_id: Option<String>,
    pub(crate) permissions: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) dpop_jkt: Option<String>,
}

impl NewSession {
    /// A session for `user_id` (written to `userId` and `sub`) and `email`.
    /// Both must be non-empty when the token is issued.
    pub fn new(user_id: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            email: email.into(),
            ..Self::default()
        }
    }

    /// Sets `role`. The default is the empty string.
    #[must_use]
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// Sets `companyId`. The default is none (the claim is left out).
    #[must_use]
    pub fn with_company_id(mut self, company_id: impl Into<String>) -> Self {
        self.company_id = Some(company_id.into());
        self
    }

    /// Sets `permissions`. The default is none.
    #[must_use]
    pub fn with_permissions<I, P>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `metadata`. Anything but a JSON object becomes an empty object.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = match metadata {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self
    }

    /// Binds the session to a key: `cnf.jkt`, the RFC 7638 thumbprint of
    /// the client's public key (as [`Dpop::verify_request`] returns it).
    /// Its tokens then need a DPoP proof by that key on every request, and
    /// so does its refresh; refreshes keep the binding.
    ///
    /// [`Dpop::verify_request`]: crate::dpop::Dpop::verify_request
    #[must_use]
    pub fn with_dpop_jkt(mut self, jkt: impl Into<String>) -> Self {
        self.dpop_jkt = Some(jkt.into());
        self
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// A verified session: what the layer puts in the request's extensions.
///
/// Cheap to clone (one `Arc`). Serializes to the seed's `SessionData` JSON
/// (`userId`, `email`, `role`, `companyId` when present, `permissions`,
/// `metadata`, `createdAt`, `expiresAt`).
///
/// ```
/// # use tower_jwt_session::{blocklist::MemoryBlocklist, NewSession, SessionManager};
/// # let manager = SessionManager::builder("an example secret of at least 32 bytes!")
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
/// #     .build().unwrap();
/// let issued = manager.issue(NewSession::new("u-1", "ada@example.com")
///     .with_permissions(["admin"]))?;
/// let session = issued.session();
/// assert_eq!(session.user_id(), "u-1");
/// assert!(session.has_permission("admin"));
/// assert_eq!(session.expires_at(), issued.expires_at());
/// let json = serde_json::to_value(session).unwrap();
/// assert_eq!(json["userId"], "u-1");
/// # Ok::<(), tower_jwt_session::IssueError>(())
/// ```
#[derive(Clone)]
pub struct SessionData(pub(crate) Arc<SessionInner>);

#[derive(Debug)]
pub(crate) struct SessionInner {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) company_id: Option<String>,
    pub(crate) permissions: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    /// `exp` in microseconds (it may be fractional).
    pub(crate) exp_micros: i64,
    /// Issue time in microseconds and whether it is precise (`iatMicros`)
    /// or whole seconds (seed tokens).
    pub(crate) issued_at_micros: i64,
    pub(crate) issued_at_precise: bool,
    pub(crate) auth_time: i64,
    pub(crate) token_id: Option<String>,
    /// `sid`: the session this token belongs to, if any.
    pub(crate) session_id: Option<String>,
    /// `gen`: the session's generation this token was minted at.
    pub(crate) generation: u64,
    pub(crate) key: TokenKey,
    /// The claims set's JSON as verified, parsed into `claims` when first
    /// asked for (tokens minted with the manager's own keys).
    pub(crate) payload: Option<Box<[u8]>>,
    /// Every claim of the token.
    pub(crate) claims: OnceLock<Map<String, Value>>,
    /// Set for a token of a trusted issuer.
    pub(crate) foreign: Option<Box<Foreign>>,
    /// The application's own claims type, parsed at verification.
    pub(crate) custom: Option<Arc<dyn Any + Send + Sync>>,
    /// The token carries `cnf` (RFC 7800): it is bound to a key, and is
    /// never accepted as a plain Bearer token.
    pub(crate) bound: bool,
    /// `cnf.jkt`: the thumbprint of the DPoP key it is bound to.
    pub(crate) jkt: Option<Box<str>>,
}

/// What a trusted issuer's token adds to a session.
#[derive(Debug)]
pub(crate) struct Foreign {
    pub(crate) issuer: Arc<str>,
    /// The tenant, for an issuer by template.
    pub(crate) tenant: Option<Box<str>>,
    pub(crate) client_id: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) has_email: bool,
    /// The subject namespaced by its issuer: the key of its
    /// log-out-everywhere watermark (`sub` is unique within one issuer only).
    pub(crate) watermark_user: String,
    /// More keys and watermarks to check: the provider session (`sid`)
    /// when the token names one, else the subject's tokens without `sid`;
    /// the e-mail address's watermark.
    pub(crate) extra: Box<[(TokenKey, String)]>,
}

impl SessionData {
    /// `userId` of a token minted here (its `sub` too); for a trusted
    /// issuer's token, which has no `userId`, its `sub`.
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// `email`: always there in a token minted here (a required claim);
    /// `None` for a trusted issuer's token without one.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # let manager = SessionManager::builder("an example secret of at least 32 bytes!")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build().unwrap();
    /// let session = manager.issue(NewSession::new("u-1", "ada@example.com"))?.session().clone();
    /// assert_eq!(session.email(), Some("ada@example.com"));
    /// # Ok::<(), tower_jwt_session::IssueError>(())
    /// ```
    pub fn email(&self) -> Option<&str> {
        match &self.0.foreign {
            Some(f) if !f.has_email => None,
            _ => Some(&self.0.email),
        }
    }

    /// `role` (empty when the token has none).
    pub fn role(&self) -> &str {
        &self.0.role
    }

    /// `companyId`, when present.
    pub fn company_id(&self) -> Option<&str> {
        self.0.company_id.as_deref()
    }

    /// `permissions`.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// Whether `permissions` contains `permission` exactly.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0.permissions.iter().any(|p| p == permission)
    }

    /// `metadata` (an empty object when the token has none).
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.0.metadata
    }

    /// `createdAt`: when this token was minted, in seconds since the epoch.
    pub fn created_at(&self) -> i64 {
        self.0.created_at
    }

    /// `exp`, in seconds since the epoch (the seed's `expiresAt`).
    pub fn expires_at(&self) -> i64 {
        self.0.expires_at
    }

    /// When the user logged in (`auth_time`, or `iat` for seed tokens),
    /// in seconds since the epoch. Refreshes keep it.
    pub fn authenticated_at(&self) -> i64 {
        self.0.auth_time
    }

    /// `jti`, when the token has one (every token minted here does).
    pub fn token_id(&self) -> Option<&str> {
        self.0.token_id.as_deref()
    }

    /// `sid`: the session this token belongs to (every token minted here
    /// has one, kept across refreshes); `None` for tokens of the seed or of
    /// older versions.
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }

    /// `gen`: the session's generation this token was minted at (0 at
    /// login, one more at each refresh).
    pub fn generation(&self) -> u64 {
        self.0.generation
    }

    /// The key under which this token is revoked: its session's key when it
    /// has a `sid`.
    pub fn revocation_key(&self) -> &TokenKey {
        &self.0.key
    }

    /// `sub`: whom the token is about (for tokens minted here, the user id).
    pub(crate) fn subject(&self) -> &str {
        &self.0.user_id
    }

    /// The trusted issuer (its exact `iss`) whose token this is; `None` for
    /// tokens verified with the manager's own keys.
    pub fn trusted_issuer(&self) -> Option<&str> {
        self.0.foreign.as_ref().map(|f| &*f.issuer)
    }

    /// The tenant of a token from an issuer by template (the `{tenantid}`
    /// segment of its `iss`, equal to its tenant claim); `None` otherwise.
    /// See [Issuers by template](crate::issuers#issuers-by-template).
    pub fn tenant(&self) -> Option<&str> {
        self.0.foreign.as_ref().and_then(|f| f.tenant.as_deref())
    }

    /// `client_id` of a trusted issuer's access token (RFC 9068 §2.2): the
    /// OAuth client the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.0.foreign.as_ref()?.client_id.as_deref()
    }

    /// `sid` of a trusted issuer's token: the identity provider's session.
    pub fn provider_session_id(&self) -> Option<&str> {
        self.0.foreign.as_ref()?.sid.as_deref()
    }

    /// Every claim of the token, as verified, including the ones no type
    /// declares.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # let manager = SessionManager::builder("an example secret of at least 32 bytes!")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build().unwrap();
    /// let session = manager.issue(NewSession::new("u-1", "ada@example.com"))?.session().clone();
    /// assert_eq!(session.claims()["iss"], "https://auth.example.com");
    /// assert_eq!(session.claims()["sub"], "u-1");
    /// # Ok::<(), tower_jwt_session::IssueError>(())
    /// ```
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.get_or_init(|| {
            self.0
                .payload
                .as_deref()
                .and_then(|json| serde_json::from_slice(json).ok())
                .unwrap_or_default()
        })
    }

    /// The application's claims type `C`, as parsed when the token was
    /// verified, when the manager was built with
    /// [`with_claims::<C>()`](crate::SessionManagerBuilder::with_claims).
    pub fn claims_as<C: Send + Sync + 'static>(&self) -> Option<Arc<C>> {
        self.0.custom.clone()?.downcast::<C>().ok()
    }

    /// Parses every claim of the token into `C` now (without
    /// [`with_claims`](crate::SessionManagerBuilder::with_claims), or for a
    /// second type).
    ///
    /// # Errors
    ///
    /// serde's error when the claims do not fit `C`.
    #[cfg(feature = "axum")]
    pub(crate) fn deserialize_claims<C: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<C, serde_json::Error> {
        C::deserialize(Value::Object(self.claims().clone()))
    }

    /// Whether the token is bound to a key (it has a `cnf` claim, RFC 7800:
    /// DPoP's `jkt`, an mTLS certificate's `x5t#S256`). The layer refuses
    /// such a token presented as a plain Bearer token.
    #[inline]
    pub(crate) fn is_bound(&self) -> bool {
        self.0.bound
    }

    /// `cnf.jkt`: the RFC 7638 thumbprint of the key the token is bound to
    /// (DPoP), if any.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.0.jkt.as_deref()
    }

    /// The binding rule (RFC 9449 §7), in one place for the layer and the
    /// manager: a token bound to a key needs a proof by that key, and a
    /// proof by any other key (or for an unbound token) is a mismatch.
    /// `proof_jkt` is the thumbprint of the request's proof key, if any.
    pub(crate) fn check_binding(&self, proof_jkt: Option<&str>) -> Result<(), VerifyError> {
        match (proof_jkt, self.dpop_jkt()) {
            (Some(proof), Some(bound)) if proof == bound => Ok(()),
            (Some(_), _) => Err(VerifyError::ProofMismatch),
            // Bound to a key (by `cnf.jkt`, or any other confirmation
            // method this crate cannot check): never as a bearer token.
            (None, _) if self.is_bound() => Err(VerifyError::BoundToKey),
            (None, _) => Ok(()),
        }
    }

    /// The further keys and watermarks a trusted issuer's token is checked
    /// under (its provider session or its being without one, its e-mail
    /// address).
    #[inline]
    pub(crate) fn extra_checks(&self) -> &[(TokenKey, String)] {
        match &self.0.foreign {
            Some(f) => &f.extra,
            None => &[],
        }
    }

    /// The key of the user's log-out-everywhere watermark (see
    /// [`subjects`](crate::blocklist::subjects)).
    #[inline]
    pub(crate) fn watermark_user(&self) -> std::borrow::Cow<'_, str> {
        match &self.0.foreign {
            Some(f) => std::borrow::Cow::Borrowed(&f.watermark_user),
            None => crate::blocklist::subjects::own_user(&self.0.user_id),
        }
    }

    /// A short id for logs: the first 8 bytes of SHA-256 of the revocation
    /// key, in hex. It names the session without revealing the token or its
    /// `jti`.
    pub fn log_id(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.key.as_str().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("user_id", &self.0.user_id)
            .field("role", &self.0.role)
            .field("company_id", &self.0.company_id)
            .field("permissions", &self.0.permissions)
            .field("expires_at", &self.0.expires_at)
            .finish_non_exhaustive()
    }
}

impl Serialize for SessionData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Seed<'a> {
            user_id: &'a str,
            email: &'a str,
            role: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            company_id: Option<&'a str>,
            permissions: &'a [String],
            metadata: &'a Map<String, Value>,
            created_at: i64,
            expires_at: i64,
        }
        let s = &self.0;
        if let Some(foreign) = &s.foreign {
            // A trusted issuer's token: its registered claims and every
            // claim as verified, beside the seed's names.
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Trusted<'a> {
                iss: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                tenant: Option<&'a str>,
                sub: &'a str,
                user_id: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                email: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                client_id: Option<&'a str>,
                permissions: &'a [String],
                created_at: i64,
                expires_at: i64,
                claims: &'a Map<String, Value>,
            }
            return Trusted {
                iss: &foreign.issuer,
                tenant: foreign.tenant.as_deref(),
                sub: &s.user_id,
                user_id: &s.user_id,
                email: foreign.has_email.then_some(s.email.as_str()),
                client_id: foreign.client_id.as_deref(),
                permissions: &s.permissions,
                created_at: s.created_at,
                expires_at: s.expires_at,
                claims: self.claims(),
            }
            .serialize(serializer);
        }
        Seed {
            user_id: &s.user_id,
            email: &s.email,
            role: &s.role,
            company_id: s.company_id.as_deref(),
            permissions: &s.permissions,
            metadata: &s.metadata,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_accept_numbers_only() {
        let ok: NumericDate = serde_json::from_str("1700000000").unwrap();
        assert_eq!(ok.secs(), 1_700_000_000);
        let frac: NumericDate = serde_json::from_str("1700000000.5").unwrap();
        assert_eq!(frac.micros(), 1_700_000_000_500_000);
        assert!(serde_json::from_str::<NumericDate>("\"1700000000\"").is_err());
        assert!(serde_json::from_str::<NumericDate>("true").is_err());
        assert!(serde_json::from_str::<NumericDate>("null").is_err());
    }

    #[test]
    fn audience_is_a_string_or_a_list() {
        let one: Audience = serde_json::from_str("\"api\"").unwrap();
        assert!(one.contains("api") && !one.contains("other"));
        let many: Audience = serde_json::from_str("[\"x\",\"api\"]").unwrap();
        assert!(many.contains("api"));
        assert!(serde_json::from_str::<Audience>("1").is_err());
    }

    #[test]
    fn wire_claims_refuse_duplicates_and_wrong_types() {
        assert!(serde_json::from_str::<WireClaims>(r#"{"exp":1,"exp":2}"#).is_err());
        assert!(serde_json::from_str::<WireClaims>(r#"{"exp":"1"}"#).is_err());
        assert!(serde_json::from_str::<WireClaims>(r#"{"userId":5}"#).is_err());
        assert!(serde_json::from_str::<WireClaims>(r#"{"permissions":"admin"}"#).is_err());
        let ok: WireClaims = serde_json::from_str(r#"{"unknown":1,"exp":5}"#).unwrap();
        assert_eq!(ok.exp, Some(NumericDate(5.0)));
    }
}
