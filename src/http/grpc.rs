//! Refusals for gRPC requests (`content-type: application/grpc*`).
//!
//! A gRPC client reads its status from `grpc-status`, not from the HTTP
//! status: the refusal is a Trailers-Only response, HTTP 200 with
//! `grpc-status` and `grpc-message` in its headers and no body
//! ([gRPC over HTTP/2]). Codes: `16 UNAUTHENTICATED` for missing, malformed,
//! invalid, expired and revoked credentials; `7 PERMISSION_DENIED` for a
//! missing permission (not 16: the caller is known, and retrying with other
//! credentials is the wrong advice); `14 UNAVAILABLE` when the blocklist
//! cannot answer. The message is generic, as HTTP descriptions are off by
//! default; the [`Rejection`] is in the response's extensions.
//!
//! [gRPC over HTTP/2]: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md

use bytes::Bytes;
use http::{header, HeaderValue, Response};

use crate::http::rejection::{Rejection, RejectionKind};

/// The gRPC status code and message for a refusal.
fn status(kind: RejectionKind) -> (&'static str, &'static str) {
    match kind {
        RejectionKind::InsufficientScope => ("7", "the session lacks the required permission"),
        RejectionKind::BackendUnavailable => ("14", "the session store is unavailable"),
        _ => ("16", "a valid session token is required"),
    }
}

pub(crate) fn refusal(rejection: &Rejection) -> Response<Bytes> {
    let (code, message) = status(rejection.kind());
    let mut res = Response::new(Bytes::new());
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from_static(code));
    headers.insert("grpc-message", HeaderValue::from_static(message));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_grpc_codes() {
        for (kind, code) in [
            (RejectionKind::MissingCredentials, "16"),
            (RejectionKind::InvalidRequest, "16"),
            (RejectionKind::InvalidToken, "16"),
            (RejectionKind::Expired, "16"),
            (RejectionKind::Revoked, "16"),
            (RejectionKind::InsufficientScope, "7"),
            (RejectionKind::BackendUnavailable, "14"),
        ] {
            let res = refusal(&Rejection::new(kind, "x"));
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["grpc-status"], code, "{kind:?}");
            assert!(res.body().is_empty());
        }
    }
}
