//! The JWS compact serialization: split, check the header, verify the tag,
//! then (and only then) parse the claims.
//!
//! Parsing is strict on purpose:
//! - exactly three segments, each canonical unpadded base64url (padding and
//!   non-zero trailing bits are refused, so a signature has one text);
//! - the header's `alg` must equal the configured algorithm, byte for byte
//!   (`none`, `hs256`, `RS256` are all refused);
//! - a `crit` header parameter is refused (RFC 7515 §4.1.11: no extension is
//!   understood here);
//! - the tag is checked in constant time (HMAC), or the signature with the
//!   public key (asymmetric), before the payload is decoded.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{de::IgnoredAny, Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use crate::{
    blocklist::TokenKey,
    error::MalformedToken,
    error::VerifyError,
    jwt::asymmetric::PublicKey,
    jwt::{
        claims::WireClaims,
        key::{by_kid, HmacKey, KeySet},
    },
};

/// The longest token accepted, in bytes. A seed-shaped token is under 1 KiB.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "some_string")]
    kid: Option<String>,
}

/// A present `kid` must be a string: `null` or a number is refused, not
/// read as "no kid".
fn some_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// The longest `kid` looked at. Ours are 22 characters; a `kid` is an opaque
/// name, compared exactly, never a path, URL or query.
const MAX_KID_LEN: usize = 128;

/// The `typ` written in tokens minted here (RFC 8725 §3.11: explicit typing).
pub(crate) const SESSION_TYP: &str = "session+jwt";

/// `typ` values accepted: none (the seed's tokens), the generic `JWT`, and
/// ours. Anything else (an email-link token, an access token of another
/// system signed with the same secret) is another kind of token.
fn accepted_typ(typ: Option<&str>) -> bool {
    match typ {
        None => true,
        Some(t) => {
            t.eq_ignore_ascii_case("JWT")
                || t.eq_ignore_ascii_case(SESSION_TYP)
                || t.eq_ignore_ascii_case("application/session+jwt")
        }
    }
}

/// `true` whenever the field is present, whatever its value (even `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// serde's derived `Deserialize` also accepts a struct as a JSON array of its
/// fields in order; a JOSE header and a claims set must be objects.
fn is_object(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// A token whose signature checked out, with its claims still unvalidated.
pub(crate) struct SignedToken<'t> {
    pub(crate) claims: WireClaims,
    /// The claims set's JSON, as decoded: the session's claims view.
    pub(crate) payload: Vec<u8>,
    digest_of: DigestOf<'t>,
}

/// What a token without `jti` is keyed on in the blocklist: a digest of the
/// signing input. For HMAC the verified tag is such a digest already; an
/// asymmetric signature is not (an ECDSA `(r, s)` has a twin `(r, n - s)`),
/// so the signing input itself is hashed.
enum DigestOf<'t> {
    Tag([u8; 64], usize),
    SigningInput(&'t [u8]),
}

impl SignedToken<'_> {
    /// The blocklist key of a token that has no `jti`.
    pub(crate) fn digest_key(&self) -> TokenKey {
        match &self.digest_of {
            DigestOf::Tag(tag, len) => TokenKey::from_tag_digest(&Sha256::digest(&tag[..*len])),
            DigestOf::SigningInput(input) => TokenKey::from_tag_digest(&Sha256::digest(input)),
        }
    }
}

/// The headers of tokens this manager mints (one per key) and the seed's
/// (`{"alg":"HS256"}`), as their exact base64url text, with the `kid` each
/// names: a token whose header is one of them skips decoding and parsing
/// it. The answer is the one the full check would give (the configured
/// `alg`, no `crit`, an accepted `typ`, a short `kid`).
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownHeaders(Vec<(Box<[u8]>, Option<String>)>);

