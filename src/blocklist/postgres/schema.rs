//! The tables and functions of the PostgreSQL blocklist, created
//! idempotently: several servers may start at once.
//!
//! | object | what it holds |
//! | --- | --- |
//! | `{p}_facts` | one row per revoked token or refreshed/ended session: `key`, `state` (a session's generation, `-1` revoked/ended), `until` (Unix seconds), `revision` |
//! | `{p}_marks` | one row per user with a watermark: `user_id`, `micros`, `until`, `revision` |
//! | `{p}_once` | single-use values (DPoP proofs' `jti`), never replicated |
//! | `{p}_order` | one row: the last issue time a rotation handed out |
//! | `{p}_revision` | the sequence every write takes its revision from |
//! | `{p}_snapshot` | one row: a replica's facts (binary, 20 bytes a fact) and the revision they cover, for replicas that start; rewritten at most every 5 minutes |
//! | `{p}_revoke`, `{p}_rotate`, `{p}_set_valid_after`, `{p}_raise_valid_after`, `{p}_record_once`, `{p}_check`, `{p}_now` | the writes and the check, one atomic step each |
//!
//! Every write takes one transaction-level advisory lock before it takes
//! its revision, so writes commit in revision order: a replica that read up
//! to revision `n` has seen every write numbered `n` or less. Each write
//! notifies the channel `{p}` with its revision, in its transaction
//! (delivered at commit). Times are the database's clock
//! (`clock_timestamp()`), never a server's.

/// The advisory lock key of the writes (an arbitrary constant: "tjs" and
/// the crate's name).
const WRITE_LOCK: i64 = 0x746a_735f_7772_6974;
/// The advisory lock key of the schema's creation.
const SCHEMA_LOCK: i64 = 0x746a_735f_7363_6865;

/// The statements that create (or update) everything, in one transaction.
pub(super) fn create(prefix: &str) -> String {
    SCHEMA
        .replace("{p}", prefix)
        .replace("{write_lock}", &WRITE_LOCK.to_string())
        .replace("{schema_lock}", &SCHEMA_LOCK.to_string())
}

