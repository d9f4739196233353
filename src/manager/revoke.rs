//! Revocation, one verb per thing revoked: a token ([`revoke`]), a session
//! by its id ([`end_session`]), a user everywhere ([`log_out_everywhere`],
//! [`log_out_user`]), and a trusted issuer's subjects, sessions and e-mail
//! addresses on that issuer ([`trusted_issuer`]); how long each fact is
//! kept.
//!
//! [`revoke`]: SessionManager::revoke
//! [`end_session`]: SessionManager::end_session
//! [`log_out_everywhere`]: SessionManager::log_out_everywhere
//! [`log_out_user`]: SessionManager::log_out_user
//! [`trusted_issuer`]: SessionManager::trusted_issuer

use std::{sync::Arc, time::Duration};

use super::{SessionManager, MICROS};
use crate::{
    blocklist::{subjects, TokenKey},
    error::BlocklistError,
    issuers::verify::{email_user, provider_session_key, sessionless_user, watermark_user},
    jwt::claims::SessionData,
};

/// How long a log-out-everywhere of a trusted issuer's subject is kept at
/// least: longer than any access token a provider should mint.
const FOREIGN_WATERMARK_RETENTION: Duration = Duration::from_secs(24 * 3600);

impl SessionManager {
    /// Revokes a verified token (from [`verify`](Self::verify), or the
    /// layer's [`SessionData`]) until its `exp` plus the leeway: for a token
    /// minted here, its whole session (the token and every token a refresh
    /// of it would bring); for a token without a session (the seed's) or a
    /// trusted issuer's, that token. `Ok` means stored; revoking twice is
    /// `Ok` too.
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// # let token = manager.issue(NewSession::new("u-1", "ada@example.com"))?.into_token();
    /// let session = manager.verify(token.as_str()).await?; // a bound token needs its proof here
    /// manager.revoke(&session).await?;                       // "log out"
    /// assert!(manager.verify(token.as_str()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn revoke(&self, session: &SessionData) -> Result<(), BlocklistError> {
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

    /// Log out everywhere, for the user of a verified `session`: every
    /// token of that user issued up to now is refused, and tokens issued
    /// after this call work. For a token minted here this is
    /// [`log_out_user`](Self::log_out_user); for a trusted issuer's token,
    /// every token of that issuer and subject issued up to this one (in the
    /// issuer's clock; `sub` is unique within one issuer only).
    ///
    /// ```
    /// # use tower_jwt_session::{NewSession, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
    /// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
    /// let phone = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
    /// let laptop = manager.issue(NewSession::new("u-1", "ada@example.com"))?;
    /// manager.log_out_everywhere(laptop.session()).await?;
    /// assert!(manager.verify(phone.token()).await.is_err());
    /// assert!(manager.verify(laptop.token()).await.is_err());
    /// let again = manager.issue(NewSession::new("u-1", "ada@example.com"))?; // even in the same second
    /// assert!(manager.verify(again.token()).await.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn log_out_everywhere(&self, session: &SessionData) -> Result<(), BlocklistError> {
        match session.trusted_issuer() {
            None => self.log_out_user(session.user_id()).await,
            Some(issuer) => {
                // A token without `iat` cannot be placed in the issuer's
                // clock: everything up to now.
                let issued = match session.0.issued_at_micros {
                    i64::MIN => i64::MAX,
                    iat => iat,
                };
                self.raise_foreign_watermark(&watermark_user(issuer, session.subject()), issued)
                    .await
            }
        }
    }

    /// Refuses every token of the user `user_id` minted here before this
    /// call ("log out everywhere", by id: for an administrator). Tokens
    /// issued after it, even within the same second, are accepted. `Ok`
    /// means stored.
    ///
    /// Tokens minted here carry a microsecond issue time written in the
    /// blocklist's clock ([`Blocklist::clock_micros`]), and the watermark is
    /// written in the same clock, so a server whose own clock is off cannot
    /// mint tokens that survive the call. Tokens with a whole-second `iat`
    /// only (the seed's) are refused when issued in the same second as the
    /// call.
    ///
    /// [`Blocklist::clock_micros`]: crate::blocklist::Blocklist::clock_micros
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn log_out_user(&self, user_id: &str) -> Result<(), BlocklistError> {
        let now = self.inner.blocklist.clock_micros();
        let until =
            (now / MICROS).saturating_add(self.inner.watermark_retention.as_secs() as i64 + 1);
        // The store raises the watermark past every refresh it answered
        // before this write (contract point 7), however long the write took.
        self.inner
            .blocklist
            .set_valid_after(&subjects::own_user(user_id), now, until)
            .await?;
        tracing::debug!(user_id = %user_id, "all sessions of the user revoked");
        Ok(())
    }

    /// The revocations of the trusted issuer `issuer` (its exact `iss`):
    /// its subjects, its sessions and its e-mail addresses, as its logouts
    /// and security events name them. `None` when the issuer is not trusted.
    ///
    /// ```
    /// # use tower_jwt_session::{issuers::TrustedIssuer, Algorithm, SessionManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::verify_only()
    ///     .with_audience("orders-api")
    ///     .with_trusted_issuer(TrustedIssuer::with_secret(
    ///         "https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes"))
    ///     .build()?;
    /// let idp = manager.trusted_issuer("https://idp.example.com").unwrap();
    /// idp.end_session("provider-session-7").await?;                  // every token carrying that `sid`
    /// idp.log_out_subject("ada", tower_jwt_session::blocklist::now_micros()).await?;
    /// assert!(manager.trusted_issuer("https://elsewhere.example.com").is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn trusted_issuer(&self, issuer: &str) -> Option<IssuerRevocations<'_>> {
        let trusted = self.inner.trusted.as_ref()?;
        // A tenant of an issuer by template is an issuer of its own.
        let issuer = trusted.get(trusted.find(issuer)?)?.concrete(issuer)?;
        Some(IssuerRevocations {
            manager: self,
            issuer,
        })
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

