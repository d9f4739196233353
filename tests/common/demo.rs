//! The demo server as a process, started and stopped by its PID.
#![allow(dead_code, unreachable_pub)]

use super::*;

/// The demo server, started as a process; killed (by its PID) on drop.
pub struct DemoServer {
    child: Child,
    pub addr: String,
}

/// Builds the examples once per test binary, so that the processes under
/// test are never stale (`cargo test` compiles examples but does not always
/// leave them under their plain names).
fn build_examples() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--example",
                "server",
                "--example",
                "hyper",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo to build the examples");
        assert!(status.success(), "building the examples failed");
    });
}

pub fn example_path(name: &str) -> PathBuf {
    build_examples();
    // target/<profile>/deps/<test binary> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; run it from the crate root",
        path.display()
    );
    path
}

impl DemoServer {
    pub fn start(envs: &[(&str, &str)]) -> Self {
        Self::start_example("server", envs)
    }

    pub fn start_example(name: &str, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(example_path(name));
        cmd.env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("SESSION_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits (bounded) for the exit status.
    pub fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "server did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the demo server with `envs` and expects it to refuse to start.
pub fn start_fails(envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(example_path("server"));
    cmd.env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