const SCHEMA: &str = r#"
BEGIN;
SELECT pg_advisory_xact_lock({schema_lock});
CREATE SEQUENCE IF NOT EXISTS {p}_revision;
CREATE TABLE IF NOT EXISTS {p}_facts (
    key text PRIMARY KEY,
    state bigint NOT NULL,
    until bigint NOT NULL,
    revision bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS {p}_facts_revision ON {p}_facts (revision);
CREATE INDEX IF NOT EXISTS {p}_facts_until ON {p}_facts (until);
CREATE TABLE IF NOT EXISTS {p}_marks (
    user_id text PRIMARY KEY,
    micros bigint NOT NULL,
    until bigint NOT NULL,
    revision bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS {p}_marks_revision ON {p}_marks (revision);
CREATE INDEX IF NOT EXISTS {p}_marks_until ON {p}_marks (until);
CREATE TABLE IF NOT EXISTS {p}_once (
    key text PRIMARY KEY,
    until bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS {p}_once_until ON {p}_once (until);
CREATE TABLE IF NOT EXISTS {p}_order (
    id int PRIMARY KEY CHECK (id = 1),
    last_issued bigint NOT NULL
);
INSERT INTO {p}_order VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS {p}_snapshot (
    id int PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL,
    written_at timestamptz NOT NULL,
    facts bytea NOT NULL
);

CREATE OR REPLACE FUNCTION {p}_now() RETURNS bigint LANGUAGE sql VOLATILE AS $f$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$f$;

-- Takes the write lock and a revision; notifies it at commit.
CREATE OR REPLACE FUNCTION {p}_next_revision() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE r bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({write_lock});
    r := nextval('{p}_revision');
    PERFORM pg_notify('{p}', r::text);
    RETURN r;
END
$f$;

-- Revokes a token (ends a session); true when this call stored it.
CREATE OR REPLACE FUNCTION {p}_revoke(k text, u bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
    now_s bigint := {p}_now() / 1000000;
    r bigint;
    fresh boolean;
BEGIN
    IF u <= now_s THEN RETURN true; END IF;
    r := {p}_next_revision();
    SELECT NOT (state = -1 AND until > now_s) INTO fresh FROM {p}_facts WHERE key = k;
    INSERT INTO {p}_facts AS f (key, state, until, revision) VALUES (k, -1, u, r)
    ON CONFLICT (key) DO UPDATE SET
        state = -1,
        until = GREATEST(CASE WHEN f.until > now_s THEN f.until ELSE 0 END, EXCLUDED.until),
        revision = r;
    RETURN COALESCE(fresh, true);
END
$f$;

-- Moves a session from generation `from_gen` to the next: outcome 0
-- rotated (amount: the successor's issue time), 1 logged out (amount: the
-- watermark), 2 superseded (amount: the current generation), 3 ended.
CREATE OR REPLACE FUNCTION {p}_rotate(
    k text, from_gen bigint, u bigint, uid text, issued bigint,
    OUT outcome int, OUT amount bigint
) LANGUAGE plpgsql AS $f$
DECLARE
    now_us bigint;
    now_s bigint;
    r bigint;
    mark bigint;
    cur_gen bigint;
BEGIN
    r := {p}_next_revision();
    now_us := {p}_now();
    now_s := now_us / 1000000;
    SELECT micros INTO mark FROM {p}_marks WHERE user_id = uid AND until > now_s;
    IF mark IS NOT NULL AND issued < mark THEN
        outcome := 1; amount := mark; RETURN;
    END IF;
    SELECT state INTO cur_gen FROM {p}_facts WHERE key = k AND until > now_s;
    IF cur_gen = -1 THEN
        outcome := 3; amount := 0; RETURN;
    END IF;
    IF cur_gen IS NOT NULL AND cur_gen > from_gen THEN
        outcome := 2; amount := cur_gen; RETURN;
    END IF;
    UPDATE {p}_order SET last_issued = GREATEST(last_issued + 1, now_us)
        WHERE id = 1 RETURNING last_issued INTO amount;
    INSERT INTO {p}_facts AS f (key, state, until, revision) VALUES (k, from_gen + 1, u, r)
    ON CONFLICT (key) DO UPDATE SET
        state = from_gen + 1,
        until = GREATEST(CASE WHEN f.until > now_s THEN f.until ELSE 0 END, EXCLUDED.until),
        revision = r;
    outcome := 0;
END
$f$;

-- Raises a user's watermark to at least `at_least`; with `floored`, also
-- past the database's clock and every issue time a rotation handed out.
CREATE OR REPLACE FUNCTION {p}_mark(uid text, at_least bigint, u bigint, floored boolean)
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    now_us bigint;
    now_s bigint;
    r bigint;
    wanted bigint := at_least;
    stored bigint;
BEGIN
    r := {p}_next_revision();
    now_us := {p}_now();
    now_s := now_us / 1000000;
    IF floored THEN
        SELECT GREATEST(wanted, last_issued + 1, now_us + 1) INTO wanted
            FROM {p}_order WHERE id = 1;
    END IF;
    INSERT INTO {p}_marks AS m (user_id, micros, until, revision) VALUES (uid, wanted, u, r)
    ON CONFLICT (user_id) DO UPDATE SET
        micros = GREATEST(CASE WHEN m.until > now_s THEN m.micros ELSE EXCLUDED.micros END, EXCLUDED.micros),
        until = GREATEST(CASE WHEN m.until > now_s THEN m.until ELSE 0 END, EXCLUDED.until),
        revision = r
    RETURNING m.micros INTO stored;
    RETURN stored;
END
$f$;

-- Records a single-use value; true when this call recorded it.
CREATE OR REPLACE FUNCTION {p}_record_once(k text, u bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE now_s bigint := {p}_now() / 1000000;
BEGIN
    DELETE FROM {p}_once WHERE key = k AND until <= now_s;
    INSERT INTO {p}_once (key, until) VALUES (k, u) ON CONFLICT (key) DO NOTHING;
    RETURN FOUND;
END
$f$;

-- One answer for a check: the key's state (NULL: nothing), the user's
-- watermark (NULL: none).
CREATE OR REPLACE FUNCTION {p}_check(k text, uid text, OUT state bigint, OUT mark bigint)
LANGUAGE sql STABLE AS $f$
    SELECT
        (SELECT f.state FROM {p}_facts f WHERE f.key = k AND f.until > {p}_now() / 1000000),
        (SELECT m.micros FROM {p}_marks m WHERE m.user_id = uid AND m.until > {p}_now() / 1000000)
$f$;
COMMIT;
"#;

/// Whether `prefix` is a plain SQL identifier prefix: lowercase ASCII
/// letters, digits and `_`, starting with a letter, at most 40 characters
/// (room for the suffixes within PostgreSQL's 63).
pub(super) fn valid_prefix(prefix: &str) -> bool {
    (1..=40).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
