//! One introspection request (RFC 7662 §2.1): the endpoint (configured, or
//! from the issuer's discovery document), the client's authentication, the
//! answer read as a JSON object with a boolean `active`.

use std::{sync::Mutex, time::Duration};

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use serde_json::{Map, Value};

use super::{ClientAuth, Introspection};
use crate::{
    error::{ConfigError, IntrospectionError},
    jwks::fetch,
    time::now_secs,
};

/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How long a client assertion (`private_key_jwt`) is valid.
const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The HTTP side of one issuer's introspection.
pub(super) struct Client {
    http: reqwest::Client,
    client_id: String,
    auth: ClientAuth,
    endpoint: Endpoint,
    timeout: Duration,
}

enum Endpoint {
    Fixed(reqwest::Url),
    /// Read from the discovery document when first needed (and again
    /// after a failed request: the issuer may have moved it).
    Discover {
        issuer: String,
        configuration: reqwest::Url,
        found: Mutex<Option<reqwest::Url>>,
    },
}

impl Client {
    pub(super) fn new(issuer: &str, config: &Introspection) -> Result<Self, ConfigError> {
        if config.timeout.is_zero() {
            return Err(ConfigError::InvalidTimeout(config.timeout));
        }
        if config.client_id.is_empty() {
            return Err(ConfigError::Introspection(
                "the client id is empty".to_owned(),
            ));
        }
        if let ClientAuth::SecretBasic(secret) = &config.auth {
            if secret.is_empty() {
                return Err(ConfigError::Introspection(
                    "the client secret is empty".to_owned(),
                ));
            }
        }
        let bad_url = |why: String| ConfigError::Introspection(format!("the endpoint: {why}"));
        let endpoint = match &config.endpoint {
            Some(url) => Endpoint::Fixed(fetch_url(url).map_err(bad_url)?),
            None => Endpoint::Discover {
                issuer: issuer.to_owned(),
                configuration: fetch_url(&format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ))
                .map_err(bad_url)?,
                found: Mutex::new(None),
            },
        };
        Ok(Self {
            http: fetch::http_client(config.timeout, &config.roots)?,
            client_id: config.client_id.clone(),
            auth: config.auth.clone(),
            endpoint,
            timeout: config.timeout,
        })
    }

    /// Asks the endpoint about `token`, the discovery included (the
    /// caller bounds the time). The answer is a JSON object with a boolean
    /// `active`; nothing else of it is checked here.
    pub(super) async fn ask(&self, token: &str) -> Result<Map<String, Value>, IntrospectionError> {
        let url = self.endpoint().await?;
        let result = self.post(&url, token).await;
        if result.is_err() {
            self.forget_endpoint();
        }
        result
    }

    async fn endpoint(&self) -> Result<reqwest::Url, IntrospectionError> {
        let (issuer, configuration, found) = match &self.endpoint {
            Endpoint::Fixed(url) => return Ok(url.clone()),
            Endpoint::Discover {
                issuer,
                configuration,
                found,
            } => (issuer, configuration, found),
        };
        if let Some(url) = found.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(url);
        }
        let no_endpoint = |why: String| IntrospectionError::NoEndpoint(why);
        let fetched = fetch::get(&self.http, configuration, self.timeout)
            .await
            .map_err(|e| no_endpoint(format!("the discovery document: {e}")))?;
        let doc: Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| no_endpoint(format!("the discovery document is not JSON: {e}")))?;
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(no_endpoint(
                "the discovery document names another issuer".to_owned(),
            ));
        }
        let url = doc
            .get("introspection_endpoint")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                no_endpoint("the discovery document names no introspection_endpoint".to_owned())
            })?;
        let url = fetch_url(url).map_err(no_endpoint)?;
        // A document read over TLS names an endpoint reached over TLS.
        if configuration.scheme() == "https" && url.scheme() != "https" {
            return Err(no_endpoint(
                "the https discovery document names an http:// introspection_endpoint".to_owned(),
            ));
        }
        *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
        Ok(url)
    }

    fn forget_endpoint(&self) {
        if let Endpoint::Discover { found, .. } = &self.endpoint {
            *found.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    async fn post(
        &self,
        url: &reqwest::Url,
        token: &str,
    ) -> Result<Map<String, Value>, IntrospectionError> {
        let request = self
            .http
            .post(url.clone())
            .header(http::header::ACCEPT, "application/json");
        let request = match &self.auth {
            ClientAuth::SecretBasic(secret) => {
                let credentials =
                    format!("{}:{}", form_encode(&self.client_id), form_encode(secret));
                request
                    .header(
                        http::header::AUTHORIZATION,
                        format!("Basic {}", STANDARD.encode(credentials)),
                    )
                    .form(&[("token", token), ("token_type_hint", "access_token")])
            }
            ClientAuth::PrivateKeyJwt(key) => {
                let assertion = self.assertion(key, url.as_str())?;
                request.form(&[
                    ("token", token),
                    ("token_type_hint", "access_token"),
                    ("client_id", self.client_id.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
            }
        };
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                IntrospectionError::Timeout(self.timeout)
            } else {
                IntrospectionError::Request(std::sync::Arc::new(e.without_url()))
            }
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(IntrospectionError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(IntrospectionError::InvalidAnswer(format!(
                    "larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let answer: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|e| IntrospectionError::InvalidAnswer(format!("not a JSON object: {e}")))?;
        if !matches!(answer.get("active"), Some(Value::Bool(_))) {
            return Err(IntrospectionError::InvalidAnswer(
                "no boolean `active`".to_owned(),
            ));
        }
        Ok(answer)
    }

    /// A client assertion (RFC 7523 §3) for `audience`.
    fn assertion(
        &self,
        key: &crate::jwt::asymmetric::KeyPair,
        audience: &str,
    ) -> Result<String, IntrospectionError> {
        let mut jti = [0u8; 16];
        getrandom::getrandom(&mut jti).map_err(|e| {
            IntrospectionError::Request(std::sync::Arc::new(std::io::Error::other(e.to_string())))
        })?;
        let now = now_secs();
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let mut header = jsonwebtoken::Header::new(key.algorithm().to_jsonwebtoken());
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, key.encoding_key())
            .map_err(|e| IntrospectionError::Assertion(std::sync::Arc::new(e)))
    }
}

/// An `http(s)` URL with a host.
fn fetch_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!(
            "{text:?} is not an http:// or https:// URL with a host"
        )),
    }
}

/// `application/x-www-form-urlencoded` of one value (RFC 6749 §2.3.1,
/// Appendix B): letters, digits and `*-._` as they are, space as `+`,
/// every other byte `%XX`.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::form_encode;

    #[test]
    fn credentials_are_form_encoded() {
        assert_eq!(form_encode("s3cr3t"), "s3cr3t");
        assert_eq!(form_encode("a b:c%d/é"), "a+b%3Ac%25d%2F%C3%A9");
    }
}
