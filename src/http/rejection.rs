//! Refusals: why a request was turned away, and the RFC 6750 response.
//!
//! | [`RejectionKind`] | status | `WWW-Authenticate` | `error` in the JSON body |
//! | --- | --- | --- | --- |
//! | `MissingCredentials` | 401 | `Bearer` (no error) | `unauthorized` |
//! | `InvalidRequest` | 400 | `Bearer error="invalid_request"` | `invalid_request` |
//! | `InvalidToken`, `Expired`, `Revoked` | 401 | `Bearer error="invalid_token"` | `invalid_token` |
//! | `InsufficientScope` | 403 | `Bearer error="insufficient_scope"` | `insufficient_scope` |
//! | `BackendUnavailable` | 503 | none | `temporarily_unavailable` |
//!
//! With a realm, the challenge reads `Bearer realm="..."` first. The
//! `error_description` is left out unless turned on
//! ([`DefaultRejectionResponse::with_descriptions`]): the precise reason
//! helps an attacker more than a legitimate client. Either way the
//! [`Rejection`] is put in the response's extensions, so outer layers,
//! logs and tests see the reason.
//!
//! Replace the response with any [`RejectionResponse`], a closure included:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Response, StatusCode};
//! use tower_jwt_session::{rejection::Rejection, SessionLayer, SessionManager};
//!
//! let manager = SessionManager::builder("a secret of at least thirty-two bytes")
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("example-api")
//!     .build().unwrap();
//! let layer = SessionLayer::new(manager).with_rejection_response(|rejection: &Rejection| {
//!     Response::builder()
//!         .status(rejection.status())
//!         .header("content-type", "text/plain")
//!         .body(Bytes::from_static(b"go away"))
//!         .unwrap()
//! });
//! # let _ = layer;
//! ```

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::{error::ConfigError, error::VerifyError, http::bearer::BearerError};

/// What kind of refusal this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No bearer credentials (no header, or another scheme).
    MissingCredentials,
    /// A malformed `Authorization` header.
    InvalidRequest,
    /// A forged, tampered, malformed or otherwise invalid token.
    InvalidToken,
    /// An expired token.
    Expired,
    /// A revoked token (logout, refresh, log-out-everywhere).
    Revoked,
    /// A valid session lacking the required permission.
    InsufficientScope,
    /// The blocklist could not answer; the request is refused (fail closed).
    BackendUnavailable,
    /// A DPoP proof is missing or invalid (RFC 9449 §7.1).
    InvalidDpopProof,
    /// DPoP nonces are on and the proof lacks a fresh one (RFC 9449 §9).
    UseDpopNonce,
    /// The layer requires DPoP and the request came with a Bearer token.
    DpopRequired,
}

impl RejectionKind {
    /// The `reason` label of the refusals counter (see the metrics table).
    pub(crate) fn metrics_reason(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::InsufficientScope => "insufficient_scope",
            Self::BackendUnavailable => "backend_unavailable",
            Self::InvalidDpopProof | Self::UseDpopNonce | Self::DpopRequired => {
                "invalid_dpop_proof"
            }
        }
    }

    /// The HTTP status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::Expired
            | Self::Revoked
            | Self::InvalidDpopProof
            | Self::UseDpopNonce
            | Self::DpopRequired => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code in the challenge, if any.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials | Self::BackendUnavailable | Self::DpopRequired => None,
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidDpopProof => Some("invalid_dpop_proof"),
            Self::UseDpopNonce => Some("use_dpop_nonce"),
            Self::InvalidToken | Self::Expired | Self::Revoked => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
        }
    }

    /// The `error` member of the JSON body.
    pub fn body_error(self) -> &'static str {
        match self {
            Self::MissingCredentials => "unauthorized",
            Self::BackendUnavailable => "temporarily_unavailable",
            other => other.error_code().unwrap_or("unauthorized"),
        }
    }
}

/// Why a request was refused. Inserted into the response's extensions on
/// every refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    description: &'static str,
    scope: Option<Arc<str>>,
    /// Whether the challenge names `scope`.
    show_scope: bool,
    /// The challenge's scheme is `DPoP` (the request used it, or the layer
    /// requires it).
    dpop: bool,
    /// A `DPoP-Nonce` to send with the refusal.
    nonce: Option<Arc<str>>,
    /// The protected resource metadata document's URL (RFC 9728 §5.1).
    resource_metadata: Option<Arc<str>>,
}

