//! The receivers as tower services: [`BackChannelLogout`] and
//! [`SecurityEventReceiver`], to mount at a path.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Buf;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::ReceiverError;
use crate::manager::SessionManager;

/// The largest body a receiver reads; a logout token or a SET is a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `(iss, jti)` pairs applied lately: a replay (providers retry) is
/// acknowledged without a second write. Replays are harmless anyway: every
/// effect is idempotent.
#[derive(Clone)]
struct Seen(moka::sync::Cache<String, ()>);

impl Seen {
    fn new() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(900))
                .build(),
        )
    }

    fn key(issuer: &str, jti: &str) -> String {
        format!("{issuer}\u{0}{jti}")
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

/// `Service<Request<B>>` for a receiver with an `async fn handle(self, req)`:
/// always ready, never an error (every failure is an answer).
macro_rules! receiver_service {
    ($receiver:ident) => {
        impl<B> Service<Request<B>> for $receiver
        where
            B: Body + Send + 'static,
            B::Data: Send,
        {
            type Response = Response<String>;
            type Error = Infallible;
            type Future = BoxFuture;

            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: Request<B>) -> Self::Future {
                let this = self.clone();
                Box::pin(async move { Ok(this.handle(req).await) })
            }
        }
    };
}

/// Reads a body, at most [`MAX_BODY_BYTES`].
async fn read_body<B>(body: B) -> Option<Vec<u8>>
where
    B: Body,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        let mut data = data;
        while data.has_remaining() {
            let chunk = data.chunk();
            if out.len() + chunk.len() > MAX_BODY_BYTES {
                return None;
            }
            out.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
    }
    Some(out)
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (percent_decode(k)? == name)
            .then(|| percent_decode(v))
            .flatten()
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<String> {
    let mut res = Response::new(body.to_string());
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn empty(status: StatusCode) -> Response<String> {
    let mut res = Response::new(String::new());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// OpenID Connect Back-Channel Logout 1.0 receiver: `POST` with an
/// `application/x-www-form-urlencoded` body holding `logout_token`.
///
/// Answers `200` with `Cache-Control: no-store` once the logout is stored
/// (a replayed token: `200`, nothing changes); `400`
/// `{"error":"invalid_request","error_description":...}` for any invalid
/// logout token (§2.8); `503` when the store (or the issuer's keys) cannot
/// confirm it. See the [module docs](super) for what a logout does.
#[derive(Clone)]
pub struct BackChannelLogout {
    manager: SessionManager,
    client_ids: Arc<[String]>,
    seen: Seen,
}

impl BackChannelLogout {
    /// A receiver for logout tokens addressed to `client_id` (the `aud`
    /// they must carry: this service's client id at the providers).
    pub fn new(manager: SessionManager, client_id: impl Into<String>) -> Self {
        Self {
            manager,
            client_ids: Arc::from([client_id.into()]),
            seen: Seen::new(),
        }
    }

    /// Also takes logout tokens addressed to `client_id`: one receiver for
    /// every client registered at the providers with this URL.
    ///
    /// ```
    /// # use tower_jwt_session::{issuers::TrustedIssuer, receivers::BackChannelLogout, Algorithm, SessionManager};
    /// # let manager = SessionManager::verify_only().with_audience("api").with_trusted_issuer(
    /// #     TrustedIssuer::with_secret("https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes")).build()?;
    /// let receiver = BackChannelLogout::new(manager, "web-app").with_client_id("mobile-app");
    /// # let _ = receiver;
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_ids = self
            .client_ids
            .iter()
            .cloned()
            .chain([client_id.into()])
            .collect();
        self
    }

    /// Handles one request.
    async fn handle<B: Body>(self, req: Request<B>) -> Response<String> {
        let invalid = |why: String| {
            json_response(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "invalid_request", "error_description": why}),
            )
        };
        if req.method() != Method::POST {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "method_not_allowed"}),
            );
        }
        let Some(body) = read_body(req.into_body()).await else {
            return invalid("the body could not be read (at most 64 KiB)".to_owned());
        };
        let Some(token) = form_value(&body, "logout_token") else {
            return invalid("no logout_token in the form body".to_owned());
        };
        let logout = match self
            .manager
            .verify_logout_token(token.trim(), &self.client_ids)
            .await
        {
            Ok(logout) => logout,
            Err(err) if err.is_unavailable() => return unavailable(&err, "error"),
            Err(err) => {
                tracing::debug!(reason = %err, "logout token refused");
                crate::metrics::security_event("refused");
                return invalid(err.to_string());
            }
        };
        let seen = Seen::key(&logout.issuer, &logout.token_id);
        if self.seen.0.contains_key(&seen) {
            return empty(StatusCode::OK);
        }
        if let Err(err) = self.manager.apply_logout(&logout).await {
            return unavailable(&err.into(), "error");
        }
        crate::metrics::security_event("back_channel_logout");
        tracing::info!(issuer = %logout.issuer, by_sid = logout.session_id.is_some(), "back-channel logout applied");
        self.seen.0.insert(seen, ());
        empty(StatusCode::OK)
    }
}

