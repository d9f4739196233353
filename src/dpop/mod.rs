//! Proof of possession: DPoP (RFC 9449).
//!
//! A token bound to a key (`cnf.jkt`, the RFC 7638 thumbprint of the
//! client's public key) is worth nothing without that key: every request
//! carries `Authorization: DPoP <token>` and one `DPoP` header, a fresh
//! proof JWT signed by the key. [`Dpop`] configures a
//! [`SessionLayer`](crate::SessionLayer) for it
//! ([`SessionLayer::with_dpop`](crate::SessionLayer::with_dpop)), per layer,
//! so per route:
//!
//! | mode | `DPoP` scheme | Bearer, unbound token | Bearer, bound token |
//! | --- | --- | --- | --- |
//! | [`DpopMode::Off`] | unknown scheme (`401`) | passes | `401 invalid_token` |
//! | [`DpopMode::Optional`] | proof checked | passes | `401 invalid_token` |
//! | [`DpopMode::Required`] | proof checked | `401`, `WWW-Authenticate: DPoP` | `401 invalid_token` |
//!
//! A bound token is never accepted as a plain Bearer token, in any mode (a
//! downgrade), whatever issued it: tokens minted here with
//! [`NewSession::with_dpop_jkt`](crate::NewSession::with_dpop_jkt) or a
//! trusted issuer's.
//!
//! A proof is checked as §4.3 says: `typ` `dpop+jwt`; an asymmetric `alg`
//! (ES256, ES384, EdDSA, RS256, PS256; never `none` nor HMAC); a public
//! `jwk` only (private members refused); the signature with that key;
//! `htm` equal to the method; `htu` equal to the request's URI without query
//! and fragment (scheme and host compared case-insensitively, a default port
//! equal to none), built from the configured [public
//! URL](Dpop::with_public_url) behind a proxy, else from `http://` and the
//! `Host` header; `iat` within 60 s either way; `ath` the SHA-256 of the
//! token; the key's thumbprint equal to the token's `cnf.jkt`; and `jti`
//! not seen on this server within the window (a proof is single-use). With
//! [nonces](Dpop::with_nonces), a proof must also carry a nonce the server
//! issued (`401 use_dpop_nonce` with a `DPoP-Nonce` header otherwise).
//! Nonces are stateless (an HMAC of the time window): every server sharing
//! the secret accepts them, with no store command per request.
//!
//! A refusal for the proof is `401` with
//! `WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="..."`.

mod nonce;
mod proof;

use std::{fmt, sync::Arc, time::Duration};

use http::{HeaderMap, Method, Uri};

pub(crate) use proof::header_proof;

use crate::error::ConfigError;

/// The proof algorithms accepted, as a `WWW-Authenticate` `algs` value.
pub const DPOP_ALGS: &str = "ES256 ES384 EdDSA RS256 PS256";

/// How long a proof's `iat` may be in the past or ahead, and how long its
/// `jti` is remembered.
pub const PROOF_WINDOW: Duration = Duration::from_secs(60);

/// Whether a layer takes DPoP requests, and whether it requires them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// The `DPoP` scheme is unknown (bound tokens are still never accepted
    /// as Bearer).
    Off,
    /// DPoP requests are checked; unbound Bearer tokens pass (the default).
    #[default]
    Optional,
    /// Every request needs DPoP: a Bearer token is refused.
    Required,
}

/// Where a proof's single use is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayScope {
    /// On each server, in memory (the default): no store command per
    /// request. A proof names the server's URL (`htu`), so it is worth
    /// something on another server only if several answer one URL; with
    /// [nonces](Dpop::with_nonces) its window is the nonce's.
    #[default]
    Local,
    /// On every server sharing the blocklist: one atomic store command per
    /// DPoP request ([`Blocklist::record_once`](crate::blocklist::Blocklist::record_once));
    /// a store that cannot answer makes the request `503`.
    Store,
}

/// A proof that checked out: the key it proves, its `jti`, and the token
/// it was checked for (its `ath`).
///
/// Hand it to the manager with the token
/// ([`PresentedToken::dpop`](crate::PresentedToken::dpop)) to verify,
/// refresh or revoke a bound token outside the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    jkt: String,
    jti: String,
    /// SHA-256 of the token whose `ath` the proof carried, when checked
    /// with one.
    token_digest: Option<[u8; 32]>,
}

