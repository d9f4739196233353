//! The demo server's settings: every environment variable of the contract,
//! read and checked at start (a bad value stops the server with exit code
//! 2 and one line).

use super::*;

/// Everything read from the environment, checked before anything starts.
pub(crate) struct Settings {
    pub(crate) manager: SessionManager,
    pub(crate) bind: SocketAddr,
    pub(crate) random_secret: bool,
    /// The shared store (`Redis`, `PostgreSQL`) and its redacted URL.
    pub(crate) shared: Option<(&'static str, String)>,
    /// With trusted issuers: the client ids this server is registered
    /// under at the providers (`SESSION_CLIENT_ID`, separated by spaces),
    /// for the receivers of their logouts and security events.
    pub(crate) client_id: Option<Vec<String>>,
    /// DPoP (RFC 9449): `SESSION_DPOP`, `SESSION_PUBLIC_URL`,
    /// `SESSION_DPOP_NONCE`, `SESSION_DPOP_REPLAY`.
    pub(crate) dpop: Dpop,
}

/// `SESSION_ISSUER` when unset.
pub(crate) const DEMO_ISSUER: &str = "atomic-crm";
/// `SESSION_AUDIENCE` when unset.
pub(crate) const DEMO_AUDIENCE: &str = "atomic-crm-api";

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn settings() -> Result<Settings, String> {
    let algorithm: Algorithm = env("SESSION_ALGORITHM")
        .as_deref()
        .unwrap_or("HS256")
        .parse()
        .map_err(|e| format!("SESSION_ALGORITHM: {e}"))?;
    // Older secrets still accepted for verification, never used to sign.
    let previous: Vec<String> = env("SESSION_PREVIOUS_SECRETS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    // With SESSION_JWKS_URL: the source, also the one-issuer form of the
    // trusted issuers (its access tokens follow their rules).
    let mut jwks_source = None;
    let (mut builder, random_secret) = if algorithm.is_hmac() {
        if env("SESSION_JWKS_URL").is_some() {
            return Err(format!(
                "SESSION_JWKS_URL: a JWK Set holds public keys, for RS256, PS256, ES256, \
                 ES384 and EdDSA; {algorithm} uses SESSION_SECRET"
            ));
        }
        for var in ["SESSION_PRIVATE_KEY_FILE", "SESSION_PUBLIC_KEY_FILE"] {
            if key_file(var)?.is_some() {
                return Err(format!(
                    "{var}: key files are for RS256, PS256, ES256, ES384 and EdDSA; \
                     {algorithm} uses SESSION_SECRET"
                ));
            }
        }
        let (secret, random_secret) = hmac_secret(algorithm)?;
        let mut builder = SessionManager::builder(&secret).with_algorithm(algorithm);
        if !previous.is_empty() {
            builder = builder.with_previous_secrets(&previous);
        }
        (builder, random_secret)
    } else {
        if !previous.is_empty() {
            return Err(format!(
                "SESSION_PREVIOUS_SECRETS: secrets are not used with {algorithm}; unset it"
            ));
        }
        let (builder, source) = asymmetric_builder(algorithm)?;
        jwks_source = source;
        (builder, false)
    };
    let ttl = match env("SESSION_TTL_SECS") {
        None => 3600,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "SESSION_TTL_SECS: {v:?} is not a whole number of at least 1"
                ))
            }
        },
    };
    let bind = env("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let bind: SocketAddr = bind
        .parse()
        .map_err(|_| format!("BIND_ADDR: {bind:?} is not an address such as 127.0.0.1:3000"))?;
    builder = builder.with_ttl(Duration::from_secs(ttl));
    let staleness = match env("SESSION_MAX_STALENESS_SECS") {
        None => 0,
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            format!(
                "SESSION_MAX_STALENESS_SECS: {v:?} is not a whole number of seconds (0 or more)"
            )
        })?,
    };
    let stores = [
        "REDIS_URL",
        "REDIS_SENTINEL_URLS",
        "REDIS_CLUSTER_URLS",
        "DATABASE_URL",
    ]
    .into_iter()
    .filter(|v| env(v).is_some())
    .collect::<Vec<_>>();
    if stores.len() > 1 {
        return Err(format!(
            "{}: set at most one of REDIS_URL, REDIS_SENTINEL_URLS, REDIS_CLUSTER_URLS, DATABASE_URL",
            stores.join(" and ")
        ));
    }
    if env("REDIS_SENTINEL_URLS").is_some() && env("REDIS_SENTINEL_MASTER").is_none() {
        return Err(
            "REDIS_SENTINEL_URLS: needs REDIS_SENTINEL_MASTER (the name of the primary)".into(),
        );
    }
    let list = |v: String| {
        v.split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect::<Vec<_>>()
    };
    let sentinels = env("REDIS_SENTINEL_URLS").map(list);
    let cluster = env("REDIS_CLUSTER_URLS").map(list);
    let min_replicas = match env("REDIS_MIN_REPLICAS") {
        // One replica must hold a revocation before it is acknowledged when
        // there are replicas to fail over to.
        None => u32::from(sentinels.is_some() || cluster.is_some()),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("REDIS_MIN_REPLICAS: {v:?} is not a whole number (0 or more)"))?,
    };
    // The shared blocklist: every revocation in this process's memory,
    // loaded from Redis and kept current by following its stream, so that
    // requests send no command to Redis. Nothing is sent yet: a server
    // started while Redis is down answers 503 until it is back.
    let (redis, var, shown) = match (env("REDIS_URL"), sentinels, cluster) {
        (Some(url), _, _) => (
            Some(RedisBlocklist::builder(url.as_str())),
            "REDIS_URL",
            redact_url(&url),
        ),
        (None, Some(urls), _) => {
            let master = env("REDIS_SENTINEL_MASTER").unwrap_or_default();
            let shown = format!(
                "Sentinel {} at {}",
                master,
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            (
                Some(RedisBlocklist::sentinel_builder(urls, master)),
                "REDIS_SENTINEL_URLS",
                shown,
            )
        }
        (None, None, Some(urls)) => {
            let shown = format!(
                "Cluster at {}",
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            (
                Some(RedisBlocklist::cluster_builder(urls)),
                "REDIS_CLUSTER_URLS",
                shown,
            )
        }
        (None, None, None) => (None, "", String::new()),
    };
    let mut shared = None;
    if let Some(redis) = redis {
        let redis = redis
            // Every live revocation must still be in the stream: the token
            // lifetime, the leeway, and a margin.
            .with_retention(Duration::from_secs(ttl + 120))
            .with_min_replicas(min_replicas)
            .build()
            .map_err(|e| format!("{var}: {shown:?}: {e}"))?;
        builder = builder.with_blocklist(
            redis
                .into_replica()
                .with_max_staleness(Duration::from_secs(staleness)),
        );
        shared = Some(("Redis", shown));
    }
    // Or PostgreSQL: the same replica design, fed by LISTEN/NOTIFY. The
    // tables are created when the database first answers; until then the
    // server answers 503, as during an outage.
    if let Some(url) = env("DATABASE_URL") {
        let shown = redact_url(&url);
        let store = PostgresBlocklist::builder(url.trim())
            .build()
            .map_err(|e| format!("DATABASE_URL: {shown:?}: {e}"))?;
        builder = builder.with_blocklist(
            store
                .into_replica()
                .with_max_staleness(Duration::from_secs(staleness)),
        );
        shared = Some(("PostgreSQL", shown));
    }
    // The library has no default issuer or audience; the demo keeps those of
    // the application the TypeScript seed came from (the contract's).
    builder = builder
        .with_issuer(env("SESSION_ISSUER").unwrap_or_else(|| DEMO_ISSUER.into()))
        .with_audience(env("SESSION_AUDIENCE").unwrap_or_else(|| DEMO_AUDIENCE.into()));
    for issuer in trusted_issuers()? {
        builder = builder.with_trusted_issuer(issuer);
    }
    if let Some(issuer) = template_issuer()? {
        builder = builder.with_trusted_issuer(issuer);
    }
    if let Some(resource) = protected_resource()? {
        builder = builder.with_protected_resource(resource);
    }
    // `SESSION_JWKS_URL` with `SESSION_ISSUER`: the one-issuer form. Session
    // tokens of that issuer stay the manager's own (revocations shared with
    // their signer); its access tokens follow the trusted-issuer rules.
    if let Some(source) = jwks_source {
        let issuer = env("SESSION_ISSUER").unwrap_or_else(|| DEMO_ISSUER.into());
        builder =
            builder.with_trusted_issuer(trusted_rules(TrustedIssuer::with_jwks(issuer, source))?);
    }
    let name = |e: &tower_jwt_session::ConfigError| match e {
        tower_jwt_session::ConfigError::EmptySecret
        | tower_jwt_session::ConfigError::SecretTooShort { .. } => "SESSION_SECRET",
        tower_jwt_session::ConfigError::PreviousSecretTooShort { .. } => "SESSION_PREVIOUS_SECRETS",
        tower_jwt_session::ConfigError::EmptyIssuer => "SESSION_ISSUER",
        tower_jwt_session::ConfigError::EmptyAudience => "SESSION_AUDIENCE",
        tower_jwt_session::ConfigError::TtlOutOfRange(_) => "SESSION_TTL_SECS",
        tower_jwt_session::ConfigError::TrustedIssuer { .. } => "SESSION_TRUSTED_ISSUERS",
        _ => "configuration",
    };
    let manager = builder.build().map_err(|e| format!("{}: {e}", name(&e)))?;
    let client_id = match manager.trusted_issuers().next() {
        None => None,
        Some(_) => {
            let id = env("SESSION_CLIENT_ID")
                .or_else(|| env("SESSION_TRUSTED_AUDIENCE"))
                .or_else(|| env("SESSION_AUDIENCE"))
                .unwrap_or_else(|| DEMO_AUDIENCE.into());
            // One or more, separated by spaces: every client registered
            // at the providers with this server's receivers.
            let ids: Vec<String> = id.split_whitespace().map(str::to_owned).collect();
            if ids.is_empty() {
                return Err("SESSION_CLIENT_ID: empty".to_owned());
            }
            Some(ids)
        }
    };
    Ok(Settings {
        manager,
        bind,
        random_secret,
        shared,
        client_id,
        dpop: dpop_settings()?,
    })
}

/// The HMAC secret from `SESSION_SECRET`, or a random one.
pub(crate) fn hmac_secret(algorithm: Algorithm) -> Result<(Vec<u8>, bool), String> {
    match std::env::var_os("SESSION_SECRET") {
        Some(s) => {
            let s = s
                .into_string()
                .map_err(|_| "SESSION_SECRET: not valid UTF-8".to_owned())?;
            Ok((s.into_bytes(), false))
        }
        None => {
            let mut bytes = vec![0u8; algorithm.min_secret_len().unwrap_or(64)];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| format!("SESSION_SECRET: cannot generate a random secret: {e}"))?;
            Ok((bytes, true))
        }
    }
}

