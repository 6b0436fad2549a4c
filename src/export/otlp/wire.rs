//! Protobuf wire encoding shared by the OTLP encoders (metrics and logs): field keys, varints,
//! length-delimited fields and `KeyValue` attributes, written straight into buffers instead of
//! building opentelemetry-proto messages.

use opentelemetry::{KeyValue, Value};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use prost::Message;

// Field numbers, from opentelemetry/proto/common/v1.
pub(super) const KEY_VALUE_KEY: u32 = 1;
pub(super) const KEY_VALUE_VALUE: u32 = 2;
pub(super) const ANY_VALUE_STRING: u32 = 1;

pub(super) const WIRE_FIXED64: u32 = 1;
pub(super) const WIRE_LEN: u32 = 2;

pub(super) const WIRE_VARINT: u32 = 0;
pub(super) const ANY_VALUE_INT: u32 = 3;
pub(super) const ANY_VALUE_KVLIST: u32 = 6;
pub(super) const KEY_VALUE_LIST_VALUES: u32 = 1;

/// All field numbers used here are below 16, so a key is one byte.
#[inline]
pub(super) fn put_key(tag: u32, wire_type: u32, buf: &mut Vec<u8>) {
    buf.push(((tag << 3) | wire_type) as u8);
}

#[inline]
pub(super) fn put_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[inline]
pub(super) fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Key and length of a length-delimited field.
#[inline]
pub(super) fn put_len_field(tag: u32, len: usize, buf: &mut Vec<u8>) {
    put_key(tag, WIRE_LEN, buf);
    put_varint(len as u64, buf);
}

/// Encoded size of a length-delimited field with `len` bytes of content.
#[inline]
pub(super) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A proto3 string field; empty strings are left out, as prost does.
pub(super) fn put_string_field(tag: u32, s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        put_len_field(tag, s.len(), buf);
        buf.extend_from_slice(s.as_bytes());
    }
}

pub(super) fn string_field_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { field_len(s.len()) }
}

/// Field `outer` of `outer_len` bytes starting with string field `inner` holding `s`: all
/// lengths below 128 (one byte each), so both keys and lengths go in one 4-byte store.
#[inline(always)]
pub(super) fn put_short_fields(
    outer: u32,
    outer_len: usize,
    inner: u32,
    s: &str,
    buf: &mut Vec<u8>,
) {
    let wire = |tag: u32| ((tag << 3) | WIRE_LEN) as u8;
    buf.extend_from_slice(&[wire(outer), outer_len as u8, wire(inner), s.len() as u8]);
    buf.extend_from_slice(s.as_bytes());
}

/// An attribute as a `KeyValue` field `tag` (of a data point or a resource).
#[inline(always)]
pub(super) fn put_attribute(tag: u32, kv: &KeyValue, buf: &mut Vec<u8>) {
    let key = kv.key.as_str();
    match &kv.value {
        Value::String(value) => put_str_attribute(tag, key, value.as_str(), buf),
        // Rare in Kubernetes metrics: left to prost.
        other => {
            let kv = ProtoKeyValue {
                key: key.to_string(),
                value: Some(AnyValue::from(other.clone())),
                key_strindex: 0,
            };
            put_len_field(tag, kv.encoded_len(), buf);
            buf.extend_from_slice(&kv.encode_to_vec());
        }
    }
}

/// A string attribute as a `KeyValue` field `tag`.
#[inline(always)]
pub(super) fn put_str_attribute(tag: u32, key: &str, value: &str, buf: &mut Vec<u8>) {
    // Nearly every Kubernetes attribute is this short: all four lengths are then one byte each
    // (the `KeyValue`'s is the longest: two keys, two lengths and the two strings, the
    // `AnyValue`'s key and length included), known without varint sums.
    if !key.is_empty() && key.len() + value.len() < 0x80 - 6 {
        let any_len = 2 + value.len();
        put_short_fields(tag, 2 + key.len() + 2 + any_len, KEY_VALUE_KEY, key, buf);
        put_short_fields(KEY_VALUE_VALUE, any_len, ANY_VALUE_STRING, value, buf);
        return;
    }
    // AnyValue is a oneof: the string is written even when empty.
    put_any_attribute(tag, key, ANY_VALUE_STRING, value.as_bytes(), buf);
}

/// An integer attribute as a `KeyValue` field `tag`.
pub(super) fn put_int_attribute(tag: u32, key: &str, value: i64, buf: &mut Vec<u8>) {
    let any_len = 1 + varint_len(value as u64);
    put_len_field(tag, string_field_len(key) + field_len(any_len), buf);
    put_string_field(KEY_VALUE_KEY, key, buf);
    put_len_field(KEY_VALUE_VALUE, any_len, buf);
    put_key(ANY_VALUE_INT, WIRE_VARINT, buf);
    put_varint(value as u64, buf);
}

/// A map attribute (`AnyValue.kvlist_value`) as a `KeyValue` field `tag`; `values` are the
/// encoded `KeyValueList.values` fields.
pub(super) fn put_kvlist_attribute(tag: u32, key: &str, values: &[u8], buf: &mut Vec<u8>) {
    put_any_attribute(tag, key, ANY_VALUE_KVLIST, values, buf);
}

/// A `KeyValue` field `tag` whose `AnyValue` holds the length-delimited field `any_tag`.
fn put_any_attribute(tag: u32, key: &str, any_tag: u32, content: &[u8], buf: &mut Vec<u8>) {
    let any_len = field_len(content.len());
    put_len_field(tag, string_field_len(key) + field_len(any_len), buf);
    put_string_field(KEY_VALUE_KEY, key, buf);
    put_len_field(KEY_VALUE_VALUE, any_len, buf);
    put_len_field(any_tag, content.len(), buf);
    buf.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(v, &mut buf);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            if v <= u32::MAX as u64 {
                assert_eq!(
                    prost::decode_length_delimiter(&buf[..]).ok(),
                    Some(v as usize)
                );
            }
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }
}
