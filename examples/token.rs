//! A small command-line tool for operators: mint a token, or inspect one.
//!
//! ```sh
//! SESSION_SECRET=... cargo run --example token -- mint u-1 ada@example.com --permission admin --ttl 600
//! SESSION_SECRET=... cargo run --example token -- inspect <TOKEN>
//! cargo run --example token -- inspect <TOKEN>          # decode only, no check
//! ```
//!
//! The secret or keys, issuer, audience and algorithm come from the same
//! variables as the demo server (`SESSION_SECRET`, `SESSION_PRIVATE_KEY_FILE`,
//! `SESSION_PUBLIC_KEY_FILE`, `SESSION_ISSUER`, `SESSION_AUDIENCE`,
//! `SESSION_ALGORITHM`). `inspect` prints the header and claims as JSON and,
//! when a secret or key is set, whether the token verifies and why not. Exit codes:
//! 0 success, 1 the token does not verify, 2 bad usage or configuration.

use std::{process::ExitCode, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use tower_jwt_session::{Algorithm, KeyPair, NewSession, PublicKey, SessionManager};

const USAGE: &str = "usage: token mint USER_ID EMAIL [--role R] [--company C] [--permission P]... [--ttl SECS]\n       token inspect TOKEN";

fn read_key(var: &str) -> Result<Option<Vec<u8>>, String> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{var}: cannot read {}: {e}", path.to_string_lossy())),
        _ => Ok(None),
    }
}

fn manager(ttl: Option<u64>) -> Result<Option<SessionManager>, String> {
    let algorithm: Algorithm = std::env::var("SESSION_ALGORITHM")
        .unwrap_or_else(|_| "HS256".into())
        .parse()
        .map_err(|e| format!("SESSION_ALGORITHM: {e}"))?;
    let mut b = if algorithm.is_hmac() {
        let Ok(secret) = std::env::var("SESSION_SECRET") else {
            return Ok(None);
        };
        SessionManager::builder(secret).with_algorithm(algorithm)
    } else if let Some(pem) = read_key("SESSION_PRIVATE_KEY_FILE")? {
        let pair = KeyPair::from_pkcs8_pem(algorithm, &pem)
            .map_err(|e| format!("SESSION_PRIVATE_KEY_FILE: {e}"))?;
        SessionManager::builder(pair)
    } else if let Some(pem) = read_key("SESSION_PUBLIC_KEY_FILE")? {
        let public = PublicKey::from_spki_pem(algorithm, &pem)
            .map_err(|e| format!("SESSION_PUBLIC_KEY_FILE: {e}"))?;
        SessionManager::verify_only().with_public_key(public)
    } else {
        return Ok(None);
    };
    // The demo server's defaults (the library has none).
    b = b
        .with_issuer(std::env::var("SESSION_ISSUER").unwrap_or_else(|_| "atomic-crm".into()))
        .with_audience(
            std::env::var("SESSION_AUDIENCE").unwrap_or_else(|_| "atomic-crm-api".into()),
        );
    if let Some(ttl) = ttl {
        b = b.with_ttl(Duration::from_secs(ttl));
    }
    b.build()
        .map(Some)
        .map_err(|e| format!("configuration: {e}"))
}

fn mint(args: &[String]) -> Result<ExitCode, String> {
    let [user, email, rest @ ..] = args else {
        return Err(USAGE.into());
    };
    let mut new = NewSession::new(user.as_str(), email.as_str());
    let (mut permissions, mut ttl) = (Vec::new(), None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--role" => new = new.with_role(value.as_str()),
            "--company" => new = new.with_company_id(value.as_str()),
            "--permission" => permissions.push(value.clone()),
            "--ttl" => {
                ttl = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--ttl: {value:?} is not a number of seconds"))?,
                )
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let manager = manager(ttl)?.ok_or("mint needs SESSION_SECRET (or SESSION_PRIVATE_KEY_FILE)")?;
    let issued = manager
        .issue(new.with_permissions(permissions))
        .map_err(|e| e.to_string())?;
    println!("{}", issued.token());
    Ok(ExitCode::SUCCESS)
}

fn decode_part(part: &str) -> Result<serde_json::Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "a segment is not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|_| "a segment is not JSON".to_owned())
}

fn inspect(args: &[String]) -> Result<ExitCode, String> {
    let [token] = args else {
        return Err(USAGE.into());
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWT: expected three segments".into());
    }
    let shown =
        serde_json::json!({"header": decode_part(parts[0])?, "claims": decode_part(parts[1])?});
    println!(
        "{}",
        serde_json::to_string_pretty(&shown).unwrap_or_default()
    );
    match manager(None)? {
        None => {
            println!("not verified: set SESSION_SECRET (or a key file) to check the signature");
            Ok(ExitCode::SUCCESS)
        }
        Some(m) => match m.decode(token) {
            Ok(s) => {
                println!(
                    "valid: user {} until {} (revocation not checked: no blocklist here)",
                    s.user_id(),
                    s.expires_at()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("invalid: {e}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(&args[1..]),
        Some("inspect") => inspect(&args[1..]),
        _ => Err(USAGE.into()),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}
