//! The response futures: [`ResponseFuture`] of [`SessionService`](crate::SessionService)
//! (it may wait for the blocklist), and [`PermissionFuture`] of
//! [`RequirePermission`](crate::RequirePermission) (the inner answer or a refusal).

use std::{
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::{
    blocklist::{BlocklistFuture, Lookup},
    dpop::VerifiedProof,
    error::VerifyError,
    http::{
        body::{ResponseBodyMode, WrapBody},
        config::Shared,
        decision::{
            admit, check_binding, dpop_rejection, end_if_replayed, log_verify_error, refusal,
            use_proof, verdict,
        },
        rejection::Rejection,
    },
    jwt::claims::SessionData,
    manager::DecodeWait,
};

pin_project! {
    /// Response future of [`SessionService`](crate::SessionService) and
    /// [`RequirePermission`](crate::RequirePermission); `M` is the layer's
    /// [`ResponseBodyMode`].
    pub struct ResponseFuture<S, ReqBody, M = WrapBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        // The request's span (disabled unless a subscriber wants debug).
        span: tracing::Span,
        body: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        // Waiting for the blocklist; the ready inner service and the request
        // wait with it.
        Checking {
            // The blocklist's answer, until it came.
            check: Option<BlocklistFuture<Lookup>>,
            // With DPoP proofs single-use across servers: the proof's record
            // in the store, once the token passed.
            record: Option<BlocklistFuture<bool>>,
            // Boxed: the hot path (`Inner`) keeps the future small.
            pending: Option<Box<Pending<S, ReqBody>>>,
            started: std::time::Instant,
        },
        // A token that needs a request to be verified (its key is not in
        // the JWK Set yet; an opaque token to introspect): waiting for it,
        // then checked as usual.
        Decoding {
            wait: DecodeWait,
            pending: Option<Box<DecodePending<S, ReqBody>>>,
        },
        // The inner service is answering.
        Inner { #[pin] fut: S::Future },
        // A replayed token on a refresh route: its session is being ended,
        // then the request is refused.
        Ending {
            end: BlocklistFuture<bool>,
            shared: Option<(Arc<Shared>, bool)>,
        },
        // A refusal, built already.
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<S, ReqBody> State<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    /// Waiting for the blocklist's answer on `pending`'s session (`check`),
    /// or, once it passed, for its proof's record in the store (`record`).
    fn checking(
        check: Option<BlocklistFuture<Lookup>>,
        record: Option<BlocklistFuture<bool>>,
        pending: Pending<S, ReqBody>,
    ) -> Self {
        Self::Checking {
            check,
            record,
            started: std::time::Instant::now(),
            pending: Some(Box::new(pending)),
        }
    }
}

/// What waits for a JWK Set fetch: the ready service, the request, the
/// layer, gRPC or not, the request's DPoP proof.
pub(crate) type DecodePending<S, ReqBody> = (
    S,
    Request<ReqBody>,
    Arc<Shared>,
    bool,
    Option<VerifiedProof>,
);

/// What a request waits for before its inner service is called.
pub(crate) enum Wait {
    /// The blocklist's answer, with the request's DPoP proof, whose single
    /// use is taken once the token passed.
    Blocklist(BlocklistFuture<Lookup>, Option<VerifiedProof>),
    /// The token passed: its DPoP proof's record in the store, if any.
    Record(Option<BlocklistFuture<bool>>),
}

struct Pending<S, ReqBody> {
    inner: S,
    req: Request<ReqBody>,
    session: SessionData,
    shared: Arc<Shared>,
    grpc: bool,
    /// The request's DPoP proof, whose single use is taken once the token
    /// passed.
    proof: Option<VerifiedProof>,
}

impl<S, ReqBody, M> ResponseFuture<S, ReqBody, M>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn inner(fut: S::Future) -> Self {
        Self::inner_in(fut, tracing::Span::none())
    }

    /// The inner service's future, polled inside `span`.
    pub(crate) fn inner_in(fut: S::Future, span: tracing::Span) -> Self {
        Self {
            state: State::Inner { fut },
            span,
            body: PhantomData,
        }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
            span: tracing::Span::none(),
            body: PhantomData,
        }
    }

    /// Waiting for `wait` on `session`'s request before the inner service
    /// is called.
    pub(crate) fn waiting_for(
        wait: Wait,
        inner: S,
        req: Request<ReqBody>,
        session: SessionData,
        shared: Arc<Shared>,
        grpc: bool,
    ) -> Self {
        let (check, record, proof) = match wait {
            Wait::Blocklist(check, proof) => (Some(check), None, proof),
            Wait::Record(record) => (None, record, None),
        };
        let pending = Pending {
            inner,
            req,
            session,
            shared,
            grpc,
            proof,
        };
        Self::waiting(State::checking(check, record, pending))
    }

    fn waiting(state: State<S, ReqBody>) -> Self {
        Self {
            state,
            span: tracing::Span::none(),
            body: PhantomData,
        }
    }

    pub(crate) fn decoding(wait: DecodeWait, pending: DecodePending<S, ReqBody>) -> Self {
        Self {
            state: State::Decoding {
                wait,
                pending: Some(Box::new(pending)),
            },
            span: tracing::Span::none(),
            body: PhantomData,
        }
    }

    pub(crate) fn ending(end: BlocklistFuture<bool>, shared: Arc<Shared>, grpc: bool) -> Self {
        Self {
            state: State::Ending {
                end,
                shared: Some((shared, grpc)),
            },
            span: tracing::Span::none(),
            body: PhantomData,
        }
    }

    /// Runs the rest of the request inside `span`.
    pub(crate) fn in_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }
}

