//! A replica's whole set of facts as one binary blob, with the store
//! position it covers: what a new replica loads instead of replaying every
//! change since the oldest live one (a million facts are ~20 MB, read in
//! chunks and decoded without an allocation per fact).
//!
//! The layout, little-endian:
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | `TJSFACT2` |
//! | 16 | the digest key of the facts below (see [`facts`](super::facts)) |
//! | 16 | the store position covered (a Redis stream entry id, a revision) |
//! | 8 + 8 | the number of facts, of watermarks |
//! | 16 | SipHash-1-3-128 (key 0) of everything after the header: a blob read in chunks while it was replaced does not pass |
//! | 20 each | facts: digest (12), deadline (`u32`), state (`u32`) |
//! | 24 each | watermarks: digest (12), deadline (`u32`), micros (`i64`) |
//!
//! A snapshot holds every fact its writer knew up to the position, and
//! possibly some after it; facts merge (they only grow), so replaying the
//! changes after the position over it is exact.

use siphasher::sip128::SipHasher13;

use super::facts::{Digest, Fact, Facts, Mark};
use crate::blocklist::BlocklistError;

const MAGIC: &[u8; 8] = b"TJSFACT2";
const HEADER: usize = 8 + 16 + 16 + 16 + 16;
const FACT: usize = 20;
const MARK: usize = 24;

/// Why a blob is not a snapshot this version can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SnapshotError {
    #[error("not a facts snapshot of this version")]
    Format,
    #[error("facts snapshot of {actual} bytes, its header announces {expected}")]
    Length { expected: u128, actual: usize },
    #[error("facts snapshot whose checksum does not match (damaged, or replaced while read)")]
    Checksum,
}

/// What a snapshot's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The store position covered.
    pub(crate) position: (u64, u64),
    /// The whole snapshot's length in bytes, header included.
    pub(crate) len: u128,
}

/// How many bytes [`header`] needs.
pub(crate) const HEADER_LEN: usize = HEADER;

fn checksum(body: &[u8]) -> (u64, u64) {
    SipHasher13::new_with_keys(0, 0).hash(body).as_u64()
}

fn put_digest(out: &mut Vec<u8>, d: Digest) {
    for word in d.0 {
        out.extend_from_slice(&word.to_le_bytes());
    }
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
            put_digest(&mut fact_bytes, d);
            fact_bytes.extend_from_slice(&f.until.to_le_bytes());
            fact_bytes.extend_from_slice(&f.state.to_le_bytes());
        },
        |d, m| {
            n_marks += 1;
            put_digest(&mut mark_bytes, d);
            mark_bytes.extend_from_slice(&m.until.to_le_bytes());
            mark_bytes.extend_from_slice(&m.micros.to_le_bytes());
        },
    );
    let mut out = Vec::with_capacity(HEADER + fact_bytes.len() + mark_bytes.len());
    out.extend_from_slice(MAGIC);
    for word in [k0, k1, position.0, position.1, n_facts, n_marks, 0, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&fact_bytes);
    out.extend_from_slice(&mark_bytes);
    let (c0, c1) = checksum(&out[HEADER..]);
    out[HEADER - 16..HEADER - 8].copy_from_slice(&c0.to_le_bytes());
    out[HEADER - 8..HEADER].copy_from_slice(&c1.to_le_bytes());
    out
}

/// Reads a snapshot's header (its first [`HEADER_LEN`] bytes, or more).
pub(crate) fn header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    let [_, _, p0, p1, n_facts, n_marks, _, _] = header_words(bytes)?;
    Ok(Header {
        position: (p0, p1),
        len: HEADER as u128
            + u128::from(n_facts) * FACT as u128
            + u128::from(n_marks) * MARK as u128,
    })
}

