//! [`RedisReplica`]: every revocation in this process's memory, kept current
//! from a Redis stream (the docs are on the type).

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Weak,
    },
    time::{Duration, Instant},
};

use super::{
    facts::Facts, redis_blocklist::RedisBlocklist, Blocklist, BlocklistError, BlocklistFuture,
    Lookup, Rotation, TokenKey,
};

/// How long one blocking read waits for new entries before it returns empty
/// (each answer, empty or not, is a sign of life): the follower hears from
/// Redis at least this often, so its last contact is never older than this
/// when an outage begins (10 cheap commands a second per node).
pub const HEARTBEAT: Duration = Duration::from_millis(100);
/// How often Redis's clock is measured again while following.
const CLOCK_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reach Redis again: a server
/// answers again at most this long after Redis is reachable (plus the
/// catch-up).
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// How often expired facts are dropped from memory.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Entries read per command, while loading and following.
const BATCH: usize = 10_000;

/// A [`Blocklist`] answered from a local, complete replica of a
/// [`RedisBlocklist`]'s revocations, kept current from a Redis stream, so
/// that checks never leave the process.
///
/// Every write of [`RedisBlocklist`] appends an entry to the stream
/// `{prefix}stream`, in the same atomic step as the write itself. A replica
/// loads the whole stream when it starts (entries are trimmed by time, past
/// the longest token lifetime, so the stream holds every live fact), then
/// follows it with a blocking `XREAD` from the last entry id it applied. A
/// replica that loses its connection resumes from that id and misses
/// nothing (entries removed meanwhile were expired, or superseded by a later
/// entry of the same session or user); when Redis lost its data (the stream
/// starts again below that id) it loads the whole stream again, merging
/// into what it knows, and logs a warning. What a replica knows only ever grows (revocations and ends
/// stay until their deadline, generations and watermarks only rise), so a
/// reload never forgets a revocation.
///
/// Checks are answered from memory: 0 Redis commands per request, for a
/// token seen before or not. (Until the first load is done, Redis answers
/// them, one round trip each, so that a server is useful from its first
/// request.) Writes go to Redis (the authority, which also
/// makes refreshes single-use across servers) and, once acknowledged, into
/// the local replica at once.
///
/// # Outage policy: bounded staleness
///
/// While the replica follows the stream, every check is current. The
/// follower hears from Redis at least every [`HEARTBEAT`] (100 ms: a
/// blocking read returns empty), and its *last contact* is the last time a
/// read brought it to the end of the stream. A replica that heard nothing
/// for the heartbeat plus the command timeout (0.6 s by default) counts as
/// having lost Redis, whatever the cause: a silent partition without FIN
/// included. A connection that breaks is retried at once: if that fails
/// (Redis refuses or is gone), the loss counts from then; if it succeeds (a
/// cut connection), it costs no request.
/// After the loss it keeps answering from what it knew at its last contact
/// until the configured staleness has passed since that contact
/// ([`RedisReplica::with_max_staleness`], default 0), then refuses every
/// check (`503`, fail closed) until Redis is back. Writes (logout, refresh,
/// log-out-everywhere) fail during the outage: nothing is stored, nothing
/// promised. Reconnection is retried every 50 ms at most; once connected,
/// the replica reads the stream to its end before it answers from memory
/// again, so a node back from a partition never answers from state it has
/// not brought up to date.
///
/// Build it with [`RedisBlocklist::into_replica`] inside a tokio runtime;
/// the task that follows the stream ends when the replica is dropped.
/// Until its first load is done, checks go to Redis (one round trip each).
#[derive(Clone)]
pub struct RedisReplica {
    redis: RedisBlocklist,
    local: Facts,
    state: Arc<State>,
}

struct State {
    /// The whole stream was loaded once: until then, checks fail.
    loaded: AtomicBool,
    /// The follower's connection is up.
    following: AtomicBool,
    /// The follower lost its connection and could not reconnect at once:
    /// Redis is lost now, not only after the silence bound.
    lost: AtomicBool,
    /// Milliseconds since `epoch` of the last answer from Redis.
    last_contact_ms: AtomicU64,
    epoch: Instant,
    /// The allowed staleness, in milliseconds.
    max_staleness_ms: AtomicU64,
    /// The command timeout, for the silent-failure bound.
    timeout: Duration,
    /// Entries applied, full loads done, entries skipped as malformed.
    applied: AtomicU64,
    loads: AtomicU64,
    skipped: AtomicU64,
}

