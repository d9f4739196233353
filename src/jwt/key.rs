//! The keys of a manager: HMAC secrets, or an asymmetric key pair or public
//! keys, never both.
//!
//! Verifying with a pre-keyed HMAC state saves re-deriving the inner and
//! outer pads on every request; `verify_slice` compares tags in constant
//! time. Signing goes through `jsonwebtoken` so that tokens are produced by
//! the same well-tested code users already trust.

use std::fmt;

use hmac::{digest::KeyInit, Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::{
    error::ConfigError, jwt::algorithm::Algorithm, jwt::asymmetric::KeyPair,
    jwt::asymmetric::PublicKey,
};

#[derive(Clone)]
enum KeyedMac {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

impl KeyedMac {
    /// `None` for an algorithm that is not HMAC.
    fn new(algorithm: Algorithm, secret: &[u8]) -> Option<Self> {
        // `new_from_slice` only fails for fixed-size-key MACs; HMAC takes any
        // length, so the `ok()` never drops an error.
        Some(match algorithm {
            Algorithm::HS256 => Self::Hs256(<_ as KeyInit>::new_from_slice(secret).ok()?),
            Algorithm::HS384 => Self::Hs384(<_ as KeyInit>::new_from_slice(secret).ok()?),
            Algorithm::HS512 => Self::Hs512(<_ as KeyInit>::new_from_slice(secret).ok()?),
            _ => return None,
        })
    }
}

/// The pre-keyed state is as good as the secret (it computes every tag), and
/// the `hmac` crate does not wipe it. Dropping a key overwrites the state in
/// place with one keyed by a block of zeros, and `black_box` keeps the
/// compiler from discarding that write as dead.
impl Drop for KeyedMac {
    fn drop(&mut self) {
        match self {
            Self::Hs256(m) => *m = KeyInit::new(&Default::default()),
            Self::Hs384(m) => *m = KeyInit::new(&Default::default()),
            Self::Hs512(m) => *m = KeyInit::new(&Default::default()),
        }
        std::hint::black_box(&*self);
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// One HMAC secret, ready to sign and verify with one algorithm.
#[derive(Clone)]
pub(crate) struct HmacKey {
    algorithm: Algorithm,
    mac: KeyedMac,
    encoding: jsonwebtoken::EncodingKey,
    kid: String,
}

/// The `kid` of a secret: base64url of the first 16 bytes of
/// HMAC-SHA256(secret, "kid"). Deterministic (the same on every node and
/// after a restart) and, being a keyed hash, it reveals nothing of the
/// secret: not a part, an encoding, or a plain hash of it.
fn kid_of(secret: &[u8]) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"kid");
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

impl HmacKey {
    /// Keys the HMAC. The caller has validated the secret's length.
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        let mac = KeyedMac::new(algorithm, secret)
            .ok_or(ConfigError::SecretWithAsymmetricAlgorithm(algorithm))?;
        let copy = Zeroizing::new(secret.to_vec());
        Ok(Self {
            algorithm,
            mac,
            encoding: jsonwebtoken::EncodingKey::from_secret(&copy),
            kid: kid_of(secret),
        })
    }

    /// The algorithm the key signs with.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The length of a tag, in bytes.
    pub(crate) fn tag_len(&self) -> usize {
        match self.mac {
            KeyedMac::Hs256(_) => 32,
            KeyedMac::Hs384(_) => 48,
            KeyedMac::Hs512(_) => 64,
        }
    }

    /// The key's identifier, written in the `kid` header of tokens it signs.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding_key(&self) -> &jsonwebtoken::EncodingKey {
        &self.encoding
    }

    /// Checks `tag` against HMAC(`signing_input`) in constant time.
    pub(crate) fn verify(&self, signing_input: &[u8], tag: &[u8]) -> bool {
        match &self.mac {
            KeyedMac::Hs256(m) => {
                let mut m = m.clone();
                m.update(signing_input);
                m.verify_slice(tag).is_ok()
            }
            KeyedMac::Hs384(m) => {
                let mut m = m.clone();
                m.update(signing_input);
                m.verify_slice(tag).is_ok()
            }
            KeyedMac::Hs512(m) => {
                let mut m = m.clone();
                m.update(signing_input);
                m.verify_slice(tag).is_ok()
            }
        }
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The current key and the older keys still accepted for verification, all
/// of one algorithm.
// One per manager, behind its `Arc`: boxing the large HMAC state would only
// add an indirection to every verification.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum KeySet {
    /// Shared secrets: the current one signs.
    Hmac {
        current: HmacKey,
        previous: Vec<HmacKey>,
    },
    /// Public keys; `signer` is the current key's private half, if held.
    Asymmetric {
        signer: Option<KeyPair>,
        current: PublicKey,
        previous: Vec<PublicKey>,
    },
    /// Public keys from a JWK Set, kept current by the source; verify only.
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksSource),
    /// No key of its own: the manager takes its trusted issuers' tokens
    /// only.
    None(Algorithm),
}

impl KeySet {
    /// The algorithm every key of the set uses.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hmac { current, .. } => current.algorithm,
            Self::Asymmetric { current, .. } => current.algorithm(),
            #[cfg(feature = "jwks")]
            Self::Jwks(source) => source.algorithm().unwrap_or_default(),
            Self::None(algorithm) => *algorithm,
        }
    }

    /// The key that signs and its `kid`; `None` when verifying only.
    pub(crate) fn signer(&self) -> Option<(&jsonwebtoken::EncodingKey, &str)> {
        match self {
            Self::Hmac { current, .. } => Some((current.encoding_key(), current.kid())),
            Self::Asymmetric { signer, .. } => signer
                .as_ref()
                .map(|pair| (pair.encoding_key(), pair.kid())),
            #[cfg(feature = "jwks")]
            Self::Jwks(_) => None,
            Self::None(_) => None,
        }
    }
}