impl Rejection {
    /// A rejection of `kind`, with a short description for clients.
    pub fn new(kind: RejectionKind, description: &'static str) -> Self {
        Self {
            kind,
            description,
            scope: None,
            show_scope: false,
            dpop: false,
            nonce: None,
            resource_metadata: None,
        }
    }

    /// The permissions a `403 insufficient_scope` names (space-separated,
    /// RFC 6750 §3's `scope` attribute), when known.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Names the missing permissions of an `insufficient_scope` refusal.
    pub(crate) fn with_scope(mut self, scope: Option<Arc<str>>) -> Self {
        self.scope = scope;
        self.show_scope = true;
        self
    }

    /// Names them for the extensions only, not in the challenge.
    pub(crate) fn with_scope_unshown(mut self, scope: Option<Arc<str>>) -> Self {
        self.scope = scope;
        self.show_scope = false;
        self
    }

    /// Challenges with the `DPoP` scheme, and sends `nonce` as `DPoP-Nonce`.
    pub(crate) fn with_dpop(mut self, nonce: Option<String>) -> Self {
        self.dpop = true;
        self.nonce = nonce.map(Into::into);
        self
    }

    /// The URL of the protected resource metadata document the challenge
    /// names (`resource_metadata`, RFC 9728 §5.1), when the manager has a
    /// [`ProtectedResource`](crate::resource::ProtectedResource).
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// Adds the layer's challenge parameters: the metadata URL, and `scope`
    /// where this refusal names none of its own.
    pub(crate) fn challenged(
        mut self,
        resource_metadata: Option<&Arc<str>>,
        scope: Option<&Arc<str>>,
    ) -> Self {
        self.resource_metadata = resource_metadata.cloned();
        if self.scope.is_none() && scope.is_some() {
            self.scope = scope.cloned();
            self.show_scope = true;
        }
        self
    }

    /// Whether the challenge uses the `DPoP` scheme.
    pub fn is_dpop(&self) -> bool {
        self.dpop
    }

    /// The `DPoP-Nonce` sent with this refusal, if any.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    fn shown_scope(&self) -> Option<&str> {
        self.scope.as_deref().filter(|_| self.show_scope)
    }

    /// The kind of refusal.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// A short description, safe to show a client when descriptions are on.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub(crate) fn missing() -> Self {
        Self::new(RejectionKind::MissingCredentials, "no bearer token")
    }

    pub(crate) fn insufficient_scope() -> Self {
        Self::new(
            RejectionKind::InsufficientScope,
            "the session lacks the required permission",
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.description)
    }
}

impl std::error::Error for Rejection {}

impl From<BearerError> for Rejection {
    fn from(err: BearerError) -> Self {
        Self::new(RejectionKind::InvalidRequest, err.description())
    }
}

impl From<crate::http::source::SourceError> for Rejection {
    fn from(err: crate::http::source::SourceError) -> Self {
        Self::new(RejectionKind::InvalidRequest, err.description())
    }
}

impl From<&VerifyError> for Rejection {
    fn from(err: &VerifyError) -> Self {
        use RejectionKind::*;
        let (kind, description) = match err {
            VerifyError::Malformed(_) => (InvalidToken, "the token is malformed"),
            VerifyError::TooLong(_) => (InvalidToken, "the token is too long"),
            VerifyError::AlgorithmMismatch => {
                (InvalidToken, "the token's algorithm is not accepted")
            }
            VerifyError::CriticalHeader => {
                (InvalidToken, "the token has an unsupported crit header")
            }
            VerifyError::UnknownKey => (InvalidToken, "the token names an unknown key"),
            VerifyError::WrongType => (InvalidToken, "the token is not a session token"),
            VerifyError::BoundToKey => (
                InvalidToken,
                "the token is bound to a key: present it with a proof of possession",
            ),
            VerifyError::ProofMismatch => (
                InvalidDpopProof,
                "the proof's key is not the key the token is bound to",
            ),
            VerifyError::InvalidSignature => (InvalidToken, "the token's signature is invalid"),
            VerifyError::InvalidClaims(_) => (InvalidToken, "the token's claims are invalid"),
            VerifyError::ClaimsType(_) => (
                InvalidToken,
                "the token's claims do not fit the application's claims type",
            ),
            VerifyError::MissingClaim(_) => (InvalidToken, "the token lacks a required claim"),
            VerifyError::InvalidIssuer => (InvalidToken, "the token's issuer is not accepted"),
            VerifyError::InvalidAudience => (InvalidToken, "the token's audience is not accepted"),
            VerifyError::NotYetValid => (InvalidToken, "the token is not valid yet"),
            VerifyError::Expired => (Expired, "the token has expired"),
            VerifyError::SessionLifetimeExceeded => (Expired, "the session has expired"),
            VerifyError::Revoked
            | VerifyError::RevokedForUser
            | VerifyError::Superseded
            | VerifyError::ReuseDetected => (Revoked, "the token was revoked"),
            VerifyError::Backend(_) => (BackendUnavailable, "the session store is unavailable"),
            VerifyError::KeysUnavailable(_) => {
                (BackendUnavailable, "the signing keys are unavailable")
            }
            VerifyError::Inactive => (InvalidToken, "the token is not active"),
            VerifyError::RequestNeeded | VerifyError::Introspection(_) => (
                BackendUnavailable,
                "the introspection endpoint is unavailable",
            ),
        };
        Self::new(kind, description)
    }
}