impl State {
    /// Records that the replica was current at `at`.
    fn touch_at(&self, at: Instant) {
        let ms =
            u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        self.last_contact_ms.fetch_max(ms, Ordering::AcqRel);
    }

    fn since_contact(&self) -> Duration {
        let last = Duration::from_millis(self.last_contact_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Whether checks may be answered from memory now.
    fn answerable(&self) -> Result<(), BlocklistError> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(BlocklistError::unavailable(ReplicaError(
                "the replica has not loaded the revocations yet",
            )));
        }
        // `last_contact` is the last time the replica knew it was caught up
        // with the stream. A follower hears from Redis at least every
        // HEARTBEAT (an empty blocking read), so while it follows, silence
        // up to the heartbeat plus the command timeout is normal. A loss it
        // has noticed (an error, a refused reconnection) leaves exactly the
        // allowed staleness from that last contact; unnoticed silence (a
        // silent partition) is a loss once it passes the normal bound.
        let max_staleness = Duration::from_millis(self.max_staleness_ms.load(Ordering::Relaxed));
        let allowed = if self.lost.load(Ordering::Acquire) {
            max_staleness
        } else {
            max_staleness.max(HEARTBEAT + self.timeout)
        };
        if self.since_contact() <= allowed {
            Ok(())
        } else {
            Err(BlocklistError::unavailable(ReplicaError(
                "the replica lost Redis longer ago than the allowed staleness",
            )))
        }
    }
}

/// Why a replica cannot answer.
#[derive(Debug)]
struct ReplicaError(&'static str);

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl std::error::Error for ReplicaError {}

impl RedisReplica {
    pub(crate) fn start(redis: RedisBlocklist) -> Self {
        let timeout = redis.timeout();
        let replica = Self {
            redis,
            local: Facts::new(),
            state: Arc::new(State {
                loaded: AtomicBool::new(false),
                following: AtomicBool::new(false),
                lost: AtomicBool::new(false),
                last_contact_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                max_staleness_ms: AtomicU64::new(0),
                timeout,
                applied: AtomicU64::new(0),
                loads: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        };
        replica.spawn();
        replica
    }

    fn spawn(&self) {
        tokio::spawn(follow(
            self.redis.clone(),
            self.local.clone(),
            Arc::downgrade(&self.state),
        ));
    }

    /// After losing Redis, keep answering from the replica until `staleness`
    /// has passed since the last contact (at most [`HEARTBEAT`] old when the
    /// outage begins), then refuse every check (`503`) until Redis is back
    /// and caught up. Default: 0 (fail closed as soon as the loss is
    /// noticed: at once after an error, at most [`HEARTBEAT`] plus the
    /// command timeout after the last contact in a silent partition).
    ///
    /// # ⚠️ Warning
    ///
    /// For up to `staleness`, a token revoked on another server during the
    /// outage (which that server could not store either, so it answered
    /// `503`) is not affected, but one revoked just before the loss and not
    /// yet delivered here is still admitted.
    #[must_use]
    pub fn with_max_staleness(self, staleness: Duration) -> Self {
        let ms = u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX);
        self.state.max_staleness_ms.store(ms, Ordering::Relaxed);
        self
    }

    /// Whether the whole stream was loaded once and checks are answered
    /// from memory now.
    pub fn is_ready(&self) -> bool {
        self.state.answerable().is_ok()
    }

    /// Stream entries applied, full loads done, and entries skipped because
    /// they could not be read, since start.
    pub fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            applied: self.state.applied.load(Ordering::Relaxed),
            loads: self.state.loads.load(Ordering::Relaxed),
            skipped: self.state.skipped.load(Ordering::Relaxed),
        }
    }

    /// Facts held in memory (revoked tokens, sessions, watermarks).
    pub fn stored_facts(&self) -> u64 {
        self.local.len()
    }
}

