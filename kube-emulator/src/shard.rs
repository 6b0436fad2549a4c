//! Server-side sharded list and watch (Kubernetes 1.36, KEP-5866, feature gate
//! `ShardedListAndWatch`): the `shardSelector` query parameter, parsed and matched as
//! `k8s.io/apiserver/pkg/sharding` and `k8s.io/apimachinery/pkg/sharding` do.
//!
//! A selector is one or more `shardRange(FIELD, 'START', 'END')` joined by `||`, FIELD
//! `object.metadata.uid` or `object.metadata.namespace` (the same in every range), START and
//! END `0x` and 16 lowercase hex digits, END also `0x10000000000000000` (2^64), START < END.
//! An object matches when the FNV-1a 64 hash of the field's value lies in one `[START, END)`.

use serde::{Deserialize, Serialize};

use crate::object::StoredObject;

/// How the emulated apiserver treats `shardSelector`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardSelectors {
    /// A 1.36+ server with `ShardedListAndWatch` on: lists and watches are filtered and list
    /// responses echo the selector in `metadata.shardInfo`.
    Supported,
    /// What older servers and 1.36 with the gate off do: the parameter is dropped, everything
    /// is sent and `shardInfo` is absent.
    #[default]
    Ignored,
    /// A server (or proxy in front of it) that refuses the parameter: 400 Bad Request.
    Rejected,
}

impl std::str::FromStr for ShardSelectors {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "supported" => Ok(Self::Supported),
            "ignored" => Ok(Self::Ignored),
            "rejected" => Ok(Self::Rejected),
            other => Err(format!(
                "{other:?}: expected supported, ignored or rejected"
            )),
        }
    }
}

/// The field a selector hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Uid,
    Namespace,
}

/// A parsed `shardSelector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSelector {
    field: Field,
    /// `[start, end)` ranges of the 64-bit hash; end may be 2^64.
    ranges: Vec<(u128, u128)>,
}

impl ShardSelector {
    /// Parses a selector; the error is the 400 message.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "empty shard selector is not allowed; omit the parameter for unfiltered lists"
                    .into(),
            );
        }
        let mut field = None;
        let mut ranges = Vec::new();
        for term in text.split("||") {
            let (f, range) = parse_range(term.trim())?;
            if field.is_some_and(|seen| seen != f) {
                return Err("all shard ranges must use the same field".into());
            }
            field = Some(f);
            ranges.push(range);
        }
        Ok(Self {
            field: field.unwrap_or(Field::Uid),
            ranges,
        })
    }

    /// Whether the object's hashed field falls in one of the ranges.
    pub fn matches(&self, o: &StoredObject) -> bool {
        let value = match self.field {
            Field::Uid => &o.uid,
            Field::Namespace => &o.namespace,
        };
        let hash = u128::from(fnv1a64(value.as_bytes()));
        self.ranges
            .iter()
            .any(|&(start, end)| start <= hash && hash < end)
    }
}

/// `shardRange(FIELD, 'START', 'END')`.
fn parse_range(term: &str) -> Result<(Field, (u128, u128)), String> {
    let args = term
        .strip_prefix("shardRange")
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix('('))
        .and_then(|rest| rest.trim_end().strip_suffix(')'))
        .ok_or_else(|| format!("{term:?}: only shardRange() and || are allowed"))?;
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let [field, start, end] = args[..] else {
        return Err(format!(
            "shardRange() requires exactly 3 arguments, got {}",
            args.len()
        ));
    };
    let field = match field {
        "object.metadata.uid" => Field::Uid,
        "object.metadata.namespace" => Field::Namespace,
        other => {
            return Err(format!(
                "unsupported field path {other:?}; supported: object.metadata.uid, object.metadata.namespace"
            ));
        }
    };
    let (start, end) = (bound(start, "hexStart")?, bound(end, "hexEnd")?);
    if start >= end {
        return Err(format!(
            "shard range start {start:#x} must be less than end {end:#x}"
        ));
    }
    Ok((field, (start, end)))
}

