//! Real Redis topologies on loopback: one server (with replicas),
//! Sentinels, a Cluster; every process stopped by its PID.
#![allow(dead_code, unreachable_pub)]

use super::*;

/// A real `redis-server` on a free loopback port, with append-only
/// persistence in its own directory; stopped by its PID on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server started with `extra` arguments after the usual ones.
    pub fn start_with(extra: &[&str]) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tjs-redis-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.spawn();
        server
    }

    /// A second server, a replica of `primary` (same machine, loopback).
    pub fn start_replica_of(primary: &RedisServer) -> Self {
        let server = Self::start();
        server.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
        let started = std::time::Instant::now();
        while !server
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the replica did not connect"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
                "--dir",
            ])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "redis-server is required for these tests (apt-get install redis-server): {e}"
                )
            });
        self.child = Some(child);
        let started = std::time::Instant::now();
        while !self.answers_ping() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends one command with redis-cli and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is required (apt-get install redis-server)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Sentinel process on loopback, watching `master` at `primary_port`
/// (quorum 2, down after 1 s); stopped by PID when dropped.
pub struct Sentinel {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Sentinel {
    pub fn start(master: &str, primary_port: u16) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tjs-sentinel-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 3000\n\
                 sentinel parallel-syncs {master} 2\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required (it runs Sentinels with --sentinel)");
        let sentinel = Self { child, port, dir };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the Sentinel did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        sentinel
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster on loopback: `primaries` primaries with `replicas`
/// replicas each, created with `redis-cli --cluster create`; every node
/// stopped by PID when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    replicas: usize,
}

impl RedisCluster {
    pub fn start(primaries: usize, replicas: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is required (apt-get install redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes, replicas };
        cluster.wait_ok();
        let started = std::time::Instant::now();
        // Every primary's replicas linked and in sync.
        while !cluster.nodes.iter().all(|n| {
            let info = n.cli(&["INFO", "replication"]);
            info.contains("role:slave") && info.contains("master_link_status:up")
                || info.contains(&format!("connected_slaves:{}", cluster.replicas))
                    && info.matches("state=online").count() == cluster.replicas
        }) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster's replicas did not link"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Waits (bounded) until every live node says the cluster is ok.
    pub fn wait_ok(&self) {
        let started = std::time::Instant::now();
        while !self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster did not become ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `REDIS_CLUSTER_URLS` for the demo server: every node.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the live primary that serves `key`'s slot.
    pub fn primary_for(&self, key: &str) -> usize {
        let slot: u32 = self.nodes[0]
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        self.nodes
            .iter()
            .position(|n| {
                n.child.is_some()
                    && n.cli(&["CLUSTER", "NODES"]).lines().any(|line| {
                        let fields: Vec<&str> = line.split(' ').collect();
                        fields
                            .get(2)
                            .is_some_and(|f| f.contains("myself") && f.contains("master"))
                            && fields.iter().skip(8).any(|range| {
                                let mut ends = range.split('-');
                                match (ends.next().and_then(|a| a.parse::<u32>().ok()), ends.next())
                                {
                                    (Some(a), Some(b)) => {
                                        b.parse::<u32>().is_ok_and(|b| a <= slot && slot <= b)
                                    }
                                    (Some(a), None) => a == slot,
                                    _ => false,
                                }
                            })
                    })
            })
            .expect("no live primary serves the slot")
    }
}
