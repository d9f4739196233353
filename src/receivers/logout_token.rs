//! OpenID Connect Back-Channel Logout 1.0: the logout token (§2.4),
//! validated as §2.6 says, and its effect.

use serde_json::Value;

use super::{claim_date, claim_string, ReceiverError, MAX_EVENT_AGE};
use crate::{error::BlocklistError, manager::SessionManager, time::now_micros};

/// The member of `events` that makes a JWT a logout token.
pub(crate) const BACK_CHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

const MICROS: i64 = 1_000_000;

/// A valid logout token: who is logged out, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct LogoutToken {
    /// The trusted issuer that sent it.
    pub(crate) issuer: String,
    /// `sub`, when present.
    pub(crate) subject: Option<String>,
    /// `sid`, the provider session, when present (it decides when both are).
    pub(crate) session_id: Option<String>,
    /// `iat`, in Unix microseconds of the issuer's clock.
    pub(crate) issued_at_micros: i64,
    /// `jti` (required: replays are recognised by it).
    pub(crate) token_id: String,
}

/// `typ` of a logout token: `logout+jwt` when present (§2.4).
fn logout_typ(typ: Option<&str>) -> bool {
    typ.is_none_or(|t| {
        t.eq_ignore_ascii_case("logout+jwt") || t.eq_ignore_ascii_case("application/logout+jwt")
    })
}

impl SessionManager {
    /// Validates a Back-Channel Logout token as §2.6 of the specification
    /// says: signed by a trusted issuer's keys (the same key source as its
    /// access tokens), `iss` trusted, `aud` holding one of `client_ids`, `iat`
    /// present, at most 5 minutes old and not in the future beyond the
    /// issuer's leeway, `exp` present and not past, `jti` present (both
    /// REQUIRED by §2.4 of the final specification), `events` holding the
    /// back-channel-logout member (an object), `sid` or `sub` present,
    /// `nonce` absent, `typ` `logout+jwt` when present. An access token is
    /// never a logout token (it has no `events`), and a logout token is
    /// never an access token (see [`issuers`](crate::issuers)).
    ///
    /// # Errors
    ///
    /// A [`ReceiverError`] naming the first problem.
    pub(crate) async fn verify_logout_token(
        &self,
        token: &str,
        client_ids: &[String],
    ) -> Result<LogoutToken, ReceiverError> {
        let (issuer, leeway, claims) = self
            .verify_trusted_signed(token.as_bytes(), logout_typ)
            .await?;
        if !crate::issuers::verify::Issuer::audience_holds(claims.get("aud"), |a| {
            client_ids.iter().any(|id| id == a)
        })? {
            return Err(ReceiverError::InvalidAudience);
        }
        let now = now_micros();
        let leeway = leeway.as_micros() as i64;
        let iat = claim_date(&claims, "iat")?.ok_or(ReceiverError::Invalid("no `iat`"))?;
        if iat > now.saturating_add(leeway) {
            return Err(ReceiverError::Invalid("`iat` is in the future"));
        }
        if iat < now.saturating_sub(MAX_EVENT_AGE.as_micros() as i64 + leeway) {
            return Err(ReceiverError::Invalid("`iat` is more than 5 minutes old"));
        }
        let exp = claim_date(&claims, "exp")?.ok_or(ReceiverError::Invalid("no `exp`"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(ReceiverError::Invalid("the logout token has expired"));
        }
        let token_id = claim_string(&claims, "jti")?
            .filter(|j| !j.is_empty())
            .ok_or(ReceiverError::Invalid("no `jti`"))?;
        match claims.get("events") {
            Some(Value::Object(events)) => match events.get(BACK_CHANNEL_LOGOUT_EVENT) {
                Some(Value::Object(_)) => {}
                _ => {
                    return Err(ReceiverError::Invalid(
                        "`events` lacks the back-channel logout event",
                    ))
                }
            },
            _ => return Err(ReceiverError::Invalid("no `events` object")),
        }
        if claims.contains_key("nonce") {
            return Err(ReceiverError::Invalid("a logout token has no `nonce`"));
        }
        let subject = claim_string(&claims, "sub")?.filter(|s| !s.is_empty());
        let session_id = claim_string(&claims, "sid")?.filter(|s| !s.is_empty());
        if subject.is_none() && session_id.is_none() {
            return Err(ReceiverError::Invalid("neither `sid` nor `sub`"));
        }
        Ok(LogoutToken {
            issuer: issuer.to_string(),
            subject,
            session_id,
            issued_at_micros: iat.div_euclid(MICROS).saturating_mul(MICROS),
            token_id,
        })
    }

    /// Applies a valid logout token: with `sid`, every token of that issuer
    /// carrying that `sid` is refused, and with `sub` too, every token of
    /// that issuer and subject that carries no `sid` and was issued at or
    /// before the logout token's `iat` (many providers put no `sid` in
    /// access tokens: a logout is never a silent no-op); with `sub` alone,
    /// every token of that issuer and subject issued at or before the
    /// logout token's `iat` (never later than now), and none issued after
    /// it. `Ok` means stored (replicated to every server through the
    /// blocklist). Applying it twice changes nothing.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] when the blocklist could not store it.
    pub(crate) async fn apply_logout(&self, logout: &LogoutToken) -> Result<(), BlocklistError> {
        // Verified by `verify_logout_token`: its issuer is trusted.
        let Some(issuer) = self.trusted_issuer(&logout.issuer) else {
            return Ok(());
        };
        match (&logout.session_id, &logout.subject) {
            (Some(sid), None) => issuer.end_session(sid).await,
            (Some(sid), Some(sub)) => {
                issuer.end_session(sid).await?;
                issuer
                    .log_out_sessionless(sub, logout.issued_at_micros)
                    .await
            }
            (None, Some(sub)) => issuer.log_out_subject(sub, logout.issued_at_micros).await,
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logout_typ;

    #[test]
    fn logout_types() {
        assert!(logout_typ(None));
        assert!(logout_typ(Some("logout+jwt")));
        assert!(logout_typ(Some("application/logout+jwt")));
        for t in ["JWT", "at+jwt", "secevent+jwt", ""] {
            assert!(!logout_typ(Some(t)), "{t}");
        }
    }
}
