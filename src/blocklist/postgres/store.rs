//! [`PostgresBlocklist`]: the shared blocklist in PostgreSQL (the docs are
//! on the type), its builder, its connection and its statements.

use std::{fmt, sync::Arc, time::Duration};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Mutex;
use tokio_postgres::{types::ToSql, Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::schema;
use crate::{
    blocklist::{
        replica::clock::StoreClock, Blocklist, BlocklistError, BlocklistFuture, Lookup, Rotation,
        TokenKey,
    },
    error::ConfigError,
    time::now_micros,
};

/// The default prefix of the tables and functions.
const DEFAULT_PREFIX: &str = "tower_jwt_session";

/// Rows deleted by one sweeping statement.
pub(super) const SWEEP_BATCH: u64 = 1_000;

/// The default time a statement (and the connection it may need) has.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A [`Blocklist`] in PostgreSQL, shared by every server on the same
/// database. Every check is a query; [`into_replica`](Self::into_replica)
/// keeps every revocation in this process's memory instead (0 queries per
/// request), which is what a server wants.
///
/// - **Writes** are one function call each, in one transaction that also
///   `NOTIFY`s the channel named by the prefix: `Ok` means committed. The
///   functions take one advisory lock before their revision, so writes
///   commit in revision order, and order rotations against watermarks in
///   the database (a refresh racing a log-out-everywhere never survives
///   it).
/// - **Times** are the database's clock (`clock_timestamp()`), and
///   [`clock_micros`](Blocklist::clock_micros) is that clock as this
///   process measured it.
/// - **Tables** are created when the first connection is made
///   (idempotently, under an advisory lock: several servers may start at
///   once): one row per revoked token, per refreshed or ended session (a
///   refresh updates its session's row: the table does not grow with
///   refreshes), per user with a watermark. Expired rows are deleted by the
///   replicas in the background (by the `until` index, a few rows at a
///   time: never a full scan on anyone's request).
/// - **TLS** by rustls (ring; the webpki roots, and any certificate
///   authority given with
///   [`with_root_certificate_pem`](PostgresBlocklistBuilder::with_root_certificate_pem)),
///   never OpenSSL. The URL's `sslmode` decides: `disable` (plain),
///   `prefer` (the default: TLS when the server offers it), `require`
///   (TLS or no connection). Whenever TLS is used the certificate and the
///   host name are verified: `require` means what libpq calls
///   `verify-full`.
///
/// ```no_run
/// use tower_jwt_session::blocklist::PostgresBlocklist;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_jwt_session::ConfigError> {
/// let blocklist = PostgresBlocklist::builder("postgres://app@127.0.0.1:5432/app")
///     .build()?
///     .into_replica();
/// # let _ = blocklist; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresBlocklist {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// The URL without its password, for logs.
    shown: String,
    prefix: String,
    timeout: Duration,
    /// Connections for writes and checks, taken in turn.
    pool: [Mutex<Option<Arc<Connection>>>; POOL],
    next: AtomicUsize,
    /// The schema was created (or found) by this process: connections
    /// made after that skip it, until a statement finds it missing.
    schema_ready: AtomicBool,
    clock: StoreClock,
    sql: Statements,
}

/// Connections per blocklist for writes and checks (the writes commit one
/// at a time under their lock; more connections overlap the rest).
const POOL: usize = 4;

/// One connection, with its statements prepared.
struct Connection {
    client: Client,
    revoke: Statement,
    rotate: Statement,
    mark: Statement,
    record_once: Statement,
    check: Statement,
    /// Not to be used again (its statements may be stale).
    retired: AtomicBool,
}

impl Connection {
    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    fn usable(&self) -> bool {
        !self.client.is_closed() && !self.retired.load(Ordering::Acquire)
    }
}

/// The statements, with the prefix in.
pub(super) struct Statements {
    revoke: String,
    rotate: String,
    mark: String,
    record_once: String,
    check: String,
    now: String,
    pub(super) changes: String,
    pub(super) last_revision: String,
    pub(super) sweeps: [String; 3],
    pub(super) listen: String,
    /// The snapshot's revision and its first `$1` bytes.
    pub(super) snapshot_head: String,
    /// `$2` bytes of the snapshot from `$1` (1-based).
    pub(super) snapshot_chunk: String,
    /// Whether the snapshot is missing, ahead of revision `$2` (left by
    /// an earlier life of the database), or behind it and older than `$1`
    /// seconds.
    pub(super) snapshot_due: String,
    /// Writes the snapshot (`$1` revision, `$2` facts) when the stored one
    /// is ahead of it, or behind it and older than `$3` seconds.
    pub(super) snapshot_write: String,
}

