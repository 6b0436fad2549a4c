//! Writing JSON straight into a byte buffer with `json!`-like syntax.
//!
//! The generator builds hundreds of thousands of objects; going through `serde_json::Value`
//! spent most of its time in the allocator. `jw!(out; { "k": v, ... })` writes the same
//! document without building a tree. Leaves are any [`ToJson`] expression; `opt "k": x`
//! writes the member only when `x` is `Some`; `..iter` inside an array splices elements.

use std::io::Write;

/// A value that can write itself as JSON.
pub(crate) trait ToJson {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl ToJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_str().write_json(out);
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

macro_rules! int_to_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn write_json(&self, out: &mut Vec<u8>) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
int_to_json!(u32, u64, usize, i32, i64);

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json(out);
        }
        out.push(b']');
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// Already-serialized JSON.
#[derive(Debug, Clone, Default)]
pub(crate) struct Raw(pub Vec<u8>);

impl ToJson for Raw {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// An object from key/value pairs (labels, annotations).
pub(crate) struct Pairs<'a>(pub &'a [(String, String)]);

impl ToJson for Pairs<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            k.write_json(out);
            out.push(b':');
            v.write_json(out);
        }
        out.push(b'}');
    }
}

/// A number written as a JSON string (`resourceVersion`).
pub(crate) struct Quoted(pub u64);

impl ToJson for Quoted {
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "\"{}\"", self.0);
    }
}

/// A Unix time written as an RFC 3339 string.
pub(crate) struct Ts(pub i64);

impl ToJson for Ts {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(crate::util::rfc3339(self.0).as_bytes());
        out.push(b'"');
    }
}

/// Writes JSON into `out` (a `&mut Vec<u8>`).
macro_rules! jw {
    ($out:expr; null) => {
        $out.extend_from_slice(b"null")
    };
    ($out:expr; { $($body:tt)* }) => {{
        let out: &mut Vec<u8> = $out;
        out.push(b'{');
        let mut first_member = true;
        let first = &mut first_member;
        $crate::jsonw::jw_members!(out; first; $($body)*);
        let _ = first;
        out.push(b'}');
    }};
    ($out:expr; [ $($body:tt)* ]) => {{
        let out: &mut Vec<u8> = $out;
        out.push(b'[');
        let mut first_elem = true;
        let first = &mut first_elem;
        $crate::jsonw::jw_elems!(out; first; $($body)*);
        let _ = first;
        out.push(b']');
    }};
    ($out:expr; $e:expr) => {
        $crate::jsonw::ToJson::write_json(&$e, $out)
    };
}

macro_rules! jw_members {
    ($out:ident; $first:ident; ) => {};
    ($out:ident; $first:ident; opt $k:literal : $v:expr $(, $($rest:tt)*)?) => {
        if let Some(v) = $v {
            $crate::jsonw::jw_key!($out; $first; $k);
            $crate::jsonw::ToJson::write_json(&v, $out);
        }
        $crate::jsonw::jw_members!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; $k:literal : null $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_key!($out; $first; $k);
        $out.extend_from_slice(b"null");
        $crate::jsonw::jw_members!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; $k:literal : { $($v:tt)* } $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_key!($out; $first; $k);
        $crate::jsonw::jw!(&mut *$out; { $($v)* });
        $crate::jsonw::jw_members!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; $k:literal : [ $($v:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_key!($out; $first; $k);
        $crate::jsonw::jw!(&mut *$out; [ $($v)* ]);
        $crate::jsonw::jw_members!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; $k:literal : $v:expr $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_key!($out; $first; $k);
        $crate::jsonw::ToJson::write_json(&$v, $out);
        $crate::jsonw::jw_members!($out; $first; $($($rest)*)?);
    };
}

macro_rules! jw_key {
    ($out:ident; $first:ident; $k:literal) => {
        if !*$first {
            $out.push(b',');
        }
        *$first = false;
        $out.extend_from_slice(concat!("\"", $k, "\":").as_bytes());
    };
}

macro_rules! jw_elems {
    ($out:ident; $first:ident; ) => {};
    ($out:ident; $first:ident; .. $v:expr $(, $($rest:tt)*)?) => {
        for item in ::core::iter::IntoIterator::into_iter($v) {
            $crate::jsonw::jw_comma!($out; $first);
            $crate::jsonw::ToJson::write_json(&item, $out);
        }
        $crate::jsonw::jw_elems!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; { $($v:tt)* } $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_comma!($out; $first);
        $crate::jsonw::jw!(&mut *$out; { $($v)* });
        $crate::jsonw::jw_elems!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; [ $($v:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_comma!($out; $first);
        $crate::jsonw::jw!(&mut *$out; [ $($v)* ]);
        $crate::jsonw::jw_elems!($out; $first; $($($rest)*)?);
    };
    ($out:ident; $first:ident; $v:expr $(, $($rest:tt)*)?) => {
        $crate::jsonw::jw_comma!($out; $first);
        $crate::jsonw::ToJson::write_json(&$v, $out);
        $crate::jsonw::jw_elems!($out; $first; $($($rest)*)?);
    };
}

macro_rules! jw_comma {
    ($out:ident; $first:ident) => {
        if !*$first {
            $out.push(b',');
        }
        *$first = false;
    };
}

/// `raw!({ ... })`: a [`Raw`] holding the written JSON.
macro_rules! raw {
    ($($t:tt)+) => {{
        let mut buf = Vec::new();
        $crate::jsonw::jw!(&mut buf; $($t)+);
        $crate::jsonw::Raw(buf)
    }};
}

pub(crate) use {jw, jw_comma, jw_elems, jw_key, jw_members, raw};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_json_macro() {
        let name = "a\"b";
        let labels = vec![("k".to_string(), "v".to_string())];
        let none: Option<&str> = None;
        let mut out = Vec::new();
        jw!(&mut out; {
            "name": name,
            "n": 3u64,
            "ok": true,
            "nothing": null,
            opt "skip": none,
            opt "keep": Some("x"),
            "labels": Pairs(&labels),
            "nested": {"a": [1u64, {"b": false}, [], ..vec![Raw(b"7".to_vec())]]},
            "rv": Quoted(12),
            "ts": Ts(0),
            "list": vec!["x", "y"],
        });
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "name": "a\"b", "n": 3, "ok": true, "nothing": null, "keep": "x",
                "labels": {"k": "v"}, "nested": {"a": [1, {"b": false}, [], 7]},
                "rv": "12", "ts": "1970-01-01T00:00:00Z", "list": ["x", "y"]
            })
        );
        let r = raw!([]);
        assert_eq!(r.0, b"[]");
    }
}
