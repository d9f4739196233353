//! Identity providers for the trusted-issuer tests: panva's `oidc-provider`
//! under node (`tests/seed/provider.mjs`), and an issuer of the tests' own
//! (discovery document and JWKS on a counting [`JwksServer`], tokens signed
//! here with jsonwebtoken) for token shapes a real provider would not mint.
#![allow(dead_code, unreachable_pub)]

use super::{
    jwks_server::{jwk_set, JwksServer, Mode},
    *,
};

/// `oidc-provider` as a process on loopback; killed (by its PID) on drop.
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    pub port: u16,
}

impl OidcProvider {
    /// Starts the provider on `port` (0: any), issuing access tokens for
    /// `audience`. Fresh signing keys at every start.
    pub fn start(port: u16, audience: &str) -> Self {
        Self::start_with(port, audience, &[])
    }

    /// [`start`](Self::start) with more environment (`BACKCHANNEL_URI`).
    pub fn start_with(port: u16, audience: &str, envs: &[(&str, &str)]) -> Self {
        npm_ci();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(seed_dir())
            .env("PORT", port.to_string())
            .env("AUDIENCE", audience)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("`node` is required for the identity provider tests (apt-get install nodejs)");
        // Its listening line, read on a thread of its own so that a provider
        // that never listens fails the test within a bound, never hangs it.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                    break;
                }
            }
        });
        let issuer = match rx.recv_timeout(PATIENCE * 3) {
            Ok(issuer) => issuer,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "oidc-provider did not listen on port {port} within {:?}: {e}",
                    PATIENCE * 3
                );
            }
        };
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            child,
            issuer,
            port,
        }
    }

    /// An access token for `client` (`cc-es256`, `cc-rs256`, `cc-eddsa`)
    /// by the client credentials grant, with `scope`.
    pub async fn client_credentials(&self, client: &str, scope: &str) -> String {
        let http = Http::new(self.issuer.trim_start_matches("http://"));
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{client}:secret"))
        );
        let body = format!(
            "grant_type=client_credentials&resource=urn%3Atest%3Aapi&scope={}",
            scope.replace(' ', "+").replace(':', "%3A")
        );
        let r = http
            .send(
                Method::POST,
                "/token",
                &[
                    ("authorization", &basic),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "token endpoint: {:?}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A user's access token and ID token for `client`, by the
    /// authorization code flow driven as a browser would
    /// (`tests/seed/authcode.mjs`: login and consent pages, the code, the
    /// token endpoint).
    pub fn authorization_code(&self, client: &str, user: &str, scope: &str) -> (String, String) {
        let login = self.log_in(client, user, scope, false);
        (login.access_token.clone(), login.id_token.clone())
    }

    /// [`authorization_code`](Self::authorization_code), keeping the
    /// browser (its cookies) to log out at the provider later.
    pub fn log_in(&self, client: &str, user: &str, scope: &str, keep: bool) -> ProviderLogin {
        use std::io::Write;
        let mut child = Command::new("node")
            .arg("authcode.mjs")
            .current_dir(seed_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("`node` is required for the identity provider tests");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "{}",
            json!({"issuer": self.issuer, "client": client, "user": user, "scope": scope, "logout": keep})
        )
        .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the authorization code flow failed: {line:?}"));
        let browser = if keep {
            Some((child, stdin, stdout))
        } else {
            drop(stdin);
            assert!(child.wait().unwrap().success());
            None
        };
        ProviderLogin {
            access_token: v["access_token"].as_str().unwrap().to_owned(),
            id_token: v["id_token"].as_str().unwrap().to_owned(),
            browser,
        }
    }

    /// Stops the provider (SIGKILL, by its PID).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user logged in at the provider, with the browser that can log out.
pub struct ProviderLogin {
    pub access_token: String,
    pub id_token: String,
    browser: Option<(
        Child,
        std::process::ChildStdin,
        BufReader<std::process::ChildStdout>,
    )>,
}

impl ProviderLogin {
    /// Logs the user out at the provider (its logout page, confirmed): the
    /// provider sends its back-channel logout tokens before this returns.
    pub fn log_out(mut self) {
        use std::io::Write;
        let (mut child, mut stdin, mut stdout) = self.browser.take().expect("kept browser");
        writeln!(stdin).unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "logged out");
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for ProviderLogin {
    fn drop(&mut self) {
        if let Some((child, _, _)) = &mut self.browser {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The path of a test key file.
pub fn key_file(file: &str) -> String {
    format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// An issuer of the tests' own: OpenID Connect discovery and a JWKS on a
/// counting server, tokens signed with a key of `tests/keys`.
pub struct TestIssuer {
    pub server: JwksServer,
    pub issuer: String,
    alg: jsonwebtoken::Algorithm,
    pem: Vec<u8>,
    pub kid: String,
}

impl TestIssuer {
    /// An ES256 issuer publishing `tests/keys/<file>`'s public key.
    pub async fn start(file: &str) -> Self {
        let server = JwksServer::start().await;
        let issuer = server.url("");
        let pem = std::fs::read(key_file(file)).unwrap();
        let pair =
            tower_jwt_session::KeyPair::from_pkcs8_pem(tower_jwt_session::Algorithm::ES256, &pem)
                .unwrap();
        server.set(
            "/.well-known/openid-configuration",
            Mode::Json(
                json!({"issuer": issuer, "jwks_uri": server.url("/jwks")}).to_string(),
                None,
            ),
        );
        server.set(
            "/jwks",
            Mode::Json(jwk_set(&[pair.public_key().to_jwk()]), None),
        );
        Self {
            server,
            issuer,
            alg: jsonwebtoken::Algorithm::ES256,
            pem,
            kid: pair.kid().to_owned(),
        }
    }

    /// Signs `claims` with this issuer's key, `typ` as given.
    pub fn mint(&self, typ: Option<&str>, claims: &Value) -> String {
        self.mint_as(&self.kid, typ, claims)
    }

    /// Signs `claims` with this issuer's key but names `kid` in the header.
    pub fn mint_as(&self, kid: &str, typ: Option<&str>, claims: &Value) -> String {
        // PKCS#8 PEM to DER: the base64 between the armour lines.
        let der: String = String::from_utf8_lossy(&self.pem)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(&der);
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// Access-token claims of this issuer for `sub`, audience `aud`.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 600,
            "jti": format!("{sub}-{}", rand_suffix()), "client_id": "test-client",
        })
    }
}

/// A short random suffix for unique ids.
pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
