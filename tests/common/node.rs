//! The TypeScript seed's logic on `jose`, run under node.
#![allow(dead_code, unreachable_pub)]

use super::*;

/// `tests/seed`: the node scripts that run jose.
pub fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seed")
}

/// Installs jose, oidc-provider and the MCP SDK (pinned in
/// `tests/seed/package-lock.json`) on first use; fails loudly without npm.
pub fn npm_ci() {
    let dir = seed_dir();
    let installed = ["jose", "oidc-provider", "@modelcontextprotocol/sdk"]
        .iter()
        .all(|package| dir.join("node_modules").join(package).exists());
    if !installed {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("`npm` is required for the jose tests (apt-get install nodejs npm)");
        assert!(status.success(), "npm ci in tests/seed failed");
    }
}

/// Runs `script` (in `tests/seed`) under node with one batch of requests.
pub fn run_node(script: &str, requests: &Value) -> Vec<Value> {
    use std::io::Write;
    npm_ci();
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(seed_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("`node` is required for the jose tests (apt-get install nodejs)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node {script} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}
