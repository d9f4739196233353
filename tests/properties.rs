//! Property tests: what must hold for every input, not just the listed ones.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::*;
use http::{header::AUTHORIZATION, HeaderValue, Request, Response};
use proptest::prelude::*;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{Algorithm, KeyPair, NewSession, SessionLayer, SessionManager};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn manager() -> SessionManager {
    SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any header value: the layer answers 400 or 401 (or passes a real
    /// token), and never panics.
    #[test]
    fn any_authorization_value_is_answered_without_panic(value in proptest::collection::vec(any::<u8>(), 0..300)) {
        let Ok(header) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager()))
            .service_fn(|_req: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(String::new())) });
        let mut req = Request::new(());
        req.headers_mut().insert(AUTHORIZATION, header);
        let res = runtime().block_on(svc.oneshot(req)).unwrap();
        prop_assert!(matches!(res.status().as_u16(), 400 | 401), "{}", res.status());
    }

    /// Any text, and any text shaped like a JWT, is refused by `decode`
    /// without a panic.
    #[test]
    fn decoding_arbitrary_text_never_panics(text in ".{0,200}", a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,90}") {
        let m = manager();
        prop_assert!(m.decode(&text).is_err());
        let shaped = format!("{a}.{b}.{c}");
        prop_assert!(m.decode(&shaped).is_err());
    }

    /// Changing any single byte of a valid token makes it invalid, also when
    /// the original sits in the verified-token cache.
    #[test]
    fn any_single_byte_change_is_refused(index in any::<prop::sample::Index>(), replacement in 0x21u8..0x7f) {
        let m = manager();
        let token = m.issue(NewSession::new("u-1", "ada@example.com").with_permissions(["admin"])).unwrap().into_token();
        m.decode(&token).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(m.decode(&changed).is_err(), "accepted {changed}");
    }

    /// Claims with any content the seed could carry round-trip through a
    /// token minted here.
    #[test]
    fn session_data_round_trips(user in "[^\u{0}]{1,40}", email in "[^\u{0}]{1,40}", perms in proptest::collection::vec("[ -~]{0,20}", 0..6), meta in "[^\u{0}]{0,40}") {
        let m = manager();
        let issued = m.issue(NewSession::new(user.clone(), email.clone()).with_permissions(perms.clone()).with_metadata(serde_json::json!({"k": meta}))).unwrap();
        let s = m.decode(issued.token()).unwrap();
        prop_assert_eq!(s.user_id(), user.as_str());
        prop_assert_eq!(s.email(), Some(email.as_str()));
        prop_assert_eq!(s.permissions(), perms.as_slice());
        prop_assert_eq!(&s.metadata()["k"], &serde_json::json!(meta));
    }

    /// A token never verifies under another key or another algorithm.
    #[test]
    fn a_token_never_verifies_under_another_key_or_algorithm(
        s1 in proptest::collection::vec(any::<u8>(), 64..80),
        s2 in proptest::collection::vec(any::<u8>(), 64..80),
        a1 in 0usize..3, a2 in 0usize..3,
    ) {
        prop_assume!(s1 != s2 || a1 != a2);
        let algs = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        let minting = SessionManager::builder(&s1).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_algorithm(algs[a1]).build().unwrap();
        let checking = SessionManager::builder(&s2).with_issuer("atomic-crm").with_audience("atomic-crm-api").with_algorithm(algs[a2]).build().unwrap();
        let token = minting.issue(NewSession::new("u", "e@example.com")).unwrap().into_token();
        prop_assert!(minting.decode(&token).is_ok());
        prop_assert!(checking.decode(&token).is_err());
    }
}

