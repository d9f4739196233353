//! The JWK Set parser: arbitrary bytes as a JWKS document, for every
//! algorithm. Never a panic; a set that parses holds only keys for its
//! algorithm, each findable by its kid, and never a symmetric key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_jwt_session::{jwks::JwkSet, Algorithm};

const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

fuzz_target!(|data: &[u8]| {
    for algorithm in ALGORITHMS {
        if let Ok(set) = JwkSet::parse(algorithm, data) {
            assert!(!algorithm.is_hmac(), "an HMAC algorithm got keys from a JWK Set");
            assert!(!set.is_empty());
            for kid in set.kids() {
                let key = set.get(kid).expect("a listed kid is found");
                assert_eq!(key.algorithm(), algorithm);
                assert_eq!(key.kid(), kid);
            }
        }
    }
});
