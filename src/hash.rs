//! [`PassThrough`]: the hasher of maps whose keys are hashes already (a
//! keyed digest, a seeded fold of a signature): the table uses the key's
//! `u64` as it is.

use std::hash::Hasher;

/// Passes a `u64` key through; folds any other bytes in (never used by the
/// keys it serves, kept correct all the same).
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
