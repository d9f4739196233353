//! Issuing: a new session's first token, and the minting every token
//! (first or successor) goes through.

use std::sync::Arc;

use super::{random_id, IssuedToken, SessionManager, SessionRef, MICROS};
use crate::{
    blocklist::TokenKey,
    error::IssueError,
    jwt::{
        claims::{MintClaims, NewSession, SessionData, SessionInner},
        token::SESSION_TYP,
    },
};

impl SessionManager {
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
    pub(super) fn expiry(&self, now: i64, auth_time: i64) -> Result<i64, IssueError> {
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

    pub(super) fn mint(
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
            cnf: new
                .dpop_jkt
                .clone()
                .map(|jkt| crate::jwt::claims::Confirmation { jkt: Some(jkt) }),
        };
        let (key, kid) = self.inner.keys.signer().ok_or(IssueError::VerifyOnly)?;
        let mut header = jsonwebtoken::Header::new(config.algorithm.to_jsonwebtoken());
        header.typ = Some(SESSION_TYP.to_owned());
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, key).map_err(IssueError::Signing)?;
        // The claims view and the application's type, as a verification
        // of this token would give them.
        // (Serializing these plain fields cannot fail.)
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let custom = match &self.inner.custom {
            Some(custom) => (custom.from_json)(&payload).ok(),
            None => None,
        };
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
            payload: Some(payload.into_boxed_slice()),
            claims: std::sync::OnceLock::new(),
            foreign: None,
            custom,
            bound: new.dpop_jkt.is_some(),
            jkt: new.dpop_jkt.map(String::into_boxed_str),
        }));
        tracing::debug!(user_id = %session.user_id(), exp, generation = session.generation(), "session issued");
        Ok(IssuedToken { token, session })
    }
}
