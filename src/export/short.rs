//! Short byte strings appended without a call to memcpy.

/// Appends `bytes` to `out`, up to 64 bytes inline as two overlapping loads and stores: names,
/// label values and attributes are mostly short, and a call to memcpy for each cost more than
/// the copy (about a tenth of a Prometheus text collection).
#[inline(always)]
pub(crate) fn extend_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let (src, len) = (bytes.as_ptr(), bytes.len());
    if len > 64 {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(len);
    // SAFETY: `reserve` made room for `len` more bytes; every copy reads within `bytes` and
    // writes within that room, and all `len` bytes are written before the length grows.
    unsafe {
        let dst = out.as_mut_ptr().add(out.len());
        match len {
            32.. => ends::<32>(src, dst, len),
            16.. => ends::<16>(src, dst, len),
            8.. => ends::<8>(src, dst, len),
            4.. => ends::<4>(src, dst, len),
            // The first, middle and last byte cover one to three bytes.
            1.. => {
                let (first, middle, last) = (*src, *src.add(len / 2), *src.add(len - 1));
                (*dst, *dst.add(len / 2), *dst.add(len - 1)) = (first, middle, last);
            }
            0 => {}
        }
        out.set_len(out.len() + len);
    }
}

/// Copies the first and the last `N` bytes of `src[..len]` (`N <= len <= 2 * N`).
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes.
#[inline(always)]
unsafe fn ends<const N: usize>(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: both ends lie within the `len` bytes, as the caller guarantees.
    unsafe {
        let head = src.cast::<[u8; N]>().read_unaligned();
        let tail = src.add(len - N).cast::<[u8; N]>().read_unaligned();
        dst.cast::<[u8; N]>().write_unaligned(head);
        dst.add(len - N).cast::<[u8; N]>().write_unaligned(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_copied_whole_at_every_length() {
        let source: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        for len in 0..=source.len() {
            let mut out = b"x".to_vec();
            extend_short(&mut out, &source[..len]);
            extend_short(&mut out, b"yz");
            assert_eq!(out, [b"x", &source[..len], b"yz"].concat(), "{len}");
        }
    }
}
