//! The C2SP Wycheproof and RFC 7520 (JOSE cookbook) vectors in
//! `tests/fixtures/jose-vectors`: every vector marked invalid is refused
//! by the paths this crate verifies with (a JWK or a JWK Set of public
//! keys, the signature check, an HMAC secret under the manager's length
//! rules), and none panics. Valid vectors of the algorithms the crate
//! supports are accepted.

use std::path::PathBuf;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::Value;

use crate::{
    jwks::JwkSet,
    jwt::algorithm::Algorithm,
    jwt::asymmetric::PublicKey,
    jwt::{
        key::HmacKey,
        token::{decode_signature, parse_header, split, verify_with},
    },
};

fn vectors(name: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/jose-vectors",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A JWK of an EC point given as Wycheproof's hex coordinates.
fn ec_jwk(key: &Value) -> Value {
    let (crv, size) = match key["curve"].as_str().unwrap() {
        "secp256r1" => ("P-256", 32),
        "secp384r1" => ("P-384", 48),
        other => panic!("curve {other}"),
    };
    let coordinate = |name: &str| {
        let mut bytes = hex(key[name].as_str().unwrap());
        while bytes.len() > size && bytes[0] == 0 {
            bytes.remove(0);
        }
        while bytes.len() < size {
            bytes.insert(0, 0);
        }
        URL_SAFE_NO_PAD.encode(bytes)
    };
    serde_json::json!({"kty": "EC", "crv": crv, "x": coordinate("wx"), "y": coordinate("wy")})
}

/// Wycheproof's raw signature vectors, through a key made from the group's
/// JWK and the crate's signature check.
#[test]
fn wycheproof_signatures() {
    let files = [
        ("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256),
        ("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384),
        ("ed25519_test.json", Algorithm::EdDSA),
        ("rsa_signature_2048_sha256_test.json", Algorithm::RS256),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256),
    ];
    for (file, alg) in files {
        let doc = vectors(&format!("wycheproof/{file}"));
        let (mut valid, mut invalid) = (0, 0);
        for group in doc["testGroups"].as_array().unwrap() {
            let mut jwk = match group.get("publicKeyJwk").or_else(|| group.get("keyJwk")) {
                Some(jwk) => jwk.clone(),
                // Some EC groups give the point only (as hex coordinates).
                None => ec_jwk(&group["publicKey"]),
            };
            jwk.as_object_mut().unwrap().remove("kid");
            let key = PublicKey::from_jwk(alg, &jwk);
            for test in group["tests"].as_array().unwrap() {
                let id = &test["tcId"];
                let msg = hex(test["msg"].as_str().unwrap());
                let sig = URL_SAFE_NO_PAD.encode(hex(test["sig"].as_str().unwrap()));
                let accepted = key
                    .as_ref()
                    .is_ok_and(|k| verify_with(k, &msg, sig.as_bytes()).unwrap_or(false));
                match test["result"].as_str().unwrap() {
                    "invalid" => {
                        invalid += 1;
                        assert!(
                            !accepted,
                            "{file} tcId {id}: an invalid vector was accepted"
                        );
                    }
                    "valid" => {
                        valid += 1;
                        assert!(accepted, "{file} tcId {id}: a valid vector was refused");
                    }
                    // "acceptable": either answer, but never a panic.
                    _ => {}
                }
            }
        }
        assert!(
            valid > 0 && invalid > 0,
            "{file}: {valid} valid, {invalid} invalid"
        );
    }
}

/// Verifies the compact JWS `jws` as the crate would: the header parsed,
/// every segment strict base64url, then the key by `kid` from a JWK Set of
/// `keys` (public keys only; `oct` keys never), or an HMAC secret from a
/// single `oct` key when `hmac_secret` allows one (the manager's length
/// rule applied).
fn jws_accepted(jws: &str, keys: &Value, hmac_secret: bool) -> bool {
    let Ok(parts) = split(jws.as_bytes()) else {
        return false;
    };
    let Ok(header) = parse_header(parts.header) else {
        return false;
    };
    if header.crit || URL_SAFE_NO_PAD.decode(parts.payload).is_err() {
        return false;
    }
    let Ok(alg) = header.alg.parse::<Algorithm>() else {
        return false;
    };
    let set = match keys.get("keys") {
        Some(_) => keys.clone(),
        None => serde_json::json!({ "keys": [keys] }),
    };
    if let Some(min) = alg.min_secret_len() {
        let list = set["keys"].as_array().unwrap();
        if !hmac_secret || list.len() != 1 {
            return false;
        }
        let jwk = &list[0];
        if jwk["kty"] != "oct" || jwk.get("alg").is_some_and(|a| a != alg.as_str()) {
            return false;
        }
        let Some(secret) = jwk["k"]
            .as_str()
            .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
        else {
            return false;
        };
        if secret.len() < min {
            return false;
        }
        let Ok(key) = HmacKey::new(alg, &secret) else {
            return false;
        };
        let mut tag = [0u8; 64];
        let tag = &mut tag[..key.tag_len()];
        return decode_signature(parts.signature, tag).is_ok()
            && key.verify(parts.signing_input, tag);
    }
    let Ok(set) = JwkSet::parse_any(set.to_string().as_bytes()) else {
        return false;
    };
    let key = match header.kid.as_deref() {
        Some(kid) => set.get(kid),
        None => set.only(),
    };
    key.is_some_and(|k| {
        k.algorithm() == alg
            && verify_with(k, parts.signing_input, parts.signature).unwrap_or(false)
    })
}

/// Wycheproof's JWK and JWS vectors: keys with the ROCA fingerprint, weak,
/// of the wrong use, curve, type or algorithm, and modified signatures,
/// headers and encodings.
#[test]
fn wycheproof_jwk_and_jws() {
    for file in ["json_web_key_test.json", "json_web_signature_test.json"] {
        let doc = vectors(&format!("wycheproof/{file}"));
        let mut checked = 0;
        for group in doc["testGroups"].as_array().unwrap() {
            // Public keys when the group has them; a private key is never
            // taken as a verification key.
            let keys = group.get("public").unwrap_or(&group["private"]);
            // An HMAC secret is configured by the application, never taken
            // from a JWK Set: tried only for a group of one `oct` key.
            let hmac_secret = group.get("public").is_none();
            let valid: Vec<&str> = group["tests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["result"] == "valid")
                .filter_map(|t| t["jws"].as_str())
                .collect();
            for test in group["tests"].as_array().unwrap() {
                let Some(jws) = test["jws"].as_str() else {
                    continue;
                };
                if test["result"] == "invalid" {
                    checked += 1;
                    // Two padding vectors lost their `=` in this copy and
                    // are the very text of a valid vector: their intended
                    // form (named by their comment) is checked instead.
                    let padded;
                    let jws = if valid.contains(&jws) {
                        let (head, rest) = jws.split_once('.').unwrap();
                        let (payload, sig) = rest.split_once('.').unwrap();
                        padded = match test["comment"].as_str() {
                            Some("invalidBase64Padding") => format!("{jws}="),
                            Some("invalidBase64PaddingInPayload") => {
                                format!("{head}.{payload}==.{sig}")
                            }
                            other => panic!("tcId {}: {other:?} is also valid", test["tcId"]),
                        };
                        padded.as_str()
                    } else {
                        jws
                    };
                    assert!(
                        !jws_accepted(jws, keys, hmac_secret),
                        "{file} tcId {} ({}): an invalid vector was accepted",
                        test["tcId"],
                        group["comment"]
                    );
                }
            }
        }
        assert!(checked > 20, "{file}: {checked} invalid vectors");
    }
}

/// The ROCA key of Wycheproof (tcId 7) is refused at load, from a JWK and
/// from a JWK Set, with an error that names the flaw.
#[test]
fn the_roca_key_is_refused_at_load() {
    let doc = vectors("wycheproof/json_web_key_test.json");
    let group = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    let jwk = &group["public"]["keys"][0];
    let err = PublicKey::from_jwk(Algorithm::RS256, jwk).unwrap_err();
    assert_eq!(err, crate::error::ConfigError::VulnerableRsaKey);
    assert!(err.to_string().contains("ROCA"), "{err}");
    assert!(JwkSet::parse_any(group["public"].to_string().as_bytes()).is_err());
    // And as a PEM public key.
    {
        use rsa::pkcs8::EncodePublicKey;
        let int = |name: &str| {
            rsa::BigUint::from_bytes_be(
                &URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap(),
            )
        };
        let pem = rsa::RsaPublicKey::new(int("n"), int("e"))
            .unwrap()
            .to_public_key_pem(Default::default())
            .unwrap();
        let err = PublicKey::from_spki_pem(Algorithm::RS256, pem.as_bytes()).unwrap_err();
        assert_eq!(err, crate::error::ConfigError::VulnerableRsaKey);
    }
    // Every other RSA key of the vectors loads (no false positive).
    for group in doc["testGroups"].as_array().unwrap() {
        for jwk in group["public"]["keys"].as_array().into_iter().flatten() {
            if jwk["kty"] == "RSA" && jwk["alg"] == "RS256" && jwk["kid"] != "kid-rsa-roca-sign" {
                let err = PublicKey::from_jwk(Algorithm::RS256, jwk).err();
                assert_ne!(err, Some(crate::error::ConfigError::VulnerableRsaKey));
            }
        }
    }
}

/// RFC 7520's JWS examples (the cookbook): the ones this crate's
/// algorithms cover verify with the cookbook's public key, and a changed
/// payload does not.
#[test]
fn rfc_7520_cookbook() {
    let mut verified = 0;
    for (file, alg) in [
        ("jws_4_1.rsa_v15_signature.json", Algorithm::RS256),
        ("jws_4_3.ecdsa_signature.json", Algorithm::ES256),
    ] {
        let doc = vectors(&format!("cookbook/{file}"));
        let Some(compact) = doc["output"]["compact"].as_str() else {
            continue;
        };
        let mut jwk = doc["input"]["key"].clone();
        let obj = jwk.as_object_mut().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            obj.remove(private);
        }
        let Ok(key) = PublicKey::from_jwk(alg, &jwk) else {
            // ES512 (P-521) is not among the crate's algorithms.
            assert_eq!(doc["input"]["alg"], "ES512", "{file}");
            continue;
        };
        let parts = split(compact.as_bytes()).unwrap();
        assert!(verify_with(&key, parts.signing_input, parts.signature).unwrap());
        let (head, rest) = compact.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let changed = format!("{head}.{}", URL_SAFE_NO_PAD.encode(b"changed"));
        assert!(!verify_with(&key, changed.as_bytes(), sig.as_bytes()).unwrap_or(false));
        verified += 1;
    }
    assert_eq!(verified, 1);
}
