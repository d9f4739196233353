//! The revocation stream's entries as the scripts write them: their text
//! ([`Event`]), their ids ([`EntryId`]), and the replies of `XREAD`,
//! `XRANGE` and `XINFO STREAM` that carry them.

use std::{fmt, time::Duration};

use super::connection::{bounded, RedisConnection};
use crate::blocklist::{replica::facts::Facts, BlocklistError, TokenKey};

/// One stream entry, as written by the scripts of [`RedisBlocklist`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
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
    pub(super) fn parse(text: &str) -> Option<Self> {
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

    pub(super) fn apply(self, local: &Facts) {
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
pub(super) struct EntryId(pub(super) u64, pub(super) u64);

impl EntryId {
    pub(super) const ZERO: Self = Self(0, 0);

    pub(super) fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// The entries of the one stream in an `XREAD` reply (`nil` when none).
pub(super) fn xread_stream(reply: redis::Value) -> Option<redis::Value> {
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
pub(super) fn stream_entries(
    entries: Option<redis::Value>,
) -> Vec<(Option<EntryId>, Option<String>)> {
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
pub(super) struct StreamInfo {
    pub(super) last_generated: EntryId,
    /// Entries in the stream.
    pub(super) length: u64,
}

/// `None` when the stream does not exist.
pub(super) async fn stream_info(
    conn: &mut RedisConnection,
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
        length: pairs
            .iter()
            .find(|(k, _)| k == "length")
            .and_then(|(_, v)| match v {
                redis::Value::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            })
            .unwrap_or(0),
    }))
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
