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
    blocklist::Lookup,
    dpop::{Dpop, DpopError, DpopMode, VerifiedProof},
    http::{
        bearer::{token68, Authorization},
        body::{ResponseBodyMode, WrapBody},
        future::ResponseFuture,
        layer::{OutagePolicy, SessionMode, Shared},
        rejection::{Rejection, RejectionKind, RejectionResponse},
    },
    jwt::verified::Hit,
    BlocklistError, SessionData, SessionManager, VerifyError,
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
                    // A key the issuer may have just published: wait
                    // for the one fetch of its JWK Set, then verify.
                    #[cfg(feature = "jwks")]
                    if let Some(wait) = shared.manager.keys_wait(&err, raw) {
                        let token: Box<[u8]> = raw.into();
                        let clone = self.inner.clone();
                        let inner = std::mem::replace(&mut self.inner, clone);
                        let grpc = is_grpc(req.version(), req.headers());
                        return ResponseFuture::fetching_keys(
                            wait,
                            token,
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
                        Ok(record) => {
                            let clone = self.inner.clone();
                            let inner = std::mem::replace(&mut self.inner, clone);
                            ResponseFuture::recording(
                                record,
                                inner,
                                req,
                                session,
                                self.shared.clone(),
                                grpc,
                            )
                            .in_span(span)
                        }
                    }
                }
                Ok(()) => {
                    shared.manager.insert_claims(&session, req.extensions_mut());
                    req.extensions_mut().insert(session);
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
        // The ready service is the one that must be called: keep it and leave
        // a clone in its place. See "Be careful when cloning inner services"
        // in the tower-service docs.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        // Only refusals need to know; read it before the request moves.
        let grpc = is_grpc(req.version(), req.headers());
        ResponseFuture::checking(proof, check, inner, req, session, self.shared.clone(), grpc)
            .in_span(span)
    }
}

