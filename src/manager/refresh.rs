//! Refresh: rotation of a session to its next generation (single use,
//! ordered with log-out-everywhere in the store), reuse detection.

use super::{
    presented::PresentedToken, IssuedToken, SessionError, SessionManager, SessionRef, MICROS,
};
use crate::{
    blocklist::{Lookup, Rotation},
    error::{IssueError, VerifyError},
    jwt::claims::{NewSession, SessionData},
    time::now_secs,
};

impl SessionManager {
    /// Verifies `token`, replaces it, and issues its successor: the same
    /// session (`sid`) at the next generation, with the same user data and a
    /// fresh lifetime (capped by the absolute session lifetime, if set).
    ///
    /// The rotation is stored first and only once: of two concurrent
    /// refreshes of one token, one fails. A token that a refresh already
    /// replaced is a replay: with reuse detection on (the default) its whole
    /// session ends and the answer is [`VerifyError::ReuseDetected`]; off, it
    /// is [`VerifyError::Superseded`]. A token without `sid` (the seed's) is
    /// revoked once and its successor starts a session. A token bound to a
    /// key needs its proof ([`PresentedToken::dpop`]); its successor is
    /// bound to the same key.
    ///
    /// # Errors
    ///
    /// [`SessionError::Verify`] for an invalid token, [`SessionError::Blocklist`]
    /// when the revocation could not be stored (no new token is issued then).
    pub async fn refresh<'a>(
        &self,
        token: impl Into<PresentedToken<'a>>,
    ) -> Result<IssuedToken, SessionError> {
        let presented = token.into();
        let session = self.decode_fetching(presented.token()).await?;
        // Before anything is stored: a bound token without its proof
        // changes nothing (whoever copied it cannot supersede the owner's).
        presented.check_binding(&session)?;
        if session.trusted_issuer().is_some() {
            return Err(IssueError::NotMintedHere.into());
        }
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
        // Checked before revoking: a verify-only node changes nothing, nor
        // does a token of another issuer.
        if session.trusted_issuer().is_some() {
            return Err(IssueError::NotMintedHere.into());
        }
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
            // The binding to a key is kept across refreshes.
            dpop_jkt: s.jkt.as_deref().map(str::to_owned),
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

    /// Moves `session` to its next generation, or explains why not. A
    /// replay of a replaced token ends the session when reuse detection is
    /// on.
    /// Moves `session` to its next generation and returns the successor's
    /// issue time (the store's clock), or explains why not. A replay of a
    /// replaced token ends the session when reuse detection is on.
    pub(super) async fn rotate(&self, session: &SessionData) -> Result<i64, SessionError> {
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
                &session.watermark_user(),
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
    pub(super) async fn replayed(&self, session: &SessionData) -> SessionError {
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
}
