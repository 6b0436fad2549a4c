//! kube-state-metrics' hash sharding (`--shard`, `--total-shards`): an instance keeps an object
//! iff `jump_hash(fnv64a(uid), total) == shard`, so shards of the two exporters split a cluster
//! identically and can be swapped one for the other.

/// Which objects of every kind this instance keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub ordinal: u32,
    /// At least 1; 1 keeps everything.
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            ordinal: 0,
            total: 1,
        }
    }
}

impl Shard {
    /// Whether the object with metadata.uid `uid` belongs to this shard. KSM hashes the UID as
    /// the API server sent it (empty when missing), so do we.
    pub fn keeps(&self, uid: &str) -> bool {
        self.total <= 1 || jump_hash(fnv64a(uid.as_bytes()), self.total) == self.ordinal
    }
}

/// FNV-1a, 64 bits (Go's `hash/fnv.New64a`).
fn fnv64a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Lamping and Veach's jump consistent hash, step for step as `github.com/dgryski/go-jump`
/// (including its float arithmetic, so buckets agree bit for bit).
fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 ≤ b < buckets ≤ u32::MAX.
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expectations from an independent Python implementation of Go's `hash/fnv` New64a and
    /// `dgryski/go-jump` (arbitrary-precision ints reduced mod 2^64, the same float steps):
    /// `(uid, fnv64a(uid), [jump(h, n) for n in (1, 2, 3, 5, 10, 100)])`.
    const EXPECTED: &[(&str, u64, [u32; 6])] = &[
        ("", 0xcbf29ce484222325, [0, 1, 1, 1, 1, 90]),
        ("a", 0xaf63dc4c8601ec8c, [0, 1, 2, 2, 2, 31]),
        (
            "3f1c2d4e-0000-4000-8000-000000000001",
            0x1097865d7131fc8a,
            [0, 0, 2, 3, 7, 7],
        ),
        (
            "b7e2a9c0-1234-4abc-9def-0123456789ab",
            0xfa5c04441c1dfb2a,
            [0, 0, 0, 0, 0, 19],
        ),
        ("uid-pod-1", 0x7adb6f4103c71559, [0, 0, 2, 2, 6, 44]),
        ("uid-pod-2", 0x7adb6c4103c71040, [0, 1, 1, 1, 8, 15]),
        ("uid-pod-3", 0x7adb6d4103c711f3, [0, 1, 1, 1, 6, 28]),
        (
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
            0xb9701ea3c9267d2b,
            [0, 0, 2, 3, 6, 79],
        ),
    ];

    #[test]
    fn shards_match_kube_state_metrics_assignment() {
        for &(uid, hash, buckets) in EXPECTED {
            assert_eq!(fnv64a(uid.as_bytes()), hash, "fnv64a({uid:?})");
            for (total, want) in [1, 2, 3, 5, 10, 100].into_iter().zip(buckets) {
                assert_eq!(jump_hash(hash, total), want, "jump({uid:?}, {total})");
                for ordinal in 0..total {
                    let shard = Shard { ordinal, total };
                    assert_eq!(shard.keeps(uid), ordinal == want, "{uid:?} {shard:?}");
                }
            }
        }
    }

    #[test]
    fn one_shard_keeps_everything() {
        assert!(Shard::default().keeps("anything"));
    }
}
