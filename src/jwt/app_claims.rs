//! [`Claims<C>`]: a verified token's claims as the application's own type,
//! beside the session (the extractor is in the HTTP room).

use std::{fmt, ops::Deref, sync::Arc};

/// A verified token's claims as the application's own type `C`.
///
/// With [`SessionManagerBuilder::with_claims::<C>()`](crate::SessionManagerBuilder::with_claims)
/// the claims are parsed once per token (and kept in the verified-token
/// cache), and the [`SessionLayer`](crate::SessionLayer) puts `Claims<C>`
/// into the request's extensions next to the [`SessionData`](crate::SessionData).
/// With the `axum` feature it is also an extractor: without `with_claims`
/// it parses the session's claims on each request, and a token whose
/// claims do not fit `C` gets `401 invalid_token`.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_jwt_session::{Claims, SessionLayer, SessionManager};
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims {
///     sub: String,
///     #[serde(default)]
///     tenant: Option<String>,
/// }
///
/// async fn me(claims: Claims<MyClaims>) -> String {
///     format!("{} of {:?}", claims.sub, claims.tenant)
/// }
///
/// let manager = SessionManager::builder("a secret of at least thirty-two bytes")
///     .with_issuer("https://auth.example.com")
///     .with_audience("example-api")
///     .with_claims::<MyClaims>()
///     .build()?;
/// let app: Router = Router::new().route("/me", get(me)).layer(SessionLayer::new(manager));
/// # let _ = app;
/// # Ok::<(), tower_jwt_session::ConfigError>(())
/// ```
pub struct Claims<C>(pub Arc<C>);

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: fmt::Debug> fmt::Debug for Claims<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&self.0).finish()
    }
}
