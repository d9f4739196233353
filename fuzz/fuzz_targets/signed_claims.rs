//! Claims deserialization and validation: arbitrary payload bytes, correctly
//! signed, so that every input reaches the claims parser. Whatever passes
//! must have an identity and an `exp` in the future.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = common::sign(br#"{"alg":"HS256"}"#, data);
    if let Ok(session) = common::manager().decode(&token) {
        assert!(!session.user_id().is_empty());
        assert!(session.email().is_some_and(|e| !e.is_empty()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(session.expires_at().saturating_add(11) >= now, "accepted an expired token");
    }
});
