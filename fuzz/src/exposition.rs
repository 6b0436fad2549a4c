//! A strict parser of the two exposition formats /metrics serves, written to their
//! specifications (Prometheus' "Exposition formats" text format 0.0.4, and OpenMetrics 1.0's
//! ABNF), as an oracle: what it accepts, Prometheus' and OpenMetrics parsers accept, and it
//! hands back the unescaped strings so that a fuzz target can compare them with its input.
//!
//! It is stricter than the formats where kube-state-otel promises more: every family has HELP
//! and TYPE lines before its samples, and label names are not repeated within a sample. A
//! series written twice (which the text format leaves undefined and OpenMetrics forbids) is
//! found by [`duplicate`].

use std::collections::HashSet;

/// Which format a document is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

/// One metric family as parsed.
#[derive(Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// One sample line.
#[derive(Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses a whole document; the error names the line.
pub fn parse(text: &str, format: Format) -> Result<Vec<Family>, String> {
    let body = match format {
        Format::Text => text,
        Format::OpenMetrics => text
            .strip_suffix("# EOF\n")
            .ok_or("an OpenMetrics document must end with `# EOF`")?,
    };
    if !body.is_empty() && !body.ends_with('\n') {
        return Err("the last line does not end with a line feed".to_string());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut names = HashSet::new();
    // Only `\n` ends a line (`str::lines` would also take a `\r` before it).
    for (number, line) in body.split_terminator('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if line.is_empty() {
            if format == Format::OpenMetrics {
                return Err(at("empty line".to_string()));
            }
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let Some((keyword, rest)) = metadata(comment, format) else {
                if format == Format::OpenMetrics {
                    return Err(at("a comment that is not HELP or TYPE".to_string()));
                }
                continue;
            };
            let (name, rest) = metric_name(rest).map_err(at)?;
            match keyword {
                "HELP" => {
                    let help = help_text(rest, format).map_err(at)?;
                    if !names.insert(name.to_string()) {
                        return Err(at(format!("family {name} declared twice")));
                    }
                    families.push(Family {
                        name: name.to_string(),
                        help,
                        kind: String::new(),
                        samples: Vec::new(),
                    });
                }
                _ => {
                    let kind = rest.strip_prefix(' ').ok_or_else(|| at("TYPE".into()))?;
                    let kinds: &[&str] = match format {
                        Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                        Format::OpenMetrics => &[
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "stateset",
                            "info",
                            "summary",
                            "unknown",
                        ],
                    };
                    if !kinds.contains(&kind) {
                        return Err(at(format!("unknown type {kind:?}")));
                    }
                    match families.last_mut() {
                        Some(f) if f.name == name && f.kind.is_empty() && f.samples.is_empty() => {
                            f.kind = kind.to_string();
                        }
                        _ => return Err(at("TYPE not right after its family's HELP".into())),
                    }
                }
            }
            continue;
        }
        let sample = sample(line).map_err(at)?;
        let Some(family) = families.last_mut() else {
            return Err(at("a sample before any HELP/TYPE".to_string()));
        };
        if family.kind.is_empty() {
            return Err(at("a sample of a family without TYPE".to_string()));
        }
        let expected = match (format, family.kind.as_str()) {
            (Format::OpenMetrics, "counter") => format!("{}_total", family.name),
            _ => family.name.clone(),
        };
        if sample.name != expected {
            return Err(at(format!(
                "sample of {} in family {}",
                sample.name, family.name
            )));
        }
        family.samples.push(sample);
    }
    Ok(families)
}

/// The first sample whose series (name and label set) an earlier sample already has.
pub fn duplicate(families: &[Family]) -> Option<&Sample> {
    let mut series = HashSet::new();
    families.iter().flat_map(|f| &f.samples).find(|sample| {
        let mut labels: Vec<&(String, String)> = sample.labels.iter().collect();
        labels.sort();
        !series.insert((&sample.name, labels))
    })
}

