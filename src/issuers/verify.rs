//! The trusted issuers of a manager, checked and ready: which one a token
//! names, and its verification (header, key, signature, claims).

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{
    IssuerKeys, PermissionClaims, TenantCheck, TrustedIssuer, TENANT_ALLOWED_TTL,
    TENANT_PLACEHOLDER, TENANT_REFUSED_TTL,
};
use crate::{
    blocklist::{subjects, TokenKey},
    error::ConfigError,
    error::VerifyError,
    jwt::algorithm::Algorithm,
    jwt::asymmetric::PublicKey,
    jwt::{
        claims::{Foreign, SessionInner},
        key::HmacKey,
        token::{decode_claims, decode_signature, parse_header, split, verify_with, Parts},
    },
    resource::protected::ProtectedResource,
    time::now_micros,
};

const MICROS: i64 = 1_000_000;
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The manager's trusted issuers, by exact `iss`.
pub(crate) struct Issuers {
    list: Vec<Issuer>,
    by_iss: HashMap<Box<str>, usize>,
    /// The issuers by template, tried in order when no exact one matches.
    templates: Vec<usize>,
    /// The issuer whose introspection endpoint checks opaque tokens.
    #[cfg(feature = "jwks")]
    opaque: Option<usize>,
}

/// An issuer pattern with one `{tenantid}` path segment.
struct Template {
    prefix: Box<str>,
    suffix: Box<str>,
    /// The claim that must equal the tenant.
    claim: Box<str>,
    /// The tenants allowed; `None`: any.
    tenants: Option<Vec<String>>,
    /// The application's check of a tenant, and its answers.
    check: Option<TenantChecks>,
}

/// The application's check of tenants, with its answers kept: allowed ones
/// for [`TENANT_ALLOWED_TTL`], refused ones for [`TENANT_REFUSED_TTL`].
struct TenantChecks {
    check: TenantCheck,
    allowed: moka::sync::Cache<Box<str>, ()>,
    refused: moka::sync::Cache<Box<str>, ()>,
}

/// Tenants whose answer is kept, each way.
const TENANTS_KEPT: u64 = 10_000;

impl TenantChecks {
    fn new(check: TenantCheck) -> Self {
        let cache = |ttl| {
            moka::sync::Cache::builder()
                .max_capacity(TENANTS_KEPT)
                .time_to_live(ttl)
                .build()
        };
        Self {
            check,
            allowed: cache(TENANT_ALLOWED_TTL),
            refused: cache(TENANT_REFUSED_TTL),
        }
    }

    /// The kept answer for `tenant`, if any.
    fn answer(&self, tenant: &str) -> Option<bool> {
        if self.allowed.contains_key(tenant) {
            Some(true)
        } else if self.refused.contains_key(tenant) {
            Some(false)
        } else {
            None
        }
    }
}

impl Template {
    fn parse(
        issuer: &str,
        claim: &str,
        tenants: Option<Vec<String>>,
        check: Option<TenantCheck>,
    ) -> Result<Option<Self>, &'static str> {
        let Some((prefix, suffix)) = issuer.split_once(TENANT_PLACEHOLDER) else {
            return Ok(None);
        };
        if suffix.contains(TENANT_PLACEHOLDER) {
            return Err("more than one {tenantid} in the issuer template");
        }
        let probe = format!("{prefix}tenant{suffix}");
        let valid_url = url_like(&probe);
        if !valid_url || !prefix.ends_with('/') || !(suffix.is_empty() || suffix.starts_with('/')) {
            return Err(
                "an issuer template is an http(s) URL whose {tenantid} is one whole path segment",
            );
        }
        if claim.is_empty() {
            return Err("the tenant claim is empty");
        }
        if tenants.iter().flatten().any(|t| !is_tenant_id(t)) {
            return Err(
                "a tenant in the allowlist is not a plain path segment (letters, digits, - and .)",
            );
        }
        Ok(Some(Self {
            prefix: prefix.into(),
            suffix: suffix.into(),
            claim: claim.into(),
            tenants,
            check: check.map(TenantChecks::new),
        }))
    }

    /// The tenant `iss` names, when it fits the pattern and is allowed.
    fn tenant<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let tenant = iss
            .strip_prefix(&*self.prefix)?
            .strip_suffix(&*self.suffix)?;
        let allowed = self
            .tenants
            .as_ref()
            .is_none_or(|tenants| tenants.iter().any(|t| t == tenant));
        (is_tenant_id(tenant) && allowed).then_some(tenant)
    }
}

