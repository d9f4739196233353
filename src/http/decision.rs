//! The layer's decisions, in one place for [`SessionService::call`] and its
//! [`ResponseFuture`]: the binding of a token to a DPoP proof and the
//! proof's single use, the blocklist's verdict (at once from memory, or
//! awaited), reuse detection on a refresh route, and the refusal built for
//! each outcome.
//!
//! [`SessionService::call`]: crate::SessionService
//! [`ResponseFuture`]: crate::future::ResponseFuture

use bytes::Bytes;
use http::Response;

use crate::{
    blocklist::{BlocklistError, BlocklistFuture, Lookup},
    dpop::{Dpop, DpopError, DpopMode, VerifiedProof},
    error::VerifyError,
    http::{
        config::{Challenge, OutagePolicy, Shared},
        rejection::{Rejection, RejectionKind, RejectionResponse},
    },
    jwt::claims::SessionData,
    jwt::verified::Hit,
    manager::SessionManager,
};

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
    match session.check_binding(proof.map(VerifiedProof::jkt)) {
        Ok(()) if proof.is_some() => Ok(()),
        Err(VerifyError::ProofMismatch) => Err(Rejection::new(
            RejectionKind::InvalidDpopProof,
            "the proof's key is not the key the token is bound to",
        )
        .with_dpop(shared.dpop.as_ref().and_then(Dpop::nonce))),
        Err(e) => Err(Rejection::from(&e)),
        // An unbound token without a proof: fine unless DPoP is required.
        Ok(()) => match shared.dpop.as_ref() {
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
) -> Result<Option<BlocklistFuture<bool>>, Rejection> {
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
/// since; nor does one whose own slots of the blocklist are where they were
/// when it passed (writes about other tokens only). A token that passes a
/// probe is marked with both revisions, read before it.
#[inline]
pub(crate) fn judge_at_once(
    shared: &Shared,
    session: &SessionData,
    hit: Option<&Hit>,
) -> Option<Result<(), VerifyError>> {
    let revision = hit.and_then(|_| shared.manager.blocklist_revision());
    let mut at_slots = None;
    if let (Some(rev), Some(hit)) = (revision, hit) {
        if hit.passed_at(rev) {
            return Some(Ok(()));
        }
        // Something was stored since: anything that could concern this
        // token? (Read after `rev`: a write counts in its slots first.)
        at_slots = shared.manager.slots_revision(hit);
        if at_slots.is_some_and(|n| hit.passed_at_slots(n)) {
            hit.mark_passed(rev);
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
        if let Some(n) = at_slots {
            hit.mark_passed_at_slots(n);
        }
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
) -> Option<BlocklistFuture<bool>> {
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

/// Builds a refusal and records its reason in the response's extensions.
pub(crate) fn refusal(
    respond: &dyn RejectionResponse,
    rejection: Rejection,
    challenge: Option<&Challenge>,
    grpc: bool,
) -> Response<Bytes> {
    crate::metrics::refused(rejection.kind().metrics_reason());
    let rejection = match challenge {
        Some(challenge) => rejection.challenged(
            challenge.resource_metadata.as_ref(),
            challenge.scope.as_ref(),
        ),
        None => rejection,
    };
    let mut res = if grpc {
        crate::http::grpc::refusal(&rejection)
    } else {
        respond.response(&rejection)
    };
    res.extensions_mut().insert(rejection);
    res
}

/// Lets a verified session through: its claims type, the session, and what
/// the permission checks behind need for their challenges go into the
/// request's extensions.
pub(crate) fn admit(shared: &Shared, session: SessionData, extensions: &mut http::Extensions) {
    shared.manager.insert_claims(&session, extensions);
    extensions.insert(session);
    if let Some(challenge) = &shared.challenge {
        extensions.insert(challenge.clone());
    }
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