/// The contents of the key file named by `var`; `None` when unset or empty.
/// The value is only ever a path given by the operator, never anything
/// from a token.
pub(crate) fn key_file(var: &str) -> Result<Option<Vec<u8>>, String> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(path) if path.is_empty() => Ok(None),
        Some(path) => std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{var}: cannot read {}: {e}", path.to_string_lossy())),
    }
}

/// The DPoP settings: mode, public URL, nonces (keyed by `SESSION_SECRET`
/// so that every server sharing it accepts the others' nonces), replay.
pub(crate) fn dpop_settings() -> Result<Dpop, String> {
    let mode = match env("SESSION_DPOP").as_deref().map(str::trim) {
        None | Some("optional") => DpopMode::Optional,
        Some("off") => DpopMode::Off,
        Some("required") => DpopMode::Required,
        Some(v) => {
            return Err(format!(
                "SESSION_DPOP: {v:?} is none of off, optional, required"
            ))
        }
    };
    let mut dpop = Dpop::new(mode);
    if let Some(url) = env("SESSION_PUBLIC_URL") {
        dpop = dpop
            .with_public_url(&url)
            .map_err(|e| format!("SESSION_PUBLIC_URL: {e}"))?;
    }
    match env("SESSION_DPOP_NONCE").as_deref().map(str::trim) {
        None | Some("0") | Some("") => {}
        Some("1") => {
            let secret = match env("SESSION_SECRET").filter(|s| !s.is_empty()) {
                Some(secret) => secret.into_bytes(),
                None => {
                    let mut random = vec![0u8; 32];
                    getrandom::getrandom(&mut random)
                        .map_err(|e| format!("SESSION_DPOP_NONCE: no randomness: {e}"))?;
                    random
                }
            };
            dpop = dpop.with_nonces(secret);
        }
        Some(v) => return Err(format!("SESSION_DPOP_NONCE: {v:?} is neither 0 nor 1")),
    }
    match env("SESSION_DPOP_REPLAY").as_deref().map(str::trim) {
        None | Some("local") => {}
        // One `SET NX` per DPoP request, on the shared store.
        Some("store") => dpop = dpop.with_replay(ReplayScope::Store),
        Some(v) => {
            return Err(format!(
                "SESSION_DPOP_REPLAY: {v:?} is neither local nor store"
            ))
        }
    }
    Ok(dpop)
}

