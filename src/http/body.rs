//! Response bodies of the layers: [`ResponseBody`] (the inner service's
//! body, or a refusal's JSON) by default, or the inner service's own body
//! type with [`InnerBody`].
//!
//! The layers answer most requests with the inner service's response and
//! some with a refusal they build themselves. By default ([`WrapBody`]) the
//! response's body is a [`ResponseBody`], which holds either and works with
//! any inner body. A framework that erases body types then boxes that
//! wrapper on every response (axum does: one allocation and a dynamic call
//! per frame). With [`InnerBody`] (`SessionLayer::with_inner_body`) the
//! response keeps the inner service's body type and refusals are built as
//! that type (it must be `From<Bytes>`, as axum's `Body`, `Full<Bytes>`,
//! `Vec<u8>` and `Bytes` are), so nothing is wrapped or boxed.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`SessionService`](crate::SessionService) and
    /// [`RequirePermission`](crate::RequirePermission): either the inner
    /// service's body, untouched, or the bytes of a refusal.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Refusal { data: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn refusal(data: Bytes) -> Self {
        Self {
            kind: Kind::Refusal {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { .. } => f.write_str("ResponseBody::Inner"),
            Kind::Refusal { data } => f
                .debug_struct("ResponseBody::Refusal")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Refusal { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// How a layer's responses carry their body: [`WrapBody`] (the default) or
/// [`InnerBody`]. Sealed: the two are all there is.
pub trait ResponseBodyMode<B>: sealed::Sealed {
    /// The body of the layer's responses.
    type Body;

    /// The inner service's body, as the layer answers it.
    fn inner(body: B) -> Self::Body;

    /// The bytes of a refusal, as a body.
    fn refusal(data: Bytes) -> Self::Body;
}

/// The default [`ResponseBodyMode`]: responses carry a [`ResponseBody`],
/// with any inner body.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrapBody;

/// The [`ResponseBodyMode`] that keeps the inner service's body type `B`
/// (`B: From<Bytes>`): refusals are built as `B`, and nothing is wrapped or
/// boxed again.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_jwt_session::{SessionData, SessionLayer, SessionManager};
///
/// # fn main() -> Result<(), tower_jwt_session::ConfigError> {
/// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
/// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|s: SessionData| async move { s.user_id().to_owned() }))
///     // Responses stay `Response<axum::body::Body>`.
///     .route_layer(SessionLayer::new(manager).with_inner_body());
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InnerBody;

impl<B> ResponseBodyMode<B> for WrapBody {
    type Body = ResponseBody<B>;

    #[inline]
    fn inner(body: B) -> Self::Body {
        ResponseBody::inner(body)
    }

    fn refusal(data: Bytes) -> Self::Body {
        ResponseBody::refusal(data)
    }
}

impl<B: From<Bytes>> ResponseBodyMode<B> for InnerBody {
    type Body = B;

    #[inline]
    fn inner(body: B) -> Self::Body {
        body
    }

    fn refusal(data: Bytes) -> Self::Body {
        B::from(data)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::WrapBody {}
    impl Sealed for super::InnerBody {}
}
