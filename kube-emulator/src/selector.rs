//! Label and field selectors with the apiserver's syntax and semantics.

use crate::error::{Error, Result};

/// A parsed `labelSelector`: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Exists(String),
    NotExists(String),
    /// `key=v`, `key==v` and `key in (v,...)`.
    In(String, Vec<String>),
    /// `key!=v` and `key notin (v,...)`: also true when the label is absent, as upstream.
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

impl LabelSelector {
    /// Parses the apiserver's label selector syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part).ok_or_else(|| {
                Error::BadRequest(format!("unable to parse requirement: {part:?}"))
            })?);
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether labels given by `get` satisfy every requirement.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| match r {
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::NotExists(k) => get(k).is_none(),
            LabelRequirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            LabelRequirement::NotIn(k, vs) => get(k).is_none_or(|v| vs.iter().all(|x| x != v)),
            LabelRequirement::Gt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            LabelRequirement::Lt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_requirement(part: &str) -> Option<LabelRequirement> {
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return valid_key(k).then(|| LabelRequirement::NotExists(k.to_string()));
    }
    // Set-based: `key in (a,b)` / `key notin (a,b)`.
    if let Some(open) = part.find('(') {
        let close = part.rfind(')')?;
        if close != part.len() - 1 || close < open {
            return None;
        }
        let head = part[..open].trim();
        let (key, op) = head.rsplit_once(char::is_whitespace)?;
        let key = key.trim();
        let values: Vec<String> = part[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_string())
            .collect();
        if !valid_key(key) || !values.iter().all(|v| valid_value(v)) {
            return None;
        }
        return match op {
            "in" => Some(LabelRequirement::In(key.to_string(), values)),
            "notin" => Some(LabelRequirement::NotIn(key.to_string(), values)),
            _ => None,
        };
    }
    for (op, len) in [("==", 2), ("!=", 2), ("=", 1), (">", 1), ("<", 1)] {
        if let Some(i) = part.find(op) {
            let key = part[..i].trim();
            let value = part[i + len..].trim();
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            let (k, v) = (key.to_string(), value.to_string());
            return match op {
                "!=" => Some(LabelRequirement::NotIn(k, vec![v])),
                ">" => Some(LabelRequirement::Gt(k, value.parse().ok()?)),
                "<" => Some(LabelRequirement::Lt(k, value.parse().ok()?)),
                _ => Some(LabelRequirement::In(k, vec![v])),
            };
        }
    }
    valid_key(part).then(|| LabelRequirement::Exists(part.to_string()))
}

/// A parsed `fieldSelector`: `path=value`, `path==value`, `path!=value`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// (dotted path, value, equal?)
    pub requirements: Vec<(String, String, bool)>,
}

impl FieldSelector {
    /// Parses field selector syntax, honouring `\,`, `\=` and `\\` escapes in values.
    pub fn parse(s: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        for part in split_unescaped(s, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let bad = || {
                Error::BadRequest(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ))
            };
            let (path, value, eq) = if let Some((p, v)) = split_op(&part, "!=") {
                (p, v, false)
            } else if let Some((p, v)) = split_op(&part, "==") {
                (p, v, true)
            } else if let Some((p, v)) = split_op(&part, "=") {
                (p, v, true)
            } else {
                return Err(bad());
            };
            let path = path.trim();
            if path.is_empty() {
                return Err(bad());
            }
            requirements.push((path.to_string(), unescape(&value), eq));
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the field values given by `get` (absent fields are `""`) satisfy the selector.
    pub fn matches(&self, mut get: impl FnMut(&str) -> String) -> bool {
        self.requirements
            .iter()
            .all(|(path, value, eq)| (get(path) == *value) == *eq)
    }
}

/// Splits at the first unescaped occurrence of `op`.
fn split_op(s: &str, op: &str) -> Option<(String, String)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(op) {
            // `=` must not match the second half of `!=`/`==` handled earlier.
            return Some((s[..i].to_string(), s[i + op.len()..].to_string()));
        }
        i += 1;
    }
    None
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Looks up a dotted path in a JSON value and renders it the way the apiserver's field sets
/// do: strings as-is, booleans and numbers as text, anything absent as `""`.
pub fn json_field(v: &serde_json::Value, path: &str) -> String {
    let mut cur = v;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    match cur {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn m(sel: &str, l: &BTreeMap<String, String>) -> bool {
        LabelSelector::parse(sel)
            .unwrap()
            .matches(|k| l.get(k).map(String::as_str))
    }

    #[test]
    fn label_selector_forms() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        assert!(m("app=web", &l));
        assert!(m("app==web", &l));
        assert!(!m("app!=web", &l));
        assert!(m("missing!=x", &l));
        assert!(m("app in (web, db)", &l));
        assert!(!m("app notin (web,db)", &l));
        assert!(m("missing notin (web)", &l));
        assert!(m("app,!missing", &l));
        assert!(!m("!app", &l));
        assert!(m("app=web,tier in (front)", &l));
        assert!(!m("app=web,tier in (back)", &l));
        assert!(m("n>4,n<6", &l));
        assert!(m("", &l));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a=b=c").is_err());
    }

    #[test]
    fn field_selector_forms() {
        let f = FieldSelector::parse("metadata.name=a\\,b,status.phase!=Running").unwrap();
        assert_eq!(
            f.requirements[0],
            ("metadata.name".into(), "a,b".into(), true)
        );
        assert!(f.matches(|p| if p == "metadata.name" {
            "a,b".into()
        } else {
            "Pending".into()
        }));
        assert!(!f.matches(|_| "Running".into()));
        assert!(FieldSelector::parse("nonsense").is_err());
        let g = FieldSelector::parse("spec.nodeName==").unwrap();
        assert!(g.matches(|_| String::new()));
    }

    #[test]
    fn json_fields() {
        let v = serde_json::json!({"spec": {"nodeName": "n1", "hostNetwork": true}});
        assert_eq!(json_field(&v, "spec.nodeName"), "n1");
        assert_eq!(json_field(&v, "spec.hostNetwork"), "true");
        assert_eq!(json_field(&v, "status.phase"), "");
    }
}