fn header_words(bytes: &[u8]) -> Result<[u64; 8], SnapshotError> {
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

fn digest(bytes: &[u8]) -> Digest {
    Digest([half(bytes), half(&bytes[4..]), half(&bytes[8..])])
}

/// How old a snapshot may grow (while the store moves on) before a
/// replica writes the next.
pub(crate) const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// How often a replica that follows looks whether the snapshot is due (and
/// right after its first catch-up).
pub(crate) const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Reading or writing a snapshot may take this long (tens of MB).
pub(crate) const TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Larger snapshots are neither written nor read (Redis refuses values
/// over 512 MB by default, `bytea` holds at most 1 GB): replicas then read
/// every change.
pub(crate) const MAX_BYTES: usize = 256 << 20;
/// Bytes read per command when a snapshot is read in ranges.
pub(crate) const CHUNK: usize = 4 << 20;

/// Reads a snapshot of `len` bytes (from its header) by ranges:
/// `range(from, count)` gives `count` bytes from offset `from`, fewer at
/// the end of the stored value. Into one buffer of the announced size, so
/// that no reply buffer outgrows it; a value replaced meanwhile fails the
/// checksum when loaded.
pub(crate) async fn read_ranges<F, Fut>(len: usize, mut range: F) -> Result<Vec<u8>, BlocklistError>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>, BlocklistError>>,
{
    let mut blob = Vec::with_capacity(len);
    while blob.len() < len {
        let chunk = range(blob.len(), (len - blob.len()).min(CHUNK)).await?;
        if chunk.is_empty() {
            break;
        }
        blob.extend_from_slice(&chunk);
    }
    Ok(blob)
}

/// [`load`] on a blocking thread; a snapshot that cannot be used is
/// logged and `None` (the caller reads every change instead).
pub(crate) async fn load_off_thread(
    blob: Vec<u8>,
    facts: &Facts,
) -> Result<Option<u64>, BlocklistError> {
    let facts = facts.clone();
    let loaded = tokio::task::spawn_blocking(move || load(&blob, &facts))
        .await
        .map_err(BlocklistError::backend)?;
    match loaded {
        Ok((_, n)) => Ok(Some(n)),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the facts snapshot: reading every change instead");
            Ok(None)
        }
    }
}

/// [`encode`] on a blocking thread; `None` (logged) when larger than
/// [`MAX_BYTES`].
pub(crate) async fn encode_off_thread(
    facts: &Facts,
    position: (u64, u64),
) -> Result<Option<Vec<u8>>, BlocklistError> {
    let facts = facts.clone();
    let blob = tokio::task::spawn_blocking(move || encode(&facts, position))
        .await
        .map_err(BlocklistError::backend)?;
    if blob.len() > MAX_BYTES {
        tracing::warn!(
            bytes = blob.len(),
            "facts snapshot too large to store: replicas that start read every change"
        );
        return Ok(None);
    }
    Ok(Some(blob))
}

/// Whether a snapshot of `len` bytes (from its header) is one this version
/// reads.
pub(crate) fn readable_len(len: u128) -> Option<usize> {
    usize::try_from(len).ok().filter(|l| *l <= MAX_BYTES)
}

/// Replaces what `facts` holds by the snapshot `bytes` (its digest key
/// included): only before the replica answers from memory. Returns the
/// position covered and the number of facts read; on an error `facts` is
/// left as it was.
pub(crate) fn load(bytes: &[u8], facts: &Facts) -> Result<((u64, u64), u64), SnapshotError> {
    let [k0, k1, p0, p1, n_facts, n_marks, c0, c1] = header_words(bytes)?;
    let expected = header(bytes)?.len;
    if expected != bytes.len() as u128 {
        return Err(SnapshotError::Length {
            expected,
            actual: bytes.len(),
        });
    }
    let body = &bytes[HEADER..];
    if checksum(body) != (c0, c1) {
        return Err(SnapshotError::Checksum);
    }
    facts.reset_with_key((k0, k1));
    facts.reserve(n_facts);
    let (fact_bytes, mark_bytes) = body.split_at(n_facts as usize * FACT);
    for r in fact_bytes.chunks_exact(FACT) {
        let fact = Fact {
            until: half(&r[12..]),
            state: half(&r[16..]),
        };
        facts.merge_fact(digest(r), fact);
    }
    for r in mark_bytes.chunks_exact(MARK) {
        let mark = Mark {
            until: half(&r[12..]),
            micros: word(&r[16..]) as i64,
        };
        facts.merge_mark(digest(r), mark);
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
        assert_eq!(
            header(&blob[..HEADER_LEN]),
            Ok(Header {
                position: (17, 3),
                len: blob.len() as u128
            })
        );

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

    #[tokio::test]
    async fn a_snapshot_read_by_ranges_is_whole_and_loads() {
        let written = Facts::new();
        for i in 0..500_000 {
            written.learn_revoked(&TokenKey::from_jti(&format!("t-{i}")), now_secs() + 60);
        }
        let blob = encode(&written, (9, 9));
        assert!(blob.len() > 2 * CHUNK, "several ranges");
        let len = header(&blob).unwrap().len as usize;
        let mut calls = 0;
        let read = read_ranges(len, |from, count| {
            calls += 1;
            let part = blob[from..(from + count).min(blob.len())].to_vec();
            async move { Ok(part) }
        })
        .await
        .unwrap();
        assert_eq!(read, blob);
        assert_eq!(calls, blob.len().div_ceil(CHUNK));
        let facts = Facts::new();
        assert_eq!(load_off_thread(read, &facts).await.unwrap(), Some(500_000));
        assert!(facts.lookup(&TokenKey::from_jti("t-499999"), "u").revoked);
        // A value shorter than announced (replaced meanwhile): the ranges
        // stop, and the load refuses it.
        let short = read_ranges(len, |from, count| {
            let part = blob[from..(from + count).min(blob.len() / 2)].to_vec();
            async move { Ok(part) }
        })
        .await
        .unwrap();
        assert!(short.len() < len);
        assert_eq!(load_off_thread(short, &Facts::new()).await.unwrap(), None);
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