/// One non-empty path segment of ASCII letters, digits, `-` and `.`, other
/// than `.` and `..`.
fn is_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant != "."
        && tenant != ".."
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `scheme://host...` with an http(s) scheme and a non-empty host.
fn url_like(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && url.bytes().all(|b| b.is_ascii_graphic())
}

/// One trusted issuer, checked.
pub(crate) struct Issuer {
    pub(crate) issuer: Arc<str>,
    /// A short digest of `iss`, namespacing its `jti`s and subjects in the
    /// blocklist.
    tag: String,
    keys: Keys,
    /// Exact audiences, or else the protected resource `aud` must name.
    audiences: Vec<String>,
    resource: Option<ProtectedResource>,
    algorithms: Vec<Algorithm>,
    require_at_jwt: bool,
    pub(crate) leeway: Duration,
    permissions: PermissionClaims,
    /// Set for an issuer by template: its `issuer` is the pattern.
    template: Option<Template>,
    /// Its introspection, when it takes opaque tokens.
    #[cfg(feature = "jwks")]
    pub(crate) introspector: Option<crate::introspection::introspector::Introspector>,
}

enum Keys {
    Public(Vec<PublicKey>),
    Hmac(Vec<HmacKey>),
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksSource),
}

/// The asymmetric algorithms: every key of a JWK Set of any algorithm.
#[cfg(feature = "jwks")]
const ASYMMETRIC: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl Issuers {
    /// Checks every issuer; `audience` and `leeway` are the manager's
    /// defaults.
    pub(crate) fn build(
        trusted: Vec<TrustedIssuer>,
        audience: Option<&str>,
        resource: Option<&ProtectedResource>,
        leeway: Duration,
    ) -> Result<Self, ConfigError> {
        let mut list = Vec::with_capacity(trusted.len());
        let mut by_iss = HashMap::with_capacity(trusted.len());
        let mut templates = Vec::new();
        #[cfg(feature = "jwks")]
        let mut opaque = None;
        for t in trusted {
            let bad = |reason: &str| ConfigError::TrustedIssuer {
                issuer: t.issuer.clone(),
                reason: reason.to_owned(),
            };
            if t.issuer.is_empty() {
                return Err(bad("the issuer is empty"));
            }
            if by_iss.contains_key(t.issuer.as_str()) {
                return Err(bad("listed twice"));
            }
            // Its own audiences, else the protected resource (RFC 8707),
            // else the manager's audience.
            let mut audiences = t.audiences.clone();
            let resource = resource.filter(|_| audiences.is_empty()).cloned();
            if audiences.is_empty() && resource.is_none() {
                audiences.extend(audience.map(str::to_owned));
            }
            if (audiences.is_empty() && resource.is_none())
                || audiences.iter().any(String::is_empty)
            {
                return Err(bad(
                    "no audience: call with_audience(..) on it or on the manager",
                ));
            }
            let leeway = t.leeway.unwrap_or(leeway);
            if leeway > MAX_LEEWAY {
                return Err(ConfigError::LeewayTooLarge(leeway));
            }
            let (keys, key_algorithms): (Keys, Vec<Algorithm>) = match &t.keys {
                IssuerKeys::Public(keys) => {
                    if keys.is_empty() {
                        return Err(bad("no public key"));
                    }
                    let mut algs: Vec<Algorithm> = keys.iter().map(PublicKey::algorithm).collect();
                    algs.dedup();
                    (Keys::Public(keys.clone()), algs)
                }
                IssuerKeys::Secret(alg, secret) => {
                    let required = alg
                        .min_secret_len()
                        .ok_or_else(|| bad("a secret is for HS256, HS384 or HS512"))?;
                    if secret.len() < required {
                        return Err(bad(&format!(
                            "the secret has {} bytes; {alg} needs at least {required} (RFC 7518 section 3.2)",
                            secret.len()
                        )));
                    }
                    (Keys::Hmac(vec![HmacKey::new(*alg, secret)?]), vec![*alg])
                }
                #[cfg(feature = "jwks")]
                IssuerKeys::Jwks(source) => {
                    if let Some(discovered) = source.discovered_issuer() {
                        if discovered != t.issuer {
                            return Err(ConfigError::JwksIssuerMismatch {
                                discovered: discovered.to_owned(),
                                configured: t.issuer.clone(),
                            });
                        }
                    }
                    let algs = source.algorithm().map_or(ASYMMETRIC.to_vec(), |a| vec![a]);
                    (Keys::Jwks(source.clone()), algs)
                }
                #[cfg(feature = "jwks")]
                IssuerKeys::Discover => {
                    let source = crate::jwks::JwksSource::discover_any(t.issuer.clone())
                        .build()
                        .map_err(|e| bad(&e.to_string()))?;
                    (Keys::Jwks(source), ASYMMETRIC.to_vec())
                }
            };
            let algorithms = match &t.algorithms {
                None => key_algorithms,
                Some(wanted) => {
                    if wanted.is_empty() {
                        return Err(bad("an empty list of algorithms"));
                    }
                    if let Some(alg) = wanted.iter().find(|a| !key_algorithms.contains(a)) {
                        return Err(bad(&format!("no key of the issuer is for {alg}")));
                    }
                    wanted.clone()
                }
            };
            let template = Template::parse(
                &t.issuer,
                &t.tenant_claim,
                t.tenants.clone(),
                t.tenant_check.clone(),
            )
            .map_err(bad)?;
            if template.is_none() && t.tenant_check.is_some() {
                return Err(bad(
                    "a tenant check is for an issuer by template (with one {tenantid})",
                ));
            }
            #[cfg(feature = "jwks")]
            let discovered = matches!(t.keys, IssuerKeys::Discover);
            #[cfg(not(feature = "jwks"))]
            let discovered = false;
            match &template {
                Some(_) if discovered => {
                    return Err(bad(
                        "an issuer by template needs its keys (with_jwks or with_public_keys): discovery needs one issuer",
                    ));
                }
                Some(_) => templates.push(list.len()),
                None => {
                    by_iss.insert(t.issuer.clone().into_boxed_str(), list.len());
                }
            }
            #[cfg(feature = "jwks")]
            let introspector = match &t.introspection {
                None => None,
                Some(_) if template.is_some() => {
                    return Err(ConfigError::Introspection(format!(
                        "{}: an issuer by template cannot take opaque tokens (they name no tenant)",
                        t.issuer
                    )));
                }
                Some(_) if opaque.is_some() => {
                    return Err(ConfigError::Introspection(format!(
                        "{}: one trusted issuer at most takes opaque tokens (they name no issuer)",
                        t.issuer
                    )));
                }
                Some(config) => {
                    opaque = Some(list.len());
                    Some(crate::introspection::introspector::Introspector::new(
                        &t.issuer, config,
                    )?)
                }
            };
            let tag = issuer_tag(&t.issuer);
            list.push(Issuer {
                issuer: t.issuer.into(),
                tag,
                keys,
                audiences,
                resource,
                algorithms,
                require_at_jwt: t.require_at_jwt,
                leeway,
                permissions: t.permissions,
                template,
                #[cfg(feature = "jwks")]
                introspector,
            });
        }
        Ok(Self {
            list,
            by_iss,
            templates,
            #[cfg(feature = "jwks")]
            opaque,
        })
    }

    /// The index of the issuer named `iss`.
    /// An issuer by template matches an `iss` that fits its pattern with an
    /// allowed tenant; nothing is fetched or looked up for one that does not.
    pub(crate) fn find(&self, iss: &str) -> Option<usize> {
        self.by_iss.get(iss).copied().or_else(|| {
            self.templates.iter().copied().find(|&i| {
                self.list[i]
                    .template
                    .as_ref()
                    .is_some_and(|t| t.tenant(iss).is_some())
            })
        })
    }

    /// The index of the issuer that takes opaque tokens, if one does.
    #[cfg(feature = "jwks")]
    pub(crate) fn opaque(&self) -> Option<usize> {
        self.opaque
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Issuer> {
        self.list.get(index)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Issuer> {
        self.list.iter()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A short digest of an issuer: 72 bits of SHA-256, base64url
/// ([`subjects::TAG_LEN`] characters).
fn issuer_tag(issuer: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(issuer.as_bytes())[..9])
}

/// The key of `(iss, sub)`'s log-out-everywhere watermark.
pub(crate) fn watermark_user(issuer: &str, sub: &str) -> String {
    subjects::issuer_subject(&issuer_tag(issuer), sub)
}

/// The key of the watermark of `(iss, sub)`'s tokens that carry no `sid`
/// (a back-channel logout naming both a provider session and its subject
/// ends these too).
pub(crate) fn sessionless_user(issuer: &str, sub: &str) -> String {
    subjects::issuer_sessionless(&issuer_tag(issuer), sub)
}

/// The key of the identity provider's session `sid` of `issuer`: every
/// token carrying that `sid` is checked against it.
pub(crate) fn provider_session_key(issuer: &str, sid: &str) -> TokenKey {
    TokenKey::from_session(&format!("{}~{sid}", issuer_tag(issuer)))
}

/// The key of the log-out-everywhere watermark of the e-mail address
/// `email` at `issuer` (security events may name a subject by e-mail).
pub(crate) fn email_user(issuer: &str, email: &str) -> String {
    subjects::issuer_email(&issuer_tag(issuer), email)
}

/// `typ` values of tokens that are not access tokens: refused whatever the
/// issuer.
fn access_token_typ(typ: Option<&str>, require_at_jwt: bool) -> bool {
    match typ {
        Some(t)
            if t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt") =>
        {
            true
        }
        // `JWT`, and the session tokens of another server built on this
        // crate.
        Some(t)
            if t.eq_ignore_ascii_case("JWT")
                || t.eq_ignore_ascii_case(crate::jwt::token::SESSION_TYP)
                || t.eq_ignore_ascii_case("application/session+jwt") =>
        {
            !require_at_jwt
        }
        None => !require_at_jwt,
        Some(_) => false,
    }
}

impl Issuer {
    /// Whether its `issuer` is a pattern of many tenants' issuers.
    pub(crate) fn is_template(&self) -> bool {
        self.template.is_some()
    }

    /// The issuer a token or an event of `iss` belongs to: this one, or the
    /// tenant's when this is a template (`iss` must fit it). For
    /// revocation keys and watermarks: each tenant is an issuer of its own.
    pub(crate) fn concrete(&self, iss: &str) -> Option<Arc<str>> {
        match &self.template {
            None => (*iss == *self.issuer).then(|| self.issuer.clone()),
            Some(t) => t.tenant(iss).map(|_| Arc::from(iss)),
        }
    }

    /// The application's answer for `tenant`: `Some(true)` without a check,
    /// the kept answer with one, `None` when it must be asked.
    fn tenant_answer(&self, tenant: &str) -> Option<bool> {
        match self.template.as_ref().and_then(|t| t.check.as_ref()) {
            None => Some(true),
            Some(checks) => checks.answer(tenant),
        }
    }

    /// For a tenant of `iss` whose answer is not kept, the application's
    /// check of it, which keeps its answer.
    pub(crate) fn check_tenant_later(
        &self,
        iss: &str,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
        let template = self.template.as_ref()?;
        let checks = template.check.as_ref()?;
        let tenant = template.tenant(iss)?;
        if checks.answer(tenant).is_some() {
            return None;
        }
        let ask = (checks.check)(tenant.to_owned());
        let (allowed, refused) = (checks.allowed.clone(), checks.refused.clone());
        let tenant: Box<str> = tenant.into();
        Some(Box::pin(async move {
            if ask.await {
                allowed.insert(tenant, ());
            } else {
                tracing::debug!("a tenant refused by the application's check");
                refused.insert(tenant, ());
            }
        }))
    }

    /// For a template: checks that `claims` name the tenant of `iss` in the
    /// tenant claim (`required`: it must be there; else only when present).
    pub(crate) fn check_tenant(
        &self,
        iss: &str,
        claims: &Map<String, Value>,
        required: bool,
    ) -> Result<Option<String>, VerifyError> {
        let Some(template) = &self.template else {
            return Ok(None);
        };
        let tenant = template.tenant(iss).ok_or(VerifyError::InvalidIssuer)?;
        match claims.get(&*template.claim) {
            Some(Value::String(claimed)) if claimed == tenant => Ok(Some(tenant.to_owned())),
            None if !required => Ok(Some(tenant.to_owned())),
            _ => Err(VerifyError::InvalidIssuer),
        }
    }

    /// The epoch of the keys in use, `None` while they may not be used.
    #[inline]
    pub(crate) fn epoch(&self) -> Option<u64> {
        match &self.keys {
            #[cfg(feature = "jwks")]
            Keys::Jwks(source) => source.epoch(),
            _ => Some(0),
        }
    }

    /// The JWK Set source, when the keys come from one.
    #[cfg(feature = "jwks")]
    pub(crate) fn jwks(&self) -> Option<&crate::jwks::JwksSource> {
        match &self.keys {
            Keys::Jwks(source) => Some(source),
            _ => None,
        }
    }

    /// Verifies a token that names this issuer.
    pub(crate) fn verify(&self, token: &[u8]) -> Result<SessionInner, VerifyError> {
        let parts = split(token)?;
        let claims =
            self.verify_signed(&parts, |typ| access_token_typ(typ, self.require_at_jwt))?;
        self.session(claims, &parts)
    }

    /// Checks the header (`crit`, `typ` by `typ_ok`, `alg` on the issuer's
    /// list) and the signature with this issuer's keys, and decodes the
    /// claims; nothing of the claims is checked yet.
    pub(crate) fn verify_signed(
        &self,
        parts: &Parts<'_>,
        typ_ok: impl FnOnce(Option<&str>) -> bool,
    ) -> Result<Map<String, Value>, VerifyError> {
        let header = parse_header(parts.header)?;
        if header.crit {
            return Err(VerifyError::CriticalHeader);
        }
        if !typ_ok(header.typ.as_deref()) {
            return Err(VerifyError::WrongType);
        }
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| VerifyError::AlgorithmMismatch)?;
        if !self.algorithms.contains(&alg) {
            return Err(VerifyError::AlgorithmMismatch);
        }
        self.check_signature(parts, alg, header.kid.as_deref())?;
        decode_claims(parts.payload)
    }

    /// Whether `aud` (a claim value: a string or an array of strings) holds
    /// an audience `wanted` accepts.
    pub(crate) fn audience_holds(
        aud: Option<&Value>,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<bool, VerifyError> {
        match aud {
            None => Err(VerifyError::MissingClaim("aud")),
            Some(Value::String(a)) => Ok(wanted(a)),
            Some(Value::Array(all)) => {
                let mut found = false;
                for a in all {
                    let a = a.as_str().ok_or_else(|| {
                        VerifyError::InvalidClaims("`aud` is not a string or strings".to_owned())
                    })?;
                    found |= wanted(a);
                }
                Ok(found)
            }
            Some(_) => Err(VerifyError::InvalidClaims(
                "`aud` is not a string or strings".to_owned(),
            )),
        }
    }

    fn check_signature(
        &self,
        parts: &Parts<'_>,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<(), VerifyError> {
        let verify = |key: &PublicKey| -> Result<bool, VerifyError> {
            if key.algorithm() != alg {
                return Err(VerifyError::AlgorithmMismatch);
            }
            verify_with(key, parts.signing_input, parts.signature)
        };
        let verified = match &self.keys {
            Keys::Public(keys) => match kid {
                Some(kid) => verify(
                    keys.iter()
                        .find(|k| k.kid() == kid)
                        .ok_or(VerifyError::UnknownKey)?,
                )?,
                None => keys
                    .iter()
                    .filter(|k| k.algorithm() == alg)
                    .any(|k| verify(k).unwrap_or(false)),
            },
            Keys::Hmac(keys) => {
                let key = keys.first().ok_or(VerifyError::UnknownKey)?;
                if key.algorithm() != alg {
                    return Err(VerifyError::AlgorithmMismatch);
                }
                let mut tag = [0u8; 64];
                let tag = &mut tag[..key.tag_len()];
                decode_signature(parts.signature, tag)?;
                key.verify(parts.signing_input, tag)
            }
            #[cfg(feature = "jwks")]
            Keys::Jwks(source) => source.with_set(|set| {
                let key = match kid {
                    Some(kid) => set.get(kid),
                    None => set.only(),
                };
                verify(key.ok_or(VerifyError::UnknownKey)?)
            })??,
        };
        if verified {
            Ok(())
        } else {
            Err(VerifyError::InvalidSignature)
        }
    }

    /// Checks the claims and builds the session.
    fn session(
        &self,
        claims: Map<String, Value>,
        parts: &Parts<'_>,
    ) -> Result<SessionInner, VerifyError> {
        let string = |name| claim_string(&claims, name);
        let date = |name| claim_date(&claims, name);
        // Not an access token: an ID token (its claims), a logout token or a
        // security event (`events`).
        for name in ["nonce", "at_hash", "c_hash", "events"] {
            if claims.contains_key(name) {
                return Err(VerifyError::WrongType);
            }
        }
        let iss = string("iss")?.ok_or(VerifyError::MissingClaim("iss"))?;
        // The issuer (a tenant's, for a template) and its tag, which
        // namespace the token's keys and watermarks.
        let issuer = self.concrete(&iss).ok_or(VerifyError::InvalidIssuer)?;
        let tenant = self.check_tenant(&iss, &claims, true)?;
        if let Some(tenant) = &tenant {
            match self.tenant_answer(tenant) {
                Some(true) => {}
                Some(false) => return Err(VerifyError::InvalidIssuer),
                None => return Err(VerifyError::RequestNeeded),
            }
        }
        let tag: std::borrow::Cow<'_, str> = match &tenant {
            None => std::borrow::Cow::Borrowed(&self.tag),
            Some(_) => std::borrow::Cow::Owned(issuer_tag(&issuer)),
        };
        if !self.audience_ok(claims.get("aud"))? {
            return Err(VerifyError::InvalidAudience);
        }
        let (exp, iat) = self.check_times(&claims)?;
        let sub = string("sub")?
            .filter(|s| !s.is_empty())
            .ok_or(VerifyError::MissingClaim("sub"))?;
        let jti = string("jti")?.filter(|s| !s.is_empty());
        let key = match &jti {
            Some(jti) => TokenKey::from_jti(&format!("{tag}~{jti}")),
            None => TokenKey::from_tag_digest(&Sha256::digest(parts.signing_input)),
        };
        let checked = Checked {
            sid: string("sid")?,
            client_id: string("client_id")?,
            email: string("email").ok().flatten(),
            auth_time: date("auth_time").ok().flatten(),
            issuer,
            tenant,
            sub,
            jti,
            key,
            exp,
            iat,
            bound: claims.contains_key("cnf"),
        };
        string("scope")?;
        self.build_session(checked, claims)
    }

    /// Whether `aud` holds one of this issuer's audiences (or names its
    /// protected resource).
    pub(super) fn audience_ok(&self, aud: Option<&Value>) -> Result<bool, VerifyError> {
        Self::audience_holds(aud, |a| {
            self.audiences.iter().any(|mine| mine == a)
                || self.resource.as_ref().is_some_and(|r| r.is_named_by(a))
        })
    }

    /// Checks `exp` (required, not past), `nbf` and `iat` (when present, not
    /// in the future) with the issuer's leeway; returns `exp` and `iat`.
    pub(super) fn check_times(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<(f64, Option<f64>), VerifyError> {
        let now = now_micros();
        let leeway = self.leeway.as_micros() as i64;
        let micros = |secs: f64| (secs * MICROS as f64) as i64;
        let exp = claim_date(claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
        if now >= micros(exp).saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        let iat = claim_date(claims, "iat")?;
        for not_before in [claim_date(claims, "nbf")?, iat].into_iter().flatten() {
            if micros(not_before) > now.saturating_add(leeway) {
                return Err(VerifyError::NotYetValid);
            }
        }
        Ok((exp, iat))
    }

    /// The session of a token whose claims (`claims`: a JWT's, or an
    /// introspection answer's members) checked out as `c`.
    pub(super) fn build_session(
        &self,
        c: Checked,
        claims: Map<String, Value>,
    ) -> Result<SessionInner, VerifyError> {
        let micros = |secs: f64| (secs * MICROS as f64) as i64;
        let Checked {
            issuer,
            tenant,
            sub,
            jti,
            sid,
            client_id,
            email,
            exp,
            iat,
            auth_time,
            key,
            bound,
        } = c;
        let permissions = self.permissions.permissions(&claims)?;
        let iat_secs = iat.map(|s| s.floor() as i64);
        // More keys and watermarks to check, for logouts the identity
        // provider pushes: the provider session (`sid`), the subject's
        // tokens without `sid`, the e-mail address.
        let mut extra = Vec::new();
        let email_mark = email.as_deref().map(|e| email_user(&issuer, e));
        match &sid {
            Some(sid) => extra.push((
                provider_session_key(&issuer, sid),
                email_mark.unwrap_or_else(|| watermark_user(&issuer, &sub)),
            )),
            None => {
                extra.push((key.clone(), sessionless_user(&issuer, &sub)));
                if let Some(mark) = email_mark {
                    extra.push((key.clone(), mark));
                }
            }
        }
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .map(Box::from);
        Ok(SessionInner {
            bound,
            jkt,
            user_id: sub.clone(),
            email: email.clone().unwrap_or_default(),
            role: claims
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            company_id: None,
            permissions,
            metadata: Map::new(),
            created_at: iat_secs.unwrap_or(0),
            expires_at: exp.floor() as i64,
            exp_micros: micros(exp),
            // Whole seconds of the issuer's clock: a watermark refuses
            // every token of its second.
            issued_at_micros: iat_secs.map_or(i64::MIN, |s| s.saturating_mul(MICROS)),
            issued_at_precise: false,
            auth_time: auth_time
                .map(|s| s.floor() as i64)
                .or(iat_secs)
                .unwrap_or(i64::MIN),
            token_id: jti,
            session_id: None,
            generation: 0,
            key,
            payload: None,
            claims: claims.into(),
            foreign: Some(Box::new(Foreign {
                issuer: issuer.clone(),
                tenant: tenant.map(Into::into),
                client_id,
                sid,
                has_email: email.is_some(),
                watermark_user: watermark_user(&issuer, &sub),
                extra: extra.into_boxed_slice(),
            })),
            custom: None,
        })
    }
}

/// The string claim `name`: absent or `null` is `None`, another type an
/// error.
pub(super) fn claim_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, VerifyError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VerifyError::InvalidClaims(format!(
            "`{name}` is not a string"
        ))),
    }
}

/// The date claim `name` (seconds, possibly fractional).
pub(super) fn claim_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| VerifyError::InvalidClaims(format!("`{name}` is not a date"))),
        Some(_) => Err(VerifyError::InvalidClaims(format!(
            "`{name}` is not a number of seconds"
        ))),
    }
}

/// What the checks of a provider's token established.
pub(super) struct Checked {
    pub(super) issuer: Arc<str>,
    pub(super) tenant: Option<String>,
    pub(super) sub: String,
    pub(super) jti: Option<String>,
    pub(super) sid: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) email: Option<String>,
    /// Seconds.
    pub(super) exp: f64,
    pub(super) iat: Option<f64>,
    pub(super) auth_time: Option<f64>,
    /// The token's key in the blocklist.
    pub(super) key: TokenKey,
    /// Bound to a key (`cnf`): worthless without its proof.
    pub(super) bound: bool,
}

#[cfg(test)]
mod tests {
    use super::access_token_typ;

    #[test]
    fn access_token_types() {
        for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            assert!(access_token_typ(Some(typ), true), "{typ}");
        }
        assert!(access_token_typ(Some("JWT"), false));
        assert!(access_token_typ(None, false));
        assert!(access_token_typ(Some("session+jwt"), false));
        assert!(!access_token_typ(Some("JWT"), true));
        assert!(!access_token_typ(None, true));
        for typ in ["logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt", ""] {
            assert!(!access_token_typ(Some(typ), false), "{typ}");
        }
    }
}