/// The revocations of one trusted issuer's tokens, from
/// [`SessionManager::trusted_issuer`]: what its Back-Channel Logouts and
/// Security Events name (the [receivers](crate::receivers) call these), for
/// an application that learns of them another way. Each cut-off is read in
/// the issuer's clock and never later than now: tokens issued after it stay
/// valid, and applying it again changes nothing. `Ok` means stored.
#[derive(Clone)]
pub struct IssuerRevocations<'m> {
    manager: &'m SessionManager,
    issuer: Arc<str>,
}

impl IssuerRevocations<'_> {
    /// The issuer (its exact `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Refuses every token of this issuer about `subject` issued at or
    /// before `issued_at_micros` (Unix microseconds, e.g. a logout token's
    /// `iat` or an event's time). A trusted issuer's `iat` has whole
    /// seconds: a token of the same second as the cut-off is refused too.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn log_out_subject(
        &self,
        subject: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        self.manager
            .raise_foreign_watermark(&watermark_user(&self.issuer, subject), issued_at_micros)
            .await?;
        tracing::debug!("all tokens of a trusted issuer's subject revoked");
        Ok(())
    }

    /// Ends the identity provider's session `sid`: every token of this
    /// issuer carrying that `sid` is refused.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn end_session(&self, sid: &str) -> Result<(), BlocklistError> {
        let manager = self.manager;
        let until = manager.foreign_until(manager.inner.blocklist.clock_micros());
        manager
            .inner
            .blocklist
            .revoke(&provider_session_key(&self.issuer, sid), until)
            .await?;
        tracing::debug!("a provider session ended");
        Ok(())
    }

    /// Refuses every token of this issuer carrying the `email` claim
    /// `email`, issued at or before `issued_at_micros` (a security event
    /// naming its subject by e-mail, RFC 9493).
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub async fn log_out_email(
        &self,
        email: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        self.manager
            .raise_foreign_watermark(&email_user(&self.issuer, email), issued_at_micros)
            .await
    }

    /// Refuses every token of this issuer about `subject` that carries no
    /// `sid`, issued at or before `issued_at_micros`: what a back-channel
    /// logout naming both a provider session and its subject also ends,
    /// for providers whose access tokens carry no `sid`.
    pub(crate) async fn log_out_sessionless(
        &self,
        subject: &str,
        issued_at_micros: i64,
    ) -> Result<(), BlocklistError> {
        self.manager
            .raise_foreign_watermark(&sessionless_user(&self.issuer, subject), issued_at_micros)
            .await
    }
}

impl std::fmt::Debug for IssuerRevocations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerRevocations")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}
