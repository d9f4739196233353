//! Token verification from arbitrary bytes, under HMAC and under ES256,
//! EdDSA and RS256 public keys: never a panic; whatever passes has an
//! identity and passes again (no state leaks between calls).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let managers = std::iter::once(common::manager()).chain(common::public_key_managers());
        for manager in managers {
            if let Ok(session) = manager.decode(text) {
                assert!(!session.user_id().is_empty());
                assert!(manager.decode(text).is_ok());
            }
        }
    }
});
