//! A replica's whole set of facts as one binary blob, with the store
//! position it covers: what a new replica loads instead of replaying every
//! change since the oldest live one (a million facts are ~24 MB, read in
//! one command and decoded without an allocation per fact).
//!
//! The layout, little-endian:
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | `TJSFACT1` |
//! | 16 | the digest key of the facts below (see [`facts`](super::facts)) |
//! | 16 | the store position covered (a Redis stream entry id) |
//! | 8 + 8 | the number of facts, of watermarks |
//! | 24 each | facts: digest (16), deadline (`u32`), state (`u32`) |
//! | 28 each | watermarks: digest (16), deadline (`u32`), micros (`i64`) |
//!
//! A snapshot holds every fact its writer knew up to the position, and
//! possibly some after it; facts merge (they only grow), so replaying the
//! changes after the position over it is exact.

use super::facts::{Digest, Fact, Facts, Mark};

const MAGIC: &[u8; 8] = b"TJSFACT1";
const HEADER: usize = 8 + 16 + 16 + 16;
const FACT: usize = 24;
const MARK: usize = 28;

/// Why a blob is not a snapshot this version can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SnapshotError {
    #[error("not a facts snapshot of this version")]
    Format,
    #[error("facts snapshot of {actual} bytes, its header announces {expected}")]
    Length { expected: u128, actual: usize },
}

/// `facts` as a snapshot covering `position`.
pub(crate) fn encode(facts: &Facts, position: (u64, u64)) -> Vec<u8> {
    let (k0, k1) = facts.digest_key();
    let mut fact_bytes = Vec::new();
    let mut mark_bytes = Vec::new();
    let (mut n_facts, mut n_marks) = (0u64, 0u64);
    facts.for_each(
        |d, f| {
            n_facts += 1;
            for part in [&d.0.to_le_bytes()[..], &d.1.to_le_bytes()] {
                fact_bytes.extend_from_slice(part);
            }
            fact_bytes.extend_from_slice(&f.until.to_le_bytes());
            fact_bytes.extend_from_slice(&f.state.to_le_bytes());
        },
        |d, m| {
            n_marks += 1;
            for part in [&d.0.to_le_bytes()[..], &d.1.to_le_bytes()] {
                mark_bytes.extend_from_slice(part);
            }
            mark_bytes.extend_from_slice(&m.until.to_le_bytes());
            mark_bytes.extend_from_slice(&m.micros.to_le_bytes());
        },
    );
    let mut out = Vec::with_capacity(HEADER + fact_bytes.len() + mark_bytes.len());
    out.extend_from_slice(MAGIC);
    for word in [k0, k1, position.0, position.1, n_facts, n_marks] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&fact_bytes);
    out.extend_from_slice(&mark_bytes);
    out
}

/// The store position a snapshot covers, read from its header alone (the
/// first [`header_len`] bytes).
pub(crate) fn position(header: &[u8]) -> Result<(u64, u64), SnapshotError> {
    let words = header_words(header)?;
    Ok((words[2], words[3]))
}

/// How many bytes [`position`] needs.
pub(crate) const fn header_len() -> usize {
    HEADER
}

fn header_words(bytes: &[u8]) -> Result<[u64; 6], SnapshotError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(SnapshotError::Format);
    }
    Ok(std::array::from_fn(|i| word(&bytes[8 + 8 * i..])))
}

fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(w)
}

fn half(bytes: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(w)
}

/// Replaces what `facts` holds by the snapshot `bytes` (its digest key
/// included): only before the replica answers from memory. Returns the
/// position covered and the number of facts read; on an error `facts` is
/// left as it was.
pub(crate) fn load(bytes: &[u8], facts: &Facts) -> Result<((u64, u64), u64), SnapshotError> {
    let [k0, k1, p0, p1, n_facts, n_marks] = header_words(bytes)?;
    let expected =
        HEADER as u128 + u128::from(n_facts) * FACT as u128 + u128::from(n_marks) * MARK as u128;
    if expected != bytes.len() as u128 {
        return Err(SnapshotError::Length {
            expected,
            actual: bytes.len(),
        });
    }
    facts.reset_with_key((k0, k1));
    facts.reserve(n_facts);
    let body = &bytes[HEADER..];
    let (fact_bytes, mark_bytes) = body.split_at(n_facts as usize * FACT);
    for r in fact_bytes.chunks_exact(FACT) {
        let fact = Fact {
            until: half(&r[16..]),
            state: half(&r[20..]),
        };
        facts.merge_fact(Digest(word(r), word(&r[8..])), fact);
    }
    for r in mark_bytes.chunks_exact(MARK) {
        let mark = Mark {
            until: half(&r[16..]),
            micros: word(&r[20..]) as i64,
        };
        facts.merge_mark(Digest(word(r), word(&r[8..])), mark);
    }
    Ok(((p0, p1), n_facts + n_marks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{blocklist::TokenKey, time::now_secs};

    #[test]
    fn a_snapshot_brings_back_every_fact_under_its_key() {
        let written = Facts::new();
        let later = now_secs() + 60;
        written.learn_revoked(&TokenKey::from_jti("t"), later);
        written.learn_generation(&TokenKey::from_session("s"), 7, later);
        written.learn_watermark("u", 42, later);
        written.learn_revoked(&TokenKey::from_jti("gone"), now_secs() - 1);
        let blob = encode(&written, (17, 3));
        assert_eq!(blob.len(), HEADER + 2 * FACT + MARK);
        assert_eq!(position(&blob[..header_len()]), Ok((17, 3)));

        let read = Facts::new();
        read.learn_revoked(&TokenKey::from_jti("before"), later);
        assert_eq!(load(&blob, &read), Ok(((17, 3), 3)));
        assert!(read.lookup(&TokenKey::from_jti("t"), "x").revoked);
        assert!(!read.lookup(&TokenKey::from_jti("before"), "x").revoked);
        let session = read.lookup(&TokenKey::from_session("s"), "u");
        assert_eq!(
            (
                session.revoked,
                session.generation,
                session.valid_after_micros
            ),
            (false, 7, Some(42))
        );
        // Learned after the load: digested under the snapshot's key too.
        read.learn_revoked(&TokenKey::from_jti("after"), later);
        assert!(read.lookup(&TokenKey::from_jti("after"), "x").revoked);
    }

    #[test]
    fn damaged_snapshots_are_refused_and_change_nothing() {
        let written = Facts::new();
        written.learn_revoked(&TokenKey::from_jti("t"), now_secs() + 60);
        let blob = encode(&written, (1, 0));
        let read = Facts::new();
        read.learn_revoked(&TokenKey::from_jti("kept"), now_secs() + 60);
        for bad in [
            &blob[..blob.len() - 1],
            &blob[..10],
            b"TJSFACT2".as_slice(),
            &[],
        ] {
            assert!(load(bad, &read).is_err());
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(
            load(&longer, &read),
            Err(SnapshotError::Length { .. })
        ));
        // A header announcing more records than any memory holds.
        let mut huge = blob[..HEADER].to_vec();
        huge[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load(&huge, &read).is_err());
        assert!(read.lookup(&TokenKey::from_jti("kept"), "x").revoked);
    }
}
