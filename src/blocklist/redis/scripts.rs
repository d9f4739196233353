//! The Lua scripts behind every write of [`RedisBlocklist`](super::RedisBlocklist),
//! one `.lua` file each under `scripts/` (read and linted as Lua; their
//! documentation is here, so that no comment is sent with every `EVAL`).
//!
//! Every write script appends its fact to the stream (trimmed by the store's
//! own clock: entries older than the retention go), and a script that
//! supersedes an earlier entry of the same session or user deletes that
//! entry (its id is kept under `{prefix}x:...`): the stream holds one entry
//! per live session or user however often it is refreshed. Times that order
//! facts (watermarks, successors' issue times) come from the store's `TIME`.

/// Raises a watermark past the store's clock and past the given value,
/// keeps the later expiry, appends it (replacing the user's previous
/// entry), publishes it. KEYS: user key, stream, user's entry key. ARGV:
/// micros, until, channel, user id, retention (ms). Returns the watermark.
pub(super) const RAISE_WATERMARK: &str = include_str!("scripts/raise_watermark.lua");

/// Revokes one token (not a session) once: `SET NX`, then the stream and
/// the channel. KEYS: token key, stream. ARGV: until, channel, event,
/// retention (ms). Returns 1 when this call stored it.
pub(super) const REVOKE_TOKEN: &str = include_str!("scripts/revoke_token.lua");

/// Moves a session to the next generation if it is at the presented one
/// and its user's watermark does not cover the presented token, in one
/// step. KEYS: session key, stream, user key, session's entry key. ARGV:
/// from, until, channel, event, key as text, retention (ms), the presented
/// token's issue time (µs). Returns `{1, issue time}` when rotated (the
/// store's clock), `{2, 0}` when the session ended, `{3, current}` when it
/// is past `from`, `{4, watermark}` when the user was logged out after the
/// presented token was issued.
pub(super) const ROTATE: &str = include_str!("scripts/rotate.lua");

/// Ends a session, whatever its generation; keeps the later expiry; its
/// entry replaces the session's last rotation in the stream. KEYS: session
/// key, stream, session's entry key. ARGV: until, channel, event, retention
/// (ms). Returns 1 when this call ended it, 0 when it had ended already.
/// The stream entry names the later deadline, when one was stored already.
pub(super) const END_SESSION: &str = include_str!("scripts/end_session.lua");