/// Builds the response for a refusal.
///
/// Implemented for [`DefaultRejectionResponse`] and for any
/// `Fn(&Rejection) -> Response<Bytes> + Send + Sync + 'static`. The layer
/// adds the [`Rejection`] to the response's extensions afterwards.
pub trait RejectionResponse: Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &Rejection) -> Response<Bytes>;
}

impl<F> RejectionResponse for F
where
    F: Fn(&Rejection) -> Response<Bytes> + Send + Sync + 'static,
{
    fn response(&self, rejection: &Rejection) -> Response<Bytes> {
        self(rejection)
    }
}

/// The RFC 6750 response described in the [module docs](self).
///
/// ```
/// use tower_jwt_session::{rejection::{DefaultRejectionResponse, Rejection, RejectionKind, RejectionResponse}};
///
/// let respond = DefaultRejectionResponse::new().with_realm("crm")?;
/// let res = respond.response(&Rejection::new(RejectionKind::Revoked, "the token was revoked"));
/// assert_eq!(res.status(), 401);
/// assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="crm", error="invalid_token""#);
/// assert_eq!(res.body().as_ref(), br#"{"error":"invalid_token"}"#);
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct DefaultRejectionResponse {
    realm: Option<Arc<str>>,
    descriptions: bool,
}

impl DefaultRejectionResponse {
    /// No realm, no descriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `realm="..."` to every challenge. Default: no realm.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRealm`] when the realm has a `"`, a `\` or a
    /// character outside visible ASCII and space.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Result<Self, ConfigError> {
        let realm = realm.into();
        if !realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::InvalidRealm(realm));
        }
        self.realm = Some(realm.into());
        Ok(self)
    }

    /// Adds `error_description` to challenges and bodies. Default: off, so
    /// that no detail of why a token failed reaches clients.
    #[must_use]
    pub fn with_descriptions(mut self, on: bool) -> Self {
        self.descriptions = on;
        self
    }

    fn challenge(&self, rejection: &Rejection) -> Option<HeaderValue> {
        let code = rejection.kind.error_code();
        if rejection.kind == RejectionKind::BackendUnavailable {
            return None;
        }
        let plain = self.realm.is_none()
            && !self.descriptions
            && rejection.shown_scope().is_none()
            && rejection.resource_metadata.is_none();
        if plain && !rejection.dpop {
            // The common case, without allocating.
            return Some(HeaderValue::from_static(match code {
                None => "Bearer",
                Some("invalid_request") => "Bearer error=\"invalid_request\"",
                Some("insufficient_scope") => "Bearer error=\"insufficient_scope\"",
                Some(_) => "Bearer error=\"invalid_token\"",
            }));
        }
        let mut params = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(format!("realm={}", quoted(realm)));
        }
        if let Some(code) = code {
            params.push(format!("error=\"{code}\""));
            if self.descriptions {
                params.push(format!(
                    "error_description={}",
                    quoted(rejection.description)
                ));
            }
        }
        if let Some(scope) = rejection.shown_scope() {
            params.push(format!("scope={}", quoted(scope)));
        }
        if let Some(url) = &rejection.resource_metadata {
            params.push(format!("resource_metadata={}", quoted(url)));
        }
        let value = if rejection.dpop {
            // RFC 9449 §7.1: the DPoP scheme, with the accepted algorithms.
            params.push(format!("algs=\"{}\"", crate::dpop::DPOP_ALGS));
            format!("DPoP {}", params.join(", "))
        } else if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        // Every value is checked to be visible ASCII at construction.
        HeaderValue::from_str(&value).ok()
    }

    fn body(&self, rejection: &Rejection) -> Bytes {
        if !self.descriptions {
            // Constant per kind: no allocation, no formatting.
            return Bytes::from_static(match rejection.kind {
                RejectionKind::MissingCredentials => br#"{"error":"unauthorized"}"#,
                RejectionKind::InvalidRequest => br#"{"error":"invalid_request"}"#,
                RejectionKind::InvalidToken | RejectionKind::Expired | RejectionKind::Revoked => {
                    br#"{"error":"invalid_token"}"#
                }
                RejectionKind::InsufficientScope => br#"{"error":"insufficient_scope"}"#,
                RejectionKind::BackendUnavailable => br#"{"error":"temporarily_unavailable"}"#,
                RejectionKind::InvalidDpopProof => br#"{"error":"invalid_dpop_proof"}"#,
                RejectionKind::UseDpopNonce => br#"{"error":"use_dpop_nonce"}"#,
                RejectionKind::DpopRequired => br#"{"error":"unauthorized"}"#,
            });
        }
        let error = rejection.kind.body_error();
        Bytes::from(
            serde_json::json!({"error": error, "error_description": rejection.description})
                .to_string(),
        )
    }
}

