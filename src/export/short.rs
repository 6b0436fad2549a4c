//! Label names and values checked while they are copied.

/// The bytes a checked copy ([`push_if`]) refuses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refuse {
    /// Backslash, double quote and newline: a label value with one needs escaping.
    Escapes,
    /// Anything but ASCII letters, digits and `_`: such a name is not a label name as it is.
    NonLabelNameBytes,
}

impl Refuse {
    fn refuses(self, byte: u8) -> bool {
        match self {
            Refuse::Escapes => matches!(byte, b'\\' | b'"' | b'\n'),
            Refuse::NonLabelNameBytes => !(byte.is_ascii_alphanumeric() || byte == b'_'),
        }
    }
}

/// Appends `s` to `out` unless `refuse` refuses one of its bytes; returns whether it did.
#[inline(always)]
pub(crate) fn push_if(out: &mut String, s: &str, refuse: Refuse) -> bool {
    // SAFETY: `extend_if` appends all of `s` or nothing, so `out` stays UTF-8.
    extend_if(unsafe { out.as_mut_vec() }, s.as_bytes(), refuse)
}

/// Appends `bytes` to `out` unless `refuse` refuses one of them; returns whether it did. Label
/// names and values are checked on every line of a scrape: up to 64 bytes, one pass loads
/// each byte once, checks 16 at a time and stores it (SSE2 is part of x86_64).
#[inline(always)]
fn extend_if(out: &mut Vec<u8>, bytes: &[u8], refuse: Refuse) -> bool {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() <= 64 {
        return sse::extend_if(out, bytes, refuse);
    }
    if bytes.iter().any(|&b| refuse.refuses(b)) {
        return false;
    }
    out.extend_from_slice(bytes);
    true
}

#[cfg(target_arch = "x86_64")]
mod sse {
    use std::arch::x86_64::*;

    use super::Refuse;

    /// A byte no check refuses, to fill the lanes short strings leave empty.
    const PAD: u8 = b'a';

    /// Lanes of `v` that `refuse` refuses, as all ones.
    #[inline(always)]
    fn refused(v: __m128i, refuse: Refuse) -> __m128i {
        // SAFETY: arithmetic on registers only; SSE2 is part of the x86_64 baseline.
        unsafe {
            let splat = |b: u8| _mm_set1_epi8(b as i8);
            match refuse {
                Refuse::Escapes => _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(v, splat(b'\\')),
                        _mm_cmpeq_epi8(v, splat(b'"')),
                    ),
                    _mm_cmpeq_epi8(v, splat(b'\n')),
                ),
                Refuse::NonLabelNameBytes => {
                    // `lo <= b < lo + n`, unsigned, as one signed compare: shifted by 0x80 - lo,
                    // exactly the range lands on the lowest n signed values.
                    let within = |v: __m128i, lo: u8, n: u8| {
                        _mm_cmplt_epi8(
                            _mm_add_epi8(v, splat(0x80u8.wrapping_sub(lo))),
                            splat(0x80u8.wrapping_add(n)),
                        )
                    };
                    let letter = within(_mm_or_si128(v, splat(0x20)), b'a', 26);
                    let valid = _mm_or_si128(
                        _mm_or_si128(within(v, b'0', 10), letter),
                        _mm_cmpeq_epi8(v, splat(b'_')),
                    );
                    _mm_xor_si128(valid, _mm_set1_epi8(-1))
                }
            }
        }
    }

    #[inline(always)]
    pub(super) fn extend_if(out: &mut Vec<u8>, bytes: &[u8], refuse: Refuse) -> bool {
        let (src, len) = (bytes.as_ptr(), bytes.len());
        debug_assert!(len <= 64);
        out.reserve(len);
        // SAFETY: `reserve` made room for `len` more bytes; every load reads within `bytes`
        // and every store writes within that room (16-byte blocks only from 16 bytes on, the
        // last one ending at `len`). The length grows only once all `len` bytes are written.
        unsafe {
            let dst = out.as_mut_ptr().add(out.len());
            let refused_lanes = if len >= 16 {
                let mut any = _mm_setzero_si128();
                let mut at = 0;
                while at + 16 < len {
                    let v = _mm_loadu_si128(src.add(at).cast());
                    any = _mm_or_si128(any, refused(v, refuse));
                    _mm_storeu_si128(dst.add(at).cast(), v);
                    at += 16;
                }
                let v = _mm_loadu_si128(src.add(len - 16).cast());
                _mm_storeu_si128(dst.add(len - 16).cast(), v);
                _mm_movemask_epi8(_mm_or_si128(any, refused(v, refuse)))
            } else {
                // The two overlapping ends (copied whole between them), in one register.
                let pad = u32::from_ne_bytes([PAD; 4]) as i32;
                let v = match len {
                    8.. => {
                        let head = src.cast::<u64>().read_unaligned();
                        let tail = src.add(len - 8).cast::<u64>().read_unaligned();
                        dst.cast::<u64>().write_unaligned(head);
                        dst.add(len - 8).cast::<u64>().write_unaligned(tail);
                        _mm_set_epi64x(tail as i64, head as i64)
                    }
                    4.. => {
                        let head = src.cast::<u32>().read_unaligned();
                        let tail = src.add(len - 4).cast::<u32>().read_unaligned();
                        dst.cast::<u32>().write_unaligned(head);
                        dst.add(len - 4).cast::<u32>().write_unaligned(tail);
                        _mm_set_epi32(pad, pad, tail as i32, head as i32)
                    }
                    1.. => {
                        let (first, middle, last) = (*src, *src.add(len / 2), *src.add(len - 1));
                        (*dst, *dst.add(len / 2), *dst.add(len - 1)) = (first, middle, last);
                        let word = i32::from_ne_bytes([first, middle, last, PAD]);
                        _mm_set_epi32(pad, pad, pad, word)
                    }
                    0 => return true,
                };
                _mm_movemask_epi8(refused(v, refuse))
            };
            if refused_lanes == 0 {
                out.set_len(out.len() + len);
            }
            refused_lanes == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of every length up to 100 (the checked copy and
    /// the plain scan beyond 64): refused exactly when the check refuses that byte, and then
    /// nothing is appended.
    #[test]
    fn checked_copies_refuse_exactly_the_refused_bytes() {
        for refuse in [Refuse::Escapes, Refuse::NonLabelNameBytes] {
            for len in 0..=100usize {
                let plain: Vec<u8> = (0..len).map(|i| b"aZ0_y9"[i % 6]).collect();
                let mut out = b"x".to_vec();
                assert!(extend_if(&mut out, &plain, refuse), "{refuse:?} {len}");
                assert_eq!(out, [b"x", &plain[..]].concat());
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut bytes = plain.clone();
                        bytes[at] = byte;
                        let mut out = b"x".to_vec();
                        let copied = extend_if(&mut out, &bytes, refuse);
                        assert_eq!(
                            copied,
                            !refuse.refuses(byte),
                            "{refuse:?} {len} {at} {byte}"
                        );
                        let expected = if copied {
                            [b"x", &bytes[..]].concat()
                        } else {
                            b"x".to_vec()
                        };
                        assert_eq!(out, expected);
                    }
                }
            }
        }
        assert!(Refuse::Escapes.refuses(b'"') && !Refuse::Escapes.refuses(b'#'));
        assert!(
            Refuse::NonLabelNameBytes.refuses(b'.') && !Refuse::NonLabelNameBytes.refuses(b'Q')
        );
        assert!(Refuse::NonLabelNameBytes.refuses(0xC3) && Refuse::NonLabelNameBytes.refuses(b'`'));
    }
}
