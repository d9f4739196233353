//! The HMAC key: keyed once at construction, compared in constant time.
//!
//! Verifying with a pre-keyed HMAC state saves re-deriving the inner and
//! outer pads on every request; `verify_slice` compares tags in constant
//! time. Signing goes through `jsonwebtoken` so that tokens are produced by
//! the same well-tested code users already trust.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::Algorithm;

#[derive(Clone)]
enum KeyedMac {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
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
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"kid");
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

impl HmacKey {
    /// Keys the HMAC. The caller has validated the secret's length.
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        // `new_from_slice` only fails for fixed-size-key MACs; HMAC takes any length.
        let mac = match algorithm {
            Algorithm::HS256 => KeyedMac::Hs256(
                Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            ),
            Algorithm::HS384 => KeyedMac::Hs384(
                Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            ),
            Algorithm::HS512 => KeyedMac::Hs512(
                Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            ),
        };
        let copy = Zeroizing::new(secret.to_vec());
        Self {
            algorithm,
            mac,
            encoding: jsonwebtoken::EncodingKey::from_secret(&copy),
            kid: kid_of(secret),
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

/// The signing key and the older keys still accepted for verification.
#[derive(Clone, Debug)]
pub(crate) struct KeySet {
    current: HmacKey,
    previous: Vec<HmacKey>,
}

impl KeySet {
    pub(crate) fn new(current: HmacKey, previous: Vec<HmacKey>) -> Self {
        Self { current, previous }
    }

    /// The key that signs.
    pub(crate) fn current(&self) -> &HmacKey {
        &self.current
    }

    /// The algorithm every key of the set uses.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.current.algorithm
    }

    /// Every key, current first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &HmacKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The key named exactly `kid`, if any.
    pub(crate) fn by_kid(&self, kid: &str) -> Option<&HmacKey> {
        self.all().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_its_own_tags_and_refuses_others() {
        let key = HmacKey::new(Algorithm::HS256, &[7; 32]);
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
        mac.update(b"a.b");
        let tag = mac.finalize().into_bytes();
        assert!(key.verify(b"a.b", &tag));
        assert!(!key.verify(b"a.c", &tag));
        assert!(!key.verify(b"a.b", &tag[..31]));
        let other = HmacKey::new(Algorithm::HS256, &[8; 32]);
        assert!(!other.verify(b"a.b", &tag));
    }

    #[test]
    fn kids_are_deterministic_and_reveal_nothing_of_the_secret() {
        use base64::{engine::general_purpose, Engine};
        use sha2::Digest;
        let secret = b"a secret of at least thirty-two bytes, for kids";
        let a = HmacKey::new(Algorithm::HS256, secret);
        let b = HmacKey::new(Algorithm::HS512, secret);
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 22);
        assert_ne!(
            a.kid(),
            HmacKey::new(Algorithm::HS256, b"another secret of thirty-two bytes!!").kid()
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
        );
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("super-secret"));
    }
}