/// A whole number of seconds of at least `min` from `var`, or `default`.
fn secs(var: &str, default: u64, min: u64) -> Result<u64, String> {
    match env(var) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!(
                "{var}: {v:?} is not a whole number of seconds of at least {min}"
            )),
        },
    }
}

/// `SESSION_JWKS_REFRESH_SECS` and `SESSION_JWKS_COOLDOWN_SECS`. Under 10 s
/// the library fetches every 10 s (the contract's floor).
pub(crate) fn jwks_timing() -> Result<(u64, u64), String> {
    Ok((
        secs("SESSION_JWKS_REFRESH_SECS", 300, 1)?,
        secs("SESSION_JWKS_COOLDOWN_SECS", 10, 1)?,
    ))
}

/// The identity providers of `SESSION_TRUSTED_ISSUERS`, each with its keys
/// from OpenID Connect discovery, the trusted audience, the permission
/// claims and the `typ` rule.
pub(crate) fn trusted_issuers() -> Result<Vec<TrustedIssuer>, String> {
    let mut introspection = introspection()?;
    let Some(list) = env("SESSION_TRUSTED_ISSUERS") else {
        if let Some((issuer, _)) = introspection {
            return Err(format!(
                "SESSION_INTROSPECTION_ISSUER: {issuer:?} is not among SESSION_TRUSTED_ISSUERS (unset)"
            ));
        }
        return Ok(Vec::new());
    };
    let issuers: Vec<&str> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if issuers.is_empty() {
        return Err("SESSION_TRUSTED_ISSUERS: empty; list issuer URLs (or unset it)".to_owned());
    }
    let (refresh, cooldown) = jwks_timing()?;
    if let Some((issuer, _)) = &introspection {
        if !issuers.contains(&issuer.as_str()) {
            return Err(format!(
                "SESSION_INTROSPECTION_ISSUER: {issuer:?} is not among SESSION_TRUSTED_ISSUERS"
            ));
        }
    }
    let mut out = Vec::with_capacity(issuers.len());
    for issuer in issuers {
        let parsed = url::Url::parse(issuer)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if parsed.is_none() {
            return Err(format!(
                "SESSION_TRUSTED_ISSUERS: {issuer:?} is not an http:// or https:// URL"
            ));
        }
        let source = JwksSource::discover_any(issuer)
            .with_refresh_interval(Duration::from_secs(refresh))
            .with_cooldown(Duration::from_secs(cooldown))
            .build()
            .map_err(|e| format!("SESSION_TRUSTED_ISSUERS: {issuer:?}: {e}"))?;
        let mut trusted = trusted_rules(TrustedIssuer::with_jwks(issuer, source))?;
        if introspection.as_ref().is_some_and(|(i, _)| i == issuer) {
            if let Some((_, settings)) = introspection.take() {
                trusted = trusted.with_introspection(settings);
            }
        }
        out.push(trusted);
    }
    Ok(out)
}

