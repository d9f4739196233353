//! [`SessionService`]: extract → verify → ask the blocklist → call the inner service.

use std::{
    fmt,
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use crate::{
    dpop::{DpopMode, VerifiedProof},
    error::VerifyError,
    http::{
        bearer::{token68, Authorization},
        body::{ResponseBodyMode, WrapBody},
        config::{Challenge, SessionMode, Shared},
        decision::{
            admit, check_binding, dpop_rejection, end_if_replayed, is_grpc, judge_at_once,
            log_verify_error, refusal, use_proof,
        },
        future::{ResponseFuture, Wait},
        rejection::Rejection,
    },
    jwt::claims::SessionData,
};

/// The middleware built by [`SessionLayer`](crate::SessionLayer).
///
/// See the [crate docs](crate) for an example. `M` is the layer's
/// [`ResponseBodyMode`].
pub struct SessionService<S, M = WrapBody> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) body: PhantomData<fn() -> M>,
}

impl<S, M> SessionService<S, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, M> Clone for SessionService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            body: PhantomData,
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for SessionService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    M: ResponseBodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        // `Authorization: DPoP <token>`, when the layer takes DPoP: its
        // proof is checked first (it does not depend on the token's
        // verification), and the key it proves is the one the token must be
        // bound to.
        let dpop = shared.dpop.as_ref().filter(|d| d.mode() != DpopMode::Off);
        // `Authorization` is read once, for both schemes (and not at all
        // when neither is taken).
        let authorization = match (dpop.is_some() || shared.sources.reads_bearer())
            .then(|| Authorization::read(req.headers()))
        {
            Some(Ok(read)) => read,
            Some(Err(err)) => {
                return self.refuse(err.into(), is_grpc(req.version(), req.headers()))
            }
            None => Authorization::default(),
        };
        let dpop_raw = match dpop.map(|_| authorization.dpop()) {
            Some(Ok(found)) => found,
            Some(Err(err)) => {
                return self.refuse(err.into(), is_grpc(req.version(), req.headers()))
            }
            None => None,
        };
        // The proof is checked first (it does not depend on the token's
        // verification); its single use is taken only once the token has
        // passed every check, so that a request with a forged, expired or
        // revoked token takes no room and writes nothing.
        let mut proof: Option<VerifiedProof> = None;
        if let (Some(d), Some(raw)) = (dpop, dpop_raw) {
            let token = std::str::from_utf8(raw).ok();
            match d.check_request(req.method(), req.uri(), req.headers(), token) {
                Ok(checked) => proof = Some(checked),
                Err(err) => {
                    tracing::debug!(reason = %err, "DPoP proof refused");
                    let rejection = dpop_rejection(d, &err);
                    return self.refuse(rejection, is_grpc(req.version(), req.headers()));
                }
            }
        }
        let raw = if let Some(raw) = dpop_raw {
            raw
        } else {
            let bearer = match shared.sources.reads_bearer() {
                true => match authorization.bearer() {
                    Ok(found) => found,
                    Err(err) => {
                        tracing::debug!(reason = err.description(), "malformed credentials");
                        return self.refuse(err.into(), is_grpc(req.version(), req.headers()));
                    }
                },
                false => None,
            };
            match shared.sources.credentials_with(req.headers(), bearer) {
                Ok(Some(raw)) => raw,
                Ok(None) if shared.mode == SessionMode::Optional => {
                    // Tells what runs after us (the `SessionData` extractor,
                    // `RequirePermission`) that the layer ran and let an
                    // anonymous request through, so they answer with its 401
                    // challenge rather than a "no layer" error.
                    req.extensions_mut().insert(PassedAnonymous {
                        respond: shared.respond.clone(),
                        challenge: shared.challenge.clone(),
                    });
                    return ResponseFuture::inner(self.inner.call(req));
                }
                Ok(None) => {
                    warn_if_provider_push(&req);
                    return self
                        .refuse(Rejection::missing(), is_grpc(req.version(), req.headers()));
                }
                Err(err) => {
                    tracing::debug!(reason = err.description(), "malformed credentials");
                    return self.refuse(err.into(), is_grpc(req.version(), req.headers()));
                }
            }
        };
        let (session, hit) = match shared.manager.cached(raw) {
            Some(hit) => (hit.session().clone(), Some(hit)),
            // Verified on its bytes. Credentials outside `token68` never
            // verify; a token that fails for its shape is checked for them
            // then, so that they are a malformed request (400). A token of
            // the right shape with a bad signature is `invalid_token` at
            // once: its text is never scanned.
            None => match shared.manager.decode_uncached(raw) {
                Ok(session) => (session, None),
                Err(err) => {
                    if matches!(err, VerifyError::Malformed(_) | VerifyError::TooLong(_)) {
                        if let Err(bad) = token68(raw) {
                            tracing::debug!(
                                reason = bad.description(),
                                "malformed Authorization header"
                            );
                            return self.refuse(bad.into(), is_grpc(req.version(), req.headers()));
                        }
                    }
                    // A key the issuer may have just published, an opaque
                    // token to introspect: wait for that request, then
                    // check the token as usual.
                    if let Some(wait) = shared.manager.decode_wait(&err, raw) {
                        let clone = self.inner.clone();
                        let inner = std::mem::replace(&mut self.inner, clone);
                        let grpc = is_grpc(req.version(), req.headers());
                        return ResponseFuture::decoding(
                            wait,
                            (inner, req, self.shared.clone(), grpc, proof),
                        );
                    }
                    tracing::debug!(reason = %err, "token refused");
                    return self
                        .refuse(Rejection::from(&err), is_grpc(req.version(), req.headers()));
                }
            },
        };
        // A token bound to a key (`cnf`) is worth nothing without a proof
        // by that key: as a plain Bearer token it is a downgrade.
        if let Err(rejection) = check_binding(shared, &session, proof.as_ref()) {
            tracing::debug!(reason = %rejection, "token refused");
            return self.refuse(rejection, is_grpc(req.version(), req.headers()));
        }
        let span = request_span(&session);
        if let Some(judged) = judge_at_once(shared, &session, hit.as_ref()) {
            return match judged {
                Ok(()) if proof.is_some() => {
                    // The token passed: the proof's single use now.
                    let grpc = is_grpc(req.version(), req.headers());
                    match use_proof(shared, proof.as_ref()) {
                        Err(rejection) => self.refuse(rejection, grpc),
                        Ok(record) => self.wait(Wait::Record(record), req, session, grpc, span),
                    }
                }
                Ok(()) => {
                    admit(shared, session, req.extensions_mut());
                    let fut = if span.is_none() {
                        self.inner.call(req)
                    } else {
                        let _entered = span.enter();
                        self.inner.call(req)
                    };
                    ResponseFuture::inner_in(fut, span)
                }
                Err(err) => {
                    let grpc = is_grpc(req.version(), req.headers());
                    match end_if_replayed(shared, &session, &err) {
                        Some(end) => ResponseFuture::ending(end, self.shared.clone(), grpc),
                        None => self.refuse_verify(&err, grpc),
                    }
                }
            };
        }
        let check = shared.manager.lookup_future(&session);
        // Only refusals need to know; read it before the request moves.
        let grpc = is_grpc(req.version(), req.headers());
        self.wait(Wait::Blocklist(check, proof), req, session, grpc, span)
    }
}