/// Counters of a [`RedisReplica`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStats {
    /// Stream entries applied.
    pub applied: u64,
    /// Full loads of the stream (one at start, one per lost position).
    pub loads: u64,
    /// Entries skipped because they could not be read.
    pub skipped: u64,
}

impl fmt::Debug for RedisReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplica")
            .field("redis", &self.redis)
            .field("ready", &self.is_ready())
            .field(
                "max_staleness",
                &Duration::from_millis(self.state.max_staleness_ms.load(Ordering::Relaxed)),
            )
            .finish()
    }
}

impl Blocklist for RedisReplica {
    fn revoke(&self, key: &TokenKey, until: i64) -> BlocklistFuture<bool> {
        let stored = self.redis.revoke(key, until);
        let (local, key) = (self.local.clone(), key.clone());
        Box::pin(async move {
            let fresh = stored.await?;
            local.learn_revoked(&key, until);
            Ok(fresh)
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
        let rotated = self
            .redis
            .rotate(key, from, until, user_id, issued_at_micros);
        let (local, key, user) = (self.local.clone(), key.clone(), user_id.to_owned());
        Box::pin(async move {
            let outcome = rotated.await?;
            match outcome {
                Rotation::Rotated { .. } => local.learn_generation(&key, from + 1, until),
                Rotation::Superseded { current } => local.learn_generation(&key, current, until),
                Rotation::Ended => local.learn_revoked(&key, until),
                // The deadline is the stream's to tell; until it arrives,
                // the token's own is a lower bound.
                Rotation::LoggedOut { valid_after_micros } => {
                    local.learn_watermark(&user, valid_after_micros, until)
                }
            }
            Ok(outcome)
        })
    }

    fn set_valid_after(
        &self,
        user_id: &str,
        valid_after_micros: i64,
        until: i64,
    ) -> BlocklistFuture<i64> {
        let stored = self
            .redis
            .set_valid_after(user_id, valid_after_micros, until);
        let (local, user) = (self.local.clone(), user_id.to_owned());
        Box::pin(async move {
            let mark = stored.await?;
            local.learn_watermark(&user, mark, until);
            Ok(mark)
        })
    }

    fn check(&self, key: &TokenKey, user_id: &str) -> BlocklistFuture<Lookup> {
        match self.try_check(key, user_id) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            // Still loading: Redis answers (one round trip), so a server is
            // useful from its first request; with Redis down, that fails.
            None => self.redis.check(key, user_id),
        }
    }

    fn try_check(&self, key: &TokenKey, user_id: &str) -> Option<Result<Lookup, BlocklistError>> {
        if !self.state.loaded.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.state
                .answerable()
                .map(|()| self.local.lookup(key, user_id)),
        )
    }

    fn clock_micros(&self) -> i64 {
        self.redis.clock_micros()
    }
}

/// One stream entry, as written by the scripts of [`RedisBlocklist`].
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Revoked {
        key: TokenKey,
        until: i64,
    },
    Generation {
        key: TokenKey,
        generation: u64,
        until: i64,
    },
    Watermark {
        user: String,
        micros: i64,
        until: i64,
    },
}

impl Event {
    /// `r UNTIL KEY`, `g UNTIL GENERATION KEY`, `w MICROS UNTIL USER`; the
    /// last part is the rest of the text (it may hold spaces).
    fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(' ')?;
        match kind {
            "r" => {
                let (until, key) = rest.split_once(' ')?;
                Some(Self::Revoked {
                    until: until.parse().ok()?,
                    key: TokenKey::from_stored(key)?,
                })
            }
            "g" => {
                let (until, rest) = rest.split_once(' ')?;
                let (generation, key) = rest.split_once(' ')?;
                let key = TokenKey::from_stored(key)?;
                key.is_session().then_some(())?;
                Some(Self::Generation {
                    until: until.parse().ok()?,
                    generation: generation.parse().ok()?,
                    key,
                })
            }
            "w" => {
                let (micros, rest) = rest.split_once(' ')?;
                let (until, user) = rest.split_once(' ')?;
                Some(Self::Watermark {
                    micros: micros.parse().ok()?,
                    until: until.parse().ok()?,
                    user: user.to_owned(),
                })
            }
            _ => None,
        }
    }

    fn apply(self, local: &Facts) {
        match self {
            Self::Revoked { key, until } => local.learn_revoked(&key, until),
            Self::Generation {
                key,
                generation,
                until,
            } => local.learn_generation(&key, generation, until),
            Self::Watermark {
                user,
                micros,
                until,
            } => local.learn_watermark(&user, micros, until),
        }
    }
}