/// `SESSION_INTROSPECTION_ISSUER` with `SESSION_INTROSPECTION_CLIENT_ID`,
/// `SESSION_INTROSPECTION_CLIENT_SECRET` and
/// `SESSION_INTROSPECTION_CACHE_SECS`: the issuer whose introspection
/// endpoint checks opaque tokens, and its settings.
fn introspection() -> Result<Option<(String, Introspection)>, String> {
    let Some(issuer) = env("SESSION_INTROSPECTION_ISSUER") else {
        return Ok(None);
    };
    let required = |var: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{var}: required with SESSION_INTROSPECTION_ISSUER"))
    };
    let client_id = required("SESSION_INTROSPECTION_CLIENT_ID")?;
    let secret = required("SESSION_INTROSPECTION_CLIENT_SECRET")?;
    let cache = secs("SESSION_INTROSPECTION_CACHE_SECS", 60, 0)?;
    Ok(Some((
        issuer.trim().to_owned(),
        Introspection::client_secret_basic(client_id, secret)
            .with_cache_ttl(Duration::from_secs(cache)),
    )))
}

/// `SESSION_TRUSTED_ISSUER_TEMPLATE` with `SESSION_TEMPLATE_JWKS_URL` and
/// `SESSION_TENANTS`: many tenants' issuers by one pattern, their keys from
/// one JWK Set.
fn template_issuer() -> Result<Option<TrustedIssuer>, String> {
    let Some(template) = env("SESSION_TRUSTED_ISSUER_TEMPLATE") else {
        return Ok(None);
    };
    let template = template.trim().to_owned();
    if template.matches("{tenantid}").count() != 1 {
        return Err(format!(
            "SESSION_TRUSTED_ISSUER_TEMPLATE: {template:?} needs exactly one {{tenantid}}"
        ));
    }
    let probe = template.replace("{tenantid}", "tenant");
    let valid = url::Url::parse(&probe)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !valid {
        return Err(format!(
            "SESSION_TRUSTED_ISSUER_TEMPLATE: {template:?} is not an http:// or https:// URL"
        ));
    }
    let url = env("SESSION_TEMPLATE_JWKS_URL").ok_or_else(|| {
        "SESSION_TEMPLATE_JWKS_URL: required with SESSION_TRUSTED_ISSUER_TEMPLATE".to_owned()
    })?;
    let (refresh, cooldown) = jwks_timing()?;
    let source = JwksSource::builder_any(url.as_str())
        .with_refresh_interval(Duration::from_secs(refresh))
        .with_cooldown(Duration::from_secs(cooldown))
        .build()
        .map_err(|e| format!("SESSION_TEMPLATE_JWKS_URL: {url:?}: {e}"))?;
    let mut issuer = TrustedIssuer::with_jwks(template, source);
    if let Some(tenants) = env("SESSION_TENANTS") {
        issuer = issuer.with_tenants(
            tenants
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty()),
        );
    }
    trusted_rules(issuer).map(Some)
}