impl<S, M> SessionService<S, M> {
    /// A request that waits for `wait` before the inner service is called.
    /// The ready service is the one that must be called: it is kept and a
    /// clone left in its place (see "Be careful when cloning inner
    /// services" in the tower-service docs).
    fn wait<ReqBody>(
        &mut self,
        wait: Wait,
        req: Request<ReqBody>,
        session: SessionData,
        grpc: bool,
        span: tracing::Span,
    ) -> ResponseFuture<S, ReqBody, M>
    where
        S: Service<Request<ReqBody>> + Clone,
    {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::waiting_for(wait, inner, req, session, self.shared.clone(), grpc)
            .in_span(span)
    }

    fn refuse<ReqBody>(&self, rejection: Rejection, grpc: bool) -> ResponseFuture<S, ReqBody, M>
    where
        S: Service<Request<ReqBody>>,
    {
        ResponseFuture::rejected(refusal(
            &*self.shared.respond,
            rejection,
            self.shared.challenge.as_deref(),
            grpc,
        ))
    }

    fn refuse_verify<ReqBody>(&self, err: &VerifyError, grpc: bool) -> ResponseFuture<S, ReqBody, M>
    where
        S: Service<Request<ReqBody>>,
    {
        log_verify_error(err);
        self.refuse(Rejection::from(err), grpc)
    }
}

/// Left in the extensions of a request that an optional [`SessionLayer`]
/// let through without credentials: the layer ran, the caller is
/// anonymous. Carries the layer's refusal builder, so that a handler or a
/// permission check that needs a session answers with the layer's 401.
///
/// [`SessionLayer`]: crate::SessionLayer
#[derive(Clone)]
pub(crate) struct PassedAnonymous {
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) respond: crate::http::rejection::SharedResponse,
    /// What the layer's challenges add.
    pub(crate) challenge: Option<Arc<Challenge>>,
}

#[cfg_attr(not(feature = "axum"), allow(dead_code))]
impl PassedAnonymous {
    /// The layer's refusal for a request without credentials.
    pub(crate) fn challenge(&self, grpc: bool) -> Response<Bytes> {
        refusal(
            &*self.respond,
            Rejection::missing(),
            self.challenge.as_deref(),
            grpc,
        )
    }
}

/// A request without credentials that the layer refuses may be an identity
/// provider's push to a receiver mounted behind the layer (the receivers
/// authenticate by the logout token's or the SET's signature, and must be
/// outside it). Such a push would be refused forever while the provider
/// logs success, so say it loudly: once at `error`, then at `debug`.
fn warn_if_provider_push<B>(req: &Request<B>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    if req.method() != http::Method::POST {
        return;
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = req.uri().path().to_ascii_lowercase();
    let push = content_type.starts_with("application/secevent+jwt")
        || (content_type.starts_with("application/x-www-form-urlencoded")
            && path.contains("logout"));
    if !push {
        return;
    }
    if !SAID.swap(true, Ordering::Relaxed) {
        tracing::error!(
            path = %req.uri().path(),
            "SessionLayer refused an identity provider's push (a back-channel logout or a security event) for lack of a token: \
             the provider's logouts are NOT applied. Mount BackChannelLogout and SecurityEventReceiver outside SessionLayer \
             (in axum: add their routes after .layer(SessionLayer), or merge a router of their own); see \
             guide/identity-providers.md, \"When the identity provider logs a user out\""
        );
    } else {
        tracing::debug!(path = %req.uri().path(), "an identity provider's push refused by SessionLayer");
    }
}

/// A debug span for the rest of the request, naming the session by a
/// non-reversible id (never the token). Disabled, and free, unless a
/// subscriber wants debug spans.
fn request_span(session: &SessionData) -> tracing::Span {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    tracing::debug_span!("session", id = %session.log_id(), user_id = %session.user_id())
}
