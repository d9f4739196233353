//! The `testing` feature's token minting, checked against the real verifier.

use serde_json::json;
use tower_jwt_session::{testing::TestTokens, VerifyError};

#[tokio::test]
async fn each_kind_of_test_token_fails_for_its_own_reason() {
    let t = TestTokens::new();
    let m = t.manager();
    assert_eq!(m.verify(&t.valid("u-1")).await.unwrap().user_id(), "u-1");
    assert!(matches!(
        m.verify(&t.expired("u-1")).await,
        Err(VerifyError::Expired)
    ));
    assert!(matches!(
        m.verify(&t.not_yet_valid("u-1")).await,
        Err(VerifyError::NotYetValid)
    ));
    assert!(matches!(
        m.verify(&t.wrong_audience("u-1")).await,
        Err(VerifyError::InvalidAudience)
    ));
    assert!(matches!(
        m.verify(&t.revoked("u-1").await).await,
        Err(VerifyError::Revoked)
    ));
    assert!(matches!(
        m.verify(&t.forged("u-1")).await,
        Err(VerifyError::UnknownKey)
    ));
    assert!(matches!(
        m.verify(&t.with_claims("u-1", json!({"email": null})))
            .await,
        Err(VerifyError::MissingClaim("email"))
    ));
    let custom = t.with_claims("u-1", json!({"permissions": ["admin"]}));
    assert!(m.verify(&custom).await.unwrap().has_permission("admin"));
}

#[tokio::test]
async fn tokens_minted_for_a_shared_secret_pass_the_applications_manager() {
    let secret = "the-application-secret-at-least-32-bytes";
    let t = TestTokens::with_config(secret, "https://auth.example.com", "orders-api");
    let app = tower_jwt_session::SessionManager::builder(secret)
        .with_issuer("https://auth.example.com")
        .with_audience("orders-api")
        .build()
        .unwrap();
    assert!(app.verify(&t.valid("u-2")).await.is_ok());
    assert!(app.verify(&t.expired("u-2")).await.is_err());
    assert!(app.verify(&t.forged("u-2")).await.is_err());
    // Another audience is refused: the helper follows the configuration.
    let other = TestTokens::with_config(secret, "https://auth.example.com", "billing-api");
    assert!(app.verify(&other.valid("u-2")).await.is_err());
}
