//! [`JwkSet`]: the usable keys of an RFC 7517 JWK Set, by `kid`.

use std::{collections::HashMap, fmt};

use crate::{error::JwksError, jwt::algorithm::Algorithm, jwt::asymmetric::PublicKey};

/// The keys of a JWK Set (RFC 7517 §5) that verify tokens of one algorithm,
/// by `kid`: parsed once, looked up in O(1).
///
/// A key counts when its `kty` and `crv` fit the algorithm, its `alg` (if
/// any) is the algorithm, its `use` (if any) is `sig`, it has a `kid`, and
/// its key material is valid (a point on the curve, an RSA modulus of 2048
/// to 4096 bits). Symmetric (`oct`) keys never count. Every other key is
/// skipped, not an error; of two keys with one `kid`, the first counts.
///
/// ```
/// use tower_jwt_session::{jwks::JwkSet, Algorithm};
///
/// let doc = br#"{"keys": [
///     {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA",
///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///     {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
///     {"kty": "EC", "crv": "P-256", "kid": "k2",
///      "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///      "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
/// ]}"#;
/// let set = JwkSet::parse(Algorithm::EdDSA, doc)?;
/// assert_eq!(set.len(), 1);
/// assert!(set.get("k1").is_some());
/// assert!(set.get("shared").is_none()); // never an `oct` key
/// # Ok::<(), tower_jwt_session::JwksError>(())
/// ```
///
/// A set read with [`parse_any`](Self::parse_any) keeps keys of every
/// supported asymmetric algorithm instead, each for the algorithm its JWK
/// names (`alg`) or, without `alg`, the one its type implies: the keys of
/// an identity provider that signs with several algorithms.
#[derive(Clone)]
pub struct JwkSet {
    /// `None`: each key for its own algorithm.
    algorithm: Option<Algorithm>,
    keys: HashMap<String, PublicKey>,
    skipped: usize,
}

impl JwkSet {
    /// Reads a JWK Set document and keeps the keys usable with `algorithm`.
    ///
    /// # Errors
    ///
    /// [`JwksError::NotAJwkSet`] for a document that is not a JSON object
    /// with a `keys` array, [`JwksError::NoUsableKey`] when no key counts.
    pub fn parse(algorithm: Algorithm, document: &[u8]) -> Result<Self, JwksError> {
        Self::parse_for(Some(algorithm), document)
    }

    /// Reads a JWK Set document and keeps every key usable with a supported
    /// asymmetric algorithm, each for the algorithm its `alg` names or,
    /// without `alg`, the one its type implies (`EC` P-256: ES256, P-384:
    /// ES384, `OKP` Ed25519: EdDSA, `RSA`: RS256). A token is then verified
    /// with a key only when its header's `alg` is that key's algorithm.
    ///
    /// ```
    /// use tower_jwt_session::{jwks::JwkSet, Algorithm};
    ///
    /// let doc = br#"{"keys": [
    ///     {"kty": "OKP", "crv": "Ed25519", "kid": "k1",
    ///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    ///     {"kty": "EC", "crv": "P-256", "kid": "k2",
    ///      "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///      "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    /// ]}"#;
    /// let set = JwkSet::parse_any(doc)?;
    /// assert_eq!(set.get("k1").unwrap().algorithm(), Algorithm::EdDSA);
    /// assert_eq!(set.get("k2").unwrap().algorithm(), Algorithm::ES256);
    /// assert_eq!(set.algorithm(), None);
    /// # Ok::<(), tower_jwt_session::JwksError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn parse_any(document: &[u8]) -> Result<Self, JwksError> {
        Self::parse_for(None, document)
    }

    pub(crate) fn parse_for(
        algorithm: Option<Algorithm>,
        document: &[u8],
    ) -> Result<Self, JwksError> {
        let doc: serde_json::Value = serde_json::from_slice(document)
            .map_err(|e| JwksError::NotAJwkSet(format!("not JSON: {e}")))?;
        let entries = doc
            .as_object()
            .ok_or_else(|| JwksError::NotAJwkSet("not a JSON object".to_owned()))?
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| JwksError::NotAJwkSet("no `keys` array".to_owned()))?;
        let mut keys = HashMap::with_capacity(entries.len());
        let mut skipped = 0;
        for entry in entries {
            let Some(kid) = entry.get("kid").and_then(serde_json::Value::as_str) else {
                tracing::debug!("JWK without a string kid skipped");
                skipped += 1;
                continue;
            };
            if keys.contains_key(kid) {
                tracing::warn!(kid = %kid, "two keys in the JWK Set share one kid: the first is used");
                skipped += 1;
                continue;
            }
            let Some(for_alg) = algorithm.or_else(|| PublicKey::algorithm_of_jwk(entry)) else {
                tracing::debug!(kid = %kid, "JWK for no supported algorithm skipped");
                skipped += 1;
                continue;
            };
            match PublicKey::from_jwk(for_alg, entry) {
                Ok(key) => {
                    keys.insert(kid.to_owned(), key);
                }
                Err(e) => {
                    tracing::debug!(kid = %kid, reason = %e, "JWK skipped");
                    skipped += 1;
                }
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                algorithm: algorithm.map_or("any supported algorithm", Algorithm::as_str),
                skipped,
            });
        }
        Ok(Self {
            algorithm,
            keys,
            skipped,
        })
    }

    /// Whether `other` holds exactly these keys under exactly these ids (a
    /// key replaced under its `kid` is a change).
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn same_keys(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.keys == other.keys
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// The one key of a set that holds exactly one (for tokens without
    /// `kid`).
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn only(&self) -> Option<&PublicKey> {
        match self.keys.len() {
            1 => self.keys.values().next(),
            _ => None,
        }
    }

    /// The usable keys' ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The number of usable keys (at least one).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a set without a usable key is an error.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys of the document that were not usable.
    #[cfg(feature = "jwks")]
    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    /// The algorithm every key verifies; `None` for a set read with
    /// [`parse_any`](Self::parse_any), whose keys each have their own.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.kids().collect();
        kids.sort_unstable();
        f.debug_struct("JwkSet")
            .field("algorithm", &self.algorithm)
            .field("kids", &kids)
            .field("skipped", &self.skipped)
            .finish()
    }
}