/// A stream entry id, `MS-SEQ`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EntryId(u64, u64);

impl EntryId {
    const ZERO: Self = Self(0, 0);

    fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// Follows the stream while the replica exists: load, then read from the
/// last id; on any failure, reconnect with backoff and resume.
async fn follow(redis: RedisBlocklist, local: Facts, state: Weak<State>) {
    let mut last = EntryId::ZERO;
    let mut backoff = Duration::from_millis(5);
    let mut warned_policy = false;
    let mut quiet = false;
    while state.strong_count() > 0 {
        let mut followed = false;
        let result = follow_once(
            &redis,
            &local,
            &state,
            &mut last,
            &mut warned_policy,
            &mut followed,
        )
        .await;
        if let Some(s) = state.upgrade() {
            s.following.store(false, Ordering::Release);
            // A connection that was up is retried at once (a cut connection
            // costs nothing); one that cannot be made means Redis is lost.
            if !followed {
                s.lost.store(true, Ordering::Release);
            }
        }
        if followed {
            quiet = false;
            backoff = Duration::from_millis(5);
            if result.is_err() {
                continue;
            }
        }
        match result {
            Ok(()) => return,
            Err(e) if quiet => tracing::debug!(error = %e, "revocation stream still unreachable"),
            Err(e) => {
                tracing::warn!(error = %e, "revocation stream lost: answering from the replica within the allowed staleness, then 503");
                quiet = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of following. `Ok(())` once the replica is gone.
///
/// The replica counts as current again only once it has read the stream to
/// its end on this connection: a node that comes back from a partition
/// keeps failing closed (or within its staleness) until every revocation
/// made meanwhile is applied, never answering from state it has not brought
/// up to date.
async fn follow_once(
    redis: &RedisBlocklist,
    local: &Facts,
    weak: &Weak<State>,
    last: &mut EntryId,
    warned_policy: &mut bool,
    followed: &mut bool,
) -> Result<(), BlocklistError> {
    let timeout = redis.timeout();
    let mut conn = redis.dedicated_connection().await?;
    let stream = redis.stream_key();
    if !*warned_policy {
        *warned_policy = true;
        warn_if_evicting(&mut conn, timeout).await;
    }
    let Some(state) = weak.upgrade() else {
        return Ok(());
    };
    // Where are we against the stream? Read from the start when the stream
    // was reset (Redis lost its data: ids start again below ours); else
    // from our position. Entries missing between our position and the
    // stream's first entry were trimmed (their facts expired) or compacted
    // (superseded by a later entry of the same session), so reading on from
    // our position misses nothing that counts.
    let info = stream_info(&mut conn, &stream, timeout).await?;
    let loaded = state.loaded.load(Ordering::Acquire);
    let reset = match &info {
        Some(info) => info.last_generated < *last,
        None => *last != EntryId::ZERO,
    };
    if reset {
        tracing::warn!(last = %last, "the revocation stream starts again below the replica's position (Redis lost its data): loading the whole stream again");
        *last = EntryId::ZERO;
    }
    // Read to the end as of now, before answering from memory again.
    let contact = Instant::now();
    *last = load(&mut conn, &stream, *last, timeout, local, &state).await?;
    if !loaded || reset {
        state.loads.fetch_add(1, Ordering::Relaxed);
    }
    // Writes go through the shared connection: once Redis is back, make
    // sure it is up again too, so a server that answers checks again also
    // stores logouts (its first command after an outage may meet the
    // failure of a reconnection attempt made while Redis was down).
    let mut tries = 0;
    while let Err(e) = redis.ping_shared().await {
        tries += 1;
        if tries >= 5 {
            return Err(e);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    state.touch_at(contact);
    state.loaded.store(true, Ordering::Release);
    state.following.store(true, Ordering::Release);
    state.lost.store(false, Ordering::Release);
    *followed = true;
    drop(state);
    tracing::info!(stream = %stream, "following the revocation stream");
    let block_ms = u64::try_from(HEARTBEAT.as_millis()).unwrap_or(100);
    let mut clock_synced = Instant::now();
    let mut swept = Instant::now();
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&stream)
            .arg(last.to_string());
        let asked = Instant::now();
        let reply = bounded(cmd.query_async(&mut conn), HEARTBEAT + timeout).await?;
        let Some(state) = weak.upgrade() else {
            return Ok(());
        };
        let entries = stream_entries(xread_stream(reply));
        // A full batch may leave more behind: current only once a read
        // comes back short, and then as of when it was sent (Redis read
        // the stream after that).
        let caught_up = entries.len() < BATCH;
        if let Some(next) = apply_entries(entries, local, &state) {
            *last = next;
        }
        if caught_up {
            state.touch_at(asked);
        }
        drop(state);
        if clock_synced.elapsed() >= CLOCK_EVERY {
            sync_clock(redis).await;
            clock_synced = Instant::now();
        }
        if swept.elapsed() >= SWEEP_EVERY {
            local.sweep();
            swept = Instant::now();
        }
    }
}

/// Measures Redis's clock; a failure only delays the next measurement (the
/// shared connection may be reconnecting while this one works).
async fn sync_clock(redis: &RedisBlocklist) {
    if let Err(e) = redis.sync_clock_now().await {
        tracing::debug!(error = %e, "could not read Redis's clock this time");
    }
}

/// Runs a Redis command within `limit`.
async fn bounded<T>(
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    limit: Duration,
) -> Result<T, BlocklistError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| BlocklistError::Timeout(limit))?
        .map_err(super::redis_blocklist::map_err)
}

/// Reads the whole stream, oldest first, into `local`; returns the last id
/// (or the one it was already at when the stream is empty).
async fn load(
    conn: &mut super::redis_connection::RedisConnection,
    stream: &str,
    after: EntryId,
    timeout: Duration,
    local: &Facts,
    state: &State,
) -> Result<EntryId, BlocklistError> {
    let started = Instant::now();
    let mut from = if after == EntryId::ZERO {
        "-".to_owned()
    } else {
        format!("({after}")
    };
    let mut last = after;
    let mut count = 0usize;
    loop {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(stream).arg(&from).arg("+").arg("COUNT").arg(BATCH);
        let reply = bounded(cmd.query_async(conn), timeout * 4).await?;
        let entries = stream_entries(Some(reply));
        let n = entries.len();
        count += n;
        match apply_entries(entries, local, state) {
            Some(id) => {
                last = id;
                // Exclusive start: the next entry after `id`.
                from = format!("({id}");
            }
            None => break,
        }
        if n < BATCH {
            break;
        }
    }
    tracing::info!(
        entries = count,
        took_ms = started.elapsed().as_millis() as u64,
        from_start = after == EntryId::ZERO,
        "revocation stream read up to its end"
    );
    Ok(last)
}

/// Applies entries in order; returns the id of the last one (applied or
/// skipped), if any.
fn apply_entries(
    entries: Vec<(Option<EntryId>, Option<String>)>,
    local: &Facts,
    state: &State,
) -> Option<EntryId> {
    let mut last = None;
    for (id, text) in entries {
        match text.as_deref().and_then(Event::parse) {
            Some(event) => {
                event.apply(local);
                state.applied.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                state.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = ?id, "skipping a revocation stream entry that cannot be read");
            }
        }
        if id.is_some() {
            last = id;
        }
    }
    last
}

/// The entries of the one stream in an `XREAD` reply (`nil` when none).
fn xread_stream(reply: redis::Value) -> Option<redis::Value> {
    let streams = match reply {
        redis::Value::Array(streams) => streams,
        redis::Value::Map(pairs) => return pairs.into_iter().next().map(|(_, v)| v),
        _ => return None,
    };
    match streams.into_iter().next()? {
        redis::Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
        _ => None,
    }
}

/// `[[id, [field, value, ...]], ...]` into (id, the `e` field's text).
fn stream_entries(entries: Option<redis::Value>) -> Vec<(Option<EntryId>, Option<String>)> {
    let Some(redis::Value::Array(entries)) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                return (None, None);
            };
            let mut parts = parts.into_iter();
            let (Some(id), Some(fields), None) = (parts.next(), parts.next(), parts.next()) else {
                return (None, None);
            };
            let id = bytes(&id).and_then(|b| EntryId::parse(std::str::from_utf8(b).ok()?));
            let event = match fields {
                redis::Value::Array(fields) => {
                    let mut fields = fields.into_iter();
                    let mut found = None;
                    while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
                        if bytes(&k) == Some(b"e".as_slice()) {
                            found = into_text(v);
                            break;
                        }
                    }
                    found
                }
                _ => None,
            };
            (id, event)
        })
        .collect()
}

