//! The contract's "Proof of possession (DPoP)", with demo servers as
//! processes over loopback: tokens bound at login, proofs checked as RFC
//! 9449 §4.3 says (each check broken one at a time), replay, refresh of a
//! bound session without and with the key, the modes, `htu` behind a
//! public URL, nonces shared by two servers, a trusted issuer's bound
//! token. Proofs are signed here with jsonwebtoken's signer and the keys of
//! `tests/keys`, and by jose in a node client (`tests/seed/dpop-client.mjs`)
//! against our tokens and oidc-provider's DPoP-bound access tokens.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::{provider::*, *};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;
use tower_jwt_session::{Algorithm, KeyPair};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

/// A client's DPoP key.
struct Client {
    alg: &'static str,
    der: Vec<u8>,
    jwk: Value,
    jkt: String,
}

impl Client {
    fn new(file: &str, alg: Algorithm) -> Self {
        let pem = std::fs::read(key_file(file)).unwrap();
        let pair = KeyPair::from_pkcs8_pem(alg, &pem).unwrap();
        let der: String = String::from_utf8_lossy(&pem)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut jwk = pair.public_key().to_jwk();
        for m in ["kid", "alg", "use"] {
            jwk.as_object_mut().unwrap().remove(m);
        }
        Self {
            alg: alg.as_str(),
            der: base64::engine::general_purpose::STANDARD
                .decode(der)
                .unwrap(),
            jwk,
            jkt: pair.kid().to_owned(),
        }
    }

    fn key(&self) -> jsonwebtoken::EncodingKey {
        match self.alg {
            "EdDSA" => jsonwebtoken::EncodingKey::from_ed_der(&self.der),
            _ => jsonwebtoken::EncodingKey::from_ec_der(&self.der),
        }
    }

    /// A proof with `header` and `claims` as given (nothing added).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let alg = self.alg.parse::<jsonwebtoken::Algorithm>().unwrap();
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key(), alg).unwrap();
        format!("{input}.{sig}")
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk})
    }

    fn claims(&self, htm: &str, htu: &str, token: Option<&str>) -> Value {
        let mut c = json!({
            "jti": format!("p-{}", rand_suffix()), "htm": htm, "htu": htu, "iat": now(),
        });
        if let Some(t) = token {
            c["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(t.as_bytes())));
        }
        c
    }

    fn proof(&self, htm: &str, htu: &str, token: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(htm, htu, token))
    }
}

async fn dpop_get(http: &Http, path: &str, token: &str, proof: &str) -> Reply {
    http.send(
        Method::GET,
        path,
        &[("authorization", &format!("DPoP {token}")), ("dpop", proof)],
        "",
    )
    .await
}

async fn dpop_login(http: &Http, proof: &str) -> Reply {
    http.send(
        Method::POST,
        "/login",
        &[("content-type", "application/json"), ("dpop", proof)],
        &json!({"email": ADMIN.0, "password": ADMIN.1}).to_string(),
    )
    .await
}

fn url(demo: &DemoServer, path: &str) -> String {
    format!("http://{}{path}", demo.addr)
}

