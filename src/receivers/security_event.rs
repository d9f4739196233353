//! Security Event Tokens (RFC 8417) of the OpenID Shared Signals Framework:
//! CAEP and RISC events, validated and turned into revocations.

use serde_json::{Map, Value};

use super::{claim_date, claim_string, ReceiverError};
use crate::{error::BlocklistError, manager::SessionManager, time::now_micros};

/// CAEP: a session of the subject was revoked.
pub(crate) const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential of the subject changed.
pub(crate) const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC: the subject's account was disabled.
pub(crate) const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// RISC: every session of the subject was revoked.
pub(crate) const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// SSF: the stream verification event (no effect).
pub(crate) const SSF_VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

const MICROS: i64 = 1_000_000;

/// Whom an event is about (RFC 9493 subject identifiers).
///
/// Mapped: `iss_sub` (that issuer's subject), `email` (matched against the
/// `email` claim of that issuer's tokens), `opaque` (taken as a `sub` of the
/// event's issuer), and `complex` with a `user` of those formats and a
/// `session` (`opaque`: the provider's session id, matched against `sid`).
/// Other formats (`phone_number`, `account`, `did`, `uri`, `aliases`) are
/// not mapped: such an event is acknowledged and has no effect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub(crate) struct Subject {
    /// `(iss, sub)` of the user.
    pub(crate) issuer_subject: Option<(String, String)>,
    /// The user's e-mail address.
    pub(crate) email: Option<String>,
    /// The provider session.
    pub(crate) session_id: Option<String>,
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum EventEffect {
    /// End the subject's session (its `sid` when given, else every session
    /// of the subject up to the event time).
    EndSession,
    /// End every session of the subject up to the event time.
    EndAllSessions,
    /// Nothing: the stream verification event.
    Verification,
    /// Nothing: an event type not handled here (acknowledged, counted).
    Unknown(String),
}

/// One event of a SET.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct Event {
    /// What it asks for.
    pub(crate) effect: EventEffect,
    /// Whom it is about.
    pub(crate) subject: Subject,
    /// When it happened, Unix microseconds of the transmitter's clock
    /// (`event_timestamp`, else the SET's `iat`).
    pub(crate) at_micros: i64,
}

/// A valid Security Event Token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct SecurityEvent {
    /// The transmitter (a trusted issuer).
    pub(crate) issuer: String,
    /// `jti`.
    pub(crate) token_id: String,
    /// Its events.
    pub(crate) events: Vec<Event>,
}

fn secevent_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        t.eq_ignore_ascii_case("secevent+jwt") || t.eq_ignore_ascii_case("application/secevent+jwt")
    })
}