/// The bytes of a string reply, without copying.
fn bytes(value: &redis::Value) -> Option<&[u8]> {
    match value {
        redis::Value::BulkString(bytes) => Some(bytes),
        redis::Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A string reply as text, without copying.
fn into_text(value: redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        redis::Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// What `XINFO STREAM` says of our position.
struct StreamInfo {
    last_generated: EntryId,
}

/// `None` when the stream does not exist.
async fn stream_info(
    conn: &mut super::redis_connection::RedisConnection,
    stream: &str,
    timeout: Duration,
) -> Result<Option<StreamInfo>, BlocklistError> {
    let exists: i64 = bounded(redis::cmd("EXISTS").arg(stream).query_async(conn), timeout).await?;
    if exists == 0 {
        return Ok(None);
    }
    let reply: redis::Value = bounded(
        redis::cmd("XINFO")
            .arg("STREAM")
            .arg(stream)
            .query_async(conn),
        timeout,
    )
    .await?;
    let pairs: Vec<(String, redis::Value)> = match reply {
        redis::Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|kv| Some((text(&kv[0])?, kv.get(1)?.clone())))
            .collect(),
        redis::Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((text(&k)?, v)))
            .collect(),
        _ => Vec::new(),
    };
    let id = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| text(v))
            .and_then(|t| EntryId::parse(&t))
            .unwrap_or(EntryId::ZERO)
    };
    Ok(Some(StreamInfo {
        last_generated: id("last-generated-id"),
    }))
}

