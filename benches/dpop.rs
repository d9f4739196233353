//! Same-run ratios for DPoP (RFC 9449):
//!
//! 1. a proof's whole check (`Dpop::verify_request`: header, public JWK,
//!    RFC 7638 thumbprint, signature, `htm`, `htu`, `iat`, `ath`, single
//!    use) against ring's signature check alone on the same proof, for ES256
//!    and EdDSA keys: ring is the fastest verifier reachable from the
//!    registry without cmake (aws-lc-rs needs it), and the one the crate
//!    uses, so the ratio is the proof check's own overhead;
//! 2. a request through `SessionLayer` with `Authorization: DPoP` and a
//!    fresh proof against a Bearer request with a cached token (both tokens
//!    in the verified-token cache, in-memory blocklist).
//!
//! Every DPoP call gets a proof of its own (signed beforehand, outside the
//! timing), since a proof is single-use. Each pair is timed in alternation,
//! ten rounds, median of per-round ratios (`benches/common`). Run with
//! `cargo bench --bench dpop`.

mod common;

use std::hint::black_box;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::{compare, hello, request, ROUNDS, SECRET};
use http::{header::AUTHORIZATION, Method, Request, Uri};
use ring::signature;
use sha2::Digest;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_session::{
    dpop::{Dpop, DpopMode},
    Algorithm, KeyPair, NewSession, SessionLayer, SessionManager,
};

const PUBLIC: &str = "https://api.example.com";

/// A client's DPoP key and the proofs it signs.
struct Client {
    alg: Algorithm,
    key: jsonwebtoken::EncodingKey,
    header: String,
    jkt: String,
    public: Vec<u8>,
}

impl Client {
    fn new(file: &str, alg: Algorithm) -> Self {
        let pem =
            std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let pair = KeyPair::from_pkcs8_pem(alg, &pem).unwrap();
        let der: String = String::from_utf8_lossy(&pem)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let mut jwk = pair.public_key().to_jwk();
        for m in ["kid", "alg", "use"] {
            jwk.as_object_mut().unwrap().remove(m);
        }
        let b64 = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
        let (key, public) = match alg {
            Algorithm::EdDSA => (jsonwebtoken::EncodingKey::from_ed_der(&der), b64("x")),
            _ => {
                let mut point = vec![4u8];
                point.extend(b64("x"));
                point.extend(b64("y"));
                (jsonwebtoken::EncodingKey::from_ec_der(&der), point)
            }
        };
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": alg.as_str(), "jwk": jwk});
        Self {
            alg,
            key,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            jkt: pair.kid().to_owned(),
            public,
        }
    }

    fn proof(&self, i: usize, htu: &str, token: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "jti": format!("bench-{i}"), "htm": "GET", "htu": htu, "iat": now,
            "ath": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())),
        });
        let input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let alg = self
            .alg
            .as_str()
            .parse::<jsonwebtoken::Algorithm>()
            .unwrap();
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, alg).unwrap();
        format!("{input}.{sig}")
    }

    /// `n` proofs of `GET htu` for `token`, each with its own `jti`.
    fn proofs(&self, n: usize, htu: &str, token: &str) -> Vec<String> {
        (0..n).map(|i| self.proof(i, htu, token)).collect()
    }

    fn ring_verify(&self, proof: &str) {
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Algorithm::EdDSA => &signature::ED25519,
            _ => &signature::ECDSA_P256_SHA256_FIXED,
        };
        signature::UnparsedPublicKey::new(alg, &self.public)
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }
}

fn dpop_request(token: &str, proof: &str) -> Request<()> {
    Request::builder()
        .uri("/me")
        .header(AUTHORIZATION, format!("DPoP {token}"))
        .header("dpop", proof)
        .body(())
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let manager = SessionManager::builder(SECRET)
        .with_issuer("atomic-crm")
        .with_audience("atomic-crm-api")
        .build()
        .unwrap();
    let me = format!("{PUBLIC}/me");
    let uri: Uri = "/me".parse().unwrap();
    let (n_check, n_req) = (2_000u32, 4_000u32);
    let per_pair = |n: u32| (n / 4 + n * ROUNDS as u32) as usize;

    println!("| comparison | base µs | variant µs | variant / base |");
    println!("| --- | --- | --- | --- |");
    let row = |name: &str, (b, v, r): (f64, f64, f64)| {
        println!("| {name} | {b:.3} | {v:.3} | {r:.3} |");
    };

    for (file, alg, name) in [
        ("p256.pem", Algorithm::ES256, "ES256"),
        ("ed25519.pem", Algorithm::EdDSA, "EdDSA"),
    ] {
        let client = Client::new(file, alg);
        let token = manager
            .issue(NewSession::new("u-1", "ada@example.com").with_dpop_jkt(client.jkt.clone()))
            .unwrap()
            .into_token();

        // 1. The whole proof check against ring's signature check alone.
        let dpop = Dpop::new(DpopMode::Optional)
            .with_public_url(PUBLIC)
            .unwrap();
        let proofs = client.proofs(per_pair(n_check), &me, &token);
        let headers = dpop_request(&token, &proofs[0]).headers().clone();
        let one = proofs[0].clone();
        let mut next = proofs.into_iter();
        row(
            &format!("{name} proof: Dpop::verify_request / ring verify"),
            compare(
                n_check,
                || client.ring_verify(black_box(&one)),
                || {
                    let mut h = headers.clone();
                    h.insert("dpop", next.next().unwrap().parse().unwrap());
                    black_box(
                        dpop.verify_request(&Method::GET, &uri, &h, Some(&token))
                            .unwrap(),
                    );
                },
            ),
        );

        // 2. A DPoP request against a cached Bearer hit, through the layer.
        let bearer_token = manager
            .issue(NewSession::new("u-2", "bob@example.com"))
            .unwrap()
            .into_token();
        let dpop = Dpop::new(DpopMode::Optional)
            .with_public_url(PUBLIC)
            .unwrap();
        let svc = ServiceBuilder::new()
            .layer(SessionLayer::new(manager.clone()).with_dpop(dpop))
            .service_fn(hello);
        let mut next = client.proofs(per_pair(n_req), &me, &token).into_iter();
        let call = |req: Request<()>| {
            let res = rt.block_on(svc.clone().oneshot(req)).unwrap();
            assert_eq!(res.status(), 200);
            black_box(res);
        };
        row(
            &format!("request: DPoP ({name} proof) / Bearer cache hit"),
            compare(
                n_req,
                || call(request(&bearer_token)),
                || call(dpop_request(&token, &next.next().unwrap())),
            ),
        );
    }
}
