//! Validated session settings: algorithm, secret, issuer, audience, lifetimes.
//!
//! The defaults are the TypeScript seed's: issuer `atomic-crm`, audience
//! `atomic-crm-api`, one hour, HS256. Every check happens when
//! [`SessionManagerBuilder::build`](crate::SessionManagerBuilder::build) runs,
//! so a bad value stops a server at start with a [`ConfigError`] naming the
//! problem.

use std::{fmt, str::FromStr, time::Duration};

use crate::ConfigError;

/// Default issuer (`iss`), as in the TypeScript seed.
pub const DEFAULT_ISSUER: &str = "atomic-crm";
/// Default audience (`aud`), as in the TypeScript seed.
pub const DEFAULT_AUDIENCE: &str = "atomic-crm-api";
/// Default lifetime of an issued token: one hour, as in the TypeScript seed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Default clock leeway applied to `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(10);

const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The HMAC algorithm that signs tokens; the only one accepted when verifying.
///
/// ```
/// use tower_jwt_session::Algorithm;
///
/// let alg: Algorithm = "HS384".parse().unwrap();
/// assert_eq!(alg, Algorithm::HS384);
/// assert_eq!(alg.min_secret_len(), 48);
/// assert!("none".parse::<Algorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256 (the default).
    #[default]
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

impl Algorithm {
    /// The name used in the JWT header (`"HS256"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// The shortest secret accepted, in bytes: the hash output size
    /// (RFC 7518 §3.2).
    pub const fn min_secret_len(self) -> usize {
        match self {
            Self::HS256 => 32,
            Self::HS384 => 48,
            Self::HS512 => 64,
        }
    }

    pub(crate) const fn tag_len(self) -> usize {
        self.min_secret_len()
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
            Self::HS384 => jsonwebtoken::Algorithm::HS384,
            Self::HS512 => jsonwebtoken::Algorithm::HS512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ConfigError;

    /// Parses the exact JWT names `HS256`, `HS384` and `HS512`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "HS256" => Ok(Self::HS256),
            "HS384" => Ok(Self::HS384),
            "HS512" => Ok(Self::HS512),
            other => Err(ConfigError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

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
    pub(crate) fn validate(&self, secret: &[u8]) -> Result<(), ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        let required = self.algorithm.min_secret_len();
        if secret.len() < required {
            return Err(ConfigError::SecretTooShort {
                algorithm: self.algorithm,
                required,
                actual: secret.len(),
            });
        }
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
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
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
            assert!(config(alg).validate(&vec![b'k'; len]).is_ok());
            assert_eq!(
                config(alg).validate(&vec![b'k'; len - 1]),
                Err(ConfigError::SecretTooShort {
                    algorithm: alg,
                    required: len,
                    actual: len - 1
                })
            );
        }
        assert_eq!(
            config(Algorithm::HS256).validate(b""),
            Err(ConfigError::EmptySecret)
        );
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!("HS512".parse::<Algorithm>(), Ok(Algorithm::HS512));
        for bad in ["hs256", "none", "RS256", "", " HS256"] {
            assert_eq!(
                bad.parse::<Algorithm>(),
                Err(ConfigError::UnknownAlgorithm(bad.into()))
            );
        }
    }

    #[test]
    fn empty_issuer_audience_and_bad_durations_are_refused() {
        let secret = [b'k'; 32];
        let mut c = config(Algorithm::HS256);
        c.issuer.clear();
        assert_eq!(c.validate(&secret), Err(ConfigError::EmptyIssuer));
        let mut c = config(Algorithm::HS256);
        c.audience.clear();
        assert_eq!(c.validate(&secret), Err(ConfigError::EmptyAudience));
        let mut c = config(Algorithm::HS256);
        c.ttl = Duration::ZERO;
        assert_eq!(
            c.validate(&secret),
            Err(ConfigError::TtlOutOfRange(Duration::ZERO))
        );
        let mut c = config(Algorithm::HS256);
        c.leeway = Duration::from_secs(301);
        assert!(matches!(
            c.validate(&secret),
            Err(ConfigError::LeewayTooLarge(_))
        ));
        let mut c = config(Algorithm::HS256);
        c.max_lifetime = Some(Duration::from_secs(60));
        assert!(matches!(
            c.validate(&secret),
            Err(ConfigError::MaxLifetimeShorterThanTtl { .. })
        ));
    }

    #[test]
    fn config_errors_name_the_problem() {
        let err = config(Algorithm::HS384).validate(&[b'k'; 10]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the session secret has 10 bytes; HS384 needs at least 48 (RFC 7518 section 3.2)"
        );
    }
}