impl KnownHeaders {
    pub(crate) fn for_keys(keys: &KeySet) -> Self {
        let algorithm = keys.algorithm();
        let encode = |kid: Option<&str>| {
            let mut header = jsonwebtoken::Header::new(algorithm.to_jsonwebtoken());
            if let Some(kid) = kid {
                header.typ = Some(SESSION_TYP.to_owned());
                header.kid = Some(kid.to_owned());
            } else {
                header.typ = None;
            }
            let json = serde_json::to_vec(&header).unwrap_or_default();
            (
                URL_SAFE_NO_PAD.encode(json).into_bytes().into_boxed_slice(),
                kid.map(str::to_owned),
            )
        };
        let mut known = vec![encode(None)];
        let kids: Vec<&str> = match keys {
            KeySet::Hmac { current, previous } => std::iter::once(current)
                .chain(previous)
                .map(HmacKey::kid)
                .collect(),
            KeySet::Asymmetric {
                current, previous, ..
            } => std::iter::once(current)
                .chain(previous)
                .map(PublicKey::kid)
                .collect(),
            #[cfg(feature = "jwks")]
            KeySet::Jwks(_) => Vec::new(),
            // No key: no header is known, not even the seed's.
            KeySet::None(_) => return Self::default(),
        };
        known.extend(
            kids.into_iter()
                .filter(|kid| kid.len() <= MAX_KID_LEN)
                .map(|kid| encode(Some(kid))),
        );
        Self(known)
    }

    /// The `kid` of `header` (`Some(None)`: none), if it is a known header.
    #[inline]
    pub(crate) fn find(&self, header: &[u8]) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(text, _)| **text == *header)
            .map(|(_, kid)| kid.as_deref())
    }
}

/// Checks the shape, the header and the signature, and parses the claims.
/// Works on the token's bytes: a token is ASCII once its segments decode,
/// and nothing here needs it as text before that.
pub(crate) fn verify_signature<'t>(
    token: &'t [u8],
    keys: &KeySet,
    known: &KnownHeaders,
) -> Result<SignedToken<'t>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLong(MAX_TOKEN_LEN));
    }
    if let KeySet::None(_) = keys {
        // Only trusted issuers' tokens verify, and this is not one.
        split(token)?;
        return Err(VerifyError::InvalidIssuer);
    }
    let malformed = VerifyError::Malformed;
    let last_dot = token
        .iter()
        .rposition(|&b| b == b'.')
        .ok_or(malformed(MalformedToken::SegmentCount))?;
    let (signing_input, signature) = (&token[..last_dot], &token[last_dot + 1..]);
    let first_dot = signing_input
        .iter()
        .position(|&b| b == b'.')
        .ok_or(malformed(MalformedToken::SegmentCount))?;
    let (header, payload) = (&signing_input[..first_dot], &signing_input[first_dot + 1..]);
    // (A dot inside the payload is looked for once the signature holds: a
    // forged token costs no scan of its payload.)

    let parsed_kid;
    let kid = match known.find(header) {
        Some(kid) => kid,
        None => {
            parsed_kid = check_header(header, keys)?;
            parsed_kid.as_deref()
        }
    };

    let digest_of = match keys {
        KeySet::Hmac { current, previous } => {
            let tag_len = current.tag_len();
            let mut tag = [0u8; 64];
            decode_signature(signature, &mut tag[..tag_len])?;
            let verify = |key: &HmacKey| key.verify(signing_input, &tag[..tag_len]);
            let verified = match kid {
                // A token that names its key is checked against that key alone.
                Some(kid) => verify(
                    by_kid(current, previous, kid, HmacKey::kid).ok_or(VerifyError::UnknownKey)?,
                ),
                // No `kid` (the seed's tokens): the current key, then each previous one.
                None => std::iter::once(current).chain(previous).any(verify),
            };
            if !verified {
                return Err(VerifyError::InvalidSignature);
            }
            DigestOf::Tag(tag, tag_len)
        }
        KeySet::Asymmetric {
            current, previous, ..
        } => {
            let verify = |key: &PublicKey| verify_with(key, signing_input, signature);
            let verified = match kid {
                Some(kid) => verify(
                    by_kid(current, previous, kid, PublicKey::kid)
                        .ok_or(VerifyError::UnknownKey)?,
                )?,
                // No `kid`: the current key, then each previous one. A wrong
                // signature for a key of the right size wins over a size that
                // fits no key.
                None => 'tried: {
                    let mut refusal = None;
                    for key in std::iter::once(current).chain(previous) {
                        match verify(key) {
                            Ok(true) => break 'tried true,
                            Ok(false) => refusal = Some(VerifyError::InvalidSignature),
                            Err(e) => {
                                refusal.get_or_insert(e);
                            }
                        }
                    }
                    return Err(refusal.unwrap_or(VerifyError::InvalidSignature));
                }
            };
            if !verified {
                return Err(VerifyError::InvalidSignature);
            }
            DigestOf::SigningInput(signing_input)
        }
        // Keys from a JWK Set: by `kid`; without one, the set's only key.
        #[cfg(feature = "jwks")]
        KeySet::Jwks(source) => {
            let verified = source.with_set(|set| {
                let key = match kid {
                    Some(kid) => set.get(kid),
                    None => set.only(),
                };
                verify_with(
                    key.ok_or(VerifyError::UnknownKey)?,
                    signing_input,
                    signature,
                )
            })??;
            if !verified {
                return Err(VerifyError::InvalidSignature);
            }
            DigestOf::SigningInput(signing_input)
        }
        KeySet::None(_) => return Err(VerifyError::InvalidIssuer),
    };

    if payload.contains(&b'.') {
        return Err(malformed(MalformedToken::SegmentCount));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed(MalformedToken::Base64))?;
    if !is_object(&payload) {
        return Err(VerifyError::InvalidClaims(
            "the claims set is not a JSON object".to_owned(),
        ));
    }
    let claims: WireClaims =
        serde_json::from_slice(&payload).map_err(|e| VerifyError::InvalidClaims(e.to_string()))?;
    Ok(SignedToken {
        claims,
        payload,
        digest_of,
    })
}