#[tokio::test]
async fn bound_tokens_need_a_valid_proof_by_their_key() {
    for (file, alg) in [
        ("p256.pem", Algorithm::ES256),
        ("ed25519.pem", Algorithm::EdDSA),
    ] {
        let demo = DemoServer::start(&[]);
        let http = Http::new(&demo.addr);
        let client = Client::new(file, alg);
        let r = dpop_login(&http, &client.proof("POST", &url(&demo, "/login"), None)).await;
        assert_eq!(r.status, 200, "{alg}: {:?}", r.body);
        assert_eq!(r.json()["tokenType"], "DPoP");
        let token = r.json()["token"].as_str().unwrap().to_owned();
        assert_eq!(payload(&token)["cnf"]["jkt"], client.jkt);

        let me = url(&demo, "/me");
        let proof = client.proof("GET", &me, Some(&token));
        let r = dpop_get(&http, "/me", &token, &proof).await;
        assert_eq!(r.status, 200, "{alg}: {:?} {:?}", r.challenge(), r.body);
        // The same proof again: replay.
        let r = dpop_get(&http, "/me", &token, &proof).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.challenge(),
            Some(r#"DPoP error="invalid_dpop_proof", algs="ES256 ES384 EdDSA RS256 PS256""#)
        );
        assert_eq!(r.json()["error"], "invalid_dpop_proof");
        // As Bearer: a downgrade.
        let r = http.get("/me", Some(&token)).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.challenge(), Some(r#"Bearer error="invalid_token""#));
        // A query string on either side does not matter.
        let proof = client.proof("GET", &format!("{me}?x=1#f"), Some(&token));
        assert_eq!(dpop_get(&http, "/me?y=2", &token, &proof).await.status, 200);

        // Each check of §4.3 broken one at a time.
        let other = Client::new("p256-other.pem", Algorithm::ES256);
        let ok_claims = || client.claims("GET", &me, Some(&token));
        let mut private = client.header();
        private["jwk"]["d"] = json!("AAAA");
        let mut hs = client.header();
        hs["alg"] = json!("HS256");
        let mut no_typ = client.header();
        no_typ.as_object_mut().unwrap().remove("typ");
        let mut jwt_typ = client.header();
        jwt_typ["typ"] = json!("JWT");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = ok_claims();
            f(&mut c);
            client.sign(&client.header(), &c)
        };
        let cases: Vec<(&str, String)> = vec![
            ("typ missing", client.sign(&no_typ, &ok_claims())),
            ("typ JWT", client.sign(&jwt_typ, &ok_claims())),
            ("alg HS256", client.sign(&hs, &ok_claims())),
            ("private jwk", client.sign(&private, &ok_claims())),
            (
                "signed by another key",
                other.sign(&client.header(), &ok_claims()),
            ),
            (
                "another key than the token's",
                other.proof("GET", &me, Some(&token)),
            ),
            ("htm", with(&|c| c["htm"] = json!("POST"))),
            (
                "htu path",
                with(&|c| c["htu"] = json!(url(&demo, "/admin"))),
            ),
            (
                "htu host",
                with(&|c| c["htu"] = json!("http://evil.example/me")),
            ),
            (
                "iat 2 minutes old",
                with(&|c| c["iat"] = json!(now() - 120)),
            ),
            (
                "iat 2 minutes ahead",
                with(&|c| c["iat"] = json!(now() + 120)),
            ),
            ("ath of another token", with(&|c| c["ath"] = json!("x"))),
            (
                "no ath",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("ath");
                }),
            ),
            (
                "no jti",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            ("not a JWT", "garbage".to_owned()),
        ];
        for (what, proof) in cases {
            let r = dpop_get(&http, "/me", &token, &proof).await;
            assert_eq!(r.status, 401, "{alg} {what}: {:?}", r.body);
            assert_eq!(r.json()["error"], "invalid_dpop_proof", "{alg} {what}");
        }
        // No DPoP header, or two.
        let r = http
            .send(
                Method::GET,
                "/me",
                &[("authorization", &format!("DPoP {token}"))],
                "",
            )
            .await;
        assert_eq!(r.status, 401);
        let (p1, p2) = (
            client.proof("GET", &me, Some(&token)),
            client.proof("GET", &me, Some(&token)),
        );
        let r = http
            .send(
                Method::GET,
                "/me",
                &[
                    ("authorization", &format!("DPoP {token}")),
                    ("dpop", &p1),
                    ("dpop", &p2),
                ],
                "",
            )
            .await;
        assert_eq!(r.status, 401);
    }
}

