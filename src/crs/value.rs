//! Values as kube-state-metrics reads them from a custom resource: numbers from any field
//! (`toFloat64`) and label text in Go's `%v` form.

use std::fmt::{self, Write};

use serde_json::Value;

use super::path::Got;
use crate::kinds::common::quantity_str_value;
use crate::metric::write_go_float;

/// A sample value from what a path resolved to; `None` where kube-state-metrics reports an
/// error (and no sample): nil without `nilIsZero`, maps, lists, unparsable strings.
pub(super) fn to_float64(got: Got<'_>, nil_is_zero: bool) -> Option<f64> {
    match got {
        Got::Nil => nil_is_zero.then_some(0.0),
        Got::OutOfRange(_) => None,
        Got::Value(value) => match value {
            Value::Null => nil_is_zero.then_some(0.0),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Number(n) => n.as_f64(),
            Value::String(s) => string_to_float64(s),
            Value::Array(_) | Value::Object(_) => None,
        },
    }
}

/// kube-state-metrics' string conversion, in its order: booleans and `unknown` (any case),
/// RFC 3339 (fraction dropped), Kubernetes quantities, whole percentages, Go's `ParseFloat`.
pub(super) fn string_to_float64(s: &str) -> Option<f64> {
    for (word, value) in [
        ("true", 1.0),
        ("yes", 1.0),
        ("false", 0.0),
        ("no", 0.0),
        ("unknown", 0.0),
    ] {
        if s.eq_ignore_ascii_case(word) {
            return Some(value);
        }
    }
    if let Some(seconds) = rfc3339_unix_seconds(s) {
        return Some(seconds as f64);
    }
    if let Some(value) = quantity_str_value(s) {
        return Some(value);
    }
    // apimachinery's IsValidPercent: `^[0-9]+%$`; "12.5%" falls through and fails below.
    if let Some(digits) = s.strip_suffix('%')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return digits.parse::<f64>().ok().map(|v| v / 100.0);
    }
    // Rust's float syntax is Go's minus hexadecimal floats (`0x1p-2`), which no CR uses.
    s.parse().ok()
}

/// Go's `time.Parse(time.RFC3339, s)` then `Unix()`: `2006-01-02T15:04:05[.frac](Z|±hh:mm)`,
/// fields range-checked, the fraction dropped.
fn rfc3339_unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    if let [b'.', digits @ ..] = rest {
        let n = digits.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &digits[n..];
    }
    let offset = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Label text as Go's `fmt.Sprintf("%v", v)` prints a decoded JSON value: `100`, `0.5`,
/// `1.23456785e+07`, `true`, `[red blue]`, `map[oncall:bob team:lab]`, `<nil>`.
pub(super) struct GoDisplay<'a>(pub(super) Got<'a>);

impl fmt::Display for GoDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Got::Nil => f.write_str("<nil>"),
            Got::OutOfRange(part) => write!(f, "list index out of range: {part}"),
            Got::Value(value) => write_go_value(f, value),
        }
    }
}

fn write_go_value(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::Null => f.write_str("<nil>"),
        Value::Bool(b) => write!(f, "{b}"),
        // Kubernetes decodes JSON integers that fit int64 as int64, all others as float64.
        Value::Number(n) => match n.as_i64() {
            Some(i) => write!(f, "{i}"),
            None => {
                let mut text = String::new();
                write_go_float(&mut text, n.as_f64().unwrap_or(f64::NAN));
                f.write_str(&text)
            }
        },
        Value::String(s) => f.write_str(s),
        Value::Array(items) => {
            f.write_char('[')?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_char(' ')?;
                }
                write_go_value(f, item)?;
            }
            f.write_char(']')
        }
        Value::Object(map) => {
            // Go prints maps sorted by key, whatever order the JSON map keeps.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            f.write_str("map[")?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    f.write_char(' ')?;
                }
                write!(f, "{key}:")?;
                write_go_value(f, item)?;
            }
            f.write_char(']')
        }
    }
}
