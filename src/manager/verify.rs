//! Verification: signature and claims (with the verified-token cache and
//! the wait for a JWK Set fetch), and the judgement of a blocklist answer.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use super::{presented::PresentedToken, SessionManager, MAX_SESSION_ID_LEN, MICROS};
use crate::{
    blocklist::{Lookup, TokenKey},
    error::{BlocklistError, VerifyError},
    jwt::{
        claims::{SessionData, SessionInner, WireClaims},
        key::KeySet,
        token::{verify_signature, SignedToken, MAX_TOKEN_LEN},
        verified::Hit,
    },
    time::now_micros,
};

/// A request a token's verification waits for (its issuer's JWK Set, its
/// introspection), and the verification after it.
pub(crate) type DecodeWait = Pin<Box<dyn Future<Output = Result<SessionData, VerifyError>> + Send>>;

impl SessionManager {
    /// Checks the signature and the claims, without asking the blocklist.
    ///
    /// Use [`verify`](Self::verify) for the whole check. A token bound to
    /// a key is refused without its proof ([`PresentedToken`]).
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] that names why the token is refused.
    pub fn decode<'a>(
        &self,
        token: impl Into<PresentedToken<'a>>,
    ) -> Result<SessionData, VerifyError> {
        let presented = token.into();
        let session = self.decode_text(presented.token())?;
        presented.check_binding(&session)?;
        Ok(session)
    }

    /// Checks the signature and the claims of `token`, whatever it is
    /// bound to: the caller checks the binding.
    fn decode_text(&self, token: &str) -> Result<SessionData, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong(MAX_TOKEN_LEN));
        }
        if let Some(hit) = self.cached(token.as_bytes()) {
            return Ok(hit.session().clone());
        }
        self.decode_uncached(token.as_bytes())
    }

    /// A verified session for exactly these token bytes, from the
    /// verified-token cache.
    pub(crate) fn cached(&self, token: &[u8]) -> Option<Hit> {
        let cache = self.inner.verified.as_ref()?;
        cache.get(token, |source| self.epoch_of(source))
    }

    /// The epoch of key source `source`: 0 the manager's own keys, `i + 1`
    /// the trusted issuer `i`.
    #[inline]
    fn epoch_of(&self, source: u32) -> Option<u64> {
        match source {
            0 => self.key_epoch(),
            n => self.inner.trusted.as_ref()?.get(n as usize - 1)?.epoch(),
        }
    }

    /// Which trusted issuer verifies `token`: `Ok(None)` for the manager's
    /// own keys. Tokens whose header names one of the manager's own keys
    /// (`kid`) skip the look; otherwise (a header without `kid`, such as
    /// `{"alg":"ES256"}`, is written by the seed and by `jose` for any
    /// issuer alike)
    /// the claimed `iss` (unverified, only to choose keys) decides, and an
    /// issuer that is neither ours nor trusted is refused here, before any
    /// key is looked up or fetched. When the manager's own issuer is also a
    /// trusted one, its session tokens (with `userId`) take the manager's
    /// path and its other tokens the trusted issuer's.
    fn route(&self, token: &[u8]) -> Result<Option<usize>, VerifyError> {
        let Some(issuers) = &self.inner.trusted else {
            return Ok(None);
        };
        let own_keys = !matches!(self.inner.keys, KeySet::None(_));
        let header = token.split(|&b| b == b'.').next().unwrap_or_default();
        if own_keys && matches!(self.inner.known_headers.find(header), Some(Some(_))) {
            return Ok(None);
        }
        match crate::jwt::token::peek_issuer_and_user(token) {
            Some((iss, session_shaped)) => match issuers.find(&iss) {
                Some(_) if own_keys && session_shaped && iss == self.inner.config.issuer => {
                    Ok(None)
                }
                Some(index) => Ok(Some(index)),
                None if own_keys && iss == self.inner.config.issuer => Ok(None),
                None => Err(VerifyError::InvalidIssuer),
            },
            // No readable `iss`: the manager's own keys say why it fails.
            None if own_keys => Ok(None),
            None => {
                crate::jwt::token::split(token)?;
                Err(VerifyError::MissingClaim("iss"))
            }
        }
    }

    /// Verifies a token of the trusted issuer `index`.
    fn decode_trusted(&self, token: &[u8], index: usize) -> Result<SessionData, VerifyError> {
        let Some(issuer) = self.inner.trusted.as_ref().and_then(|t| t.get(index)) else {
            return Err(VerifyError::InvalidIssuer);
        };
        let epoch = issuer.epoch();
        let source = index as u32 + 1;
        let (session, until) = self.provider_session(issuer.verify(token)?, issuer.leeway)?;
        if let (Some(cache), Some(epoch)) = (&self.inner.verified, epoch) {
            cache.insert(token, &session, until, source, epoch);
        }
        Ok(session)
    }

    /// A provider's token's session, with the scopes its own imply and the
    /// application's claims type; and until when it stays acceptable.
    fn provider_session(
        &self,
        mut inner: SessionInner,
        leeway: Duration,
    ) -> Result<(SessionData, i64), VerifyError> {
        self.inner.implied.extend(&mut inner.permissions);
        if let Some(custom) = &self.inner.custom {
            let claims = inner.claims.get().map(|c| (custom.from_map)(c));
            inner.custom = Some(
                claims
                    .unwrap_or_else(|| (custom.from_json)(b"{}"))
                    .map_err(VerifyError::ClaimsType)?,
            );
        }
        let until = inner.exp_micros.saturating_add(leeway.as_micros() as i64);
        Ok((SessionData(Arc::new(inner)), until))
    }

    /// The trusted issuer that takes `token` as an opaque token: one has an
    /// introspection endpoint and `token` is not a JWT.
    #[cfg(feature = "jwks")]
    fn opaque_issuer(&self, token: &[u8]) -> Option<usize> {
        let index = self.inner.trusted.as_ref()?.opaque()?;
        (!crate::introspection::is_jwt_shaped(token)).then_some(index)
    }

    /// An opaque token from the introspection cache:
    /// [`VerifyError::RequestNeeded`] when the endpoint must be asked.
    #[cfg(feature = "jwks")]
    fn decode_opaque(&self, token: &[u8], index: usize) -> Result<SessionData, VerifyError> {
        // Token characters only (RFC 6750 §2.1's `b64token`): anything
        // else is malformed, and never sent anywhere.
        let b64token = token.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
        if token.is_empty() || !b64token {
            return Err(VerifyError::Malformed(
                crate::error::MalformedToken::SegmentCount,
            ));
        }
        let introspector = self
            .inner
            .trusted
            .as_ref()
            .and_then(|t| t.get(index))
            .and_then(|issuer| issuer.introspector.as_ref())
            .ok_or(VerifyError::InvalidIssuer)?;
        introspector
            .cached(&crate::introspection::cache::digest(token))
            .unwrap_or(Err(VerifyError::RequestNeeded))
    }

    /// Asks the introspection endpoint of the trusted issuer `index` about
    /// the opaque `token` (its cache first).
    #[cfg(feature = "jwks")]
    async fn introspect(&self, token: &[u8], index: usize) -> Result<SessionData, VerifyError> {
        let issuer = self
            .inner
            .trusted
            .as_ref()
            .and_then(|t| t.get(index))
            .ok_or(VerifyError::InvalidIssuer)?;
        let introspector = issuer
            .introspector
            .as_ref()
            .ok_or(VerifyError::InvalidIssuer)?;
        let text = std::str::from_utf8(token)
            .map_err(|_| VerifyError::Malformed(crate::error::MalformedToken::SegmentCount))?;
        let digest = crate::introspection::cache::digest(token);
        introspector
            .introspect(text, digest, |answer| {
                self.provider_session(issuer.introspected(answer, &digest)?, issuer.leeway)
            })
            .await
    }

    /// The epoch of the keys verifications use now: 0 for fixed keys; for a
    /// JWK Set, its epoch, or `None` while it may not be used.
    #[inline]
    pub(super) fn key_epoch(&self) -> Option<u64> {
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
        #[cfg(feature = "jwks")]
        if let Some(index) = self.opaque_issuer(token) {
            return self.decode_opaque(token, index);
        }
        if let Some(index) = self.route(token)? {
            return self.decode_trusted(token, index);
        }
        // Read before verifying: a set that changes meanwhile leaves an
        // entry of the older epoch, which no lookup will match.
        let epoch = self.key_epoch();
        let signed = verify_signature(token, &self.inner.keys, &self.inner.known_headers)?;
        let session = self.validate_claims(signed)?;
        if let (Some(cache), Some(epoch)) = (&self.inner.verified, epoch) {
            cache.insert(token, &session, self.valid_until_micros(&session), 0, epoch);
        }
        Ok(session)
    }

    /// Until when a verified session stays acceptable, barring revocation.
    pub(super) fn valid_until_micros(&self, session: &SessionData) -> i64 {
        let config = &self.inner.config;
        let leeway = config.leeway.as_micros() as i64;
        let mut until = session.0.exp_micros.saturating_add(leeway);
        if let Some(max) = config.max_lifetime {
            let end = session.0.auth_time.saturating_add(max.as_secs() as i64);
            until = until.min(end.saturating_mul(MICROS));
        }
        until
    }

    /// Entries in the verified-token cache: a test hook (feature
    /// `testing`), for tests that check what the cache holds.
    #[cfg(any(test, feature = "testing"))]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn verified_cache_len(&self) -> u64 {
        self.inner
            .verified
            .as_ref()
            .map_or(0, crate::jwt::verified::VerifiedCache::entry_count)
    }

    pub(super) fn validate_claims(
        &self,
        signed: SignedToken<'_>,
    ) -> Result<SessionData, VerifyError> {
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
        let payload = signed.payload;
        let c: WireClaims = signed.claims;
        let bound = c.cnf.is_some();
        let jkt = c.cnf.and_then(|cnf| cnf.jkt).map(String::into_boxed_str);
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
        let custom = match &self.inner.custom {
            Some(custom) => Some((custom.from_json)(&payload).map_err(VerifyError::ClaimsType)?),
            None => None,
        };
        Ok(SessionData(Arc::new(SessionInner {
            user_id,
            email,
            role: c.role.unwrap_or_default(),
            company_id: c.company_id,
            permissions: {
                let mut permissions = c.permissions.unwrap_or_default();
                self.inner.implied.extend(&mut permissions);
                permissions
            },
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
            payload: Some(payload.into_boxed_slice()),
            claims: std::sync::OnceLock::new(),
            foreign: None,
            custom,
            bound,
            jkt,
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
    pub async fn verify<'a>(
        &self,
        token: impl Into<PresentedToken<'a>>,
    ) -> Result<SessionData, VerifyError> {
        let presented = token.into();
        let session = self.decode_fetching(presented.token()).await?;
        presented.check_binding(&session)?;
        Self::judge(&session, self.lookup(&session).await?)?;
        Ok(session)
    }

    /// [`decode`](Self::decode); with keys from a JWK Set, a token that
    /// names a key the set lacks waits for the fetch it may cause (see
    /// [`JwksSource`](crate::jwks::JwksSource)) and is decoded again.
    pub(crate) async fn decode_fetching(&self, token: &str) -> Result<SessionData, VerifyError> {
        match self.decode_text(token) {
            Err(err) => match self.decode_wait(&err, token.as_bytes()) {
                Some(wait) => wait.await,
                None => Err(err),
            },
            result => result,
        }
    }

    /// For a token refused for want of a request (its key, which a fetch of
    /// the JWK Set may bring; the introspection of an opaque token), that
    /// request and the verification after it.
    pub(crate) fn decode_wait(&self, err: &VerifyError, token: &[u8]) -> Option<DecodeWait> {
        match err {
            VerifyError::RequestNeeded => {
                let manager = self.clone();
                #[cfg(feature = "jwks")]
                if let Some(index) = self.opaque_issuer(token) {
                    let token: Box<[u8]> = token.into();
                    return Some(Box::pin(
                        async move { manager.introspect(&token, index).await },
                    ));
                }
                // A tenant the application's check has not answered for.
                let iss = crate::jwt::token::peek_issuer(token)?;
                let trusted = self.inner.trusted.as_ref()?;
                let check = trusted.get(trusted.find(&iss)?)?.check_tenant_later(&iss)?;
                let token: Box<[u8]> = token.into();
                Some(Box::pin(async move {
                    check.await;
                    manager.decode_uncached(&token)
                }))
            }
            // No JWK Set fetched yet (a server that just started): the
            // first fetch, under way or started now, then the token.
            #[cfg(feature = "jwks")]
            VerifyError::KeysUnavailable(_) => {
                let wait = self.jwks_of(token)?.wait_for_first_set()?;
                let manager = self.clone();
                let token: Box<[u8]> = token.into();
                Some(Box::pin(async move {
                    wait.await;
                    manager.decode_uncached(&token)
                }))
            }
            #[cfg(feature = "jwks")]
            VerifyError::UnknownKey => {
                let wait = self.keys_wait(token)?;
                let manager = self.clone();
                let token: Box<[u8]> = token.into();
                Some(Box::pin(async move {
                    wait.await;
                    manager.decode_uncached(&token)
                }))
            }
            _ => None,
        }
    }

    /// For a token that names a key its issuer's JWK Set lacks, a fetch of
    /// the set to wait for, when one may bring the key.
    #[cfg(feature = "jwks")]
    fn keys_wait(&self, token: &[u8]) -> Option<crate::jwks::KeysWait> {
        self.jwks_of(token)?
            .wait_for_kid(&crate::jwt::header_kid(token)?)
    }

    /// The JWK Set source that verifies `token` (its trusted issuer's, or
    /// the manager's own), if keys come from one.
    #[cfg(feature = "jwks")]
    fn jwks_of(&self, token: &[u8]) -> Option<&crate::jwks::JwksSource> {
        match self.route(token).ok()? {
            Some(index) => self.inner.trusted.as_ref()?.get(index)?.jwks(),
            None => match &self.inner.keys {
                KeySet::Jwks(source) => Some(source),
                _ => None,
            },
        }
    }

    /// Verifies a token signed by a trusted issuer that is not an access
    /// token (a logout token, a security event): the issuer its `iss`
    /// names (not trusted: [`VerifyError::InvalidIssuer`], with no request
    /// made), `typ` by `typ_ok`, the issuer's algorithms and keys (waiting
    /// for one fetch of its JWK Set for an unknown `kid`). Returns the
    /// issuer, its leeway, and the claims, none checked yet.
    pub(crate) async fn verify_trusted_signed(
        &self,
        token: &[u8],
        typ_ok: fn(Option<&str>) -> bool,
    ) -> Result<
        (
            Arc<str>,
            Duration,
            serde_json::Map<String, serde_json::Value>,
        ),
        VerifyError,
    > {
        let parts = crate::jwt::token::split(token)?;
        let iss = crate::jwt::token::peek_issuer(token).ok_or(VerifyError::MissingClaim("iss"))?;
        let issuer = self
            .inner
            .trusted
            .as_ref()
            .and_then(|t| t.get(t.find(&iss)?))
            .ok_or(VerifyError::InvalidIssuer)?;
        let claims = match issuer.verify_signed(&parts, typ_ok) {
            #[cfg(feature = "jwks")]
            Err(VerifyError::UnknownKey) => {
                let wait = issuer
                    .jwks()
                    .zip(crate::jwt::header_kid(token))
                    .and_then(|(source, kid)| source.wait_for_kid(&kid));
                match wait {
                    Some(wait) => {
                        wait.await;
                        issuer.verify_signed(&parts, typ_ok)?
                    }
                    None => return Err(VerifyError::UnknownKey),
                }
            }
            #[cfg(feature = "jwks")]
            Err(err @ VerifyError::KeysUnavailable(_)) => {
                match issuer.jwks().and_then(|s| s.wait_for_first_set()) {
                    Some(wait) => {
                        wait.await;
                        issuer.verify_signed(&parts, typ_ok)?
                    }
                    None => return Err(err),
                }
            }
            result => result?,
        };
        // For a tenant of an issuer by template: its own issuer, and its
        // tenant claim, when the token carries one, must be that tenant.
        let concrete = issuer.concrete(&iss).ok_or(VerifyError::InvalidIssuer)?;
        issuer.check_tenant(&iss, &claims, false)?;
        Ok((concrete, issuer.leeway, claims))
    }

    /// What the blocklist says of `session` now.
    pub(super) async fn lookup(&self, session: &SessionData) -> Result<Lookup, BlocklistError> {
        self.lookup_future(session).await
    }

    /// The blocklist's [`revision`](crate::blocklist::Blocklist::revision).
    #[inline]
    pub(crate) fn blocklist_revision(&self) -> Option<u64> {
        self.inner.blocklist.revision()
    }

    /// The blocklist's [`revision_at`](crate::blocklist::Blocklist::revision_at)
    /// the slots of the cached token `hit` (asked for once per token and
    /// kept in its entry); `None` when the blocklist keeps no narrower
    /// revision, or for a token checked under more than one key.
    #[inline]
    pub(crate) fn slots_revision(&self, hit: &crate::jwt::verified::Hit) -> Option<u64> {
        use crate::jwt::verified::NO_SLOTS;
        let slots = match hit.slots() {
            Some(NO_SLOTS) => return None,
            Some(slots) => slots,
            None => {
                let session = hit.session();
                let slots = if session.extra_checks().is_empty() {
                    self.inner
                        .blocklist
                        .revision_slots(session.revocation_key(), &session.watermark_user())
                        .filter(|s| *s < NO_SLOTS)
                } else {
                    None
                };
                hit.set_slots(slots.unwrap_or(NO_SLOTS));
                slots?
            }
        };
        self.inner.blocklist.revision_at(slots)
    }

    /// What the blocklist says of `session`, without waiting, when the
    /// backend answers from memory. A trusted issuer's token that names its
    /// provider session or an e-mail address is checked under a second key
    /// too (both from memory with a replica).
    #[inline]
    pub(crate) fn try_lookup(
        &self,
        session: &SessionData,
    ) -> Option<Result<Lookup, BlocklistError>> {
        let blocklist = &self.inner.blocklist;
        let mut lookup =
            blocklist.try_check(session.revocation_key(), &session.watermark_user())?;
        for (key, user) in session.extra_checks() {
            let more = blocklist.try_check(key, user)?;
            lookup = more.and_then(|more| merge_lookups(lookup, more));
        }
        Some(lookup)
    }

    /// [`try_lookup`](Self::try_lookup) as a future, for backends that
    /// answer asynchronously.
    pub(crate) fn lookup_future(
        &self,
        session: &SessionData,
    ) -> crate::blocklist::BlocklistFuture<Lookup> {
        let blocklist = &self.inner.blocklist;
        let first = blocklist.check(session.revocation_key(), &session.watermark_user());
        let extra = session.extra_checks();
        if extra.is_empty() {
            return first;
        }
        let more: Vec<_> = extra
            .iter()
            .map(|(key, user)| blocklist.check(key, user))
            .collect();
        Box::pin(async move {
            let mut lookup = first.await;
            for check in more {
                lookup = merge_lookups(lookup, check.await?);
            }
            lookup
        })
    }
}

/// One answer from two checks of one token: revoked under either key, the
/// first key's generation, the later watermark.
fn merge_lookups(
    first: Result<Lookup, BlocklistError>,
    second: Lookup,
) -> Result<Lookup, BlocklistError> {
    let first = first?;
    Ok(Lookup {
        revoked: first.revoked || second.revoked,
        generation: first.generation,
        valid_after_micros: first.valid_after_micros.max(second.valid_after_micros),
    })
}