/// `SESSION_RESOURCE` (this server as an RFC 9728 protected resource) and
/// `SESSION_SCOPES_SUPPORTED`.
fn protected_resource() -> Result<Option<ProtectedResource>, String> {
    let Some(resource) = env("SESSION_RESOURCE") else {
        return Ok(None);
    };
    let mut resource =
        ProtectedResource::new(resource.trim()).map_err(|e| format!("SESSION_RESOURCE: {e}"))?;
    if let Some(scopes) = env("SESSION_SCOPES_SUPPORTED") {
        resource = resource.with_scopes_supported(scopes.split_whitespace());
    }
    Ok(Some(resource))
}

/// The trusted issuers' rules from the environment: audience, permission
/// claims, `typ`. With `SESSION_RESOURCE` and no `SESSION_TRUSTED_AUDIENCE`,
/// the audience is the resource (RFC 8707), which the manager applies.
pub(crate) fn trusted_rules(issuer: TrustedIssuer) -> Result<TrustedIssuer, String> {
    let audience = match env("SESSION_TRUSTED_AUDIENCE") {
        Some(audience) => Some(audience),
        None if env("SESSION_RESOURCE").is_some() => None,
        None => Some(env("SESSION_AUDIENCE").unwrap_or_else(|| DEMO_AUDIENCE.into())),
    };
    if audience.as_deref() == Some("") {
        return Err("SESSION_TRUSTED_AUDIENCE: empty".to_owned());
    }
    let permissions = match env("SESSION_PERMISSION_CLAIMS") {
        None => PermissionClaims::default(),
        Some(v) => {
            PermissionClaims::parse(&v).map_err(|e| format!("SESSION_PERMISSION_CLAIMS: {e}"))?
        }
    };
    let require_at_jwt = match env("SESSION_REQUIRE_AT_JWT").as_deref().map(str::trim) {
        None | Some("0") | Some("") => false,
        Some("1") => true,
        Some(v) => return Err(format!("SESSION_REQUIRE_AT_JWT: {v:?} is neither 0 nor 1")),
    };
    let issuer = match audience {
        Some(audience) => issuer.with_audience(audience),
        None => issuer,
    };
    Ok(issuer
        .with_permission_claims(permissions)
        .require_access_token_type(require_at_jwt))
}

