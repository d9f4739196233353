//! One HTTP GET of a JWK Set or a discovery document: bounded in time and
//! size, `200` only, no redirects.

use std::time::Duration;

use crate::error::{ConfigError, JwksError};

/// The largest document read: a JWK Set of a few dozen RSA keys is a few
/// tens of KiB.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The HTTP client of fetches and introspections: no redirects, no proxy,
/// `timeout` to connect, the webpki roots and the certificates of `roots`
/// (PEM bundles).
pub(crate) fn http_client(
    timeout: Duration,
    roots: &[Vec<u8>],
) -> Result<reqwest::Client, ConfigError> {
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .no_proxy()
        .user_agent(concat!("tower-jwt-session/", env!("CARGO_PKG_VERSION")));
    for pem in roots {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ConfigError::InvalidCertificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(ConfigError::InvalidCertificate(
                "no CERTIFICATE block in the PEM".to_owned(),
            ));
        }
        for cert in certs {
            client = client.add_root_certificate(cert);
        }
    }
    client
        .build()
        .map_err(|e| ConfigError::InvalidCertificate(e.to_string()))
}

/// A fetched document and what its `Cache-Control` says of its freshness.
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(super) max_age: Option<Duration>,
}

/// GETs `url`: the whole exchange within `timeout`, `200 OK` only, at most
/// [`MAX_DOCUMENT_BYTES`].
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &reqwest::Url,
    timeout: Duration,
) -> Result<Fetched, JwksError> {
    match tokio::time::timeout(timeout, get_unbounded(client, url)).await {
        Err(_) => Err(JwksError::Timeout(timeout)),
        Ok(Err(Failure::TimedOut)) => Err(JwksError::Timeout(timeout)),
        Ok(Err(Failure::Other(e))) => Err(e),
        Ok(Ok(fetched)) => Ok(fetched),
    }
}

enum Failure {
    TimedOut,
    Other(JwksError),
}

impl From<JwksError> for Failure {
    fn from(e: JwksError) -> Self {
        Self::Other(e)
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::TimedOut
        } else {
            Self::Other(JwksError::Request(std::sync::Arc::new(e.without_url())))
        }
    }
}

async fn get_unbounded(client: &reqwest::Client, url: &reqwest::Url) -> Result<Fetched, Failure> {
    let mut response = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await?;
    let status = response.status();
    if status != http::StatusCode::OK {
        return Err(JwksError::Status(status.as_u16()).into());
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(JwksError::TooLarge(MAX_DOCUMENT_BYTES).into());
    }
    let max_age = response
        .headers()
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(JwksError::TooLarge(MAX_DOCUMENT_BYTES).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// `max-age=N` from one `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let seconds = seconds.trim().trim_matches('"').parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(max_age("max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(
            max_age("public, Max-Age = \"42\", must-revalidate"),
            Some(Duration::from_secs(42))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=-1"), None);
        assert_eq!(max_age("s-maxage=10"), None);
    }
}
