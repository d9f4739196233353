//! A real PostgreSQL on loopback: a throwaway cluster in a temporary
//! directory (`initdb`, then `postgres` as a child process, stopped by its
//! PID). `initdb` refuses to run as root: as root, both run as the
//! unprivileged `postgres` user (created by the package), else as the
//! current user. Self-contained: the benchmarks include it too.
#![allow(dead_code, unreachable_pub)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// How long the server has to start or stop.
const STARTUP: Duration = Duration::from_secs(30);

/// A free TCP port on loopback (bound, read, released).
fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The role the tests connect as (trust authentication on loopback).
pub const PG_USER: &str = "tjs";

pub struct PostgresServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Only TLS connections accepted (the test certificate of
    /// `tests/keys`, for 127.0.0.1).
    tls: bool,
}

/// The directory of the newest installed server's binaries.
fn bindir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().expect(
        "PostgreSQL is required for these tests (apt-get install postgresql; scripts/test does it)",
    )
}

/// (uid, gid) of `user` from /etc/passwd.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
            .flatten()
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A command for a PostgreSQL binary, as the unprivileged user when root.
fn as_server_user(program: &std::path::Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl PostgresServer {
    /// A new cluster on a free loopback port, started and answering.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// [`start`](Self::start), accepting TLS connections only, with
    /// `tests/keys/tls-server.pem` (signed by `tests/keys/test-ca.pem`).
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tjs-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let (uid, gid) = ids_of("postgres")
                .expect("no `postgres` user: install the postgresql package (scripts/test does)");
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let bin = bindir();
        let data = dir.join("data");
        let out = as_server_user(&bin.join("initdb"))
            .args([
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--username",
                PG_USER,
            ])
            .arg("-D")
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tls {
            let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
            for (from, to) in [
                ("tls-server.pem", "server.crt"),
                ("tls-server.key.pem", "server.key"),
            ] {
                let target = dir.join(to);
                std::fs::copy(keys.join(from), &target).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
                if is_root() {
                    let (uid, gid) = ids_of("postgres").unwrap();
                    std::os::unix::fs::chown(&target, Some(uid), Some(gid)).unwrap();
                }
            }
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
            )
            .unwrap();
        }
        let mut server = Self {
            child: None,
            port: free_loopback_port(),
            dir,
            bin,
            tls,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = as_server_user(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            // A test cluster: no need to survive a power cut.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(if self.tls {
                vec![
                    "-c".to_owned(),
                    "ssl=on".to_owned(),
                    "-c".to_owned(),
                    format!("ssl_cert_file={}", self.dir.join("server.crt").display()),
                    "-c".to_owned(),
                    format!("ssl_key_file={}", self.dir.join("server.key").display()),
                ]
            } else {
                Vec::new()
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let started = std::time::Instant::now();
        while self.try_sql("SELECT 1").is_none() {
            assert!(
                started.elapsed() < STARTUP,
                "PostgreSQL did not answer on port {} within {STARTUP:?}",
                self.port,
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `postgres://tjs@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with `psql`; its output (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|| panic!("psql failed: {sql}"))
    }

    fn try_sql(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
            ])
            .args([
                "-d",
                "postgres",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Ends every client connection but psql's own
    /// (`pg_terminate_backend`).
    pub fn terminate_connections(&self) -> usize {
        self.sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .parse()
        .unwrap_or(0)
    }

    /// Stops the server (fast shutdown, by its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let started = std::time::Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if started.elapsed() > STARTUP {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same port, with its data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
