//! Reading `Authorization: Bearer <token>` (RFC 6750 §2.1).
//!
//! - The scheme is matched case-insensitively; `Bearer<token>` with no space
//!   is another scheme.
//! - Exactly one `Authorization` header: a repeated header is malformed.
//! - The header value is capped at 8 KiB before anything else looks at it.
//! - The token must be `token68` (RFC 7235 §2.1); anything else is malformed.
//!
//! Another scheme (`Basic ...`) means "no bearer credentials", not an error.

use http::{header::AUTHORIZATION, HeaderMap};

/// The longest `Authorization` value read, in bytes.
pub(crate) const MAX_HEADER_LEN: usize = 8 * 1024;

/// Why an `Authorization` header is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// More than one `Authorization` header.
    Repeated,
    /// Longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// Empty.
    NotText,
    /// `Bearer` with no token.
    MissingToken,
    /// The token is not `token68`.
    InvalidToken68,
}

impl BearerError {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Repeated => "more than one Authorization header",
            Self::TooLong => "the Authorization header is too long",
            Self::NotText => "the Authorization header is empty",
            Self::MissingToken => "the Bearer scheme has no token",
            Self::InvalidToken68 => "the bearer token has invalid characters",
        }
    }
}

/// The bearer token of a request: `Ok(None)` when there is none (no header,
/// or another scheme).
#[cfg(test)]
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, BearerError> {
    match bearer_credentials(headers)? {
        Some(raw) => token68(raw).map(Some),
        None => Ok(None),
    }
}

/// The raw bytes after `Bearer `, not yet checked to be `token68`: the
/// layer first looks them up among verified tokens (an exact match is
/// `token68` by construction) and checks the syntax only on a miss.
#[cfg(test)]
pub(crate) fn bearer_credentials(headers: &HeaderMap) -> Result<Option<&[u8]>, BearerError> {
    credentials(headers, b"bearer")
}

#[cfg(test)]
fn credentials<'h>(headers: &'h HeaderMap, scheme: &[u8]) -> Result<Option<&'h [u8]>, BearerError> {
    match authorization_value(headers)? {
        Some(value) => split_scheme(value, scheme),
        None => Ok(None),
    }
}

/// The one `Authorization` value, at most [`MAX_HEADER_LEN`] long.
fn authorization_value(headers: &HeaderMap) -> Result<Option<&[u8]>, BearerError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BearerError::Repeated);
    }
    if value.len() > MAX_HEADER_LEN {
        return Err(BearerError::TooLong);
    }
    Ok(Some(value.as_bytes()))
}

/// The request's `Authorization` header, read once for every scheme the
/// layer takes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Authorization<'h> {
    value: Option<&'h [u8]>,
}

impl<'h> Authorization<'h> {
    /// Reads the one `Authorization` header: an error when it is repeated
    /// or too long, whatever its scheme.
    pub(crate) fn read(headers: &'h HeaderMap) -> Result<Self, BearerError> {
        Ok(Self {
            value: authorization_value(headers)?,
        })
    }

    /// The credentials after `Bearer `, as [`bearer_credentials`] gives them.
    pub(crate) fn bearer(&self) -> Result<Option<&'h [u8]>, BearerError> {
        self.value.map_or(Ok(None), |v| split_scheme(v, b"bearer"))
    }

    /// The credentials after `DPoP ` (RFC 9449 §7.1), as for
    /// [`bearer`](Self::bearer).
    pub(crate) fn dpop(&self) -> Result<Option<&'h [u8]>, BearerError> {
        self.value.map_or(Ok(None), |v| split_scheme(v, b"dpop"))
    }
}

/// Parses one `Authorization` value.
#[cfg(test)]
pub(crate) fn parse(value: &[u8]) -> Result<Option<&str>, BearerError> {
    match split(value)? {
        Some(raw) => token68(raw).map(Some),
        None => Ok(None),
    }
}

/// Splits one `Authorization` value into scheme and credentials.
#[cfg(test)]
fn split(value: &[u8]) -> Result<Option<&[u8]>, BearerError> {
    split_scheme(value, b"bearer")
}

/// The credentials of one `Authorization` value of `scheme` (lowercase).
/// The scheme runs up to the first space, so it is `wanted` only when the
/// byte after `wanted.len()` letters is a space, or the value ends there:
/// one byte decides, with no scan.
fn split_scheme<'v>(value: &'v [u8], wanted: &[u8]) -> Result<Option<&'v [u8]>, BearerError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(BearerError::TooLong);
    }
    if value.is_empty() {
        return Err(BearerError::NotText);
    }
    let n = wanted.len();
    match value.get(n) {
        Some(b' ') if is_scheme(&value[..n], wanted) => match trim_spaces(&value[n..]) {
            [] => Err(BearerError::MissingToken),
            token => Ok(Some(token)),
        },
        // Another scheme: a space sooner, later, or none.
        Some(_) => Ok(None),
        None if value.len() == n && is_scheme(value, wanted) => Err(BearerError::MissingToken),
        None => Ok(None),
    }
}

