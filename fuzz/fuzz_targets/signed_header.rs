//! Header handling (`alg`, `crit`, `typ`, `kid`): arbitrary header bytes,
//! correctly signed, over valid claims. Only a header naming HS256, with no
//! `crit`, an accepted `typ` and no unknown `kid`, may pass.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let claims = br#"{"userId":"u","email":"e@x","sub":"u","iss":"atomic-crm","aud":"atomic-crm-api","exp":4102444800,"iat":1700000000}"#;
    let token = common::sign(data, claims);
    if common::manager().decode(&token).is_ok() {
        let text = String::from_utf8_lossy(data);
        assert!(text.contains("HS256") || text.contains("\\u"), "accepted header {text:?}");
        assert!(!text.contains("\"crit\""), "accepted crit: {text:?}");
    }
});