impl<S, ReqBody, ResBody, M> Future for ResponseFuture<S, ReqBody, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: ResponseBodyMode<ResBody>,
{
    type Output = Result<Response<M::Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking {
                    check,
                    record,
                    pending,
                    started,
                } => {
                    if let Some(answering) = check {
                        let answer = ready!(answering.as_mut().poll(cx));
                        *check = None;
                        crate::metrics::blocklist_answered(answer.is_ok(), started.elapsed());
                        let p = pending.as_mut().expect("future polled after completion");
                        let refused = match verdict(&p.shared, &p.session, answer) {
                            // The token passed: the proof's single use now.
                            Ok(()) => match use_proof(&p.shared, p.proof.as_ref()) {
                                Ok(recording) => {
                                    *record = recording;
                                    None
                                }
                                Err(rejection) => Some(rejection),
                            },
                            Err(err) => {
                                let Pending {
                                    session,
                                    shared,
                                    grpc,
                                    ..
                                } = *pending.take().expect("future polled after completion");
                                match end_if_replayed(&shared, &session, &err) {
                                    Some(end) => this.state.set(State::Ending {
                                        end,
                                        shared: Some((shared, grpc)),
                                    }),
                                    None => {
                                        log_verify_error(&err);
                                        let response = refusal(
                                            &*shared.respond,
                                            Rejection::from(&err),
                                            shared.challenge.as_deref(),
                                            grpc,
                                        );
                                        this.state.set(State::Rejected {
                                            response: Some(response),
                                        });
                                    }
                                }
                                continue;
                            }
                        };
                        if let Some(rejection) = refused {
                            let Pending { shared, grpc, .. } =
                                *pending.take().expect("future polled after completion");
                            let response = refusal(
                                &*shared.respond,
                                rejection,
                                shared.challenge.as_deref(),
                                grpc,
                            );
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                            continue;
                        }
                    }
                    if let Some(recording) = record {
                        let recorded = ready!(recording.as_mut().poll(cx));
                        *record = None;
                        let refused = match recorded {
                            Ok(true) => None,
                            // A record exists only when the layer has DPoP.
                            Ok(false) => pending
                                .as_ref()
                                .and_then(|p| p.shared.dpop.as_ref())
                                .map(|d| dpop_rejection(d, &crate::dpop::DpopError::Replayed)),
                            Err(e) => Some(Rejection::from(&VerifyError::Backend(e))),
                        };
                        if let Some(rejection) = refused {
                            let Pending { shared, grpc, .. } =
                                *pending.take().expect("future polled after completion");
                            let response = refusal(
                                &*shared.respond,
                                rejection,
                                shared.challenge.as_deref(),
                                grpc,
                            );
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                            continue;
                        }
                    }
                    let Pending {
                        mut inner,
                        mut req,
                        session,
                        shared,
                        ..
                    } = *pending.take().expect("future polled after completion");
                    admit(&shared, session, req.extensions_mut());
                    let fut = inner.call(req);
                    this.state.set(State::Inner { fut });
                }
                StateProj::Decoding { wait, pending } => {
                    let decoded = ready!(wait.as_mut().poll(cx));
                    let (inner, req, shared, grpc, proof) =
                        *pending.take().expect("future polled after completion");
                    let decoded = decoded
                        .map_err(|e| Rejection::from(&e))
                        .and_then(|session| {
                            check_binding(&shared, &session, proof.as_ref()).map(|()| session)
                        });
                    match decoded {
                        Ok(session) => {
                            let check = shared.manager.lookup_future(&session);
                            this.state.set(State::checking(
                                Some(check),
                                None,
                                Pending {
                                    inner,
                                    req,
                                    session,
                                    shared,
                                    grpc,
                                    proof,
                                },
                            ));
                        }
                        Err(rejection) => {
                            tracing::debug!(reason = %rejection, "token refused");
                            let response = refusal(
                                &*shared.respond,
                                rejection,
                                shared.challenge.as_deref(),
                                grpc,
                            );
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                        }
                    }
                }
                StateProj::Ending { end, shared } => {
                    let stored = ready!(end.as_mut().poll(cx));
                    let (shared, grpc) = shared.take().expect("future polled after completion");
                    // Ended: the replay is refused like a revoked token. Not
                    // stored: fail closed, nothing promised.
                    let err = match stored {
                        Ok(_) => VerifyError::ReuseDetected,
                        Err(e) => VerifyError::Backend(e),
                    };
                    log_verify_error(&err);
                    let response = refusal(
                        &*shared.respond,
                        Rejection::from(&err),
                        shared.challenge.as_deref(),
                        grpc,
                    );
                    this.state.set(State::Rejected {
                        response: Some(response),
                    });
                }
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(M::inner)));
                }
                StateProj::Rejected { response } => {
                    let res = response.take().expect("future polled after completion");
                    return Poll::Ready(Ok(res.map(M::refusal)));
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequirePermission`](crate::RequirePermission):
    /// the inner service's answer when the session holds the permission, else
    /// the refusal, ready at once. It does no work of its own.
    pub struct PermissionFuture<F, M> {
        #[pin]
        state: PermissionState<F>,
        body: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = PermissionStateProj]
    enum PermissionState<F> {
        Inner { #[pin] fut: F },
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<F, M> PermissionFuture<F, M> {
    pub(crate) fn inner(fut: F) -> Self {
        Self {
            state: PermissionState::Inner { fut },
            body: PhantomData,
        }
    }

    pub(crate) fn refused(response: Response<Bytes>) -> Self {
        Self {
            state: PermissionState::Refused {
                response: Some(response),
            },
            body: PhantomData,
        }
    }
}

impl<F, M, ResBody, E> Future for PermissionFuture<F, M>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    M: ResponseBodyMode<ResBody>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            PermissionStateProj::Inner { fut } => {
                let res = ready!(fut.poll(cx))?;
                Poll::Ready(Ok(res.map(M::inner)))
            }
            PermissionStateProj::Refused { response } => {
                let res = response.take().expect("future polled after completion");
                Poll::Ready(Ok(res.map(M::refusal)))
            }
        }
    }
}

impl<F, M> std::fmt::Debug for PermissionFuture<F, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PermissionFuture").finish_non_exhaustive()
    }
}