/// `503`: the store or the keys could not confirm; the sender retries.
fn unavailable(err: &ReceiverError, member: &str) -> Response<String> {
    tracing::warn!(error = %err, "an identity provider's revocation could not be confirmed");
    let mut body = serde_json::Map::new();
    body.insert(member.to_owned(), "temporarily_unavailable".into());
    json_response(StatusCode::SERVICE_UNAVAILABLE, body.into())
}

impl fmt::Debug for BackChannelLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackChannelLogout")
            .field("client_ids", &self.client_ids)
            .finish_non_exhaustive()
    }
}

receiver_service!(BackChannelLogout);

/// Shared Signals push receiver (RFC 8935): `POST` with a
/// `application/secevent+jwt` body, one Security Event Token.
///
/// Answers `202` once its events are applied (a replayed `jti`: `202`,
/// nothing changes; unknown events: `202`, no effect); `400`
/// `{"err": CODE, "description": ...}` with an RFC 8935 §2.3 code
/// (`invalid_request`, `invalid_key`, `invalid_issuer`,
/// `invalid_audience`); `503` when the store (or the transmitter's keys)
/// cannot confirm. The SET's signature authenticates the push: no
/// `Authorization` header is needed.
#[derive(Clone)]
pub struct SecurityEventReceiver {
    manager: SessionManager,
    audiences: Arc<[String]>,
    seen: Seen,
}

impl SecurityEventReceiver {
    /// A receiver for SETs addressed to `audience` (their `aud`: this
    /// service's client id at the transmitter).
    pub fn new(manager: SessionManager, audience: impl Into<String>) -> Self {
        Self {
            manager,
            audiences: Arc::from([audience.into()]),
            seen: Seen::new(),
        }
    }

    /// Also takes SETs addressed to `audience`: one receiver for every
    /// client of the transmitter's streams.
    ///
    /// ```
    /// # use tower_jwt_session::{issuers::TrustedIssuer, receivers::SecurityEventReceiver, Algorithm, SessionManager};
    /// # let manager = SessionManager::verify_only().with_audience("api").with_trusted_issuer(
    /// #     TrustedIssuer::with_secret("https://idp.example.com", Algorithm::HS256, "a secret of the identity provider, 32+ bytes")).build()?;
    /// let receiver = SecurityEventReceiver::new(manager, "web-app").with_audience("mobile-app");
    /// # let _ = receiver;
    /// # Ok::<(), tower_jwt_session::ConfigError>(())
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences = self
            .audiences
            .iter()
            .cloned()
            .chain([audience.into()])
            .collect();
        self
    }

    async fn handle<B: Body>(self, req: Request<B>) -> Response<String> {
        let error = |code: &str, description: String| {
            json_response(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"err": code, "description": description}),
            )
        };
        if req.method() != Method::POST {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"err": "invalid_request", "description": "use POST"}),
            );
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !content_type.eq_ignore_ascii_case("application/secevent+jwt") {
            return error(
                "invalid_request",
                "the body must be application/secevent+jwt".to_owned(),
            );
        }
        let Some(body) = read_body(req.into_body()).await else {
            return error(
                "invalid_request",
                "the body could not be read (at most 64 KiB)".to_owned(),
            );
        };
        let Ok(token) = std::str::from_utf8(&body) else {
            return error("invalid_request", "the body is not a JWT".to_owned());
        };
        let set = match self
            .manager
            .verify_security_event(token.trim(), &self.audiences)
            .await
        {
            Ok(set) => set,
            Err(err) if err.is_unavailable() => return unavailable(&err, "err"),
            Err(err) => {
                tracing::debug!(reason = %err, "security event refused");
                crate::metrics::security_event("refused");
                return error(err.code(), err.to_string());
            }
        };
        let seen = Seen::key(&set.issuer, &set.token_id);
        if self.seen.0.contains_key(&seen) {
            return empty(StatusCode::ACCEPTED);
        }
        if let Err(err) = self.manager.apply_security_event(&set).await {
            return unavailable(&err.into(), "err");
        }
        tracing::info!(issuer = %set.issuer, events = set.events.len(), "security event applied");
        self.seen.0.insert(seen, ());
        empty(StatusCode::ACCEPTED)
    }
}

impl fmt::Debug for SecurityEventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityEventReceiver")
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

receiver_service!(SecurityEventReceiver);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(
            form_value(b"a=1&logout_token=x.y%2Ez&b=2", "logout_token").as_deref(),
            Some("x.y.z")
        );
        assert_eq!(form_value(b"logout_token", "logout_token"), None);
        assert_eq!(form_value(b"logout_token=%zz", "logout_token"), None);
        assert_eq!(form_value(b"logout_token=%4", "logout_token"), None);
        assert_eq!(form_value(&[0xff, b'='], "logout_token"), None);
    }
}
