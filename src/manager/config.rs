//! Validated session settings: algorithm, secret, issuer, audience, lifetimes.
//!
//! Issuer and audience have no default: every application names its own.
//! The other defaults are the TypeScript seed's: one hour, HS256. Every check happens when
//! [`SessionManagerBuilder::build`](crate::SessionManagerBuilder::build) runs,
//! so a bad value stops a server at start with a [`ConfigError`] naming the
//! problem.

use std::{fmt, time::Duration};

use crate::{error::ConfigError, jwt::algorithm::Algorithm};

/// Default lifetime of an issued token: one hour, as in the TypeScript seed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Default clock leeway applied to `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(10);

const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Settings that passed validation. Built by
/// [`SessionManagerBuilder`](crate::SessionManagerBuilder).
#[derive(Clone)]
pub(crate) struct SessionConfig {
    pub(crate) algorithm: Algorithm,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) ttl: Duration,
    pub(crate) leeway: Duration,
    pub(crate) max_lifetime: Option<Duration>,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

impl SessionConfig {
    /// Checks an HMAC secret against the algorithm's length rule.
    pub(crate) fn validate_secret(&self, secret: &[u8]) -> Result<(), ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        let Some(required) = self.algorithm.min_secret_len() else {
            return Err(ConfigError::SecretWithAsymmetricAlgorithm(self.algorithm));
        };
        if secret.len() < required {
            return Err(ConfigError::SecretTooShort {
                algorithm: self.algorithm,
                required,
                actual: secret.len(),
            });
        }
        Ok(())
    }

    /// Checks everything but the key.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::EmptyIssuer);
        }
        if self.audience.is_empty() {
            return Err(ConfigError::EmptyAudience);
        }
        if self.ttl < Duration::from_secs(1) || self.ttl > MAX_TTL {
            return Err(ConfigError::TtlOutOfRange(self.ttl));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge(self.leeway));
        }
        if let Some(max) = self.max_lifetime {
            if max < self.ttl {
                return Err(ConfigError::MaxLifetimeShorterThanTtl { max, ttl: self.ttl });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(alg: Algorithm) -> SessionConfig {
        SessionConfig {
            algorithm: alg,
            issuer: "https://auth.example.com".into(),
            audience: "example-api".into(),
            ttl: DEFAULT_TTL,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
        }
    }

    #[test]
    fn secret_lengths_follow_rfc_7518() {
        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            assert!(config(alg).validate_secret(&vec![b'k'; len]).is_ok());
            assert_eq!(
                config(alg).validate_secret(&vec![b'k'; len - 1]),
                Err(ConfigError::SecretTooShort {
                    algorithm: alg,
                    required: len,
                    actual: len - 1
                })
            );
        }
        assert_eq!(
            config(Algorithm::HS256).validate_secret(b""),
            Err(ConfigError::EmptySecret)
        );
        assert_eq!(
            config(Algorithm::ES256).validate_secret(&[b'k'; 64]),
            Err(ConfigError::SecretWithAsymmetricAlgorithm(Algorithm::ES256))
        );
    }

    #[test]
    fn empty_issuer_audience_and_bad_durations_are_refused() {
        let mut c = config(Algorithm::HS256);
        c.issuer.clear();
        assert_eq!(c.validate(), Err(ConfigError::EmptyIssuer));
        let mut c = config(Algorithm::HS256);
        c.audience.clear();
        assert_eq!(c.validate(), Err(ConfigError::EmptyAudience));
        let mut c = config(Algorithm::HS256);
        c.ttl = Duration::ZERO;
        assert_eq!(
            c.validate(),
            Err(ConfigError::TtlOutOfRange(Duration::ZERO))
        );
        let mut c = config(Algorithm::HS256);
        c.leeway = Duration::from_secs(301);
        assert!(matches!(c.validate(), Err(ConfigError::LeewayTooLarge(_))));
        let mut c = config(Algorithm::HS256);
        c.max_lifetime = Some(Duration::from_secs(60));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::MaxLifetimeShorterThanTtl { .. })
        ));
    }

    #[test]
    fn config_errors_name_the_problem() {
        let err = config(Algorithm::HS384)
            .validate_secret(&[b'k'; 10])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the session secret has 10 bytes; HS384 needs at least 48 (RFC 7518 section 3.2)"
        );
    }
}
