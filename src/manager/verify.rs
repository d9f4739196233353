//! Verification: signature and claims (with the verified-token cache and
//! the wait for a JWK Set fetch), and the judgement of a blocklist answer.

use super::*;

impl SessionManager {
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

    /// Entries in the verified-token cache (for tests and metrics).
    #[doc(hidden)]
    pub fn verified_cache_len(&self) -> u64 {
        self.inner
            .verified
            .as_ref()
            .map_or(0, VerifiedCache::entry_count)
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
    pub(super) async fn lookup(&self, session: &SessionData) -> Result<Lookup, BlocklistError> {
        self.inner
            .blocklist
            .check(session.revocation_key(), session.user_id())
            .await
    }
}
