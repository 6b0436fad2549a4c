//! Paths into an object, compiled once from the config: `[status, conditions, "[type=Ready]",
//! status]`. Resolution follows kube-state-metrics' `compilePath` segment by segment.

use std::fmt;

use serde_json::Value;

use super::value::{string_to_float64, to_float64};

/// What a path resolves to.
#[derive(Clone, Copy, Debug)]
pub(super) enum Got<'a> {
    /// A missing field, a JSON null, or a step through something that is not a container.
    Nil,
    Value(&'a Value),
    /// An index past either end of a list. kube-state-metrics resolves it to an error value,
    /// which fails number conversion and prints as a label value (`list index out of range: 9`).
    OutOfRange(&'a str),
}

impl<'a> Got<'a> {
    /// JSON null reads as nil, as in Go's decoded objects.
    pub(super) fn of(value: Option<&'a Value>) -> Got<'a> {
        match value {
            None | Some(Value::Null) => Got::Nil,
            Some(v) => Got::Value(v),
        }
    }

    pub(super) fn is_nil(self) -> bool {
        matches!(self, Got::Nil)
    }
}

/// A compiled path; empty resolves to where it starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Path {
    ops: Vec<Op>,
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    /// A map key, or a list index (negative counts from the end). `key=value` on a map yields
    /// the field `key` when it is that string, else the field named `key=value`.
    Field {
        part: String,
        equals: Option<(String, String)>,
        index: Option<i64>,
    },
    /// `[key=value]`: the first map in a list whose `key` equals `value` as a string, as a
    /// number (kube-state-metrics' conversion, so `true` matches 1) or as a bool.
    Select {
        part: String,
        key: String,
        value: String,
        number: Option<f64>,
        boolean: Option<bool>,
    },
}

/// A `[...]` segment without `=`.
#[derive(Debug, PartialEq)]
pub(super) struct InvalidLookup(pub(super) String);

impl fmt::Display for InvalidLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid list lookup {:?}: expected \"[key=value]\"",
            self.0
        )
    }
}

impl Path {
    pub(super) fn compile(segments: &[String]) -> Result<Path, InvalidLookup> {
        let ops = segments
            .iter()
            .map(|part| compile_op(part))
            .collect::<Result<_, _>>()?;
        Ok(Path { ops })
    }

    /// The single segment of a one-segment path, when it has no comma: kube-state-metrics
    /// matches a map's key against it (see `Gauge` over maps).
    pub(super) fn single_key(&self) -> Option<&str> {
        match self.ops.as_slice() {
            [op] => Some(op.part()).filter(|p| !p.is_empty() && !p.contains(',')),
            _ => None,
        }
    }

    pub(super) fn get<'a>(&'a self, start: Got<'a>) -> Got<'a> {
        let mut at = start;
        for op in &self.ops {
            // Go applies the step to the error value of an out-of-range index too: nil.
            let Got::Value(value) = at else {
                return Got::Nil;
            };
            at = op.apply(value);
        }
        at
    }
}

impl fmt::Display for Path {
    /// As kube-state-metrics prints paths in its logs: `[status,conditions]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, op) in self.ops.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(op.part())?;
        }
        f.write_str("]")
    }
}

fn compile_op(part: &str) -> Result<Op, InvalidLookup> {
    if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
        let (key, value) = inner
            .split_once('=')
            .ok_or_else(|| InvalidLookup(part.to_string()))?;
        return Ok(Op::Select {
            part: part.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            number: string_to_float64(value),
            boolean: parse_go_bool(value),
        });
    }
    let mut pieces = part.split('=');
    let equals = match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(key), Some(value), None) => Some((key.to_string(), value.to_string())),
        _ => None,
    };
    Ok(Op::Field {
        part: part.to_string(),
        equals,
        // Go's strconv.Atoi: an optional sign and decimal digits.
        index: part.parse().ok(),
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl Op {
    fn part(&self) -> &str {
        match self {
            Op::Field { part, .. } | Op::Select { part, .. } => part,
        }
    }

    fn apply<'a>(&'a self, at: &'a Value) -> Got<'a> {
        match (self, at) {
            (
                Op::Field {
                    part, equals: eq, ..
                },
                Value::Object(map),
            ) => {
                if let Some((key, value)) = eq
                    && let Some(found @ Value::String(s)) = map.get(key)
                    && s == value
                {
                    return Got::Value(found);
                }
                Got::of(map.get(part))
            }
            (Op::Field { part, index, .. }, Value::Array(items)) => {
                let Some(index) = *index else {
                    return Got::Nil;
                };
                let len = items.len() as i64;
                let index = if index < 0 { index + len } else { index };
                if !(0..len).contains(&index) {
                    return Got::OutOfRange(part);
                }
                Got::of(items.get(index as usize))
            }
            (
                Op::Select {
                    key,
                    value,
                    number,
                    boolean,
                    ..
                },
                Value::Array(items),
            ) => items
                .iter()
                .find(|item| {
                    let Some(candidate) = item.as_object().and_then(|m| m.get(key)) else {
                        return false;
                    };
                    candidate.as_str() == Some(value)
                        || number
                            .is_some_and(|n| to_float64(Got::of(Some(candidate)), false) == Some(n))
                        || boolean.is_some_and(|b| candidate.as_bool() == Some(b))
                })
                .map_or(Got::Nil, Got::Value),
            _ => Got::Nil,
        }
    }
}
