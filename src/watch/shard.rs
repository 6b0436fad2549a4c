//! Hash sharding (`--shard`, `--total-shards`), in one of two assignments (`--shard-mode`):
//!
//! - `ksm`: kube-state-metrics' — an instance keeps an object iff
//!   `jump_hash(fnv64a(uid), total) == shard`, so shards of the two exporters split a cluster
//!   identically and can be swapped one for the other. Filtered here: every shard pulls all.
//! - `server`: Kubernetes' server-side sharding (1.36, KEP-5866) — the 64-bit FNV-1a hash
//!   space of the UID is cut into `total` equal ranges and shard `n` owns
//!   `[n·⌊2^64/total⌋, (n+1)·⌊2^64/total⌋)` (the last one up to 2^64), sent as
//!   `shardSelector=shardRange(object.metadata.uid, '0x…', '0x…')` so the API server only sends
//!   the shard's objects. A server that ignores or rejects the parameter is met by the same
//!   range check here, so the assignment never depends on the server (see `server_side`).
//!
//! The two assignments differ: an object's shard under one says nothing of the other.

use std::str::FromStr;

/// How objects are assigned to shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardMode {
    /// kube-state-metrics' jump hash, filtered client-side.
    #[default]
    Ksm,
    /// KEP-5866 hash ranges, filtered by the API server when it can.
    Server,
}

impl FromStr for ShardMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ksm" => Ok(ShardMode::Ksm),
            "server" => Ok(ShardMode::Server),
            other => Err(format!("{other:?}: expected ksm or server")),
        }
    }
}

/// Which objects of every kind this instance keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub ordinal: u32,
    /// At least 1; 1 keeps everything.
    pub total: u32,
    pub mode: ShardMode,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            ordinal: 0,
            total: 1,
            mode: ShardMode::Ksm,
        }
    }
}

/// 2^64: the end of the hash space.
const HASH_SPACE: u128 = 1 << 64;

impl Shard {
    /// Whether the object with metadata.uid `uid` belongs to this shard. KSM hashes the UID as
    /// the API server sent it (empty when missing), so do we (and so does the API server).
    pub fn keeps(&self, uid: &str) -> bool {
        if self.total <= 1 {
            return true;
        }
        let hash = fnv64a(uid.as_bytes());
        match self.mode {
            ShardMode::Ksm => jump_hash(hash, self.total) == self.ordinal,
            ShardMode::Server => {
                let (start, end) = self.range();
                (start..end).contains(&u128::from(hash))
            }
        }
    }

    /// This shard's `[start, end)` of the hash space in `server` mode, split as Kubernetes'
    /// own tests split it.
    fn range(&self) -> (u128, u128) {
        let total = u128::from(self.total.max(1));
        let ordinal = u128::from(self.ordinal);
        let span = HASH_SPACE / total;
        let end = if ordinal + 1 >= total {
            HASH_SPACE
        } else {
            span * (ordinal + 1)
        };
        (span * ordinal, end)
    }

    /// The `shardSelector` the API server is asked to filter by: only in `server` mode with
    /// more than one shard. Formatted as the apiserver prints selectors (16 hex digits, or
    /// `0x10000000000000000` for 2^64), so its `shardInfo` echo compares equal.
    pub fn selector(&self) -> Option<String> {
        if self.mode != ShardMode::Server || self.total <= 1 {
            return None;
        }
        let (start, end) = self.range();
        Some(format!(
            "shardRange(object.metadata.uid, '{start:#018x}', '{end:#018x}')"
        ))
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
                    let shard = Shard {
                        ordinal,
                        total,
                        mode: ShardMode::Ksm,
                    };
                    assert_eq!(shard.keeps(uid), ordinal == want, "{uid:?} {shard:?}");
                }
            }
        }
    }

    #[test]
    fn one_shard_keeps_everything() {
        assert!(Shard::default().keeps("anything"));
        let server = Shard {
            mode: ShardMode::Server,
            ..Shard::default()
        };
        assert!(server.keeps("anything"));
        assert_eq!(server.selector(), None);
    }

    fn server(ordinal: u32, total: u32) -> Shard {
        Shard {
            ordinal,
            total,
            mode: ShardMode::Server,
        }
    }

    #[test]
    fn server_ranges_are_the_selectors_kubernetes_documents() {
        // The 2- and 4-shard splits of the apiserver's ListOptions documentation, and 3 shards:
        // 2^64 / 3 = 0x5555555555555555, the last shard taking the remainder.
        for (ordinal, total, start, end) in [
            (0, 2, "0x0000000000000000", "0x8000000000000000"),
            (1, 2, "0x8000000000000000", "0x10000000000000000"),
            (2, 4, "0x8000000000000000", "0xc000000000000000"),
            (1, 3, "0x5555555555555555", "0xaaaaaaaaaaaaaaaa"),
            (2, 3, "0xaaaaaaaaaaaaaaaa", "0x10000000000000000"),
        ] {
            assert_eq!(
                server(ordinal, total).selector(),
                Some(format!(
                    "shardRange(object.metadata.uid, '{start}', '{end}')"
                )),
                "{ordinal} of {total}"
            );
        }
        assert_eq!(
            Shard {
                mode: ShardMode::Ksm,
                ..server(0, 2)
            }
            .selector(),
            None
        );
    }

    #[test]
    fn server_mode_keeps_the_uids_in_its_range_exactly_once() {
        for &(uid, hash, _) in EXPECTED {
            for total in [2, 3, 5, 10, 100] {
                let owners: Vec<u32> = (0..total)
                    .filter(|&n| server(n, total).keeps(uid))
                    .collect();
                let (start, end) = server(owners[0], total).range();
                assert_eq!(owners.len(), 1, "{uid:?} {total}: {owners:?}");
                assert!(start <= u128::from(hash) && u128::from(hash) < end);
            }
        }
        // 0x7adb… is in the lower half, 0xaf63… ("a") in the upper one: not KSM's split.
        assert!(server(0, 2).keeps("uid-pod-1") && server(1, 2).keeps("a"));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("server".parse(), Ok(ShardMode::Server));
        assert_eq!("ksm".parse(), Ok(ShardMode::Ksm));
        assert!("auto".parse::<ShardMode>().is_err());
    }
}