/// Reads an RFC 9493 subject identifier of a SET sent by `issuer`.
///
/// A subject is always within the SET's own issuer: an `iss_sub` subject
/// naming another issuer is refused, so that no issuer's event reaches
/// another issuer's users.
fn subject(value: &Value, issuer: &str) -> Result<Subject, ReceiverError> {
    let mut out = Subject::default();
    let Some(obj) = value.as_object() else {
        return Ok(out);
    };
    let text =
        |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    match obj.get("format").and_then(Value::as_str) {
        Some("iss_sub") => {
            out.issuer_subject = text(obj, "iss").zip(text(obj, "sub"));
            if out
                .issuer_subject
                .as_ref()
                .is_some_and(|(iss, _)| iss != issuer)
            {
                return Err(ReceiverError::Invalid(
                    "an `iss_sub` subject names another issuer than the SET's",
                ));
            }
        }
        Some("email") => out.email = text(obj, "email"),
        Some("opaque") => out.issuer_subject = text(obj, "id").map(|id| (issuer.to_owned(), id)),
        Some("complex") => {
            if let Some(user) = obj.get("user") {
                let user = subject(user, issuer)?;
                out.issuer_subject = user.issuer_subject;
                out.email = user.email;
            }
            if let Some(session) = obj.get("session").and_then(Value::as_object) {
                if session.get("format").and_then(Value::as_str) == Some("opaque") {
                    out.session_id = text(session, "id");
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

impl SessionManager {
    /// Validates a Security Event Token pushed per RFC 8935: signed by a
    /// trusted issuer's keys, `typ` `secevent+jwt`, `iss` trusted, `aud`
    /// holding one of `audiences`, `jti` and `iat` present (`iat` not in the
    /// future beyond the leeway), `events` an object. Each event's subject
    /// is read from the event's `subject`, else the SET's `sub_id`.
    ///
    /// # Errors
    ///
    /// A [`ReceiverError`], whose [`code`](ReceiverError::code) is the RFC
    /// 8935 §2.3 error code.
    pub(crate) async fn verify_security_event(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<SecurityEvent, ReceiverError> {
        let (issuer, leeway, claims) = self
            .verify_trusted_signed(token.as_bytes(), secevent_typ)
            .await?;
        if !crate::issuers::verify::Issuer::audience_holds(claims.get("aud"), |a| {
            audiences.iter().any(|mine| mine == a)
        })? {
            return Err(ReceiverError::InvalidAudience);
        }
        let jti = claim_string(&claims, "jti")?
            .filter(|j| !j.is_empty())
            .ok_or(ReceiverError::Invalid("no `jti`"))?;
        let iat = claim_date(&claims, "iat")?.ok_or(ReceiverError::Invalid("no `iat`"))?;
        if iat > now_micros().saturating_add(leeway.as_micros() as i64) {
            return Err(ReceiverError::Invalid("`iat` is in the future"));
        }
        let Some(Value::Object(events)) = claims.get("events") else {
            return Err(ReceiverError::Invalid("no `events` object"));
        };
        let default_subject = claims.get("sub_id");
        let mut out = Vec::with_capacity(events.len());
        for (kind, body) in events {
            let effect = match kind.as_str() {
                CAEP_SESSION_REVOKED => EventEffect::EndSession,
                CAEP_CREDENTIAL_CHANGE | RISC_ACCOUNT_DISABLED | RISC_SESSIONS_REVOKED => {
                    EventEffect::EndAllSessions
                }
                SSF_VERIFICATION => EventEffect::Verification,
                other => EventEffect::Unknown(other.to_owned()),
            };
            let body = body.as_object();
            let at_micros = match body.and_then(|b| b.get("event_timestamp")) {
                Some(Value::Number(n)) => n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(|s| (s * MICROS as f64) as i64)
                    .ok_or(ReceiverError::Invalid("`event_timestamp` is not a date"))?,
                Some(_) => return Err(ReceiverError::Invalid("`event_timestamp` is not a date")),
                None => iat,
            };
            let subject = body
                .and_then(|b| b.get("subject"))
                .or(default_subject)
                .map(|s| subject(s, &issuer))
                .transpose()?
                .unwrap_or_default();
            out.push(Event {
                effect,
                subject,
                at_micros,
            });
        }
        Ok(SecurityEvent {
            issuer: issuer.to_string(),
            token_id: jti,
            events: out,
        })
    }

    /// Applies a valid SET's events: session-revoked ends the named
    /// provider session, or else every session of the subject up to the
    /// event time; credential-change, account-disabled and sessions-revoked
    /// end every session of the subject up to the event time. Subjects at
    /// an issuer that is not trusted, unmapped subjects and unknown events
    /// change nothing. `Ok` means every revocation is stored.
    ///
    /// # Errors
    ///
    /// The [`BlocklistError`] of the first revocation that could not be
    /// stored.
    pub(crate) async fn apply_security_event(
        &self,
        set: &SecurityEvent,
    ) -> Result<(), BlocklistError> {
        // Verified by `verify_security_event`: its issuer is trusted.
        let Some(issuer) = self.trusted_issuer(&set.issuer) else {
            return Ok(());
        };
        for event in &set.events {
            match &event.effect {
                EventEffect::Verification => continue,
                EventEffect::Unknown(kind) => {
                    crate::metrics::security_event("unknown");
                    tracing::debug!(event = %kind, "security event of an unknown type ignored");
                    continue;
                }
                EventEffect::EndSession => crate::metrics::security_event("session_revoked"),
                EventEffect::EndAllSessions => crate::metrics::security_event("all_sessions"),
            }
            let s = &event.subject;
            if let (EventEffect::EndSession, Some(sid)) = (&event.effect, &s.session_id) {
                issuer.end_session(sid).await?;
                continue;
            }
            let mut applied = false;
            // `verify_security_event` keeps every subject within the SET's
            // issuer; checked again for events built by hand.
            if let Some((iss, sub)) = &s.issuer_subject {
                if *iss == set.issuer {
                    issuer.log_out_subject(sub, event.at_micros).await?;
                    applied = true;
                } else {
                    tracing::warn!("security event naming another issuer's subject ignored");
                }
            }
            if let Some(email) = &s.email {
                issuer.log_out_email(email, event.at_micros).await?;
                applied = true;
            }
            if !applied {
                if let Some(sid) = &s.session_id {
                    issuer.end_session(sid).await?;
                } else {
                    tracing::debug!("security event without a subject this service maps: ignored");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_of_rfc_9493() {
        let s = subject(
            &json!({"format": "iss_sub", "iss": "https://i", "sub": "u"}),
            "https://i",
        )
        .unwrap();
        assert_eq!(s.issuer_subject, Some(("https://i".into(), "u".into())));
        // Another issuer's subject: refused, whether alone or in a complex
        // subject.
        assert!(subject(
            &json!({"format": "iss_sub", "iss": "https://other", "sub": "u"}),
            "https://i",
        )
        .is_err());
        assert!(subject(
            &json!({"format": "complex",
                    "user": {"format": "iss_sub", "iss": "https://other", "sub": "u"}}),
            "https://i",
        )
        .is_err());
        let s = subject(&json!({"format": "email", "email": "a@b"}), "x").unwrap();
        assert_eq!(s.email.as_deref(), Some("a@b"));
        let s = subject(&json!({"format": "opaque", "id": "u"}), "https://t").unwrap();
        assert_eq!(s.issuer_subject, Some(("https://t".into(), "u".into())));
        let s = subject(
            &json!({"format": "complex",
                    "user": {"format": "iss_sub", "iss": "https://i", "sub": "u"},
                    "session": {"format": "opaque", "id": "s-1"}}),
            "https://i",
        )
        .unwrap();
        assert_eq!(s.issuer_subject, Some(("https://i".into(), "u".into())));
        assert_eq!(s.session_id.as_deref(), Some("s-1"));
        assert_eq!(
            subject(
                &json!({"format": "phone_number", "phone_number": "+1"}),
                "x"
            )
            .unwrap(),
            Subject::default()
        );
        assert_eq!(
            subject(&json!("nonsense"), "x").unwrap(),
            Subject::default()
        );
    }

    #[test]
    fn the_set_type_is_required() {
        assert!(secevent_typ(Some("secevent+jwt")));
        assert!(secevent_typ(Some("application/secevent+jwt")));
        assert!(!secevent_typ(None));
        assert!(!secevent_typ(Some("JWT")));
        assert!(!secevent_typ(Some("logout+jwt")));
    }
}
