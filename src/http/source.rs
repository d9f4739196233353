//! Where the token comes from: the `Authorization` header (the default), a
//! cookie (opt-in), or a [`TokenSource`] of your own.
//!
//! When several sources are configured and two of them present different
//! tokens, the request is refused with `400 invalid_request`: which one
//! would be meant is anybody's guess, and guessing is how confusion attacks
//! start.
//!
//! # ⚠️ Cookies and CSRF
//!
//! A browser sends cookies with every request to your origin, including
//! requests that another site triggers. A session read from a cookie is
//! therefore exposed to cross-site request forgery: pair it with
//! `SameSite=Strict` or `Lax` cookies, `HttpOnly` and `Secure`, and a CSRF
//! defence for state-changing requests (tower-http's CSRF middleware, or a
//! custom header that a cross-site form cannot set). A bearer header has no
//! such exposure.
//!
//! ```
//! use http::{header::COOKIE, Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_session::{NewSession, SessionLayer, SessionManager};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::builder("a secret of at least thirty-two bytes")
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("example-api")
//!     .build()?;
//! let token = manager.issue(NewSession::new("u-1", "ada@example.com"))?.into_token();
//! let svc = ServiceBuilder::new()
//!     .layer(SessionLayer::new(manager).with_cookie("session"))
//!     .service_fn(|_req: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(String::new())) });
//! let req = Request::builder().header(COOKIE, format!("theme=dark; session={token}")).body(())?;
//! assert_eq!(svc.oneshot(req).await?.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use std::{fmt, sync::Arc};

use http::{header::COOKIE, HeaderMap};

use crate::http::bearer::MAX_HEADER_LEN;

/// Why a source found malformed credentials; answered `400 invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceError(&'static str);

impl SourceError {
    /// An error with a short description for clients (shown only when
    /// descriptions are on).
    pub const fn new(description: &'static str) -> Self {
        Self(description)
    }

    /// The description.
    pub fn description(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl std::error::Error for SourceError {}

/// Finds the raw token in a request's headers.
///
/// Return `Ok(None)` when this source has nothing (the request may still
/// carry a token elsewhere), `Ok(Some(bytes))` for the token's bytes, and
/// `Err` for credentials that are present but malformed. The bytes are
/// checked (`token68`, then the JWT) by the layer.
pub trait TokenSource: fmt::Debug + Send + Sync + 'static {
    /// The token in `headers`, if this source finds one.
    fn credentials<'a>(&self, headers: &'a HeaderMap) -> Result<Option<&'a [u8]>, SourceError>;
}

/// A named cookie (`Cookie: name=<token>`); quotes around the value are
/// removed, an empty value counts as absent, a name that appears twice is
/// malformed. See the [module docs](self) on CSRF.
#[derive(Debug, Clone)]
pub(crate) struct CookieSource {
    name: Arc<str>,
}

impl CookieSource {
    /// Reads the cookie called `name`.
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into().into(),
        }
    }
}

impl TokenSource for CookieSource {
    fn credentials<'a>(&self, headers: &'a HeaderMap) -> Result<Option<&'a [u8]>, SourceError> {
        let mut found: Option<&[u8]> = None;
        for header in headers.get_all(COOKIE) {
            let bytes = header.as_bytes();
            if bytes.len() > MAX_HEADER_LEN {
                return Err(SourceError::new("the Cookie header is too long"));
            }
            for pair in bytes.split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                    continue;
                };
                if pair[..eq].trim_ascii() != self.name.as_bytes() {
                    continue;
                }
                let mut value = pair[eq + 1..].trim_ascii();
                if let [b'"', inner @ .., b'"'] = value {
                    value = inner;
                }
                if found.is_some() {
                    return Err(SourceError::new(
                        "the session cookie appears more than once",
                    ));
                }
                found = Some(value);
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }
}

/// The sources a layer reads: the bearer header (unless turned off), then
/// the added ones in order.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    bearer: bool,
    extra: Arc<[Arc<dyn TokenSource>]>,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            bearer: true,
            extra: Arc::new([]),
        }
    }
}

impl Sources {
    pub(crate) fn add(&mut self, source: Arc<dyn TokenSource>) {
        let mut list = self.extra.to_vec();
        list.push(source);
        self.extra = list.into();
    }

    pub(crate) fn without_bearer(&mut self) {
        self.bearer = false;
    }

    /// Whether the `Authorization: Bearer` header is one of them.
    pub(crate) fn reads_bearer(&self) -> bool {
        self.bearer
    }

    /// The one token the request presents, if any.
    #[cfg(test)]
    pub(crate) fn credentials<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<&'a [u8]>, SourceError> {
        let bearer = match self.bearer {
            true => crate::http::bearer::bearer_credentials(headers)
                .map_err(|e| SourceError::new(e.description()))?,
            false => None,
        };
        self.credentials_with(headers, bearer)
    }

    /// The one token the request presents, if any, given what the
    /// `Authorization: Bearer` header holds (read by the caller, `None` when
    /// that source is off).
    pub(crate) fn credentials_with<'a>(
        &self,
        headers: &'a HeaderMap,
        bearer: Option<&'a [u8]>,
    ) -> Result<Option<&'a [u8]>, SourceError> {
        let mut found = bearer;
        for source in self.extra.iter() {
            match (source.credentials(headers)?, found) {
                (Some(token), Some(seen)) if token != seen => {
                    return Err(SourceError::new("two different tokens were presented"));
                }
                (Some(token), _) => found = Some(token),
                (None, _) => {}
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_named_cookie_is_found_among_others() {
        let c = CookieSource::new("session");
        assert_eq!(
            c.credentials(&cookies(&["a=1; session=tok; b=2"])),
            Ok(Some(&b"tok"[..]))
        );
        assert_eq!(
            c.credentials(&cookies(&["a=1", "session=\"tok\""])),
            Ok(Some(&b"tok"[..]))
        );
        assert_eq!(
            c.credentials(&cookies(&["sessionx=1; xsession=2"])),
            Ok(None)
        );
        assert_eq!(c.credentials(&cookies(&["session="])), Ok(None));
        assert_eq!(c.credentials(&HeaderMap::new()), Ok(None));
        assert!(c.credentials(&cookies(&["session=a; session=b"])).is_err());
        assert!(c
            .credentials(&cookies(&["session=a", "session=a"]))
            .is_err());
    }

    #[test]
    fn two_sources_must_agree() {
        let mut sources = Sources::default();
        sources.add(Arc::new(CookieSource::new("s")));
        let mut h = cookies(&["s=tok"]);
        assert_eq!(sources.credentials(&h), Ok(Some(&b"tok"[..])));
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(sources.credentials(&h), Ok(Some(&b"tok"[..])));
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer other"),
        );
        assert!(sources.credentials(&h).is_err());
        sources.without_bearer();
        assert_eq!(sources.credentials(&h), Ok(Some(&b"tok"[..])));
    }
}
