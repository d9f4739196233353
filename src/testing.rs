//! Helpers for your own integration tests (feature `testing`): mint valid,
//! expired, not-yet-valid, wrong-audience, revoked and forged tokens, and get
//! a ready in-memory setup.
//!
//! Never enable this feature in production builds: it mints tokens on demand,
//! and it lets the environment variable `TOWER_JWT_SESSION_TEST_CLOCK_SKEW_MS`
//! move the process's clock by that many milliseconds (for tests of servers
//! whose clocks disagree).
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_session::testing::TestTokens;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tokens = TestTokens::new();
//! let app = ServiceBuilder::new()
//!     .layer(tokens.layer())
//!     .service_fn(|_req: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(String::new())) });
//!
//! let call = |token: String| {
//!     let app = app.clone();
//!     async move {
//!         let req = Request::builder().header("authorization", format!("Bearer {token}")).body(())?;
//!         Ok::<_, Box<dyn std::error::Error>>(app.oneshot(req).await?.status())
//!     }
//! };
//! assert_eq!(call(tokens.valid("u-1")).await?, StatusCode::OK);
//! assert_eq!(call(tokens.expired("u-1")).await?, StatusCode::UNAUTHORIZED);
//! assert_eq!(call(tokens.forged("u-1")).await?, StatusCode::UNAUTHORIZED);
//! assert_eq!(call(tokens.revoked("u-1").await).await?, StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

use std::{fmt, time::Duration};

use serde_json::{json, Value};

use crate::{
    http::layer::SessionLayer, jwt::claims::NewSession, manager::SessionManager, time::now_secs,
};

/// The issuer of [`TestTokens::new`] and [`TestTokens::with_secret`].
pub const TEST_ISSUER: &str = "test-issuer";
/// The audience of [`TestTokens::new`] and [`TestTokens::with_secret`].
pub const TEST_AUDIENCE: &str = "test-audience";

/// Mints test tokens for one in-memory [`SessionManager`].
pub struct TestTokens {
    secret: String,
    manager: SessionManager,
}

impl fmt::Debug for TestTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestTokens")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl Default for TestTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl TestTokens {
    /// A fresh manager (HS256, [`TEST_ISSUER`], [`TEST_AUDIENCE`], an
    /// in-memory blocklist) with a random secret.
    pub fn new() -> Self {
        Self::with_secret(random_secret())
    }

    /// A manager with this HMAC secret (HS256, [`TEST_ISSUER`],
    /// [`TEST_AUDIENCE`]).
    ///
    /// # Panics
    ///
    /// When the secret is shorter than 32 bytes.
    pub fn with_secret(secret: impl Into<String>) -> Self {
        Self::with_config(secret, TEST_ISSUER, TEST_AUDIENCE)
    }

    /// A manager with your application's secret, issuer and audience (HS256),
    /// so that tokens minted here are accepted by the application under test.
    ///
    /// ```
    /// use tower_jwt_session::testing::TestTokens;
    ///
    /// let tokens = TestTokens::with_config(
    ///     "a secret of at least thirty-two bytes",
    ///     "https://auth.example.com",
    ///     "orders-api",
    /// );
    /// let session = tokens.manager().decode(&tokens.valid("u-1")).unwrap();
    /// assert_eq!(session.user_id(), "u-1");
    /// assert_eq!(tokens.manager().audience(), "orders-api");
    /// ```
    ///
    /// # Panics
    ///
    /// When the secret is shorter than 32 bytes, or the issuer or audience
    /// is empty.
    pub fn with_config(
        secret: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let secret = secret.into();
        let manager = SessionManager::builder(&secret)
            .with_issuer(issuer)
            .with_audience(audience)
            .build()
            .expect("a test secret of at least 32 bytes, a non-empty issuer and audience");
        Self { secret, manager }
    }

    /// The manager: share it with the application under test.
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }

    /// A required-mode layer on this manager.
    pub fn layer(&self) -> SessionLayer {
        SessionLayer::new(self.manager.clone())
    }

    /// A valid token for `user_id` (email `{user_id}@example.test`).
    pub fn valid(&self, user_id: &str) -> String {
        self.valid_for(NewSession::new(user_id, format!("{user_id}@example.test")))
    }

    /// A valid token for a session you describe.
    pub fn valid_for(&self, session: NewSession) -> String {
        self.manager
            .issue(session)
            .expect("issuing a test token")
            .into_token()
    }

    /// A token that expired an hour ago.
    pub fn expired(&self, user_id: &str) -> String {
        self.sign(user_id, |c| {
            c["exp"] = json!(now_secs() - 3600);
            c["expiresAt"] = c["exp"].clone();
        })
    }

    /// A token whose `nbf` is an hour ahead.
    pub fn not_yet_valid(&self, user_id: &str) -> String {
        self.sign(user_id, |c| c["nbf"] = json!(now_secs() + 3600))
    }

    /// A token for another audience.
    pub fn wrong_audience(&self, user_id: &str) -> String {
        self.sign(user_id, |c| c["aud"] = json!("another-api"))
    }

    /// A valid token, revoked before it is returned.
    pub async fn revoked(&self, user_id: &str) -> String {
        let issued = self
            .manager
            .issue(NewSession::new(user_id, format!("{user_id}@example.test")))
            .expect("issuing a test token");
        self.manager
            .revoke(issued.session())
            .await
            .expect("revoking a test token");
        issued.into_token()
    }

    /// A token signed with another secret.
    pub fn forged(&self, user_id: &str) -> String {
        let other = TestTokens::with_config(
            random_secret(),
            self.manager.issuer(),
            self.manager.audience(),
        );
        other.valid(user_id)
    }

    /// A token with the given claims changed or added (`null` removes one),
    /// signed with this manager's secret: for cases of your own.
    pub fn with_claims(&self, user_id: &str, changes: Value) -> String {
        self.sign(user_id, |c| {
            if let (Some(claims), Value::Object(changes)) = (c.as_object_mut(), changes) {
                for (k, v) in changes {
                    if v.is_null() {
                        claims.remove(&k);
                    } else {
                        claims.insert(k, v);
                    }
                }
            }
        })
    }

    fn sign(&self, user_id: &str, change: impl FnOnce(&mut Value)) -> String {
        let now = now_secs();
        let ttl = Duration::from_secs(600).as_secs() as i64;
        let mut claims = json!({
            "userId": user_id,
            "email": format!("{user_id}@example.test"),
            "role": "",
            "permissions": [],
            "metadata": {},
            "createdAt": now,
            "expiresAt": now + ttl,
            "iat": now,
            "iss": self.manager.issuer(),
            "aud": self.manager.audience(),
            "exp": now + ttl,
            "sub": user_id,
        });
        change(&mut claims);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("signing a test token")
    }
}

/// 32 random bytes as hex.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    // A test helper may panic: without randomness there is no test.
    getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
