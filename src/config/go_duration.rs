//! Go's `time.ParseDuration`, for settings that Go programs read (cron `@every`, the web
//! configuration's `rate_limit.interval`).

use std::time::Duration;

/// `1h30m`, `1.5h`, `90s`, `300ms`, …; `None` when malformed or negative (no setting here
/// takes a negative duration).
pub fn parse(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let (int, tail) = rest.split_at(digits(rest));
        let (frac, tail) = match tail.strip_prefix('.') {
            Some(tail) => tail.split_at(digits(tail)),
            None => ("", tail),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = tail
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        // Go ignores fraction digits beyond what an int64 holds.
        let frac = &frac[..frac.len().min(18)];
        let frac_nanos = match frac.parse::<u128>() {
            Ok(f) => f * unit / 10u128.pow(frac.len() as u32),
            Err(_) => 0,
        };
        nanos = nanos
            .checked_add(int.checked_mul(unit)?)?
            .checked_add(frac_nanos)?;
        if nanos > i64::MAX as u128 {
            return None;
        }
        rest = tail;
    }
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        for (s, want) in [
            ("0", Some(Duration::ZERO)),
            ("90s", Some(ms(90_000))),
            ("1h30m", Some(ms(5_400_000))),
            ("1.5h", Some(ms(5_400_000))),
            ("+2m", Some(ms(120_000))),
            (".5m", Some(ms(30_000))),
            ("1500ms", Some(ms(1_500))),
            ("2µs", Some(Duration::from_micros(2))),
            ("", None),
            ("1", None),
            ("1d", None),
            (".s", None),
            ("-1s", None),
            ("9999999999h", None),
        ] {
            assert_eq!(parse(s), want, "{s}");
        }
    }
}