impl RejectionResponse for DefaultRejectionResponse {
    fn response(&self, rejection: &Rejection) -> Response<Bytes> {
        let mut res = Response::new(self.body(rejection));
        *res.status_mut() = rejection.status();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(challenge) = self.challenge(rejection) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = rejection
            .nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert("dpop-nonce", nonce);
        }
        res
    }
}

/// A `WWW-Authenticate` parameter value as a quoted string (RFC 9110
/// §5.6.4): `"` and `\\` escaped.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Shares one response builder between layers and services.
pub(crate) type SharedResponse = Arc<dyn RejectionResponse>;

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(kind: RejectionKind) -> Response<Bytes> {
        DefaultRejectionResponse::new().response(&Rejection::new(kind, "why"))
    }

    #[test]
    fn each_kind_maps_to_its_status_challenge_and_body() {
        use RejectionKind::*;
        let cases = [
            (MissingCredentials, 401, Some("Bearer"), "unauthorized"),
            (
                InvalidRequest,
                400,
                Some("Bearer error=\"invalid_request\""),
                "invalid_request",
            ),
            (
                InvalidToken,
                401,
                Some("Bearer error=\"invalid_token\""),
                "invalid_token",
            ),
            (
                Expired,
                401,
                Some("Bearer error=\"invalid_token\""),
                "invalid_token",
            ),
            (
                Revoked,
                401,
                Some("Bearer error=\"invalid_token\""),
                "invalid_token",
            ),
            (
                InsufficientScope,
                403,
                Some("Bearer error=\"insufficient_scope\""),
                "insufficient_scope",
            ),
            (BackendUnavailable, 503, None, "temporarily_unavailable"),
        ];
        for (kind, status, challenge, error) in cases {
            let res = respond(kind);
            assert_eq!(res.status(), status, "{kind:?}");
            assert_eq!(
                res.headers()
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap()),
                challenge,
                "{kind:?}"
            );
            assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
            let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(body, serde_json::json!({ "error": error }), "{kind:?}");
        }
    }

    #[test]
    fn realm_and_descriptions_are_added_when_configured() {
        let r = DefaultRejectionResponse::new()
            .with_realm("api")
            .unwrap()
            .with_descriptions(true);
        let res = r.response(&Rejection::new(
            RejectionKind::Expired,
            "the token has expired",
        ));
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["error_description"], "the token has expired");
        let res = r.response(&Rejection::missing());
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
    }

    #[test]
    fn realms_that_break_the_header_are_refused() {
        for bad in ["a\"b", "a\\b", "é", "a\nb"] {
            assert!(matches!(
                DefaultRejectionResponse::new().with_realm(bad),
                Err(ConfigError::InvalidRealm(_))
            ));
        }
    }

    #[test]
    fn every_verify_error_has_a_static_safe_description() {
        let errs = [
            VerifyError::InvalidClaims("attacker \"text\"\r\n".into()),
            VerifyError::Expired,
            VerifyError::Revoked,
        ];
        for e in &errs {
            let r = Rejection::from(e);
            assert!(r
                .description()
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"'));
        }
    }

    #[test]
    fn challenge_values_are_quoted_strings_with_quotes_and_backslashes_escaped() {
        assert_eq!(quoted("plain"), r#""plain""#);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        let rejection = Rejection::missing().challenged(
            Some(&Arc::from(
                "https://api.example.com/.well-known/oauth-protected-resource",
            )),
            Some(&Arc::from("files:read files:write")),
        );
        let res = DefaultRejectionResponse::new().response(&rejection);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer scope="files:read files:write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        );
    }
}