impl VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key: compare it with a
    /// token's `cnf.jkt`, or bind a new token to it.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Whether the proof was checked for `token` (its `ath` is the token's
    /// hash). A proof checked without a token (at login) is for none.
    ///
    /// ```
    /// use tower_jwt_session::dpop::{Dpop, DpopMode};
    /// # let headers = http::HeaderMap::new();
    /// let dpop = Dpop::new(DpopMode::Optional);
    /// // At login there is no token yet: the proof is for none.
    /// if let Ok(proof) = dpop.verify_request(&http::Method::POST, &"/login".parse().unwrap(), &headers, None) {
    ///     assert!(!proof.is_for("any.token.text"));
    /// }
    /// ```
    pub fn is_for(&self, token: &str) -> bool {
        use sha2::Digest;
        self.token_digest
            .is_some_and(|d| d == <[u8; 32]>::from(sha2::Sha256::digest(token.as_bytes())))
    }
}

/// Why a DPoP proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// No `DPoP` header, or more than one.
    #[error("exactly one DPoP header is required")]
    MissingProof,
    /// The proof is invalid (the reason says which check failed).
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(&'static str),
    /// The proof's `jti` was used before.
    #[error("the DPoP proof was used before")]
    Replayed,
    /// Nonces are on and the proof has none, or a stale one.
    #[error("the DPoP proof needs a nonce issued by this server")]
    UseNonce,
}

/// The DPoP settings of a layer (and of an issuing endpoint). Cheap to
/// clone; the single-use memory of proofs is shared by the clones.
///
/// ```
/// use tower_jwt_session::dpop::{Dpop, DpopMode};
///
/// let dpop = Dpop::new(DpopMode::Required)
///     .with_public_url("https://api.example.com")?   // the URL clients see, behind a proxy
///     .with_nonces("a secret shared by every server, 32+ bytes");
/// assert_eq!(dpop.mode(), DpopMode::Required);
/// assert!(dpop.nonce().is_some());
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Dpop {
    inner: Arc<Inner>,
}

struct Inner {
    mode: DpopMode,
    /// `scheme://authority` and a path prefix, lowercased where it may be.
    public_url: Option<(String, String)>,
    nonces: Option<nonce::Nonces>,
    replay: ReplayScope,
    seen: moka::sync::Cache<String, ()>,
    keys: proof::KeyCache,
}