#[tokio::test]
async fn a_stolen_refresh_token_without_the_key_is_worth_nothing() {
    let demo = DemoServer::start(&[]);
    let http = Http::new(&demo.addr);
    let client = Client::new("p256.pem", Algorithm::ES256);
    let r = dpop_login(&http, &client.proof("POST", &url(&demo, "/login"), None)).await;
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let refresh = url(&demo, "/refresh");

    // The thief has the token, not the key: as Bearer, or with a proof by
    // another key, refused; the session goes on.
    assert_eq!(http.post("/refresh", Some(&token), "").await.status, 401);
    let thief = Client::new("p256-other.pem", Algorithm::ES256);
    let r = http
        .send(
            Method::POST,
            "/refresh",
            &[
                ("authorization", &format!("DPoP {token}")),
                ("dpop", &thief.proof("POST", &refresh, Some(&token))),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    let me = url(&demo, "/me");
    let proof = client.proof("GET", &me, Some(&token));
    assert_eq!(dpop_get(&http, "/me", &token, &proof).await.status, 200);

    // The owner refreshes with its key: the new token stays bound to it.
    let r = http
        .send(
            Method::POST,
            "/refresh",
            &[
                ("authorization", &format!("DPoP {token}")),
                ("dpop", &client.proof("POST", &refresh, Some(&token))),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["tokenType"], "DPoP");
    let new = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(payload(&new)["cnf"]["jkt"], client.jkt);
    let proof = client.proof("GET", &me, Some(&new));
    assert_eq!(dpop_get(&http, "/me", &new, &proof).await.status, 200);
}

#[tokio::test]
async fn modes_public_url_nonces_and_replay_across_servers() {
    let client = Client::new("p256.pem", Algorithm::ES256);

    // Required: a Bearer token gets the DPoP challenge; login needs a proof.
    let optional = DemoServer::start(&[]);
    let (bearer, _) = Http::new(&optional.addr).login(ADMIN.0, ADMIN.1).await;
    let required = DemoServer::start(&[("SESSION_DPOP", "required")]);
    let hr = Http::new(&required.addr);
    let r = hr.get("/me", Some(&bearer)).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge(),
        Some(r#"DPoP algs="ES256 ES384 EdDSA RS256 PS256""#)
    );
    let r = hr
        .post(
            "/login",
            None,
            &json!({"email": ADMIN.0, "password": ADMIN.1}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_request");

    // Off: the DPoP scheme is unknown.
    let off = DemoServer::start(&[("SESSION_DPOP", "off")]);
    let ho = Http::new(&off.addr);
    let proof = client.proof("GET", &url(&off, "/me"), Some(&bearer));
    let r = dpop_get(&ho, "/me", &bearer, &proof).await;
    assert_eq!((r.status.as_u16(), r.challenge()), (401, Some("Bearer")));

    // Behind a proxy: `htu` is the public URL.
    let proxied = DemoServer::start(&[("SESSION_PUBLIC_URL", "https://API.example.com:443/base")]);
    let hp = Http::new(&proxied.addr);
    let r = dpop_login(
        &hp,
        &client.proof("POST", "https://api.example.com/base/login", None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let good = client.proof("GET", "https://api.example.com/base/me", Some(&token));
    assert_eq!(dpop_get(&hp, "/me", &token, &good).await.status, 200);
    let direct = client.proof("GET", &url(&proxied, "/me"), Some(&token));
    assert_eq!(dpop_get(&hp, "/me", &token, &direct).await.status, 401);

    // Nonces: issued by one server, accepted by another sharing the secret.
    let envs = [("SESSION_DPOP_NONCE", "1")];
    let (a, b) = (DemoServer::start(&envs), DemoServer::start(&envs));
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let r = dpop_login(&ha, &client.proof("POST", &url(&a, "/login"), None)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "use_dpop_nonce");
    let nonce = r.headers["dpop-nonce"].to_str().unwrap().to_owned();
    let with_nonce = |htm: &str, htu: &str, token: Option<&str>| {
        let mut c = client.claims(htm, htu, token);
        c["nonce"] = json!(nonce);
        client.sign(&client.header(), &c)
    };
    let r = dpop_login(&ha, &with_nonce("POST", &url(&a, "/login"), None)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = dpop_get(
        &hb,
        "/me",
        &token,
        &client.proof("GET", &url(&b, "/me"), Some(&token)),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "use_dpop_nonce");
    assert!(r
        .challenge()
        .unwrap()
        .starts_with(r#"DPoP error="use_dpop_nonce""#));
    assert!(r.headers.contains_key("dpop-nonce"));
    let proof = with_nonce("GET", &url(&b, "/me"), Some(&token));
    assert_eq!(dpop_get(&hb, "/me", &token, &proof).await.status, 200);
    // The replay mode is local: the same proof is refused on this server;
    // another server only sees it once (its `htu` names this one, so a
    // proof is worth something on one server only when each has its own
    // public URL).
    assert_eq!(dpop_get(&hb, "/me", &token, &proof).await.status, 401);

    for (var, value) in [
        ("SESSION_DPOP", "sometimes"),
        ("SESSION_DPOP_NONCE", "yes"),
        ("SESSION_PUBLIC_URL", "api.example.com"),
        ("SESSION_DPOP_REPLAY", "everywhere"),
    ] {
        let (code, _, stderr) = start_fails(&[("SESSION_SECRET", SECRET), (var, value)]);
        assert_eq!(code, 2, "{var}: {stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test]
async fn a_trusted_issuers_bound_token_is_verified_the_same_way() {
    let idp = TestIssuer::start("p256-other.pem").await;
    let demo = DemoServer::start(&[
        ("SESSION_TRUSTED_ISSUERS", &idp.issuer),
        ("SESSION_JWKS_COOLDOWN_SECS", "1"),
    ]);
    let http = Http::new(&demo.addr);
    let client = Client::new("ed25519.pem", Algorithm::EdDSA);
    let mut claims = idp.claims("dana", "atomic-crm-api");
    claims["cnf"] = json!({"jkt": client.jkt});
    let token = idp.mint(Some("at+jwt"), &claims);
    let me = url(&demo, "/me");
    let mut ok = false;
    for _ in 0..200 {
        let r = dpop_get(
            &http,
            "/me",
            &token,
            &client.proof("GET", &me, Some(&token)),
        )
        .await;
        if r.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        ok,
        "the provider's bound token was never accepted with its proof"
    );
    assert_eq!(http.get("/me", Some(&token)).await.status, 401);
    let other = Client::new("p256.pem", Algorithm::ES256);
    let r = dpop_get(&http, "/me", &token, &other.proof("GET", &me, Some(&token))).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn in_store_mode_a_proof_is_single_use_on_every_server() {
    let redis = RedisServer::start();
    let client = Client::new("p256.pem", Algorithm::ES256);
    let public = "https://api.example.com";
    for (replay, replayed_elsewhere) in [("local", 200), ("store", 401)] {
        let url = redis.url();
        let envs = [
            ("REDIS_URL", url.as_str()),
            ("SESSION_DPOP_REPLAY", replay),
            ("SESSION_PUBLIC_URL", public),
        ];
        let (a, b) = (DemoServer::start(&envs), DemoServer::start(&envs));
        let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
        let login = client.proof("POST", &format!("{public}/login"), None);
        let r = dpop_login(&ha, &login).await;
        let token = r.json()["token"].as_str().unwrap().to_owned();
        // The login proof again, on the other server: only the store mode
        // knows it was used.
        let r = dpop_login(&hb, &login).await;
        match replay {
            "store" => {
                assert_eq!(r.status, 400, "{:?}", r.body);
                assert_eq!(r.json()["error"], "invalid_dpop_proof");
            }
            _ => assert_eq!(r.status, 200, "{:?}", r.body),
        }
        let proof = client.proof("GET", &format!("{public}/me"), Some(&token));
        assert_eq!(
            dpop_get(&ha, "/me", &token, &proof).await.status,
            200,
            "{replay}"
        );
        // The same proof on the same server: refused in every mode.
        let r = dpop_get(&ha, "/me", &token, &proof).await;
        assert_eq!(r.status, 401, "{replay}");
        assert_eq!(r.json()["error"], "invalid_dpop_proof");
        // On the other server (both behind one public URL): only the store
        // mode knows it was used.
        let r = dpop_get(&hb, "/me", &token, &proof).await;
        assert_eq!(
            r.status.as_u16(),
            replayed_elsewhere,
            "{replay}: {:?}",
            r.body
        );
        if replayed_elsewhere == 401 {
            assert_eq!(r.json()["error"], "invalid_dpop_proof");
            let fresh = client.proof("GET", &format!("{public}/me"), Some(&token));
            assert_eq!(dpop_get(&hb, "/me", &token, &fresh).await.status, 200);
        }
    }
}

/// What `tests/seed/dpop-client.mjs` saw in one run.
fn expect_client_run(run: &Value, label: &str, own: bool) {
    assert_eq!(run["issued"], 200, "{label}: {run}");
    assert_eq!(run["tokenType"], "DPoP", "{label}: {run}");
    assert_eq!(run["bound"], true, "{label}: {run}");
    assert_eq!(run["me"], 200, "{label}: {run}");
    for refused in ["replayed", "asBearer", "otherKey", "noAth"] {
        assert_eq!(run[refused], 401, "{label}: {refused}: {run}");
    }
    assert_eq!(run["again"], 200, "{label}: {run}");
    if own {
        assert_eq!(run["refreshed"], 200, "{label}: {run}");
        assert_eq!(run["refreshedType"], "DPoP", "{label}: {run}");
        assert_eq!(run["afterRefresh"], 200, "{label}: {run}");
    }
}

#[tokio::test]
async fn a_jose_client_with_our_tokens_and_with_oidc_providers_bound_tokens() {
    // Proofs made by jose (tests/seed/dpop-client.mjs), as a browser or a
    // node client makes them; tokens from our own login and from
    // oidc-provider's token endpoint with its DPoP feature (token_type
    // DPoP, `cnf.jkt`), ES256 and EdDSA keys.
    let provider = OidcProvider::start(0, "atomic-crm-api");
    let demo = DemoServer::start(&[("SESSION_TRUSTED_ISSUERS", &provider.issuer)]);
    let server = format!("http://{}", demo.addr);
    let mut runs = Vec::new();
    for alg in ["ES256", "EdDSA"] {
        runs.push(json!({"alg": alg, "server": server}));
        runs.push(json!({"alg": alg, "server": server,
            "provider": {"issuer": provider.issuer, "client": "cc-es256"}}));
    }
    let seen = tokio::task::spawn_blocking(move || run_node("dpop-client.mjs", &json!(runs)))
        .await
        .unwrap();
    assert_eq!(seen.len(), 4);
    for (i, run) in seen.iter().enumerate() {
        let alg = if i < 2 { "ES256" } else { "EdDSA" };
        let own = i % 2 == 0;
        let label = format!("{alg}, {}", if own { "own token" } else { "oidc-provider" });
        expect_client_run(run, &label, own);
    }
}

/// An in-process API behind the layer: a manager of its own, DPoP with
/// `replay`, `GET /admin` needing the permission `admin`.
mod in_process {
    use super::*;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_jwt_session::{
        blocklist::Blocklist,
        blocklist::MemoryBlocklist,
        dpop::{Dpop, DpopMode, ReplayScope, VerifiedProof},
        NewSession, PresentedToken, RequirePermissionLayer, SessionError, SessionLayer,
        SessionManager, VerifyError,
    };

    pub const HOST: &str = "api.example.com";

    pub fn manager(blocklist: MemoryBlocklist) -> SessionManager {
        SessionManager::builder(SECRET)
            .with_issuer("https://auth.example.com")
            .with_audience("api")
            .with_blocklist(blocklist)
            .build()
            .unwrap()
    }

    pub async fn call(
        manager: &SessionManager,
        dpop: &Dpop,
        path: &str,
        authorization: &str,
        proof: Option<&str>,
    ) -> http::Response<()> {
        let service = ServiceBuilder::new()
            .layer(SessionLayer::new(manager.clone()).with_dpop(dpop.clone()))
            .layer(RequirePermissionLayer::permission("admin"))
            .service_fn(|_req: http::Request<String>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            });
        let mut req = http::Request::builder()
            .uri(path)
            .header("host", HOST)
            .header("authorization", authorization);
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        let res = service
            .oneshot(req.body(String::new()).unwrap())
            .await
            .unwrap();
        res.map(|_| ())
    }

    /// `GET /me` with `token` and a fresh proof of `client` for it.
    pub async fn me_with_proof(
        manager: &SessionManager,
        dpop: &Dpop,
        client: &Client,
        token: &str,
    ) -> StatusCode {
        let proof = client.proof("GET", &format!("http://{HOST}/me"), Some(token));
        call(manager, dpop, "/me", &format!("DPoP {token}"), Some(&proof))
            .await
            .status()
    }

    /// The request's proof for `token`, checked as a caller outside the
    /// layer would (a WebSocket handshake, say).
    pub fn checked(dpop: &Dpop, client: &Client, token: Option<&str>) -> VerifiedProof {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", HOST.parse().unwrap());
        let proof = client.proof("GET", &format!("http://{HOST}/ws"), token);
        headers.insert("dpop", proof.parse().unwrap());
        dpop.verify_request(&Method::GET, &"/ws".parse().unwrap(), &headers, token)
            .unwrap()
    }

    /// RFC 9449 §7.2 on every path of the manager that takes a token's
    /// text: verify, decode and refresh refuse a bound token without a proof
    /// by its key made for it, and change nothing (revoking takes a verified
    /// session); with it, each works, and the refreshed token stays bound.
    #[tokio::test]
    async fn the_manager_refuses_a_bound_token_without_its_proof_on_every_path() {
        let manager = manager(MemoryBlocklist::new());
        let owner = Client::new("p256.pem", Algorithm::ES256);
        let thief = Client::new("p256-other.pem", Algorithm::ES256);
        let dpop = Dpop::new(DpopMode::Optional);
        let issued = manager
            .issue(NewSession::new("u-1", "ada@example.com").with_dpop_jkt(&owner.jkt))
            .unwrap();
        let token = issued.token();
        let other = manager
            .issue(NewSession::new("u-1", "ada@example.com").with_dpop_jkt(&owner.jkt))
            .unwrap();

        // A copy of the token alone is worth nothing, on every path.
        assert!(matches!(
            manager.verify(token).await,
            Err(VerifyError::BoundToKey)
        ));
        assert!(matches!(
            manager.decode(token),
            Err(VerifyError::BoundToKey)
        ));
        assert!(matches!(
            manager.refresh(token).await,
            Err(SessionError::Verify(VerifyError::BoundToKey))
        ));

        // Nor with a proof by another key, a proof made for another token,
        // or a proof made for no token (a login's).
        let wrong = [
            checked(&dpop, &thief, Some(token)),
            checked(&dpop, &owner, Some(other.token())),
            checked(&dpop, &owner, None),
        ];
        for proof in &wrong {
            let presented = PresentedToken::dpop(token, proof);
            assert!(matches!(
                manager.verify(presented).await,
                Err(VerifyError::ProofMismatch)
            ));
            assert!(manager.refresh(presented).await.is_err());
        }
        // An unbound token with a proof: refused too (the layer's rule).
        let unbound = manager
            .issue(NewSession::new("u-2", "b@example.com"))
            .unwrap();
        let proof = checked(&dpop, &owner, Some(unbound.token()));
        assert!(matches!(
            manager
                .verify(PresentedToken::dpop(unbound.token(), &proof))
                .await,
            Err(VerifyError::ProofMismatch)
        ));

        // Nothing changed: the owner, with the key, verifies, refreshes
        // (no reuse detection tripped by the attempts above) and revokes.
        let proof = checked(&dpop, &owner, Some(token));
        let session = manager
            .verify(PresentedToken::dpop(token, &proof))
            .await
            .unwrap();
        assert_eq!(session.dpop_jkt(), Some(owner.jkt.as_str()));
        let next = manager
            .refresh(PresentedToken::dpop(token, &proof))
            .await
            .unwrap();
        assert_eq!(next.session().dpop_jkt(), Some(owner.jkt.as_str()));
        assert!(matches!(
            manager.verify(next.token()).await,
            Err(VerifyError::BoundToKey)
        ));
        let proof = checked(&dpop, &owner, Some(next.token()));
        let session = manager
            .verify(PresentedToken::dpop(next.token(), &proof))
            .await
            .unwrap();
        manager.revoke(&session).await.unwrap();
        assert!(matches!(
            manager
                .verify(PresentedToken::dpop(next.token(), &proof))
                .await,
            Err(VerifyError::Revoked)
        ));
    }

    /// A token that fails (forged, revoked) writes nothing, whatever its
    /// proof: in store mode no fact is recorded (the blocklist's revision
    /// does not move), and in local mode its proof's `jti` takes no room
    /// that a legitimate proof would then find used.
    #[tokio::test]
    async fn a_request_whose_token_fails_records_nothing() {
        let blocklist = MemoryBlocklist::new();
        let manager = manager(blocklist.clone());
        let client = Client::new("p256.pem", Algorithm::ES256);
        let forger = SessionManager::builder("another secret of at least thirty-two bytes")
            .with_issuer("https://auth.example.com")
            .with_audience("api")
            .build()
            .unwrap();
        let bound = |m: &SessionManager| {
            m.issue(
                NewSession::new("u-1", "ada@example.com")
                    .with_dpop_jkt(&client.jkt)
                    .with_permissions(["admin"]),
            )
            .unwrap()
            .into_token()
        };
        let me = format!("http://{HOST}/me");
        let store = Dpop::new(DpopMode::Optional).with_replay(ReplayScope::Store);
        let before = blocklist.revision();
        for _ in 0..200 {
            let forged = bound(&forger);
            let status = me_with_proof(&manager, &store, &client, &forged).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            blocklist.revision(),
            before,
            "forged requests wrote to the store"
        );
        // A revoked token's requests write nothing either.
        let revoked = bound(&manager);
        let status = me_with_proof(&manager, &store, &client, &revoked).await;
        assert_eq!(status, StatusCode::OK);
        let after_admission = blocklist.revision();
        assert_ne!(after_admission, before, "an admitted proof is recorded");
        let proof = checked(&store, &client, Some(&revoked));
        let session = manager
            .verify(PresentedToken::dpop(&revoked, &proof))
            .await
            .unwrap();
        manager.revoke(&session).await.unwrap();
        let after_revoke = blocklist.revision();
        for _ in 0..20 {
            let status = me_with_proof(&manager, &store, &client, &revoked).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            blocklist.revision(),
            after_revoke,
            "a revoked token's requests wrote"
        );

        // Local scope: a forged request's proof `jti` is not taken, so the
        // owner's proof with that `jti` passes (once).
        let local = Dpop::new(DpopMode::Optional);
        let valid = bound(&manager);
        let forged = bound(&forger);
        let with_jti = |token: &str| {
            let mut claims = client.claims("GET", &me, Some(token));
            claims["jti"] = json!("the-same-jti");
            client.sign(&client.header(), &claims)
        };
        let res = call(
            &manager,
            &local,
            "/me",
            &format!("DPoP {forged}"),
            Some(&with_jti(&forged)),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let owners = with_jti(&valid);
        let authorization = format!("DPoP {valid}");
        let owner_sends = || call(&manager, &local, "/me", &authorization, Some(&owners));
        assert_eq!(owner_sends().await.status(), StatusCode::OK);
        assert_eq!(
            owner_sends().await.status(),
            StatusCode::UNAUTHORIZED,
            "single use still holds"
        );
    }

    /// RFC 9449 §7.1: a DPoP request refused for a missing permission is
    /// challenged with the `DPoP` scheme; a Bearer request with `Bearer`.
    #[tokio::test]
    async fn a_dpop_requests_403_uses_the_dpop_scheme() {
        let manager = manager(MemoryBlocklist::new());
        let client = Client::new("p256.pem", Algorithm::ES256);
        let dpop = Dpop::new(DpopMode::Optional);
        let token = manager
            .issue(NewSession::new("u-1", "sam@example.com").with_dpop_jkt(&client.jkt))
            .unwrap()
            .into_token();
        let proof = client.proof("GET", &format!("http://{HOST}/admin"), Some(&token));
        let res = call(
            &manager,
            &dpop,
            "/admin",
            &format!("DPoP {token}"),
            Some(&proof),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"DPoP error="insufficient_scope", scope="admin", algs="ES256 ES384 EdDSA RS256 PS256""#
        );
        let bearer = manager
            .issue(NewSession::new("u-2", "sam@example.com"))
            .unwrap()
            .into_token();
        let res = call(&manager, &dpop, "/admin", &format!("Bearer {bearer}"), None).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer error="insufficient_scope", scope="admin""#
        );
    }
}
