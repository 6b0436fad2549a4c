//! Sample values formatted as kube-state-metrics does (Go's `strconv.FormatFloat(v, 'g', -1, 64)`).

use std::fmt::Write;

/// Appends `v` in Go's shortest `%g` form: `1`, `0.5`, `1.5e+09`, `NaN`, `+Inf`.
pub fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Most values are integers (counts, flags, timestamps): their digits need no float
    // formatting.
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        write_integer(out, v as i64);
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e9", "-2e-7".
    let mut sci = String::with_capacity(24);
    let _ = write!(sci, "{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        out.push_str(&sci);
        return;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    out.push_str(sign);
    // Go's shortest %g uses exponent form when exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// An integer in Go's shortest `%g`: plain below 1e6, else `d.ddde+XX` without trailing zeros.
fn write_integer(out: &mut String, v: i64) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(v.unsigned_abs());
    if digits.len() <= 6 {
        if v < 0 {
            out.push('-');
        }
        out.push_str(digits);
        return;
    }
    if v < 0 {
        out.push('-');
    }
    let significant = digits.trim_end_matches('0');
    out.push_str(&significant[..1]);
    if significant.len() > 1 {
        out.push('.');
        out.push_str(&significant[1..]);
    }
    let exp = digits.len() - 1;
    out.push_str(if exp < 10 { "e+0" } else { "e+" });
    out.push_str(itoa::Buffer::new().format(exp));
}

/// [`write_go_float`] into a new string.
pub fn format_go_float(v: f64) -> String {
    let mut s = String::new();
    write_go_float(&mut s, v);
    s
}

#[cfg(test)]
mod tests {
    use super::format_go_float as f;

    #[test]
    fn matches_go_shortest_g() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0, "0"),
            (-1.0, "-1"),
            (1.5e9, "1.5e+09"),
            (0.5, "0.5"),
            (21.0, "21"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (4.294967296e9, "4.294967296e+09"),
            (1e21, "1e+21"),
            (-1.5e9, "-1.5e+09"),
            (1_700_000_123.0, "1.700000123e+09"),
            (999_999.0, "999999"),
            (-999_999.0, "-999999"),
            (1e15, "1e+15"),
            (12_345_678_901.0, "1.2345678901e+10"),
            (123456.0, "123456"),
            (0.25, "0.25"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "{v}");
        }
    }
}