impl Dpop {
    /// DPoP in `mode`, with `htu` from `http://` and the `Host` header, no
    /// nonces, and proofs single-use on this server.
    pub fn new(mode: DpopMode) -> Self {
        Self {
            inner: Arc::new(Inner {
                mode,
                public_url: None,
                nonces: None,
                replay: ReplayScope::Local,
                seen: moka::sync::Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_live(PROOF_WINDOW * 2)
                    .build(),
                keys: proof::key_cache(),
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            mode: shared.mode,
            public_url: shared.public_url.clone(),
            nonces: shared.nonces.clone(),
            replay: shared.replay,
            seen: shared.seen.clone(),
            keys: shared.keys.clone(),
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The external base URL proofs' `htu` must match (behind a proxy):
    /// `https://api.example.com` or with a path prefix
    /// (`https://example.com/api`), to which the request's path is appended.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPublicUrl`] for anything but an absolute
    /// `http`/`https` URL without query or fragment.
    pub fn with_public_url(self, url: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::InvalidPublicUrl(url.to_owned());
        if url.contains(['?', '#']) {
            return Err(bad());
        }
        let base = proof::normalize(url).ok_or_else(bad)?;
        let (origin, path) = match base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(cut) => (
                base[..cut].to_owned(),
                base[cut..].trim_end_matches('/').to_owned(),
            ),
            None => (base.clone(), String::new()),
        };
        Ok(self.edit(|i| i.public_url = Some((origin, path))))
    }

    /// Requires proofs to carry a nonce issued by a server holding
    /// `secret`: stateless (an HMAC of the current 60 s window; the previous
    /// window's is accepted too), so every server sharing the secret
    /// accepts the others' nonces with no store command.
    pub fn with_nonces(self, secret: impl AsRef<[u8]>) -> Self {
        let nonces = nonce::Nonces::new(secret.as_ref());
        self.edit(|i| i.nonces = Some(nonces))
    }

    /// Where a proof's single use is enforced. Default: [`ReplayScope::Local`].
    pub fn with_replay(self, replay: ReplayScope) -> Self {
        self.edit(|i| i.replay = replay)
    }

    /// The mode.
    pub fn mode(&self) -> DpopMode {
        self.inner.mode
    }

    /// A nonce to hand out now (`DPoP-Nonce` header), when nonces are on.
    pub fn nonce(&self) -> Option<String> {
        self.inner.nonces.as_ref().map(nonce::Nonces::current)
    }

    /// Checks the request's proof: its one `DPoP` header, for `method` and
    /// `uri` (with `headers`' `Host` unless a public URL is set), and for
    /// `token` (`ath`) when the request carries one (not at login). Single
    /// use is checked on this server; with [`ReplayScope::Store`] the
    /// layer also records the proof in the store.
    ///
    /// # Errors
    ///
    /// The [`DpopError`] that names the failed check.
    pub fn verify_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: Option<&str>,
    ) -> Result<VerifiedProof, DpopError> {
        let verified = self.check_request(method, uri, headers, token)?;
        self.use_once(&verified)?;
        Ok(verified)
    }

    /// [`verify_request`](Self::verify_request) without taking the proof's
    /// single use yet: the layer takes it with [`use_once`](Self::use_once)
    /// once the token verified, so that a request with a forged token takes
    /// no room.
    pub(crate) fn check_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: Option<&str>,
    ) -> Result<VerifiedProof, DpopError> {
        let proof = header_proof(headers)?;
        let htu = self.expected_htu(uri, headers)?;
        proof::verify(
            proof,
            method.as_str(),
            &htu,
            token,
            self.inner.nonces.as_ref(),
            &self.inner.keys,
        )
    }

    /// Takes `proof`'s single use on this server: one atomic step, so two
    /// concurrent copies cannot both pass.
    pub(crate) fn use_once(&self, proof: &VerifiedProof) -> Result<(), DpopError> {
        let key = format!("{}\u{0}{}", proof.jkt, proof.jti);
        if self.inner.seen.entry(key).or_insert(()).is_fresh() {
            Ok(())
        } else {
            Err(DpopError::Replayed)
        }
    }

    /// With [`ReplayScope::Store`]: records `proof` as used in `blocklist`
    /// (one atomic command), for a proof checked outside the layer (at
    /// login, say). The future answers `Ok(false)` when the proof was used
    /// already, on any server sharing the store: refuse it then, as a
    /// replay. `None` in [`ReplayScope::Local`] (single use on this server
    /// is checked by [`verify_request`](Self::verify_request) already).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_jwt_session::{blocklist::MemoryBlocklist, dpop::{Dpop, DpopMode, ReplayScope}};
    ///
    /// let dpop = Dpop::new(DpopMode::Optional).with_replay(ReplayScope::Store);
    /// # let headers = http::HeaderMap::new();
    /// # let store = MemoryBlocklist::new();
    /// if let Ok(proof) = dpop.verify_request(&http::Method::POST, &"/login".parse()?, &headers, None) {
    ///     if let Some(record) = dpop.record(&store, &proof) {
    ///         assert!(record.await?, "a replayed proof");
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn record<B: crate::blocklist::Blocklist + ?Sized>(
        &self,
        blocklist: &B,
        proof: &VerifiedProof,
    ) -> Option<crate::blocklist::BlocklistFuture<bool>> {
        (self.inner.replay == ReplayScope::Store).then(|| {
            let until = crate::time::now_secs() + 2 * PROOF_WINDOW.as_secs() as i64;
            blocklist.record_once(&format!("dpop~{}~{}", proof.jkt, proof.jti), until)
        })
    }

    /// The `htu` a proof of this request must name.
    fn expected_htu(&self, uri: &Uri, headers: &HeaderMap) -> Result<String, DpopError> {
        let path = uri.path();
        match &self.inner.public_url {
            Some((origin, prefix)) => Ok(format!("{origin}{prefix}{path}")),
            None => {
                let host = headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| uri.authority().map(|a| a.as_str()))
                    .ok_or(DpopError::InvalidProof("the request has no Host"))?;
                proof::normalize(&format!("http://{host}{path}"))
                    .ok_or(DpopError::InvalidProof("the request's URL is not valid"))
            }
        }
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.inner.mode)
            .field("public_url", &self.inner.public_url)
            .field("nonces", &self.inner.nonces.is_some())
            .finish()
    }
}