/// Whether `scheme` is `wanted` (lowercase ASCII letters) in any case: for a
/// letter, setting bit 0x20 maps its upper case, and only it, to its lower
/// case.
#[inline]
fn is_scheme(scheme: &[u8], wanted: &[u8]) -> bool {
    debug_assert!(wanted.iter().all(u8::is_ascii_lowercase));
    scheme.len() == wanted.len() && scheme.iter().zip(wanted).all(|(&s, &w)| s | 0x20 == w)
}

/// Checks that credentials are `token68` and returns them as text.
pub(crate) fn token68(token: &[u8]) -> Result<&str, BearerError> {
    if !is_token68(token) {
        return Err(BearerError::InvalidToken68);
    }
    // token68 is ASCII, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| BearerError::InvalidToken68)
}

fn trim_spaces(mut b: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' '] = b {
        b = rest;
    }
    b
}

/// Whether `b` may appear in the body of a `token68`. Written as plain
/// comparisons, without branches or tables, so that the loop below
/// vectorizes.
#[inline(always)]
fn token68_byte(b: u8) -> bool {
    (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
///
/// Anything outside the set (control characters, spaces, non-ASCII) is
/// refused here; the loop has no early exit, so it stays short on the hot
/// path.
fn is_token68(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && token[..body_len]
            .iter()
            .fold(true, |ok, &b| ok & token68_byte(b))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn the_usual_form_and_the_scan_agree() {
        // What a scan for the first space then a case-insensitive compare
        // gives, for the scheme then a space and for every other form.
        fn scanned<'v>(value: &'v [u8], wanted: &[u8]) -> Result<Option<&'v [u8]>, BearerError> {
            let i = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
            if !value[..i].eq_ignore_ascii_case(wanted) {
                return Ok(None);
            }
            match trim_spaces(&value[i..]) {
                [] => Err(BearerError::MissingToken),
                token => Ok(Some(token)),
            }
        }
        let values: [&[u8]; 22] = [
            b"Bearer abc",
            b"bEARER abc",
            b"Bearer  abc ",
            b"Bearex abc",
            b"B arer abc",
            b"Bearer",
            b"Bearer ",
            b"Bearerabc",
            b"DPoP abc",
            b"dpop abc",
            b"Bearer\tabc",
            b"Bear abc",
            b"Bearers abc",
            b"Bearer\x00 abc",
            b"bearer\xc2 abc",
            b" Bearer abc",
            b"dpop",
            b"DPOP  ",
            b"Bea",
            b"Bearer  ",
            b"BEARER",
            b"d op",
        ];
        for v in values {
            for wanted in [&b"bearer"[..], b"dpop"] {
                assert_eq!(
                    split_scheme(v, wanted),
                    scanned(v, wanted),
                    "{v:?} {wanted:?}"
                );
            }
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(parse(v.as_bytes()), Ok(Some("abc")), "{v}");
        }
    }

    #[test]
    fn no_header_or_another_scheme_is_no_credentials() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        for v in [
            "Basic dXNlcjpwYXNz",
            "Bearerabc",
            "Token abc",
            "Bearer_ abc",
        ] {
            assert_eq!(parse(v.as_bytes()), Ok(None), "{v}");
        }
    }

    #[test]
    fn bearer_without_token_is_malformed() {
        for v in ["Bearer", "Bearer ", "bearer    "] {
            assert_eq!(parse(v.as_bytes()), Err(BearerError::MissingToken), "{v:?}");
        }
    }

    #[test]
    fn extra_spaces_around_the_token_are_allowed() {
        assert_eq!(parse(b"Bearer   abc"), Ok(Some("abc")));
    }

    #[test]
    fn tokens_must_be_token68() {
        for v in [
            "Bearer a b",
            "Bearer a,b",
            "Bearer =abc",
            "Bearer a=b",
            "Bearer \"abc\"",
        ] {
            assert_eq!(
                parse(v.as_bytes()),
                Err(BearerError::InvalidToken68),
                "{v:?}"
            );
        }
        assert_eq!(
            parse(b"Bearer a-b.c_d~e+f/g=="),
            Ok(Some("a-b.c_d~e+f/g=="))
        );
    }

    #[test]
    fn repeated_headers_are_malformed() {
        let h = headers(&[b"Bearer a", b"Bearer a"]);
        assert_eq!(bearer_token(&h), Err(BearerError::Repeated));
        let h = headers(&[b"Basic x", b"Bearer a"]);
        assert_eq!(bearer_token(&h), Err(BearerError::Repeated));
    }

    #[test]
    fn long_and_non_text_values_are_malformed() {
        let long = format!("Bearer {}", "a".repeat(MAX_HEADER_LEN));
        assert_eq!(
            bearer_token(&headers(&[long.as_bytes()])),
            Err(BearerError::TooLong)
        );
        assert_eq!(parse(b"Bearer \xffabc"), Err(BearerError::InvalidToken68));
        assert_eq!(parse(b""), Err(BearerError::NotText));
        assert_eq!(parse(b"Bearer a\tb"), Err(BearerError::InvalidToken68));
        assert_eq!(parse(b"Bearer abc\x7f"), Err(BearerError::InvalidToken68));
        // Non-text before the scheme's end is another scheme.
        assert_eq!(parse(b"B\xffarer abc"), Ok(None));
    }
}
