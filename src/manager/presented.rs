//! [`PresentedToken`]: a token as its client presented it, alone (Bearer)
//! or with a verified DPoP proof, for the manager's calls that take a
//! token's text.

use crate::{dpop::VerifiedProof, error::VerifyError, jwt::claims::SessionData};

/// A token as a client presented it: alone, as a Bearer token, or with a
/// DPoP proof already checked ([`Dpop::verify_request`]).
///
/// Every call that takes a token's text takes one:
/// [`SessionManager::verify`](crate::SessionManager::verify),
/// [`decode`](crate::SessionManager::decode) and
/// [`refresh`](crate::SessionManager::refresh); a `&str` is a Bearer token.
/// A token bound to a key (`cnf`) is refused without a proof by that key
/// made for it (RFC 9449 §7.2), on every path: whoever copied it can
/// neither use, refresh nor revoke it (revoking takes a verified session).
///
/// Outside the layer (a WebSocket handshake, a job, an extractor of your
/// own), check the request's proof with the token, then pass both:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_jwt_session::{dpop::{Dpop, DpopMode}, PresentedToken, SessionManager, VerifyError};
/// # let manager = SessionManager::builder("a secret of at least thirty-two bytes")
/// #     .with_issuer("https://auth.example.com").with_audience("example-api").build()?;
/// # let issued = manager.issue(tower_jwt_session::NewSession::new("u-1", "ada@example.com")
/// #     .with_dpop_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"))?;
/// # let (token, headers) = (issued.token(), http::HeaderMap::new());
/// let dpop = Dpop::new(DpopMode::Optional);
/// // A bound token without its proof is refused.
/// assert!(matches!(manager.verify(token).await, Err(VerifyError::BoundToKey)));
/// // With the request's proof, checked for this token:
/// if let Ok(proof) = dpop.verify_request(&http::Method::GET, &"/ws".parse()?, &headers, Some(token)) {
///     let session = manager.verify(PresentedToken::dpop(token, &proof)).await?;
/// #   let _ = session;
/// }
/// # Ok(())
/// # }
/// ```
///
/// [`Dpop::verify_request`]: crate::dpop::Dpop::verify_request
#[derive(Debug, Clone, Copy)]
pub struct PresentedToken<'a> {
    token: &'a str,
    proof: Option<&'a VerifiedProof>,
}

impl<'a> PresentedToken<'a> {
    /// A token presented alone (`Authorization: Bearer`).
    pub fn bearer(token: &'a str) -> Self {
        Self { token, proof: None }
    }

    /// A token presented with a DPoP proof checked for it
    /// ([`Dpop::verify_request`](crate::dpop::Dpop::verify_request) with
    /// `Some(token)`).
    pub fn dpop(token: &'a str, proof: &'a VerifiedProof) -> Self {
        Self {
            token,
            proof: Some(proof),
        }
    }

    /// The token's text.
    pub fn token(&self) -> &'a str {
        self.token
    }

    /// Whether `session` (this token, verified) may be used as presented:
    /// a bound token only with a proof by its key made for it; with a
    /// proof, only a token bound to the proof's key.
    pub(crate) fn check_binding(&self, session: &SessionData) -> Result<(), VerifyError> {
        // The proof must be for this very token (`ath`), then by its key.
        if self.proof.is_some_and(|proof| !proof.is_for(self.token)) {
            return Err(VerifyError::ProofMismatch);
        }
        session.check_binding(self.proof.map(VerifiedProof::jkt))
    }
}

impl<'a> From<&'a str> for PresentedToken<'a> {
    fn from(token: &'a str) -> Self {
        Self::bearer(token)
    }
}

impl<'a> From<&'a String> for PresentedToken<'a> {
    fn from(token: &'a String) -> Self {
        Self::bearer(token)
    }
}
