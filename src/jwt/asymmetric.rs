//! Asymmetric keys: a [`KeyPair`] signs, a [`PublicKey`] only verifies.
//!
//! Keys are read from PEM (PKCS#8 private keys, SPKI public keys) once, at
//! construction, where every problem is a [`ConfigError`]: a key of the
//! wrong kind for the algorithm, an RSA modulus under 2048 bits, a PKCS#1 or
//! SEC1 file where PKCS#8 is expected. The `kid` of a key is its RFC 7638
//! JWK thumbprint, the same on every node that holds the key.
//!
//! These types never share a type with an HMAC secret, so an HMAC token can
//! never be checked against a public key's bytes (the RS/HS confusion).
//! Signing and verification go through `jsonwebtoken`.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::EncodingKey;
use pkcs8::{der::pem, ObjectIdentifier};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{error::ConfigError, jwt::algorithm::Algorithm};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The smallest RSA modulus accepted (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted: the limit of the RSA implementation.
pub const MAX_RSA_BITS: usize = 4096;

/// The kind of key a PKCS#8 or SPKI structure holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn from_oids(
        algorithm: ObjectIdentifier,
        parameters: Option<ObjectIdentifier>,
    ) -> Option<Self> {
        match (algorithm, parameters) {
            (RSA_ENCRYPTION, _) => Some(Self::Rsa),
            (EC_PUBLIC_KEY, Some(SECP256R1)) => Some(Self::P256),
            (EC_PUBLIC_KEY, Some(SECP384R1)) => Some(Self::P384),
            (ED25519, None) => Some(Self::Ed25519),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rsa => "an RSA key",
            Self::P256 => "an EC P-256 key",
            Self::P384 => "an EC P-384 key",
            Self::Ed25519 => "an Ed25519 key",
        }
    }

    /// The kind of key `algorithm` needs, or `None` for HMAC.
    fn for_algorithm(algorithm: Algorithm) -> Option<Self> {
        match algorithm {
            Algorithm::RS256 | Algorithm::PS256 => Some(Self::Rsa),
            Algorithm::ES256 => Some(Self::P256),
            Algorithm::ES384 => Some(Self::P384),
            Algorithm::EdDSA => Some(Self::Ed25519),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
        }
    }
}

fn invalid(algorithm: Algorithm, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidKey {
        algorithm,
        reason: reason.into(),
    }
}

/// Decodes one PEM block and checks its label.
fn decode_pem(
    algorithm: Algorithm,
    text: &[u8],
    expected: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let text = trim_ascii(text);
    let label = pem::decode_label(text).map_err(|_| invalid(algorithm, "not a PEM file"))?;
    if label != expected {
        let hint = match label {
            "RSA PRIVATE KEY" => {
                "a PKCS#1 RSA private key; convert it with `openssl pkcs8 -topk8 -nocrypt`"
            }
            "EC PRIVATE KEY" => {
                "a SEC1 EC private key; convert it with `openssl pkcs8 -topk8 -nocrypt`"
            }
            "ENCRYPTED PRIVATE KEY" => {
                "an encrypted private key; decrypt it with `openssl pkcs8 -topk8 -nocrypt`"
            }
            "RSA PUBLIC KEY" => {
                "a PKCS#1 RSA public key; convert it with `openssl rsa -RSAPublicKey_in -pubout`"
            }
            "PRIVATE KEY" => "a private key where a public key (SPKI) is expected",
            "PUBLIC KEY" => "a public key where a private key (PKCS#8) is expected",
            _ => "a PEM block of another kind",
        };
        return Err(invalid(
            algorithm,
            format!("found \"{label}\", {hint}; expected \"{expected}\""),
        ));
    }
    let (_, der) =
        pem::decode_vec(text).map_err(|e| invalid(algorithm, format!("bad PEM: {e}")))?;
    Ok(Zeroizing::new(der))
}

