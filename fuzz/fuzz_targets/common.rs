//! Shared by the fuzz targets: one manager, and HMAC signing of raw parts.
#![allow(dead_code)]

use std::sync::OnceLock;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use tower_jwt_session::{Algorithm, PublicKey, SessionManager};

pub const SECRET: &str = "fuzzing-secret-that-is-long-enough-for-hs256";

pub fn manager() -> &'static SessionManager {
    static M: OnceLock<SessionManager> = OnceLock::new();
    // The verified-token cache is off so that every input is fully checked.
    M.get_or_init(|| SessionManager::builder(SECRET).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_verified_cache(0).build().unwrap())
}

/// Verify-only managers for ES256, EdDSA and RS256 (the test keys), cache off.
pub fn public_key_managers() -> &'static [SessionManager] {
    static M: OnceLock<Vec<SessionManager>> = OnceLock::new();
    M.get_or_init(|| {
        let verifier = |alg, pem: &[u8]| {
            let key = PublicKey::from_spki_pem(alg, pem).unwrap();
            SessionManager::verify_only().with_public_key(key).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_verified_cache(0).build().unwrap()
        };
        vec![
            verifier(Algorithm::ES256, include_bytes!("../../tests/keys/p256.pub.pem")),
            verifier(Algorithm::EdDSA, include_bytes!("../../tests/keys/ed25519.pub.pem")),
            verifier(Algorithm::RS256, include_bytes!("../../tests/keys/rsa2048.pub.pem")),
        ]
    })
}

/// `base64url(header).base64url(payload).base64url(HMAC)` over raw bytes.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}
