//! The JWS algorithms this crate signs and verifies with ([`Algorithm`]),
//! by their JWT names.

use std::{fmt, str::FromStr};

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
    type Err = UnknownAlgorithm;

    /// Parses the exact JWT names (`HS256`, `RS256`, `EdDSA`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// A name that is not one of the [`Algorithm`]s (`none` among them); it
/// converts into [`ConfigError::UnknownAlgorithm`](crate::ConfigError::UnknownAlgorithm).
///
/// ```
/// use tower_jwt_session::Algorithm;
///
/// let err = "none".parse::<Algorithm>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown algorithm \"none\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown algorithm {:?}; expected HS256, HS384, HS512, RS256, PS256, ES256, ES384 or EdDSA",
            self.0
        )
    }
}

impl std::error::Error for UnknownAlgorithm {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!("HS512".parse::<Algorithm>(), Ok(Algorithm::HS512));
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
        for bad in ["hs256", "none", "RS512", "eddsa", "ES512", "", " HS256"] {
            assert_eq!(bad.parse::<Algorithm>(), Err(UnknownAlgorithm(bad.into())));
        }
    }
}
