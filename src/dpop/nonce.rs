//! Stateless DPoP nonces: an HMAC of the current time window.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{digest::KeyInit, Hmac, Mac};
use sha2::Sha256;

use super::PROOF_WINDOW;
use crate::jwt::verified::constant_time_eq;

/// Mints and checks nonces; clones share the key.
#[derive(Clone)]
pub(crate) struct Nonces {
    key: Hmac<Sha256>,
}

impl Nonces {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self {
            key: <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .expect("HMAC accepts keys of any length"),
        }
    }

    fn for_window(&self, window: i64) -> String {
        let mut mac = self.key.clone();
        mac.update(b"dpop-nonce");
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    fn window_now() -> i64 {
        crate::time::now_secs().div_euclid(PROOF_WINDOW.as_secs() as i64)
    }

    /// The nonce of the current window.
    pub(crate) fn current(&self) -> String {
        self.for_window(Self::window_now())
    }

    /// Whether `nonce` is the current window's or the previous one's.
    pub(crate) fn accepts(&self, nonce: &str) -> bool {
        let now = Self::window_now();
        [now, now - 1]
            .iter()
            .any(|w| constant_time_eq(self.for_window(*w).as_bytes(), nonce.as_bytes()))
    }
}
