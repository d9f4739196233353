//! What is PostgreSQL's own in "Several servers on PostgreSQL": demo
//! servers and replicas on a real, throwaway PostgreSQL (started by the
//! tests as an unprivileged user): connections killed with
//! `pg_terminate_backend`, a missed notification, several servers creating
//! the tables at once, a table that does not grow with refreshes, and the
//! settings that stop the server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tower_jwt_session::blocklist::{Blocklist, PostgresBlocklist, Rotation, TokenKey};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

/// The `sid` of a demo server's token (its payload, unverified).
fn sid_of(token: &str) -> String {
    payload(token)["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn servers_recover_from_killed_connections_and_a_missed_notification() {
    let pg = PostgresServer::start();
    let url = pg.url();
    let a = DemoServer::start(&[("DATABASE_URL", &url)]);
    let b = DemoServer::start(&[("DATABASE_URL", &url)]);
    let (ha, hb) = (Http::new(&a.addr), Http::new(&b.addr));
    let (token, _) = ha.login(ADMIN.0, ADMIN.1).await;
    status_until(&hb, &token, 200, PATIENCE).await;

    // Every connection killed: both servers reconnect by themselves, and a
    // revocation made right after reaches the other server.
    for _ in 0..3 {
        assert!(
            pg.terminate_connections() >= 2,
            "the servers had no connection"
        );
        let (t, _) = status_ok_login(&ha).await;
        let started = Instant::now();
        loop {
            let r = ha.post("/logout", Some(&t), "").await;
            if r.status == 204 {
                break;
            }
            // The write may meet the connection being made again: 503,
            // nothing promised; a client asks again.
            assert_eq!(r.status, 503, "{:?}", r.body);
            assert!(started.elapsed() < PATIENCE, "no recovery");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        status_until(&hb, &t, 401, PATIENCE).await;
        status_until(&hb, &token, 200, PATIENCE).await;
    }

    // A revocation written with no notification (as if it were lost): the
    // replicas' heartbeat reads find it.
    let sid = sid_of(&token);
    pg.sql(&format!(
        "INSERT INTO tower_jwt_session_facts (key, state, until, revision) \
         VALUES ('s:{sid}', -1, extract(epoch FROM now())::bigint + 600, nextval('tower_jwt_session_revision')) \
         ON CONFLICT (key) DO UPDATE SET state = -1, revision = EXCLUDED.revision"
    ));
    status_until(&ha, &token, 401, PATIENCE).await;
    status_until(&hb, &token, 401, PATIENCE).await;
}

/// Logs in, again while the store is being reached.
async fn status_ok_login(http: &Http) -> (String, i64) {
    let started = Instant::now();
    loop {
        let body = serde_json::json!({"email": ADMIN.0, "password": ADMIN.1}).to_string();
        let r = http.post("/login", None, &body).await;
        if r.status == 200 {
            let json = r.json();
            return (
                json["token"].as_str().unwrap().to_owned(),
                json["expiresAt"].as_i64().unwrap_or(0),
            );
        }
        assert!(
            started.elapsed() < PATIENCE,
            "login: {} {:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn three_servers_create_the_tables_at_once_and_refreshes_keep_one_row_per_session() {
    let pg = PostgresServer::start();
    let url = pg.url();
    let servers: Vec<DemoServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| DemoServer::start(&[("DATABASE_URL", url.as_str())])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let https: Vec<Http> = servers.iter().map(|d| Http::new(&d.addr)).collect();
    let (mut token, _) = status_ok_login(&https[0]).await;
    for http in &https {
        status_until(http, &token, 200, PATIENCE).await;
    }
    // Twenty refreshes, each on the next server: one row for the session.
    for i in 0..20 {
        let r = https[i % 3].post("/refresh", Some(&token), "").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        token = r.json()["token"].as_str().unwrap().to_owned();
    }
    let sid = sid_of(&token);
    assert_eq!(
        pg.sql(&format!(
            "SELECT count(*) FROM tower_jwt_session_facts WHERE key = 's:{sid}'"
        )),
        "1"
    );
    assert_eq!(
        pg.sql(&format!(
            "SELECT state FROM tower_jwt_session_facts WHERE key = 's:{sid}'"
        )),
        "20"
    );
    for http in &https {
        status_until(http, &token, 200, PATIENCE).await;
    }
}

#[tokio::test]
async fn a_refresh_racing_log_out_everywhere_never_survives_it() {
    let pg = PostgresServer::start();
    let store = PostgresBlocklist::builder(pg.url()).build().unwrap();
    let until = now() + 600;
    // The connections (and the tables) first, asked again while the
    // loaded machine makes them.
    let started = Instant::now();
    for i in 0..4 {
        while let Err(e) = store
            .revoke(&TokenKey::from_jti(&format!("warm-{i}")), until)
            .await
        {
            assert!(started.elapsed() < PATIENCE, "no connection: {e}");
        }
    }
    let mut raced = 0;
    for round in 0..50 {
        let user = format!("racer-{round}");
        let key = TokenKey::from_session(&format!("s-{round}"));
        // The presented token was issued at `issued`; the log-out-everywhere
        // covers it (a watermark past its issue time, as the manager's
        // always is: the store's clock now).
        let issued = store.clock_micros();
        let (rotated, mark) = tokio::join!(
            store.rotate(&key, 0, until, &user, issued),
            store.set_valid_after(&user, issued + 1, until)
        );
        // A statement slower than the timeout on a loaded machine: no
        // answer, nothing to check in this round.
        let (Ok(rotated), Ok(mark)) = (rotated, mark) else {
            continue;
        };
        raced += 1;
        match rotated {
            // The successor's issue time is before the watermark: refused.
            Rotation::Rotated { issued_at_micros } => {
                assert!(issued_at_micros < mark, "{issued_at_micros} >= {mark}")
            }
            Rotation::LoggedOut { valid_after_micros } => assert_eq!(valid_after_micros, mark),
            other => panic!("{other:?}"),
        }
    }
    assert!(raced >= 25, "only {raced} of 50 rounds answered");
}

#[test]
fn bad_database_settings_stop_the_server_with_one_line() {
    for envs in [
        vec![("DATABASE_URL", "postgres://u@127.0.0.1:notaport/db")],
        vec![(
            "DATABASE_URL",
            "postgres://u@127.0.0.1/db?sslmode=sometimes",
        )],
        vec![
            ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
        ],
    ] {
        let (code, _, stderr) = start_fails(&envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{envs:?}: {stderr}");
        assert!(lines[0].contains("DATABASE_URL"), "{envs:?}: {stderr}");
    }
}

#[tokio::test]
async fn tables_dropped_under_running_servers_are_created_again() {
    let pg = PostgresServer::start();
    let url = pg.url();
    let a = DemoServer::start(&[("DATABASE_URL", &url)]);
    let ha = Http::new(&a.addr);
    let (token, _) = status_ok_login(&ha).await;
    status_until(&ha, &token, 200, PATIENCE).await;
    // A database restored without them (or a careless migration).
    pg.sql(
        "DROP TABLE tower_jwt_session_facts, tower_jwt_session_marks, tower_jwt_session_once, \
         tower_jwt_session_order CASCADE; DROP SEQUENCE tower_jwt_session_revision",
    );
    // Writes answer 503 (nothing promised) until the server has made them
    // again; then a logout is kept.
    let started = Instant::now();
    loop {
        let r = ha.post("/logout", Some(&token), "").await;
        if r.status == 204 {
            break;
        }
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert!(started.elapsed() < PATIENCE, "the tables never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status_until(&ha, &token, 401, PATIENCE).await;
    assert_eq!(
        pg.sql("SELECT count(*) FROM tower_jwt_session_facts WHERE state = -1"),
        "1"
    );
}

#[tokio::test]
async fn tls_by_rustls_with_the_certificate_checked() {
    let pg = PostgresServer::start_tls();
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/test-ca.pem"
    ))
    .unwrap();
    let key = TokenKey::from_jti("over-tls");
    // The server takes TLS connections only: these went over TLS, with its
    // certificate checked against the test authority.
    for mode in ["require", "prefer"] {
        let store = PostgresBlocklist::builder(format!("{}?sslmode={mode}", pg.url()))
            .with_root_certificate_pem(&ca)
            .with_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        store.revoke(&key, now() + 600).await.unwrap();
        assert!(store.check(&key, "u").await.unwrap().revoked, "{mode}");
    }
    // Without the authority: no connection, never a plaintext one.
    let untrusted = PostgresBlocklist::builder(format!("{}?sslmode=require", pg.url()))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(untrusted.check(&key, "u").await.is_err());
    // A bad authority file is a configuration error.
    assert!(PostgresBlocklist::builder(pg.url())
        .with_root_certificate_pem("not a certificate")
        .build()
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starts_from_the_snapshot_then_the_rows_after_it() {
    let pg = PostgresServer::start();
    let replica = || {
        PostgresBlocklist::builder(pg.url())
            .build()
            .unwrap()
            .into_replica()
    };
    async fn ready(r: &tower_jwt_session::blocklist::PostgresReplica) {
        let started = Instant::now();
        while !r.is_ready() {
            assert!(started.elapsed() < PATIENCE, "replica not ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let revoked = |r: &tower_jwt_session::blocklist::PostgresReplica, key: &TokenKey| matches!(r.try_check(key, "u"), Some(Ok(l)) if l.revoked);
    let store = PostgresBlocklist::builder(pg.url()).build().unwrap();
    let before: Vec<_> = (0..500)
        .map(|i| TokenKey::from_jti(&format!("before-{i}")))
        .collect();
    for key in &before {
        store.revoke(key, now() + 600).await.unwrap();
    }
    let session = TokenKey::from_session("sid-1");
    assert!(matches!(
        store
            .rotate(&session, 0, now() + 600, "alice", 0)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    store
        .raise_valid_after("bob", now() * 1_000_000, now() + 600)
        .await
        .unwrap();
    // The first replica reads the rows, then writes the snapshot.
    let first = replica();
    ready(&first).await;
    assert_eq!(first.stats().from_snapshot, 0);
    let started = Instant::now();
    while pg.sql("SELECT count(*) FROM tower_jwt_session_snapshot") != "1" {
        assert!(started.elapsed() < PATIENCE, "no snapshot written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = TokenKey::from_jti("after-the-snapshot");
    store.revoke(&after, now() + 600).await.unwrap();

    let next = replica();
    ready(&next).await;
    assert_eq!(next.stats().from_snapshot, 502, "{:?}", next.stats());
    assert!(before.iter().all(|k| revoked(&next, k)));
    assert!(revoked(&next, &after), "the rows after the snapshot");
    let lookup = next.check(&session, "alice").await.unwrap();
    assert_eq!((lookup.revoked, lookup.generation), (false, 1));
    let lookup = next.check(&TokenKey::from_jti("x"), "bob").await.unwrap();
    assert!(lookup.valid_after_micros.is_some());
    assert!(!revoked(&next, &TokenKey::from_jti("never-revoked")));

    // A snapshot ahead of the database's revisions (an older database
    // restored under it): ignored, every row read; the replica then
    // replaces it.
    pg.sql("UPDATE tower_jwt_session_snapshot SET revision = revision + 1000000");
    let late = replica();
    ready(&late).await;
    assert_eq!(late.stats().from_snapshot, 0);
    assert!(before.iter().all(|k| revoked(&late, k)) && revoked(&late, &after));
    let started = Instant::now();
    while pg.sql("SELECT revision < 1000000 FROM tower_jwt_session_snapshot") != "t" {
        assert!(
            started.elapsed() < PATIENCE,
            "the snapshot ahead was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A damaged one (fresh: nobody rewrites it for minutes): ignored too.
    pg.sql("UPDATE tower_jwt_session_snapshot SET revision = 1, facts = 'garbage'::bytea");
    let late = replica();
    ready(&late).await;
    assert_eq!(late.stats().from_snapshot, 0);
    assert!(before.iter().all(|k| revoked(&late, k)) && revoked(&late, &after));
}