/// `HELP`/`TYPE` and the rest after the keyword, for a metadata comment.
fn metadata(comment: &str, format: Format) -> Option<(&str, &str)> {
    // Text: `#` then blanks; OpenMetrics: exactly one space.
    let comment = match format {
        Format::Text => comment.trim_start_matches([' ', '\t']),
        Format::OpenMetrics => comment.strip_prefix(' ')?,
    };
    for keyword in ["HELP", "TYPE"] {
        if let Some(rest) = comment.strip_prefix(keyword) {
            let rest = match format {
                Format::Text if rest.starts_with([' ', '\t']) => {
                    rest.trim_start_matches([' ', '\t'])
                }
                Format::OpenMetrics => rest.strip_prefix(' ')?,
                _ => return None,
            };
            return Some((keyword, rest));
        }
    }
    None
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` and what follows it.
fn metric_name(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("invalid metric name {name:?}"));
    }
    Ok((name, &text[end..]))
}

/// The docstring after a HELP line's name, unescaped.
fn help_text(rest: &str, format: Format) -> Result<String, String> {
    match format {
        // expfmt skips the blanks before the docstring and keeps the rest; escapes: `\\`, `\n`.
        Format::Text => {
            if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
                return Err("no blank after the HELP name".to_string());
            }
            unescape(rest.trim_start_matches([' ', '\t']), &['\\', 'n'])
        }
        // `# HELP name SP escaped-string`; escapes: `\\`, `\"`, `\n`.
        Format::OpenMetrics => {
            let text = rest
                .strip_prefix(' ')
                .ok_or("no space after the HELP name")?;
            unescape(text, &['\\', '"', 'n'])
        }
    }
}

/// `text` with its escapes resolved; only the escapes in `allowed` are valid.
fn unescape(text: &str, allowed: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) if allowed.contains(&e) => out.push(if e == 'n' { '\n' } else { e }),
            other => return Err(format!("invalid escape \\{other:?}")),
        }
    }
    Ok(out)
}

/// `name{label="value",…} value`.
fn sample(line: &str) -> Result<Sample, String> {
    let (name, mut rest) = metric_name(line)?;
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let label = &rest[..end];
            if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("invalid label name {label:?}"));
            }
            if label.starts_with("__") {
                return Err(format!("reserved label name {label:?}"));
            }
            if labels.iter().any(|(l, _)| l == label) {
                return Err(format!("label {label} twice"));
            }
            rest = rest[end..]
                .strip_prefix("=\"")
                .ok_or("label name not followed by =\"")?;
            let (value, after) = quoted(rest)?;
            labels.push((label.to_string(), value));
            rest = match after.strip_prefix(',') {
                Some(after) if !after.starts_with('}') => after,
                _ if after.starts_with('}') => after,
                _ => return Err("label pairs not separated by a comma".to_string()),
            };
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: float(value)?,
    })
}

/// A quoted label value (after its opening quote), unescaped, and what follows its closing
/// quote. Escapes: `\\`, `\"`, `\n`.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Ok((unescape(&text[..i], &['\\', '"', 'n'])?, &text[i + 1..])),
            _ => {}
        }
    }
    Err("unterminated label value".to_string())
}

/// A sample value as Go's `strconv.ParseFloat` writes them: decimal or exponent notation,
/// `NaN`, `+Inf`, `-Inf`.
fn float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => return Ok(f64::NAN),
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let digits = text.trim_start_matches(['+', '-']);
    let valid = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !valid {
        return Err(format!("invalid value {text:?}"));
    }
    text.parse()
        .map_err(|e| format!("invalid value {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_specifications_allow() {
        let text = "# HELP a_b Help \\\\ with \\n.\n# TYPE a_b gauge\n\
                    a_b{x=\"1\\\"2\",y=\"\\n\"} 1e+06\na_b{x=\"\"} NaN\n\n";
        let families = parse(text, Format::Text).expect("valid");
        assert_eq!(families[0].help, "Help \\ with \n.");
        assert_eq!(families[0].samples[0].labels[0].1, "1\"2");
        assert_eq!(families[0].samples[0].value, 1e6);
        let om = "# HELP c Help \\\".\n# TYPE c counter\nc_total 1\n# EOF\n";
        assert_eq!(
            parse(om, Format::OpenMetrics).expect("valid")[0].help,
            "Help \"."
        );
    }

    #[test]
    fn rejects_what_parsers_reject() {
        for bad in [
            "# HELP a x\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na{1x=\"1\"} 1\n",
            "# HELP a x\n# TYPE a gauge\na{x=\"1} 1\n",
            "# HELP a x\n# TYPE a gauge\nb 1\n",
            "# HELP a x\\\"\n# TYPE a gauge\na 1\n",
            "# HELP a x\n# TYPE a gauge\na inf\n",
            "a 1\n",
        ] {
            assert!(parse(bad, Format::Text).is_err(), "{bad:?}");
        }
        assert!(
            parse(
                "# HELP c x\n# TYPE c counter\nc 1\n# EOF\n",
                Format::OpenMetrics
            )
            .is_err()
        );
        assert!(parse("# HELP c x\n# TYPE c gauge\nc 1\n", Format::OpenMetrics).is_err());
        let twice = "# HELP a x\n# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n";
        let families = parse(twice, Format::Text).expect("parses");
        assert_eq!(duplicate(&families).map(|s| s.value), Some(2.0));
        assert_eq!(duplicate(&families[..0]), None);
    }
}