/// A manager for an asymmetric algorithm: with the private key it signs and
/// verifies; with the public key alone it only verifies.
pub(crate) fn asymmetric_builder(
    algorithm: Algorithm,
) -> Result<(SessionManagerBuilder, Option<JwksSource>), String> {
    if let Some(url) = env("SESSION_JWKS_URL") {
        for var in ["SESSION_PRIVATE_KEY_FILE", "SESSION_PUBLIC_KEY_FILE"] {
            if env(var).is_some() {
                return Err(format!(
                    "SESSION_JWKS_URL: the keys come from the JWKS URL; unset {var}"
                ));
            }
        }
        let (refresh, cooldown) = jwks_timing()?;
        let source = JwksSource::builder(url.as_str(), algorithm)
            .with_refresh_interval(Duration::from_secs(refresh))
            .with_cooldown(Duration::from_secs(cooldown))
            .build()
            .map_err(|e| format!("SESSION_JWKS_URL: {:?}: {e}", redact_url(&url)))?;
        return Ok((
            SessionManager::verify_only().with_jwks(source.clone()),
            Some(source),
        ));
    }
    let private = key_file("SESSION_PRIVATE_KEY_FILE")?;
    let public = key_file("SESSION_PUBLIC_KEY_FILE")?
        .map(|pem| {
            PublicKey::from_spki_pem(algorithm, &pem)
                .map_err(|e| format!("SESSION_PUBLIC_KEY_FILE: {e}"))
        })
        .transpose()?;
    match (private, public) {
        (Some(pem), public) => {
            let pair = KeyPair::from_pkcs8_pem(algorithm, &pem)
                .map_err(|e| format!("SESSION_PRIVATE_KEY_FILE: {e}"))?;
            if public.is_some_and(|p| &p != pair.public_key()) {
                return Err("SESSION_PUBLIC_KEY_FILE: not the public key of \
                     SESSION_PRIVATE_KEY_FILE (both files must be one pair)"
                    .to_owned());
            }
            Ok((SessionManager::builder(pair), None))
        }
        (None, Some(public)) => Ok((SessionManager::verify_only().with_public_key(public), None)),
        (None, None) => Err(format!(
            "SESSION_PRIVATE_KEY_FILE: {algorithm} needs a key file \
             (SESSION_PRIVATE_KEY_FILE to sign, or SESSION_PUBLIC_KEY_FILE or \
             SESSION_JWKS_URL to verify only)"
        )),
    }
}

/// A Redis URL for messages: scheme, host, port and database, never the
/// credentials. The userinfo is found by a URL parser (the last `@` of the
/// authority), so a password holding `@`, `:` or `/` does not leak; a URL
/// that does not parse is not shown at all.
pub(crate) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparsable URL, not shown>".to_owned();
    };
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    // Both fail only for URLs that cannot have credentials at all.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    let shown = url.to_string();
    match shown.split_once("://") {
        Some((scheme, rest)) if had_credentials => format!("{scheme}://<redacted>@{rest}"),
        _ => shown,
    }
}