/// Every key of a list, current first; the one named exactly `kid`.
pub(crate) fn by_kid<'k, K>(
    current: &'k K,
    previous: &'k [K],
    kid: &str,
    kid_of: impl Fn(&K) -> &str,
) -> Option<&'k K> {
    std::iter::once(current)
        .chain(previous)
        .find(|k| kid_of(k) == kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_its_own_tags_and_refuses_others() {
        let key = HmacKey::new(Algorithm::HS256, &[7; 32]).unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[7; 32]).unwrap();
        mac.update(b"a.b");
        let tag = mac.finalize().into_bytes();
        assert!(key.verify(b"a.b", &tag));
        assert!(!key.verify(b"a.c", &tag));
        assert!(!key.verify(b"a.b", &tag[..31]));
        let other = HmacKey::new(Algorithm::HS256, &[8; 32]).unwrap();
        assert!(!other.verify(b"a.b", &tag));
    }

    #[test]
    fn kids_are_deterministic_and_reveal_nothing_of_the_secret() {
        use base64::{engine::general_purpose, Engine};
        use sha2::Digest;
        let secret = b"a secret of at least thirty-two bytes, for kids";
        let a = HmacKey::new(Algorithm::HS256, secret).unwrap();
        let b = HmacKey::new(Algorithm::HS512, secret).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 22);
        assert_ne!(
            a.kid(),
            HmacKey::new(Algorithm::HS256, b"another secret of thirty-two bytes!!")
                .unwrap()
                .kid()
        );
        let plain_hash = sha2::Sha256::digest(secret);
        for encoding in [
            general_purpose::URL_SAFE_NO_PAD.encode(secret),
            general_purpose::STANDARD.encode(secret),
            general_purpose::URL_SAFE_NO_PAD.encode(plain_hash),
            plain_hash.iter().map(|b| format!("{b:02x}")).collect(),
            String::from_utf8_lossy(secret).into_owned(),
        ] {
            assert!(!encoding.contains(a.kid()), "{encoding}");
            assert!(!encoding.starts_with(&a.kid()[..8]), "{encoding}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let key = HmacKey::new(
            Algorithm::HS512,
            b"super-secret-value-that-must-never-be-printed-anywhere-at-all-ok",
        )
        .unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("super-secret"));
    }
}