impl Statements {
    fn new(p: &str) -> Self {
        Self {
            revoke: format!("SELECT {p}_revoke($1, $2)"),
            rotate: format!("SELECT outcome, amount FROM {p}_rotate($1, $2, $3, $4, $5)"),
            mark: format!("SELECT {p}_mark($1, $2, $3, $4)"),
            record_once: format!("SELECT {p}_record_once($1, $2)"),
            check: format!("SELECT state, mark FROM {p}_check($1, $2)"),
            now: format!("SELECT {p}_now()"),
            // Each branch by its revision index, at most $2 rows; then the
            // $2 lowest revisions of both.
            changes: format!(
                "(SELECT 0::int2, key, state, until, revision FROM {p}_facts \
                  WHERE revision > $1 ORDER BY revision LIMIT $2) \
                 UNION ALL \
                 (SELECT 1::int2, user_id, micros, until, revision FROM {p}_marks \
                  WHERE revision > $1 ORDER BY revision LIMIT $2) \
                 ORDER BY 5 LIMIT $2"
            ),
            snapshot_head: format!(
                "SELECT revision, substring(facts FROM 1 FOR $1) FROM {p}_snapshot WHERE id = 1"
            ),
            snapshot_chunk: format!(
                "SELECT substring(facts FROM $1 FOR $2) FROM {p}_snapshot WHERE id = 1"
            ),
            snapshot_due: format!(
                "SELECT NOT EXISTS (SELECT 1 FROM {p}_snapshot WHERE revision <= $2 \
                  AND (revision = $2 OR written_at > now() - make_interval(secs => $1)))"
            ),
            snapshot_write: format!(
                "INSERT INTO {p}_snapshot AS s (id, revision, written_at, facts) \
                 VALUES (1, $1, now(), $2) \
                 ON CONFLICT (id) DO UPDATE \
                 SET revision = EXCLUDED.revision, written_at = EXCLUDED.written_at, facts = EXCLUDED.facts \
                 WHERE s.revision > EXCLUDED.revision \
                    OR (s.revision < EXCLUDED.revision AND s.written_at <= now() - make_interval(secs => $3))"
            ),
            last_revision: format!(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {p}_revision"
            ),
            sweeps: [("facts", "key"), ("marks", "user_id"), ("once", "key")].map(
                |(table, key)| {
                    format!(
                        "WITH gone AS (SELECT {key} FROM {p}_{table} WHERE until < $1 LIMIT {SWEEP_BATCH}) \
                         DELETE FROM {p}_{table} t USING gone WHERE t.{key} = gone.{key}"
                    )
                },
            ),
            listen: format!("LISTEN {p}"),
        }
    }
}

/// Builds a [`PostgresBlocklist`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresBlocklistBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    roots: Vec<Vec<u8>>,
}

impl PostgresBlocklist {
    /// A builder for the database at `url`
    /// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?...]`, or the
    /// `key=value` form).
    pub fn builder(url: impl Into<String>) -> PostgresBlocklistBuilder {
        PostgresBlocklistBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            roots: Vec::new(),
        }
    }
}

impl PostgresBlocklistBuilder {
    /// The prefix of the tables, functions and notification channel
    /// (lowercase letters, digits and `_`, at most 40 characters). Default:
    /// `tower_jwt_session`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a statement (the connection it may need included) has
    /// before it fails. Default: 1 s (a commit waits for the disk).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the certificates of `pem` (one or more `CERTIFICATE` blocks)
    /// as roots, besides the webpki roots: for a database whose certificate
    /// a private authority signed.
    pub fn with_root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.roots.push(pem.as_ref().to_vec());
        self
    }

    /// Checks the settings; connects at the first use (so a server starts
    /// while the database does not answer yet, and fails closed meanwhile).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidDatabaseUrl`] for an unparsable URL or a bad
    /// prefix; [`ConfigError::InvalidCertificate`] for an unreadable root
    /// certificate; [`ConfigError::InvalidTimeout`] for a zero timeout.
    pub fn build(self) -> Result<PostgresBlocklist, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidTimeout(self.timeout));
        }
        let config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| ConfigError::InvalidDatabaseUrl(format!("{e}")))?;
        if config.get_hosts().is_empty() {
            return Err(ConfigError::InvalidDatabaseUrl("no host".to_owned()));
        }
        if !schema::valid_prefix(&self.prefix) {
            return Err(ConfigError::InvalidDatabaseUrl(format!(
                "the prefix {:?} is not lowercase letters, digits and _ (at most 40)",
                self.prefix
            )));
        }
        let shown = shown(&config);
        let tls = tls(&self.roots)?;
        Ok(PostgresBlocklist {
            inner: Arc::new(Inner {
                tls,
                sql: Statements::new(&self.prefix),
                config,
                shown,
                prefix: self.prefix,
                timeout: self.timeout,
                pool: std::array::from_fn(|_| Mutex::new(None)),
                next: AtomicUsize::new(0),
                schema_ready: AtomicBool::new(false),
                clock: StoreClock::new(),
            }),
        })
    }
}