/// A Redis that may evict keys with a TTL can drop revocations silently:
/// say so, loudly, once. Servers that refuse `CONFIG` are left alone.
async fn warn_if_evicting(conn: &mut super::redis_connection::RedisConnection, timeout: Duration) {
    let reply: Result<Vec<String>, _> = bounded(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(conn),
        timeout,
    )
    .await;
    if let Ok(reply) = reply {
        if let Some(policy) = reply.get(1) {
            if policy != "noeviction" {
                tracing::error!(
                    policy = %policy,
                    "Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict revocations and let revoked tokens back in; set `maxmemory-policy noeviction`"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_and_refuse_garbage() {
        assert_eq!(
            Event::parse("r 100 j:abc"),
            Some(Event::Revoked {
                until: 100,
                key: TokenKey::from_jti("abc")
            })
        );
        assert_eq!(
            Event::parse("g 100 3 s:sid"),
            Some(Event::Generation {
                until: 100,
                generation: 3,
                key: TokenKey::from_session("sid")
            })
        );
        assert_eq!(
            Event::parse("w 42 100 user with spaces"),
            Some(Event::Watermark {
                micros: 42,
                until: 100,
                user: "user with spaces".into()
            })
        );
        for garbage in [
            "",
            "r",
            "r x j:a",
            "r 1 x:a",
            "g 1 2 j:a",
            "g 1 x s:a",
            "w 1",
            "z 1 2",
            "\u{0}",
        ] {
            assert_eq!(Event::parse(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn entry_ids_order_as_redis_does() {
        let a = EntryId::parse("1700000000000-5").unwrap();
        let b = EntryId::parse("1700000000000-12").unwrap();
        let c = EntryId::parse("1700000000001-0").unwrap();
        assert!(a < b && b < c && EntryId::ZERO < a);
        assert_eq!(b.to_string(), "1700000000000-12");
        assert_eq!(EntryId::parse("12"), None);
    }
}
