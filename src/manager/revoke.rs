//! Revocation: one token, one session, every session of a user
//! (log out everywhere), and how long each fact is kept.

use super::*;

/// How long a log-out-everywhere of a trusted issuer's subject is kept at
/// least: longer than any access token a provider should mint.
const FOREIGN_WATERMARK_RETENTION: Duration = Duration::from_secs(24 * 3600);

impl SessionManager {
    /// Verifies `token` and revokes it until its `exp` plus the leeway. A
    /// token bound to a key needs its proof ([`PresentedToken::dpop`]).
    ///
    /// # Errors
    ///
    /// [`SessionError::Verify`] for an invalid token (an already revoked one
    /// included), [`SessionError::Blocklist`] when the revocation could not be
    /// stored.
    pub async fn revoke<'a>(
        &self,
        token: impl Into<PresentedToken<'a>>,
    ) -> Result<(), SessionError> {
        let session = self.verify(token).await?;
        self.revoke_session(&session).await?;
        Ok(())
    }

    /// Revokes a verified session's token until its `exp` plus the leeway.
    /// `Ok` means stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_session(&self, session: &SessionData) -> Result<(), BlocklistError> {
        self.revoke_once(session).await.map(|_| ())
    }

    /// Ends the session `session_id` (every generation of it), without its
    /// token: for a "sign out this device" button, or an administrator.
    /// `Ok` means stored; ending an unknown or already ended session is `Ok`
    /// too.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// let issued = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
    /// let sid = issued.session().session_id().unwrap().to_owned(); // e.g. listed on a "devices" page
    /// manager.end_session(&sid).await?;
    /// assert!(manager.verify(issued.token()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn end_session(&self, session_id: &str) -> Result<(), BlocklistError> {
        self.inner
            .blocklist
            .revoke(
                &TokenKey::from_session(session_id),
                self.session_end_until(),
            )
            .await?;
        tracing::debug!("session ended");
        Ok(())
    }

    pub(super) async fn revoke_once(&self, session: &SessionData) -> Result<bool, BlocklistError> {
        // A session's "ended" must outlive every generation of it, including
        // later ones than the presented token.
        let mut until = self.keep_until(session.expires_at());
        if session.session_id().is_some() {
            until = until.max(self.session_end_until());
        }
        let fresh = self
            .inner
            .blocklist
            .revoke(session.revocation_key(), until)
            .await?;
        tracing::debug!(user_id = %session.user_id(), "session revoked");
        Ok(fresh)
    }

    /// Refuses every token of `user_id` issued before this call ("log out
    /// everywhere"). Tokens issued after it, even within the same second, are
    /// accepted. `Ok` means stored.
    ///
    /// Tokens minted here carry a microsecond issue time written in the
    /// blocklist's clock ([`Blocklist::clock_micros`]), and the watermark is
    /// written in the same clock, so a server whose own clock is off cannot
    /// mint tokens that survive the call. Tokens with a whole-second `iat`
    /// only (the seed's) are refused when issued in the same second as the
    /// call.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_all_for_user(&self, user_id: &str) -> Result<(), BlocklistError> {
        let now = self.inner.blocklist.clock_micros();
        let until =
            (now / MICROS).saturating_add(self.inner.watermark_retention.as_secs() as i64 + 1);
        // The store raises the watermark past every refresh it answered
        // before this write (contract point 7), however long the write took.
        self.inner
            .blocklist
            .set_valid_after(&crate::blocklist::subjects::own_user(user_id), now, until)
            .await?;
        tracing::debug!(user_id = %user_id, "all sessions of the user revoked");
        Ok(())
    }

    /// Log out everywhere, for the user of a verified `session`: every
    /// token of that user issued up to now is refused (for a trusted
    /// issuer's token with an `iat`: up to that token's issue time, in the
    /// issuer's clock). For a token minted here this is
    /// [`revoke_all_for_user`](Self::revoke_all_for_user); for a trusted
    /// issuer's token, [`revoke_all_for_subject`](Self::revoke_all_for_subject)
    /// of its `iss` and `sub` (`sub` is unique within one issuer only).
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_all_of(&self, session: &SessionData) -> Result<(), BlocklistError> {
        match session.trusted_issuer() {
            None => self.revoke_all_for_user(session.user_id()).await,
            Some(issuer) => {
                // A token without `iat` cannot be placed in the issuer's
                // clock: everything up to now.
                let issued = match session.0.issued_at_micros {
                    i64::MIN => i64::MAX,
                    iat => iat,
                };
                self.revoke_all_for_subject(issuer, session.subject(), issued)
                    .await
            }
        }
    }

    /// Refuses every token of the trusted issuer `issuer` about `subject`
    /// issued at or before `issued_at_micros` (Unix microseconds, e.g. a
    /// logout token's `iat` or an event's time, read in the issuer's clock),
    /// and never later than now: tokens issued after it stay valid, and
    /// applying it again (a replayed logout) changes nothing. A trusted
    /// issuer's `iat` has whole seconds: a token of the same second as the
    /// cut-off is refused too. `Ok` means stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_all_for_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        let user = crate::issuers::verify::watermark_user(issuer, subject);
        self.raise_foreign_watermark(&user, issued_at_micros)
            .await?;
        tracing::debug!("all tokens of a trusted issuer's subject revoked");
        Ok(())
    }

    /// Refuses every token of the trusted issuer `issuer` about `subject`
    /// that carries no `sid`, issued at or before `issued_at_micros` (and
    /// now): what a back-channel logout naming both a provider session and
    /// its subject also ends, for providers whose access tokens carry no
    /// `sid`. `Ok` means stored.
    pub(crate) async fn revoke_sessionless_for_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        let user = crate::issuers::verify::sessionless_user(issuer, subject);
        self.raise_foreign_watermark(&user, issued_at_micros)
            .await?;
        tracing::debug!("the tokens without `sid` of a trusted issuer's subject revoked");
        Ok(())
    }

    /// Ends the identity provider's session `sid` of the trusted issuer
    /// `issuer`: every token of that issuer carrying that `sid` is refused
    /// (OpenID Connect Back-Channel Logout, CAEP session-revoked). `Ok`
    /// means stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn end_provider_session(
        &self,
        issuer: &str,
        sid: &str,
    ) -> Result<(), BlocklistError> {
        let key = crate::issuers::verify::provider_session_key(issuer, sid);
        let until = self.foreign_until(self.inner.blocklist.clock_micros());
        self.inner.blocklist.revoke(&key, until).await?;
        tracing::debug!("a provider session ended");
        Ok(())
    }

    /// Refuses every token of the trusted issuer `issuer` carrying the
    /// `email` claim `email`, issued at or before `issued_at_micros` (and
    /// never later than now)
    /// (a security event naming its subject by e-mail, RFC 9493). `Ok`
    /// means stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke_all_for_email(
        &self,
        issuer: &str,
        email: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        let user = crate::issuers::verify::email_user(issuer, email);
        self.raise_foreign_watermark(&user, issued_at_micros).await
    }

    /// Raises a trusted issuer's watermark to the event's time, never past
    /// now: an event cannot refuse tokens issued after it arrived, and a
    /// replayed one (whose time is older) changes nothing.
    async fn raise_foreign_watermark(
        &self,
        user: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        let now = self.inner.blocklist.clock_micros();
        let until = self.foreign_until(now);
        self.inner
            .blocklist
            .raise_valid_after(user, issued_at_micros.min(now), until)
            .await?;
        Ok(())
    }

    /// Until when (Unix seconds) a fact about a trusted issuer's tokens is
    /// kept, from `now_micros`: their lifetime is the issuer's, and may be
    /// longer than ours.
    fn foreign_until(&self, now_micros: i64) -> i64 {
        let retention = self
            .inner
            .watermark_retention
            .max(FOREIGN_WATERMARK_RETENTION);
        (now_micros / MICROS).saturating_add(retention.as_secs() as i64 + 1)
    }

    /// Until when a stored fact about a token expiring at `exp` must be
    /// kept: past `exp` and the leeway, the token is refused anyway.
    pub(super) fn keep_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.inner.config.leeway.as_secs() as i64 + 1)
    }

    /// Until when a session's "ended" must be kept: past every token of it
    /// that can still exist, the latest of which was minted at most now.
    pub(super) fn session_end_until(&self) -> i64 {
        let now = self.inner.blocklist.clock_micros() / MICROS;
        self.keep_until(now.saturating_add(self.inner.config.ttl.as_secs() as i64))
    }
}
