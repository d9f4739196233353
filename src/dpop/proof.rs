//! One DPoP proof JWT, checked as RFC 9449 §4.3 says.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{nonce::Nonces, DpopError, VerifiedProof, PROOF_WINDOW};
use crate::{
    jwt::algorithm::Algorithm,
    jwt::asymmetric::PublicKey,
    jwt::token::{decode_claims, split, verify_with},
    time::now_micros,
};

/// A proof header's outcome: its algorithm, its key, the key's thumbprint.
/// Clients sign every proof with one key, so the header's text repeats:
/// it is parsed (JSON, JWK, curve point, thumbprint) once and kept, keyed
/// by that exact text, once a proof under it has verified.
pub(crate) struct ProofKey {
    key: PublicKey,
    jkt: String,
}

/// Proof headers already parsed, by their base64url text.
pub(crate) type KeyCache = moka::sync::Cache<Box<str>, Arc<ProofKey>>;

/// A bounded [`KeyCache`]: one entry per client key seen lately.
pub(crate) fn key_cache() -> KeyCache {
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_idle(std::time::Duration::from_secs(600))
        .build()
}

/// The one `DPoP` header of a request.
pub(crate) fn header_proof(headers: &HeaderMap) -> Result<&str, DpopError> {
    let mut values = headers.get_all("dpop").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(DpopError::MissingProof);
    };
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| DpopError::InvalidProof("the DPoP header is not a JWT"))
}

/// An absolute `http(s)` URL without query and fragment, scheme and host
/// lowercased, a default port dropped; `None` if it is not one.
pub(crate) fn normalize(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = authority.to_ascii_lowercase();
    if authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    Some(format!("{scheme}://{authority}{path}"))
}

fn invalid(why: &'static str) -> DpopError {
    DpopError::InvalidProof(why)
}

/// The algorithm and key a proof's header names, checked: `typ`
/// `dpop+jwt`, no `crit`, an asymmetric `alg`, a public `jwk` for it.
fn header_key(header: &[u8]) -> Result<ProofKey, DpopError> {
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| invalid("the header is not base64url"))?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| invalid("the header is not a JSON object"))?;
    let text = |name: &str| header.get(name).and_then(Value::as_str);
    if !text("typ").is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(invalid("typ is not dpop+jwt"));
    }
    if header.contains_key("crit") {
        return Err(invalid("crit is not understood"));
    }
    let alg: Algorithm = text("alg")
        .and_then(|a| a.parse().ok())
        .filter(|a: &Algorithm| !a.is_hmac())
        .ok_or(invalid("alg is not an accepted asymmetric algorithm"))?;
    let jwk = header.get("jwk").ok_or(invalid("no jwk"))?;
    // Refuses private members, keys of the wrong kind, off-curve points.
    let key =
        PublicKey::from_jwk(alg, jwk).map_err(|_| invalid("jwk is not a public key for alg"))?;
    Ok(ProofKey {
        jkt: key.thumbprint(),
        key,
    })
}

/// Checks `proof` for a request to `htm` `htu` carrying `token` (its `ath`).
pub(crate) fn verify(
    proof: &str,
    htm: &str,
    htu: &str,
    token: Option<&str>,
    nonces: Option<&Nonces>,
    keys: &KeyCache,
) -> Result<VerifiedProof, DpopError> {
    let parts = split(proof.as_bytes()).map_err(|_| invalid("not a JWT"))?;
    let header_text = std::str::from_utf8(parts.header).map_err(|_| invalid("not a JWT"))?;
    let (key, known) = match keys.get(header_text) {
        Some(known) => (known, true),
        None => (Arc::new(header_key(parts.header)?), false),
    };
    if !verify_with(&key.key, parts.signing_input, parts.signature).unwrap_or(false) {
        return Err(invalid("the signature does not verify"));
    }
    if !known {
        keys.insert(header_text.into(), key.clone());
    }
    let claims =
        decode_claims(parts.payload).map_err(|_| invalid("the claims are not a JSON object"))?;
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(invalid("no jti"))?;
    if claim("htm") != Some(htm) {
        return Err(invalid("htm is not the request's method"));
    }
    if claim("htu").and_then(normalize).as_deref() != Some(htu) {
        return Err(invalid("htu is not the request's URL"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or(invalid("no numeric iat"))?;
    let skew = (iat * 1e6) as i64 - now_micros();
    if skew.unsigned_abs() > PROOF_WINDOW.as_micros() as u64 {
        return Err(invalid("iat is outside the accepted window"));
    }
    let mut token_digest = None;
    if let Some(token) = token {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let ath = URL_SAFE_NO_PAD.encode(digest);
        if claim("ath") != Some(ath.as_str()) {
            return Err(invalid("ath is not the token's hash"));
        }
        token_digest = Some(digest);
    }
    if let Some(nonces) = nonces {
        if !claim("nonce").is_some_and(|n| nonces.accepts(n)) {
            return Err(DpopError::UseNonce);
        }
    }
    Ok(VerifiedProof {
        jkt: key.jkt.clone(),
        jti: jti.to_owned(),
        token_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn urls_compare_as_rfc_9449_says() {
        assert_eq!(
            normalize("HTTPS://API.Example.com:443/me?x=1#f").as_deref(),
            Some("https://api.example.com/me")
        );
        assert_eq!(
            normalize("http://127.0.0.1:80/me").as_deref(),
            Some("http://127.0.0.1/me")
        );
        assert_eq!(
            normalize("http://127.0.0.1:8080/Me").as_deref(),
            Some("http://127.0.0.1:8080/Me")
        );
        assert_eq!(normalize("https://h").as_deref(), Some("https://h/"));
        for bad in ["ftp://h/x", "/me", "http:///me", "http://u@h/me", ""] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
