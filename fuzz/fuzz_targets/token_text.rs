//! Token verification from arbitrary bytes: never a panic; whatever passes
//! has an identity and passes again (no state leaks between calls).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(session) = common::manager().decode(text) {
            assert!(!session.user_id().is_empty());
            assert!(common::manager().decode(text).is_ok());
        }
    }
});