impl<S, M> SessionService<S, M> {
    fn refuse<ReqBody>(&self, rejection: Rejection, grpc: bool) -> ResponseFuture<S, ReqBody, M>
    where
        S: Service<Request<ReqBody>>,
    {
        ResponseFuture::rejected(refusal(&*self.shared.respond, rejection, grpc))
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
}

#[cfg_attr(not(feature = "axum"), allow(dead_code))]
impl PassedAnonymous {
    /// The layer's refusal for a request without credentials.
    pub(crate) fn challenge(&self, grpc: bool) -> Response<Bytes> {
        refusal(&*self.respond, Rejection::missing(), grpc)
    }
}

/// The refusal of a DPoP proof: `invalid_dpop_proof`, or `use_dpop_nonce`
/// with a fresh nonce; both with the `DPoP` challenge.
pub(crate) fn dpop_rejection(dpop: &Dpop, err: &DpopError) -> Rejection {
    let (kind, description) = match err {
        DpopError::UseNonce => (
            RejectionKind::UseDpopNonce,
            "the DPoP proof needs a fresh nonce",
        ),
        DpopError::MissingProof => (
            RejectionKind::InvalidDpopProof,
            "exactly one DPoP header is required",
        ),
        DpopError::Replayed => (
            RejectionKind::InvalidDpopProof,
            "the DPoP proof was used before",
        ),
        _ => (RejectionKind::InvalidDpopProof, "the DPoP proof is invalid"),
    };
    Rejection::new(kind, description).with_dpop(dpop.nonce())
}

/// Whether a verified session may be used with what the request proved:
/// with a DPoP proof, the token must be bound to the proof's key; without
/// one, the token must not be bound to any key, and the layer must not
/// require DPoP.
pub(crate) fn check_binding(
    shared: &Shared,
    session: &SessionData,
    proof: Option<&VerifiedProof>,
) -> Result<(), Rejection> {
    match proof.map(VerifiedProof::jkt) {
        Some(jkt) if session.dpop_jkt() == Some(jkt) => Ok(()),
        Some(_) => {
            let dpop = shared.dpop.as_ref();
            Err(Rejection::new(
                RejectionKind::InvalidDpopProof,
                "the proof's key is not the key the token is bound to",
            )
            .with_dpop(dpop.and_then(Dpop::nonce)))
        }
        None if session.is_bound() => Err(Rejection::from(&VerifyError::BoundToKey)),
        None => match shared.dpop.as_ref() {
            Some(d) if d.mode() == DpopMode::Required => Err(Rejection::new(
                RejectionKind::DpopRequired,
                "this resource requires DPoP",
            )
            .with_dpop(d.nonce())),
            _ => Ok(()),
        },
    }
}

/// Takes the single use of the proof of a request whose token passed every
/// check: on this server at once, and with [`ReplayScope::Store`] the
/// future of its record in the store (to be awaited before admitting).
///
/// [`ReplayScope::Store`]: crate::dpop::ReplayScope::Store
pub(crate) fn use_proof(
    shared: &Shared,
    proof: Option<&VerifiedProof>,
) -> Result<Option<crate::blocklist::BlocklistFuture<bool>>, Rejection> {
    let (Some(dpop), Some(proof)) = (shared.dpop.as_ref(), proof) else {
        return Ok(None);
    };
    dpop.use_once(proof)
        .map_err(|err| dpop_rejection(dpop, &err))?;
    Ok(dpop.record(&**shared.manager.blocklist(), proof))
}

/// Judges a blocklist answer, applying the outage policy to failures.
pub(crate) fn verdict(
    shared: &Shared,
    session: &SessionData,
    answer: Result<Lookup, BlocklistError>,
) -> Result<(), VerifyError> {
    match answer {
        Ok(lookup) => SessionManager::judge(session, lookup),
        Err(err) if shared.outage == OutagePolicy::AdmitUncheckedDangerously => {
            crate::metrics::admitted_unchecked();
            tracing::warn!(error = %err, user_id = %session.user_id(), "blocklist unavailable: admitting a request WITHOUT a revocation check (OutagePolicy::AdmitUncheckedDangerously)");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// The blocklist's verdict on `session` without waiting, when the backend
/// answers from memory. A cached token that passed at the revision the
/// blocklist reports now passes again without a probe: nothing was stored
/// since. A token that passes a probe is marked with the revision read
/// before it.
#[inline]
fn judge_at_once(
    shared: &Shared,
    session: &SessionData,
    hit: Option<&Hit>,
) -> Option<Result<(), VerifyError>> {
    let revision = hit.and_then(|_| shared.manager.blocklist_revision());
    if let (Some(rev), Some(hit)) = (revision, hit) {
        if hit.passed_at(rev) {
            return Some(Ok(()));
        }
    }
    let answer = shared.manager.try_lookup(session)?;
    let answered = answer.is_ok();
    let judged = verdict(shared, session, answer);
    // Only a real answer marks: a request admitted through an outage
    // (`AdmitUncheckedDangerously`) proved nothing.
    if let (true, Ok(()), Some(rev), Some(hit)) = (answered, &judged, revision, hit) {
        hit.mark_passed(rev);
    }
    Some(judged)
}

/// On a refresh route, a token that a refresh already replaced is a replay:
/// the future that ends its session (reuse detection), if the manager has it
/// on.
pub(crate) fn end_if_replayed(
    shared: &Shared,
    session: &SessionData,
    err: &VerifyError,
) -> Option<crate::blocklist::BlocklistFuture<bool>> {
    if shared.refresh_route && matches!(err, VerifyError::Superseded) {
        shared.manager.end_replayed(session)
    } else {
        None
    }
}

pub(crate) fn log_verify_error(err: &VerifyError) {
    if err.is_client_error() {
        tracing::debug!(reason = %err, "token refused");
    } else {
        tracing::warn!(error = %err, "refusing the request (fail closed)");
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

/// Builds a refusal and records its reason in the response's extensions.
pub(crate) fn refusal(
    respond: &dyn RejectionResponse,
    rejection: Rejection,
    grpc: bool,
) -> Response<Bytes> {
    crate::metrics::refused(rejection.kind());
    let mut res = if grpc {
        crate::http::grpc::refusal(&rejection)
    } else {
        respond.response(&rejection)
    };
    res.extensions_mut().insert(rejection);
    res
}

/// Whether the request is gRPC: HTTP/2 with `content-type:
/// application/grpc*`. Its refusals are then gRPC statuses (HTTP 200 with
/// `grpc-status`), so that gRPC clients see proper codes. gRPC runs on
/// HTTP/2 only: an HTTP/1.x request that claims the content type gets the
/// plain HTTP refusal, so that plain clients, caches and monitors always see
/// the real status.
pub(crate) fn is_grpc(version: http::Version, headers: &http::HeaderMap) -> bool {
    version == http::Version::HTTP_2
        && headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
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