/// A token cut at its dots, nothing else checked.
pub(crate) struct Parts<'t> {
    pub(crate) signing_input: &'t [u8],
    pub(crate) header: &'t [u8],
    pub(crate) payload: &'t [u8],
    pub(crate) signature: &'t [u8],
}

/// Cuts a token into its three segments.
pub(crate) fn split(token: &[u8]) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLong(MAX_TOKEN_LEN));
    }
    let malformed = || VerifyError::Malformed(MalformedToken::SegmentCount);
    let last_dot = token
        .iter()
        .rposition(|&b| b == b'.')
        .ok_or_else(malformed)?;
    let (signing_input, signature) = (&token[..last_dot], &token[last_dot + 1..]);
    let first_dot = signing_input
        .iter()
        .position(|&b| b == b'.')
        .ok_or_else(malformed)?;
    let (header, payload) = (&signing_input[..first_dot], &signing_input[first_dot + 1..]);
    if payload.contains(&b'.') {
        return Err(malformed());
    }
    Ok(Parts {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// A JOSE header, decoded but not judged.
pub(crate) struct ParsedHeader {
    pub(crate) alg: String,
    pub(crate) typ: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) crit: bool,
}

/// Decodes a header segment: a JSON object with a string `alg`, a string
/// `kid` and `typ` when present; `crit` noted.
pub(crate) fn parse_header(header: &[u8]) -> Result<ParsedHeader, VerifyError> {
    let header = decode_header(header)?;
    let header: Header<'_> = serde_json::from_slice(&header)
        .map_err(|_| VerifyError::Malformed(MalformedToken::Header))?;
    if header.kid.as_ref().is_some_and(|k| k.len() > MAX_KID_LEN) {
        return Err(VerifyError::UnknownKey);
    }
    Ok(ParsedHeader {
        alg: header.alg.into_owned(),
        typ: header.typ.map(std::borrow::Cow::into_owned),
        kid: header.kid,
        crit: header.crit,
    })
}

/// Decodes a payload segment whose signature held into a JSON object.
pub(crate) fn decode_claims(
    payload: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VerifyError::Malformed(MalformedToken::Base64))?;
    match serde_json::from_slice(&payload) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(VerifyError::InvalidClaims(
            "the claims set is not a JSON object".to_owned(),
        )),
        Err(e) => Err(VerifyError::InvalidClaims(e.to_string())),
    }
}

/// The `iss` a token claims, read before anything is verified: only to
/// choose whose keys verify it (the verified claims are checked again).
pub(crate) fn peek_issuer(token: &[u8]) -> Option<String> {
    peek_issuer_and_user(token).map(|(iss, _)| iss)
}

/// [`peek_issuer`], and whether the claims carry `userId` (a session token
/// of the seed's shape, as opposed to another issuer's access token).
pub(crate) fn peek_issuer_and_user(token: &[u8]) -> Option<(String, bool)> {
    #[derive(Deserialize)]
    struct Peek {
        iss: Option<String>,
        #[serde(rename = "userId", default, deserialize_with = "present")]
        user_id: bool,
    }
    let parts = split(token).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(parts.payload).ok()?;
    let peek = serde_json::from_slice::<Peek>(&payload).ok()?;
    Some((peek.iss?, peek.user_id))
}

