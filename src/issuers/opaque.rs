//! A trusted issuer's opaque tokens: the checks of an active introspection
//! answer (RFC 7662 §2.2), and the session it makes.

use serde_json::{Map, Value};

use super::verify::{claim_date, claim_string, Checked, Issuer};
use crate::{blocklist::TokenKey, error::VerifyError, jwt::claims::SessionInner};

impl Issuer {
    /// The session of an opaque token (its SHA-256: `digest`) from the
    /// endpoint's active answer: `token_type` `Bearer` or `DPoP`, `exp`
    /// present and not past, `nbf` and `iat` not in the future, `iss` (when
    /// present) this issuer, `aud` (when present) one of its audiences;
    /// `sub`, else `client_id`, names the user.
    pub(crate) fn introspected(
        &self,
        answer: Map<String, Value>,
        digest: &[u8; 32],
    ) -> Result<SessionInner, VerifyError> {
        let string = |name| claim_string(&answer, name);
        let token_type = string("token_type")?.unwrap_or_default();
        let dpop = token_type.eq_ignore_ascii_case("DPoP");
        if !(dpop || token_type.eq_ignore_ascii_case("Bearer")) {
            // A refresh token, or a token of a kind that is not an access
            // token.
            return Err(VerifyError::WrongType);
        }
        if let Some(iss) = string("iss")? {
            if *iss != *self.issuer {
                return Err(VerifyError::InvalidIssuer);
            }
        }
        if answer.contains_key("aud") && !self.audience_ok(answer.get("aud"))? {
            return Err(VerifyError::InvalidAudience);
        }
        let (exp, iat) = self.check_times(&answer)?;
        let client_id = string("client_id")?.filter(|c| !c.is_empty());
        let sub = string("sub")?
            .filter(|s| !s.is_empty())
            .or_else(|| client_id.clone())
            .ok_or(VerifyError::MissingClaim("sub"))?;
        let checked = Checked {
            issuer: self.issuer.clone(),
            tenant: None,
            sub,
            jti: string("jti")?.filter(|j| !j.is_empty()),
            sid: string("sid")?,
            client_id,
            email: string("email").ok().flatten(),
            exp,
            iat,
            auth_time: claim_date(&answer, "auth_time").ok().flatten(),
            // Keyed by the token's digest: what a logout of it revokes.
            key: TokenKey::from_tag_digest(digest),
            bound: dpop || answer.contains_key("cnf"),
        };
        string("scope")?;
        self.build_session(checked, answer)
    }
}