/// One manager per algorithm and key: three HMAC secrets, RS256 and PS256
/// on one RSA key, two P-256 keys, P-384, Ed25519.
fn every_kind_of_manager() -> &'static [SessionManager] {
    static MANAGERS: std::sync::OnceLock<Vec<SessionManager>> = std::sync::OnceLock::new();
    MANAGERS.get_or_init(|| {
        let pem = |name: &str| {
            std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        let pair = |alg, name: &str| {
            let pair = KeyPair::from_pkcs8_pem(alg, &pem(name)).unwrap();
            SessionManager::builder(pair)
                .with_issuer("atomic-crm")
                .with_audience("atomic-crm-api")
                .build()
                .unwrap()
        };
        vec![
            SessionManager::builder([1u8; 32])
                .with_issuer("atomic-crm")
                .with_audience("atomic-crm-api")
                .build()
                .unwrap(),
            SessionManager::builder([1u8; 48])
                .with_issuer("atomic-crm")
                .with_audience("atomic-crm-api")
                .with_algorithm(Algorithm::HS384)
                .build()
                .unwrap(),
            SessionManager::builder([1u8; 64])
                .with_issuer("atomic-crm")
                .with_audience("atomic-crm-api")
                .with_algorithm(Algorithm::HS512)
                .build()
                .unwrap(),
            pair(Algorithm::RS256, "rsa2048.pem"),
            pair(Algorithm::PS256, "rsa2048.pem"),
            pair(Algorithm::ES256, "p256.pem"),
            pair(Algorithm::ES256, "p256-other.pem"),
            pair(Algorithm::ES384, "p384.pem"),
            pair(Algorithm::EdDSA, "ed25519.pem"),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Across every algorithm, asymmetric ones included: a token verifies
    /// under its own key and algorithm only, and any single byte change to it
    /// is refused.
    #[test]
    fn every_algorithm_refuses_other_keys_and_changed_bytes(
        mint in 0usize..9, check in 0usize..9,
        index in any::<prop::sample::Index>(), replacement in 0x21u8..0x7f,
    ) {
        let managers = every_kind_of_manager();
        let token = managers[mint].issue(NewSession::new("u-1", "ada@example.com")).unwrap().into_token();
        prop_assert!(managers[mint].decode(&token).is_ok());
        if check != mint {
            prop_assert!(managers[check].decode(&token).is_err());
        }
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(managers[mint].decode(&changed).is_err(), "accepted {changed}");
    }
}

/// Re-encodings of a token's text: padding, the other base64 alphabet,
/// changed unused bits in the last character of each segment.
fn reencodings(token: &str) -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let parts: Vec<&str> = token.split('.').collect();
    let mut out = Vec::new();
    for i in 0..3 {
        let mut with = |f: &dyn Fn(&str) -> String| {
            let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            p[i] = f(parts[i]);
            out.push(p.join("."));
        };
        with(&|s| format!("{s}="));
        with(&|s| format!("{s}=="));
        with(&|s| s.replace('-', "+").replace('_', "/"));
        with(&|s| {
            let last = s.as_bytes()[s.len() - 1];
            let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
            // Same high bits, other low bits: the same bytes for a lax decoder.
            let twin = ALPHABET[(idx & !0b1111) | ((idx + 1) & 0b1111)];
            format!("{}{}", &s[..s.len() - 1], twin as char)
        });
    }
    out.retain(|t| t != token);
    out
}

#[tokio::test]
async fn no_reencoding_of_a_revoked_token_passes() {
    let m = manager();
    // A seed-shaped token (no jti, keyed by its tag) and a token minted here.
    let tokens = [
        sign(&claims()),
        m.issue(NewSession::new("u-2", "b@example.com"))
            .unwrap()
            .into_token(),
    ];
    for token in tokens {
        m.revoke(&m.verify(&token).await.unwrap()).await.unwrap();
        for variant in reencodings(&token) {
            assert!(m.verify(&variant).await.is_err(), "{variant}");
        }
    }
    // The generator really produces byte-identical decodings.
    let t = sign(&claims());
    let sig = t.rsplit_once('.').unwrap().1;
    let padded = format!("{sig}=");
    let lax = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    assert_eq!(
        lax.decode(padded).unwrap(),
        URL_SAFE_NO_PAD.decode(sig).unwrap()
    );
}