fn trim_ascii(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if !first.is_ascii_whitespace() {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !last.is_ascii_whitespace() {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// The kind of key an AlgorithmIdentifier names, if it is the one
/// `algorithm` needs.
fn check_kind(
    algorithm: Algorithm,
    identifier: &pkcs8::AlgorithmIdentifierRef<'_>,
) -> Result<KeyKind, ConfigError> {
    let found = identifier
        .oids()
        .ok()
        .and_then(|(alg, params)| KeyKind::from_oids(alg, params));
    let Some(needed) = KeyKind::for_algorithm(algorithm) else {
        return Err(ConfigError::KeyWithHmacAlgorithm(algorithm));
    };
    match found {
        Some(kind) if kind == needed => Ok(kind),
        Some(kind) => Err(ConfigError::WrongKeyKind {
            algorithm,
            expected: needed.name(),
            found: kind.name(),
        }),
        None => Err(ConfigError::WrongKeyKind {
            algorithm,
            expected: needed.name(),
            found: "a key of an unsupported type",
        }),
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), ConfigError> {
    if bits < MIN_RSA_BITS {
        return Err(ConfigError::WeakRsaKey { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(ConfigError::RsaKeyTooLarge { bits });
    }
    Ok(())
}

/// A private key that signs tokens, with the public key that verifies them.
///
/// ```
/// use tower_jwt_session::{Algorithm, KeyPair, NewSession, SessionManager};
///
/// let pem = include_bytes!("../../tests/keys/p256.pem");
/// let pair = KeyPair::from_pkcs8_pem(Algorithm::ES256, pem)?;
/// assert_eq!(pair.kid().len(), 43); // an RFC 7638 thumbprint
/// let manager = SessionManager::builder(pair)
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .build()?;
/// let issued = manager.issue(NewSession::new("u-1", "ada@example.com")).unwrap();
/// assert!(manager.decode(issued.token()).is_ok());
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeyPair {
    encoding: EncodingKey,
    public: PublicKey,
}

impl KeyPair {
    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`) for
    /// `algorithm`: RSA for `RS256` and `PS256`, P-256 for `ES256`, P-384 for
    /// `ES384`, Ed25519 for `EdDSA`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the problem: not PEM, PKCS#1/SEC1/encrypted
    /// instead of PKCS#8, a key of the wrong kind for `algorithm`, an RSA key
    /// under 2048 or over 4096 bits, an HMAC algorithm.
    pub fn from_pkcs8_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let der = decode_pem(algorithm, pem, "PRIVATE KEY")?;
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| invalid(algorithm, format!("not a PKCS#8 private key: {e}")))?;
        let kind = check_kind(algorithm, &info.algorithm)?;
        let bad = |e: &dyn fmt::Display| invalid(algorithm, format!("unreadable key: {e}"));
        let (encoding, public) = match kind {
            KeyKind::Rsa => {
                use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs8::DecodePrivateKey};
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
                let pkcs1 = key.to_pkcs1_der().map_err(|e| bad(&e))?;
                let public = PublicKey::from_rsa(algorithm, &rsa::RsaPublicKey::from(&key))?;
                (EncodingKey::from_rsa_der(pkcs1.as_bytes()), public)
            }
            KeyKind::P256 => {
                use p256::pkcs8::DecodePrivateKey;
                let key = p256::SecretKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
                let public = PublicKey::from_p256(algorithm, &key.public_key());
                (EncodingKey::from_ec_der(&der), public)
            }
            KeyKind::P384 => {
                use p384::pkcs8::DecodePrivateKey;
                let key = p384::SecretKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
                let public = PublicKey::from_p384(algorithm, &key.public_key());
                (EncodingKey::from_ec_der(&der), public)
            }
            KeyKind::Ed25519 => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
                let public = PublicKey::from_ed25519(algorithm, &key.verifying_key());
                (EncodingKey::from_ed_der(&der), public)
            }
        };
        Ok(Self { encoding, public })
    }

    /// The public half, to give to services that only verify.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's identifier: the RFC 7638 thumbprint of its public key.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("algorithm", &self.public.algorithm)
            .field("kid", &self.public.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// A public key that verifies tokens and cannot sign them.
///
/// Two public keys are equal when they are the same key for the same
/// algorithm.
///
/// ```
/// use tower_jwt_session::{Algorithm, KeyPair, PublicKey};
///
/// let public = PublicKey::from_spki_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pub.pem"))?;
/// let pair = KeyPair::from_pkcs8_pem(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pem"))?;
/// assert_eq!(&public, pair.public_key());
/// assert_eq!(public.kid(), pair.kid());
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    verifier: Verifier,
    kid: String,
    signature_len: usize,
    /// The JWK's required members, canonical (RFC 7638 §3.2).
    jwk: String,
}

impl PublicKey {
    /// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`) for
    /// `algorithm` (see [`KeyPair::from_pkcs8_pem`] for the kinds).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the problem, as for
    /// [`KeyPair::from_pkcs8_pem`].
    pub fn from_spki_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let der = decode_pem(algorithm, pem, "PUBLIC KEY")?;
        let info = pkcs8::SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| invalid(algorithm, format!("not an SPKI public key: {e}")))?;
        let kind = check_kind(algorithm, &info.algorithm)?;
        let bad = |e: &dyn fmt::Display| invalid(algorithm, format!("unreadable key: {e}"));
        match kind {
            KeyKind::Rsa => {
                use rsa::pkcs8::DecodePublicKey;
                let key = rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| bad(&e))?;
                Self::from_rsa(algorithm, &key)
            }
            KeyKind::P256 => {
                use p256::pkcs8::DecodePublicKey;
                let key = p256::PublicKey::from_public_key_der(&der).map_err(|e| bad(&e))?;
                Ok(Self::from_p256(algorithm, &key))
            }
            KeyKind::P384 => {
                use p384::pkcs8::DecodePublicKey;
                let key = p384::PublicKey::from_public_key_der(&der).map_err(|e| bad(&e))?;
                Ok(Self::from_p384(algorithm, &key))
            }
            KeyKind::Ed25519 => {
                use ed25519_dalek::pkcs8::DecodePublicKey;
                let key =
                    ed25519_dalek::VerifyingKey::from_public_key_der(&der).map_err(|e| bad(&e))?;
                Ok(Self::from_ed25519(algorithm, &key))
            }
        }
    }

    fn from_rsa(algorithm: Algorithm, key: &rsa::RsaPublicKey) -> Result<Self, ConfigError> {
        use rsa::traits::PublicKeyParts;
        let bits = key.n().bits();
        check_rsa_bits(bits)?;
        let n = key.n().to_bytes_be();
        if super::roca::has_fingerprint(&n) {
            return Err(ConfigError::VulnerableRsaKey);
        }
        let e = key.e().to_bytes_be();
        let jwk = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&e),
            URL_SAFE_NO_PAD.encode(&n)
        );
        let kid = thumbprint(&jwk);
        Ok(Self {
            algorithm,
            verifier: Verifier::Rsa(
                ring::signature::RsaPublicKeyComponents { n, e },
                match algorithm {
                    Algorithm::PS256 => &ring::signature::RSA_PSS_2048_8192_SHA256,
                    _ => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                },
            ),
            kid,
            signature_len: bits.div_ceil(8),
            jwk,
        })
    }

    fn from_p256(algorithm: Algorithm, key: &p256::PublicKey) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = key.to_encoded_point(false);
        Self::from_ec_point(algorithm, "P-256", point.as_bytes(), 32)
    }

    fn from_p384(algorithm: Algorithm, key: &p384::PublicKey) -> Self {
        use p384::elliptic_curve::sec1::ToEncodedPoint;
        let point = key.to_encoded_point(false);
        Self::from_ec_point(algorithm, "P-384", point.as_bytes(), 48)
    }

    /// `point` is the uncompressed SEC1 encoding: `04 || x || y`.
    fn from_ec_point(algorithm: Algorithm, crv: &str, point: &[u8], size: usize) -> Self {
        let (x, y) = point[1..].split_at(size);
        let jwk = format!(
            r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        Self {
            algorithm,
            verifier: Verifier::Other(ring::signature::UnparsedPublicKey::new(
                if size == 32 {
                    &ring::signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &ring::signature::ECDSA_P384_SHA384_FIXED
                },
                point.to_vec(),
            )),
            kid: thumbprint(&jwk),
            signature_len: 2 * size,
            jwk,
        }
    }

    fn from_ed25519(algorithm: Algorithm, key: &ed25519_dalek::VerifyingKey) -> Self {
        let x = key.to_bytes();
        let jwk = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x)
        );
        Self {
            algorithm,
            verifier: Verifier::Other(ring::signature::UnparsedPublicKey::new(
                &ring::signature::ED25519,
                x.to_vec(),
            )),
            kid: thumbprint(&jwk),
            signature_len: 64,
            jwk,
        }
    }

    /// The algorithm a JWK is for: the one its `alg` names (when it is one
    /// of the supported asymmetric algorithms), else the one its type
    /// implies: `EC` P-256 ES256, P-384 ES384, `OKP` Ed25519 EdDSA, `RSA`
    /// RS256. `None` for any other key (`oct` included).
    pub(crate) fn algorithm_of_jwk(jwk: &serde_json::Value) -> Option<Algorithm> {
        let member = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
        if let Some(alg) = jwk.get("alg") {
            return alg
                .as_str()
                .and_then(|a| a.parse::<Algorithm>().ok())
                .filter(|a| !a.is_hmac());
        }
        match (member("kty")?, member("crv")) {
            ("RSA", _) => Some(Algorithm::RS256),
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("EC", Some("P-384")) => Some(Algorithm::ES384),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            _ => None,
        }
    }

    /// Reads a public key from a JWK (RFC 7517, RFC 7518 §6) for
    /// `algorithm`: `RSA` (`n`, `e`) for RS256 and PS256, `EC` with `crv`
    /// `P-256` or `P-384` (`x`, `y`, checked to be on the curve) for ES256
    /// and ES384, `OKP` with `crv` `Ed25519` (`x`) for EdDSA. The key's
    /// [`kid`](Self::kid) is the JWK's `kid` member when it has one (the
    /// name tokens use for it), else its RFC 7638 thumbprint.
    ///
    /// A JWK that says it is for something else is refused: an `alg` other
    /// than `algorithm`, a `use` other than `sig`, a `key_ops` without
    /// `verify`. Symmetric (`oct`) keys and private members (`d`, `p`, ...)
    /// are refused too: this reads public keys only.
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, PublicKey};
    /// let pem = PublicKey::from_spki_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pub.pem"))?;
    /// let jwk = PublicKey::from_jwk(Algorithm::ES256, &pem.to_jwk())?;
    /// assert_eq!(jwk, pem);
    /// assert_eq!(jwk.kid(), pem.kid());
    /// // The same key offered for another algorithm is refused.
    /// assert!(PublicKey::from_jwk(Algorithm::ES384, &pem.to_jwk()).is_err());
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] naming the problem,
    /// [`ConfigError::WeakRsaKey`] / [`ConfigError::RsaKeyTooLarge`] for an
    /// RSA modulus outside 2048 to 4096 bits,
    /// [`ConfigError::VulnerableRsaKey`] for a key with the ROCA
    /// fingerprint.
    pub fn from_jwk(algorithm: Algorithm, jwk: &serde_json::Value) -> Result<Self, ConfigError> {
        let bad = |reason: &str| invalid(algorithm, format!("JWK: {reason}"));
        let jwk = jwk.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let member = |name: &str| -> Result<Option<&str>, ConfigError> {
            match jwk.get(name) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(&format!("`{name}` is not a string"))),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, ConfigError> {
            let text = member(name)?.ok_or_else(|| bad(&format!("`{name}` is missing")))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| bad(&format!("`{name}` is not base64url")))
        };
        let kind = KeyKind::for_algorithm(algorithm)
            .ok_or_else(|| bad("a JWK Set holds public keys: use an asymmetric algorithm"))?;
        if let Some(alg) = member("alg")? {
            if alg != algorithm.as_str() {
                return Err(bad(&format!(
                    "the key is for {alg}, not {}",
                    algorithm.as_str()
                )));
            }
        }
        if let Some(usage) = member("use")? {
            if usage != "sig" {
                return Err(bad(&format!("the key is for use {usage:?}, not \"sig\"")));
            }
        }
        if let Some(ops) = jwk.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
            if !verifies {
                return Err(bad("the key's key_ops do not include \"verify\""));
            }
        }
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| jwk.contains_key(*m))
        {
            return Err(bad("the JWK holds private or secret members"));
        }
        let kty = member("kty")?.ok_or_else(|| bad("`kty` is missing"))?;
        let crv = member("crv")?;
        let key = match (kind, kty, crv) {
            (KeyKind::Rsa, "RSA", _) => {
                let n = rsa::BigUint::from_bytes_be(&bytes("n")?);
                let e = rsa::BigUint::from_bytes_be(&bytes("e")?);
                check_rsa_bits(n.bits())?;
                let key = rsa::RsaPublicKey::new(n, e)
                    .map_err(|e| bad(&format!("unusable RSA key: {e}")))?;
                Self::from_rsa(algorithm, &key)?
            }
            (KeyKind::P256, "EC", Some("P-256")) => {
                let point = ec_point(&bytes("x")?, &bytes("y")?, 32)
                    .ok_or_else(|| bad("`x` and `y` must be 32 bytes each"))?;
                let key = p256::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| bad("the point is not on P-256"))?;
                Self::from_p256(algorithm, &key)
            }
            (KeyKind::P384, "EC", Some("P-384")) => {
                let point = ec_point(&bytes("x")?, &bytes("y")?, 48)
                    .ok_or_else(|| bad("`x` and `y` must be 48 bytes each"))?;
                let key = p384::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| bad("the point is not on P-384"))?;
                Self::from_p384(algorithm, &key)
            }
            (KeyKind::Ed25519, "OKP", Some("Ed25519")) => {
                let x: [u8; 32] = bytes("x")?
                    .try_into()
                    .map_err(|_| bad("`x` must be 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| bad("`x` is not an Ed25519 public key"))?;
                Self::from_ed25519(algorithm, &key)
            }
            (_, kty, crv) => {
                return Err(bad(&format!(
                    "{} needs {}; the JWK is kty {kty:?}{}",
                    algorithm.as_str(),
                    kind.name(),
                    crv.map(|c| format!(" crv {c:?}")).unwrap_or_default()
                )))
            }
        };
        match member("kid")? {
            Some(kid) => Ok(key.with_kid(kid)),
            None => Ok(key),
        }
    }

    /// The same key under the name `kid` (a JWK Set's own key id).
    fn with_kid(mut self, kid: &str) -> Self {
        self.kid = kid.to_owned();
        self
    }

    /// The key's identifier, written in the `kid` header of tokens it
    /// verifies: its RFC 7638 JWK thumbprint (SHA-256, base64url), or the
    /// `kid` of the JWK it was read from.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key as a JWK (RFC 7517) with its `kid`, `alg` and `"use": "sig"`:
    /// put it in a JWKS document (`{"keys": [...]}`) for verifiers written
    /// in other languages.
    ///
    /// ```
    /// # use tower_jwt_session::{Algorithm, PublicKey};
    /// let key = PublicKey::from_spki_pem(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pub.pem"))?;
    /// let jwk = key.to_jwk();
    /// assert_eq!(jwk["kty"], "EC");
    /// assert_eq!(jwk["crv"], "P-256");
    /// assert_eq!(jwk["kid"], key.kid());
    /// assert_eq!(jwk["alg"], "ES256");
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn to_jwk(&self) -> serde_json::Value {
        // Our own canonical JSON of base64url strings and curve names.
        let mut jwk: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.jwk).unwrap_or_default();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), self.algorithm.as_str().into());
        jwk.insert("use".into(), "sig".into());
        jwk.into()
    }

    /// The RFC 7638 thumbprint of the key, whatever its `kid` (DPoP's
    /// `jkt`).
    pub(crate) fn thumbprint(&self) -> String {
        thumbprint(&self.jwk)
    }

    /// The length in bytes of a signature this key verifies.
    pub(crate) fn signature_len(&self) -> usize {
        self.signature_len
    }

    /// Checks a signature over `signing_input`: `signature` is the token's
    /// third segment decoded, [`signature_len`](Self::signature_len) bytes.
    pub(crate) fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Rsa(key, params) => key.verify(params, signing_input, signature).is_ok(),
            Verifier::Other(key) => key.verify(signing_input, signature).is_ok(),
        }
    }
}