/// A quoted `'0x…'` bound: 16 lowercase hex digits, or 2^64 written out.
fn bound(arg: &str, name: &str) -> Result<u128, String> {
    let quoted = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')))
        .ok_or_else(|| format!("{name} must be a string literal (e.g. '0xff'), got {arg}"))?;
    let digits = quoted
        .strip_prefix("0x")
        .ok_or_else(|| format!("{name} must have '0x' prefix, got {quoted:?}"))?;
    let lower_hex = digits
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if !lower_hex || !(digits.len() == 16 || quoted == "0x10000000000000000") {
        return Err(format!(
            "{name} must be a 0x-prefixed 16-digit lowercase hex value, got {quoted:?}"
        ));
    }
    u128::from_str_radix(digits, 16).map_err(|e| format!("{name}: {e}"))
}

/// FNV-1a, 64 bits, as Go's `hash/fnv.New64a`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 14_695_981_039_346_656_037;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(1_099_511_628_211);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;
    use serde_json::json;

    fn pod(uid: &str, namespace: &str) -> StoredObject {
        let r = resources::by_name("pods").expect("pods");
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace, "uid": uid}});
        StoredObject::from_value(r, v, 1).expect("stored")
    }

    const HALVES: [&str; 2] = [
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')",
        "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')",
    ];

    #[test]
    fn hashes_the_uid_into_half_open_ranges() {
        // fnv1a64("uid-pod-1") = 0x7adb6f4103c71559 (lower half), "a" = 0xaf63dc4c8601ec8c.
        assert_eq!(fnv1a64(b"uid-pod-1"), 0x7adb_6f41_03c7_1559);
        let [low, high] = HALVES.map(|s| ShardSelector::parse(s).expect("valid"));
        assert!(low.matches(&pod("uid-pod-1", "a")) && !high.matches(&pod("uid-pod-1", "a")));
        assert!(high.matches(&pod("a", "a")) && !low.matches(&pod("a", "a")));
        let both = ShardSelector::parse(&HALVES.join(" || ")).expect("valid");
        assert!(both.matches(&pod("uid-pod-1", "a")) && both.matches(&pod("a", "a")));
        // The end is exclusive: a range ending at a hash does not hold it.
        let below = format!(
            "shardRange(object.metadata.uid, '0x0000000000000000', '{:#018x}')",
            fnv1a64(b"a")
        );
        assert!(
            !ShardSelector::parse(&below)
                .expect("valid")
                .matches(&pod("a", "x"))
        );
    }

    #[test]
    fn hashes_the_namespace_when_asked() {
        let ns = format!(
            "shardRange(object.metadata.namespace, '{:#018x}', '0x10000000000000000')",
            fnv1a64(b"team-a")
        );
        let s = ShardSelector::parse(&ns).expect("valid");
        assert!(s.matches(&pod("anything", "team-a")));
    }

    #[test]
    fn rejects_what_the_apiserver_rejects() {
        for bad in [
            "",
            "shardRange(object.metadata.uid, '0x0', '0x8000000000000000')",
            "shardRange(object.metadata.uid, '0x8000000000000000', '0x0000000000000000')",
            "shardRange(object.metadata.name, '0x0000000000000000', '0x8000000000000000')",
            "shardRange(object.metadata.uid, '0x000000000000000A', '0x8000000000000000')",
            "shardRange(object.metadata.uid, 0x0000000000000000, '0x8000000000000000')",
            "shardRange(object.metadata.uid, '0x0000000000000000')",
            "shardRange(object.metadata.uid, '0x0000000000000000', '0x20000000000000000')",
            "labels(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')",
            "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000') || \
             shardRange(object.metadata.namespace, '0x8000000000000000', '0x10000000000000000')",
        ] {
            assert!(ShardSelector::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn support_modes_parse() {
        assert_eq!("supported".parse(), Ok(ShardSelectors::Supported));
        assert_eq!("rejected".parse(), Ok(ShardSelectors::Rejected));
        assert!("maybe".parse::<ShardSelectors>().is_err());
    }
}