/// The TLS connector: rustls with ring, the webpki roots and `roots`.
fn tls(roots: &[Vec<u8>]) -> Result<MakeRustlsConnect, ConfigError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bad = |why: String| ConfigError::InvalidCertificate(why);
    let mut store = rustls::RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in roots {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(format!("{e}")))?;
            store.add(cert).map_err(|e| bad(format!("{e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no CERTIFICATE block in the PEM".to_owned()));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(format!("{e}")))?
    .with_root_certificates(store)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `user@host:port/db`, never the password.
fn shown(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// A connection error, as the blocklist reports it.
pub(super) fn failed(err: tokio_postgres::Error) -> BlocklistError {
    match err.as_db_error() {
        Some(db) => BlocklistError::Protocol(format!("PostgreSQL: {}", db.message())),
        None => BlocklistError::unavailable(err),
    }
}

impl PostgresBlocklist {
    pub(super) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(super) fn statements(&self) -> &Statements {
        &self.inner.sql
    }

    /// A new connection of its own (the replica's, which listens), with the
    /// schema in place, its driver spawned; `notified` is told of every
    /// notification, and closed when the connection ends.
    pub(super) async fn dedicated(
        &self,
        notified: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Result<Client, BlocklistError> {
        let connect = async {
            let client = self.connect(Some(notified)).await?;
            // The follower reconnects rarely: it always makes sure of the
            // schema (a database restored without it heals here).
            self.inner.schema_ready.store(false, Ordering::Release);
            self.ensure_schema(&client).await?;
            Ok::<_, BlocklistError>(client)
        };
        tokio::time::timeout(self.inner.timeout, connect)
            .await
            .map_err(|_| BlocklistError::Timeout(self.inner.timeout))?
    }

    /// A new connection of its own for one piece of work (writing the facts
    /// snapshot), the schema left as the follower made it.
    pub(super) async fn own_connection(&self) -> Result<Client, BlocklistError> {
        tokio::time::timeout(self.inner.timeout, self.connect(None))
            .await
            .map_err(|_| BlocklistError::Timeout(self.inner.timeout))?
    }

    /// Connects and spawns the connection's driver, which tells `notified`
    /// of every notification.
    async fn connect(
        &self,
        notified: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    ) -> Result<Client, BlocklistError> {
        let (client, mut connection) = self
            .inner
            .config
            .connect(self.inner.tls.clone())
            .await
            .map_err(failed)?;
        tokio::spawn(async move {
            loop {
                let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                match message {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                        if notified.as_ref().is_some_and(|n| n.send(()).is_err()) {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "PostgreSQL connection ended");
                        return;
                    }
                    None => return,
                }
            }
        });
        Ok(client)
    }

    /// Creates the tables and functions on `client`, once per process (and
    /// again after a statement found them missing: a replaced database).
    async fn ensure_schema(&self, client: &Client) -> Result<(), BlocklistError> {
        if self.inner.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        client
            .batch_execute(&schema::create(&self.inner.prefix))
            .await
            .map_err(failed)?;
        self.inner.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Notes an error: a missing table or function (the database was
    /// replaced or restored without them) makes the next connection create
    /// the schema again.
    pub(super) fn noticed(&self, err: &tokio_postgres::Error) {
        use tokio_postgres::error::SqlState;
        if err
            .code()
            .is_some_and(|c| *c == SqlState::UNDEFINED_TABLE || *c == SqlState::UNDEFINED_FUNCTION)
        {
            self.inner.schema_ready.store(false, Ordering::Release);
        }
    }

    /// A connection for writes and checks (the pool's next), made (with
    /// the schema and the statements) when there is none or it closed.
    async fn connection(&self) -> Result<Arc<Connection>, BlocklistError> {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % POOL;
        let mut slot = self.inner.pool[i].lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.usable()) {
            return Ok(connection.clone());
        }
        *slot = None;
        let (client, connection) = self
            .inner
            .config
            .connect(self.inner.tls.clone())
            .await
            .map_err(failed)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        self.ensure_schema(&client).await?;
        let sql = &self.inner.sql;
        let (revoke, rotate, mark, record_once, check) = (
            client.prepare(&sql.revoke).await.map_err(failed)?,
            client.prepare(&sql.rotate).await.map_err(failed)?,
            client.prepare(&sql.mark).await.map_err(failed)?,
            client.prepare(&sql.record_once).await.map_err(failed)?,
            client.prepare(&sql.check).await.map_err(failed)?,
        );
        let connection = Arc::new(Connection {
            client,
            revoke,
            rotate,
            mark,
            record_once,
            check,
            retired: AtomicBool::new(false),
        });
        tracing::debug!(database = %self.inner.shown, "connected to PostgreSQL");
        *slot = Some(connection.clone());
        drop(slot);
        self.measure_clock(&connection.client).await;
        Ok(connection)
    }

    /// One prepared statement's single row, within the timeout (the
    /// connection it may need included).
    async fn query_one(
        &self,
        statement: fn(&Connection) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, BlocklistError> {
        let timeout = self.inner.timeout;
        let answer = tokio::time::timeout(timeout, async {
            let connection = self.connection().await?;
            let answer = connection
                .client
                .query_one(statement(&connection), params)
                .await;
            answer.map_err(|e| {
                self.noticed(&e);
                if e.code().is_some() {
                    // The statements may be stale: prepare them anew.
                    connection.retire();
                }
                failed(e)
            })
        })
        .await;
        answer.unwrap_or(Err(BlocklistError::Timeout(timeout)))
    }

    /// Samples the database's clock on `client`.
    pub(super) async fn measure_clock(&self, client: &Client) {
        let sent = now_micros();
        if let Ok(row) = client.query_one(&self.inner.sql.now, &[]).await {
            let received = now_micros();
            if let Ok(store_now) = row.try_get::<_, i64>(0) {
                self.inner.clock.record(sent, received, store_now);
            }
        }
    }
}

/// A Rust count as a database `bigint` (saturating).
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Blocklist for PostgresBlocklist {
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        let key = key.as_str().to_owned();
        let this = self.clone();
        Box::pin(async move {
            let row = this.query_one(|c| &c.revoke, &[&key, &until]).await?;
            row.try_get::<_, bool>(0).map_err(failed)
        })
    }

    fn rotate(
        &self,
        key: &TokenKey,
        from: u64,
        until: i64,
        user_id: &str,
        issued_at_micros: i64,
    ) -> BlocklistFuture<Rotation> {
        let (key, user) = (key.as_str().to_owned(), user_id.to_owned());
        let from = big(from);
        let this = self.clone();
        Box::pin(async move {
            let row = this
                .query_one(
                    |c| &c.rotate,
                    &[&key, &from, &until, &user, &issued_at_micros],
                )
                .await?;
            let outcome: i32 = row.try_get(0).map_err(failed)?;
            let amount: i64 = row.try_get(1).map_err(failed)?;
            match outcome {
                0 => Ok(Rotation::Rotated {
                    issued_at_micros: amount,
                }),
                1 => Ok(Rotation::LoggedOut {
                    valid_after_micros: amount,
                }),
                2 => Ok(Rotation::Superseded {
                    current: u64::try_from(amount).unwrap_or(0),
                }),
                3 => Ok(Rotation::Ended),
                other => Err(BlocklistError::Protocol(format!(
                    "PostgreSQL: unknown rotation outcome {other}"
                ))),
            }
        })
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        self.mark(user_id, valid_after_micros, until, true)
    }

    fn raise_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        self.mark(user_id, valid_after_micros, until, false)
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        let (key, user) = (key.clone(), user_id.to_owned());
        let this = self.clone();
        Box::pin(async move {
            let k = key.as_str().to_owned();
            let row = this.query_one(|c| &c.check, &[&k, &user]).await?;
            let state: Option<i64> = row.try_get(0).map_err(failed)?;
            let mark: Option<i64> = row.try_get(1).map_err(failed)?;
            Ok(Lookup {
                revoked: state == Some(-1),
                generation: match state {
                    Some(g) if g >= 0 && key.is_session() => g as u64,
                    _ => 0,
                },
                valid_after_micros: mark,
            })
        })
    }

    fn record_once(&self, key: &str, until: i64) -> BlocklistFuture<bool> {
        let key = key.to_owned();
        let this = self.clone();
        Box::pin(async move {
            let row = this.query_one(|c| &c.record_once, &[&key, &until]).await?;
            row.try_get::<_, bool>(0).map_err(failed)
        })
    }

    fn clock_micros(&self) -> i64 {
        self.inner.clock.now_micros()
    }
}

impl PostgresBlocklist {
    fn mark(&self, user_id: &str, micros: i64, until: i64, floored: bool) -> BlocklistFuture<i64> {
        let user = user_id.to_owned();
        let this = self.clone();
        Box::pin(async move {
            let row = this
                .query_one(|c| &c.mark, &[&user, &micros, &until, &floored])
                .await?;
            row.try_get::<_, i64>(0).map_err(failed)
        })
    }
}

impl fmt::Debug for PostgresBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBlocklist")
            .field("database", &self.inner.shown)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}