/// A header segment's JSON: canonical base64url of a JSON object.
fn decode_header(header: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed(MalformedToken::Base64))?;
    if !is_object(&header) {
        return Err(VerifyError::Malformed(MalformedToken::Header));
    }
    Ok(header)
}

/// Decodes and checks a header that is not a known one; returns its `kid`.
fn check_header(header: &[u8], keys: &KeySet) -> Result<Option<String>, VerifyError> {
    let header = decode_header(header)?;
    let header: Header<'_> = serde_json::from_slice(&header)
        .map_err(|_| VerifyError::Malformed(MalformedToken::Header))?;
    // Exact `alg` first: an HMAC token never reaches a public key, nor an
    // RS256 token a secret.
    if header.alg != keys.algorithm().as_str() {
        return Err(VerifyError::AlgorithmMismatch);
    }
    if header.crit {
        return Err(VerifyError::CriticalHeader);
    }
    if !accepted_typ(header.typ.as_deref()) {
        return Err(VerifyError::WrongType);
    }
    if header
        .kid
        .as_ref()
        .is_some_and(|kid| kid.len() > MAX_KID_LEN)
    {
        return Err(VerifyError::UnknownKey);
    }
    Ok(header.kid)
}

/// The `kid` of a token's header, for a token refused for want of its key
/// (the header was already read once; this is off the hot path).
#[cfg(feature = "jwks")]
pub(crate) fn header_kid(token: &[u8]) -> Option<String> {
    let dot = token.iter().position(|&b| b == b'.')?;
    let header = &token[..dot];
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: Header<'_> = serde_json::from_slice(&header).ok()?;
    header.kid.filter(|kid| kid.len() <= MAX_KID_LEN)
}

