//! Validated session settings: algorithm, secret, issuer, audience, lifetimes.
//!
//! Issuer and audience have no default: every application names its own.
//! The other defaults are the TypeScript seed's: one hour, HS256. Every check happens when
//! [`SessionManagerBuilder::build`](crate::SessionManagerBuilder::build) runs,
//! so a bad value stops a server at start with a [`ConfigError`] naming the
//! problem.

use std::{fmt, str::FromStr, time::Duration};

use crate::ConfigError;

/// Default lifetime of an issued token: one hour, as in the TypeScript seed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Default clock leeway applied to `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(10);

const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The algorithm that signs tokens; the only one accepted when verifying.
///
/// HMAC algorithms (`HS*`) take a shared secret
/// ([`SessionManager::builder`](crate::SessionManager::builder)); the others
/// take a [`KeyPair`](crate::KeyPair) or, to verify only, a
/// [`PublicKey`](crate::PublicKey).
///
/// ```
/// use tower_jwt_session::Algorithm;
///
/// let alg: Algorithm = "HS384".parse().unwrap();
/// assert_eq!(alg, Algorithm::HS384);
/// assert_eq!(alg.min_secret_len(), Some(48));
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!(!"ES256".parse::<Algorithm>().unwrap().is_hmac());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(clippy::upper_case_acronyms)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (the default).
    #[default]
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 to 4096 bits.
    RS256,
    /// RSASSA-PSS with SHA-256, RSA keys of 2048 to 4096 bits.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 8] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::PS256,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name used in the JWT header (`"HS256"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// `true` for the HMAC algorithms, which sign with a shared secret.
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The shortest secret accepted, in bytes: the hash output size
    /// (RFC 7518 §3.2). `None` for the asymmetric algorithms.
    pub const fn min_secret_len(self) -> Option<usize> {
        match self {
            Self::HS256 => Some(32),
            Self::HS384 => Some(48),
            Self::HS512 => Some(64),
            _ => None,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
            Self::RS256 => J::RS256,
            Self::PS256 => J::PS256,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
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

    /// Parses the exact JWT names (`HS256`, `RS256`, `EdDSA`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownAlgorithm(s.to_owned()))
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
    fn algorithm_names_are_exact() {
        assert_eq!("HS512".parse::<Algorithm>(), Ok(Algorithm::HS512));
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
        for bad in ["hs256", "none", "RS512", "eddsa", "ES512", "", " HS256"] {
            assert_eq!(
                bad.parse::<Algorithm>(),
                Err(ConfigError::UnknownAlgorithm(bad.into()))
            );
        }
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