/// A public key, ready for ring's verification: a whole cold `decode` got
/// 3.4x (ES256) and 5.8x (RS256) faster than with jsonwebtoken's
/// RustCrypto backend (BENCHMARKS.md). Signing stays with jsonwebtoken.
#[derive(Clone)]
enum Verifier {
    Rsa(
        ring::signature::RsaPublicKeyComponents<Vec<u8>>,
        &'static ring::signature::RsaParameters,
    ),
    Other(ring::signature::UnparsedPublicKey<Vec<u8>>),
}

/// `04 || x || y`, the uncompressed SEC1 point, when both are `size` bytes.
fn ec_point(x: &[u8], y: &[u8], size: usize) -> Option<Vec<u8>> {
    (x.len() == size && y.len() == size).then(|| [&[4u8][..], x, y].concat())
}

/// RFC 7638: SHA-256 of the JWK's required members, in lexicographic order
/// and without whitespace, as base64url.
fn thumbprint(canonical_jwk: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical_jwk.as_bytes()))
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        // The same key material for the same algorithm, whatever its name.
        self.algorithm == other.algorithm && self.jwk == other.jwk
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn thumbprint_matches_rfc_7638_section_3_1() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn every_kind_reads_and_pairs_with_its_public_key() {
        for (alg, name) in [
            (Algorithm::RS256, "rsa2048"),
            (Algorithm::PS256, "rsa2048"),
            (Algorithm::ES256, "p256"),
            (Algorithm::ES384, "p384"),
            (Algorithm::EdDSA, "ed25519"),
        ] {
            let pair = KeyPair::from_pkcs8_pem(alg, &key(&format!("{name}.pem"))).unwrap();
            let public = PublicKey::from_spki_pem(alg, &key(&format!("{name}.pub.pem"))).unwrap();
            assert_eq!(pair.public_key(), &public, "{alg}");
            assert_eq!(public.kid().len(), 43);
            let jwk = public.to_jwk();
            assert_eq!(jwk["alg"], alg.as_str());
            assert!(
                jwk["kty"].is_string() && jwk["kid"] == public.kid(),
                "{jwk}"
            );
        }
    }

    #[test]
    fn wrong_kinds_are_named() {
        let err = KeyPair::from_pkcs8_pem(Algorithm::ES256, &key("rsa2048.pem")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key is an RSA key; ES256 needs an EC P-256 key"
        );
        let err = PublicKey::from_spki_pem(Algorithm::ES384, &key("p256.pub.pem")).unwrap_err();
        assert!(matches!(err, ConfigError::WrongKeyKind { .. }), "{err}");
        let err = KeyPair::from_pkcs8_pem(Algorithm::HS256, &key("p256.pem")).unwrap_err();
        assert_eq!(err, ConfigError::KeyWithHmacAlgorithm(Algorithm::HS256));
    }

    #[test]
    fn weak_rsa_keys_are_refused() {
        for err in [
            KeyPair::from_pkcs8_pem(Algorithm::RS256, &key("rsa1024.pem")).unwrap_err(),
            PublicKey::from_spki_pem(Algorithm::PS256, &key("rsa1024.pub.pem")).unwrap_err(),
        ] {
            assert_eq!(err, ConfigError::WeakRsaKey { bits: 1024 });
        }
    }

    #[test]
    fn other_pem_formats_get_a_hint() {
        let err = KeyPair::from_pkcs8_pem(Algorithm::RS256, &key("rsa2048-pkcs1.pem")).unwrap_err();
        assert!(err.to_string().contains("PKCS#1"), "{err}");
        let err = KeyPair::from_pkcs8_pem(Algorithm::ES256, &key("p256-sec1.pem")).unwrap_err();
        assert!(err.to_string().contains("SEC1"), "{err}");
        let err = KeyPair::from_pkcs8_pem(Algorithm::ES256, &key("p256.pub.pem")).unwrap_err();
        assert!(
            err.to_string().contains("public key where a private key"),
            "{err}"
        );
        let err = PublicKey::from_spki_pem(Algorithm::ES256, &key("p256.pem")).unwrap_err();
        assert!(
            err.to_string().contains("private key where a public key"),
            "{err}"
        );
        for junk in [
            &b""[..],
            b"hello",
            b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n",
        ] {
            let err = PublicKey::from_spki_pem(Algorithm::ES256, junk).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidKey { .. }), "{err}");
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let pair = KeyPair::from_pkcs8_pem(Algorithm::EdDSA, &key("ed25519.pem")).unwrap();
        let shown = format!("{pair:?}");
        assert!(
            shown.contains("redacted") && shown.contains(pair.kid()),
            "{shown}"
        );
    }

    #[test]
    fn a_jwks_algorithm_is_its_alg_or_what_its_type_implies() {
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-384"});
        assert_eq!(PublicKey::algorithm_of_jwk(&jwk), Some(Algorithm::ES384));
        let jwk = serde_json::json!({"kty": "RSA", "alg": "PS256"});
        assert_eq!(PublicKey::algorithm_of_jwk(&jwk), Some(Algorithm::PS256));
        assert_eq!(
            PublicKey::algorithm_of_jwk(&serde_json::json!({"kty": "oct"})),
            None
        );
    }
}