/// Checks `signature` over `signing_input` with a public key.
pub(crate) fn verify_with(
    key: &PublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<bool, VerifyError> {
    // A 4096-bit RSA signature at most (checked at construction).
    let mut buf = [0u8; crate::jwt::asymmetric::MAX_RSA_BITS / 8];
    let len = key.signature_len();
    decode_signature(
        signature,
        buf.get_mut(..len)
            .ok_or(VerifyError::Malformed(MalformedToken::SignatureLength))?,
    )?;
    Ok(key.verify(signing_input, &buf[..len]))
}

/// Decodes a signature of exactly `buf.len()` bytes into `buf`, strictly:
/// canonical unpadded base64url, so that a signature has one text.
pub(crate) fn decode_signature(signature: &[u8], buf: &mut [u8]) -> Result<(), VerifyError> {
    let malformed = VerifyError::Malformed;
    // The encoded length is fixed by the signature length; checking it first
    // keeps `decode_slice` from ever seeing an oversized input.
    if signature.len() != (buf.len() * 4).div_ceil(3) {
        return Err(malformed(MalformedToken::SignatureLength));
    }
    let decoded = URL_SAFE_NO_PAD
        .decode_slice(signature, buf)
        .map_err(|_| malformed(MalformedToken::Base64))?;
    if decoded != buf.len() {
        return Err(malformed(MalformedToken::SignatureLength));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::algorithm::Algorithm;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sign(header: &str, payload: &str) -> String {
        use hmac::{Hmac, Mac};
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    fn key() -> KeySet {
        KeySet::Hmac {
            current: HmacKey::new(Algorithm::HS256, SECRET).unwrap(),
            previous: Vec::new(),
        }
    }

    fn err(token: &str) -> VerifyError {
        match verify_signature(token.as_bytes(), &key(), &KnownHeaders::default()) {
            Ok(_) => panic!("accepted {token}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_well_formed_token_verifies() {
        let t = sign(r#"{"alg":"HS256"}"#, r#"{"exp":1}"#);
        let signed = verify_signature(t.as_bytes(), &key(), &KnownHeaders::default()).unwrap();
        assert!(signed.digest_key().as_str().starts_with("d:"));
    }

    #[test]
    fn segment_counts_other_than_three_are_malformed() {
        let t = sign(r#"{"alg":"HS256"}"#, r#"{"exp":1}"#);
        for bad in [
            "".to_owned(),
            "abc".to_owned(),
            "a.b".to_owned(),
            format!("{t}.x"),
            format!("x.{t}"),
        ] {
            assert!(matches!(err(&bad), VerifyError::Malformed(_)), "{bad}");
        }
    }

    #[test]
    fn only_the_configured_algorithm_passes() {
        for alg in ["none", "None", "NONE", "hs256", "HS384", "RS256", ""] {
            let t = sign(&format!(r#"{{"alg":"{alg}"}}"#), r#"{"exp":1}"#);
            assert!(matches!(err(&t), VerifyError::AlgorithmMismatch), "{alg}");
        }
        let t = sign(r#"{"typ":"JWT"}"#, r#"{"exp":1}"#);
        assert!(matches!(
            err(&t),
            VerifyError::Malformed(MalformedToken::Header)
        ));
    }

    #[test]
    fn crit_is_refused_even_when_null() {
        for crit in [r#"["exp"]"#, "[]", "null"] {
            let t = sign(&format!(r#"{{"alg":"HS256","crit":{crit}}}"#), "{}");
            assert!(matches!(err(&t), VerifyError::CriticalHeader), "{crit}");
        }
    }

    #[test]
    fn signatures_are_decoded_strictly() {
        let t = sign(r#"{"alg":"HS256"}"#, r#"{"exp":1}"#);
        // Padding appended.
        assert!(matches!(err(&format!("{t}=")), VerifyError::Malformed(_)));
        // Flipping the unused low bits of the last character keeps the bytes
        // for a lax decoder; a strict one refuses the text.
        let (head, sig) = t.rsplit_once('.').unwrap();
        let last = sig.chars().last().unwrap();
        let idx = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            .iter()
            .position(|&c| c as char == last)
            .unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let twin = alphabet[(idx & !3) | ((idx + 1) & 3)] as char;
        let reencoded = format!("{head}.{}{twin}", &sig[..sig.len() - 1]);
        assert_ne!(reencoded, t);
        assert!(matches!(err(&reencoded), VerifyError::Malformed(_)));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let t = sign(r#"{"alg":"HS256"}"#, r#"{"exp":1,"role":"sales"}"#);
        let (_, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!(
            "{}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"exp":1,"role":"admin"}"#)
        );
        assert!(matches!(err(&forged), VerifyError::InvalidSignature));
        let stripped = format!("{}.", t.rsplit_once('.').unwrap().0);
        assert!(matches!(err(&stripped), VerifyError::Malformed(_)));
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let t = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(err(&t), VerifyError::TooLong(_)));
    }

    #[test]
    fn only_session_types_pass() {
        for typ in ["JWT", "jwt", "session+jwt", "application/session+jwt"] {
            let t = sign(
                &format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#),
                r#"{"exp":1}"#,
            );
            assert!(
                verify_signature(t.as_bytes(), &key(), &KnownHeaders::default()).is_ok(),
                "{typ}"
            );
        }
        for typ in ["email-link+jwt", "at+jwt", "", "JWS"] {
            let t = sign(
                &format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#),
                r#"{"exp":1}"#,
            );
            assert!(matches!(err(&t), VerifyError::WrongType), "{typ}");
        }
        let t = sign(r#"{"alg":"HS256","typ":5}"#, r#"{"exp":1}"#);
        assert!(matches!(err(&t), VerifyError::Malformed(_)));
    }

    #[test]
    fn arrays_are_not_objects() {
        let t = sign(r#"["HS256"]"#, r#"{"exp":1}"#);
        assert!(matches!(
            err(&t),
            VerifyError::Malformed(MalformedToken::Header)
        ));
        let t = sign(r#"{"alg":"HS256"}"#, r#"[null,null]"#);
        assert!(matches!(err(&t), VerifyError::InvalidClaims(_)));
        // Every claim, as an array in field order: serde's derive would
        // accept it as the struct.
        let t = sign(
            r#"{"alg":"HS256"}"#,
            r#"["u-1","a@example.com","admin",null,["admin"],{},1,"u-1",1,"atomic-crm","atomic-crm-api",9999999999,null,"j-1",1000000,null]"#,
        );
        match err(&t) {
            VerifyError::InvalidClaims(why) => assert!(why.contains("not a JSON object"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_json_payload_is_invalid_claims() {
        let t = sign(r#"{"alg":"HS256"}"#, "not json");
        assert!(matches!(err(&t), VerifyError::InvalidClaims(_)));
    }
}
