//! One gzip stream compressed on several threads.
//!
//! Each chunk of text is deflated on its own by the thread that wrote it, ending with a sync
//! flush (an empty stored block) so the next chunk's blocks start on a byte boundary; a fresh
//! compressor never refers back to earlier chunks, so the pieces in order are one valid
//! deflate stream (as pigz does). The thread that sends the body adds the gzip header, one
//! final empty block and the trailer, whose CRC-32 is combined from the chunks' own. Clients
//! see a single ordinary gzip member: no reader needs multi-member support.

use std::io::Write;

use bytes::Bytes;
use crc32fast::Hasher;
use flate2::Compression;
use flate2::write::DeflateEncoder;

/// A gzip header with no name, no time and an unknown OS (RFC 1952 2.3).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block (RFC 1951).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// One chunk of text, deflated, and the CRC-32 and length of the text.
pub struct Deflated {
    data: Bytes,
    crc: Hasher,
    len: u64,
}

impl crate::export::ordered::ChunkSize for Deflated {
    fn size(&self) -> usize {
        self.data.len()
    }
}

/// Deflates `chunk` on its own, ending on a byte boundary.
pub fn deflate(chunk: &[u8]) -> Deflated {
    let mut crc = Hasher::new();
    crc.update(chunk);
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(chunk.len() / 3), Compression::fast());
    // Writing to a Vec cannot fail; `flush` is a sync flush.
    let _ = encoder.write_all(chunk);
    let _ = encoder.flush();
    // The encoder's own final block, written when it drops, goes into the emptied Vec.
    let data = Bytes::from(std::mem::take(encoder.get_mut()));
    Deflated {
        data,
        crc,
        len: chunk.len() as u64,
    }
}

/// Assembles deflated chunks, in order, into one gzip stream handed out through `emit`.
pub struct GzipStream<F: FnMut(Bytes)> {
    emit: F,
    crc: Hasher,
    len: u64,
}

impl<F: FnMut(Bytes)> GzipStream<F> {
    pub fn new(mut emit: F) -> Self {
        emit(Bytes::from_static(&HEADER));
        GzipStream {
            emit,
            crc: Hasher::new(),
            len: 0,
        }
    }

    /// The next chunk of the body.
    pub fn push(&mut self, chunk: Deflated) {
        self.crc.combine(&chunk.crc);
        self.len += chunk.len;
        if !chunk.data.is_empty() {
            (self.emit)(chunk.data);
        }
    }

    /// Ends the stream: the final block, then the CRC-32 and the length modulo 2^32.
    pub fn finish(mut self) {
        let mut trailer = Vec::with_capacity(10);
        trailer.extend_from_slice(&FINAL_BLOCK);
        trailer.extend_from_slice(&self.crc.finalize().to_le_bytes());
        trailer.extend_from_slice(&(self.len as u32).to_le_bytes());
        (self.emit)(Bytes::from(trailer));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(chunks: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut stream = GzipStream::new(|b: Bytes| body.extend_from_slice(&b));
        for chunk in chunks {
            stream.push(deflate(chunk));
        }
        stream.finish();
        body
    }

    /// Decodes with a reader that stops after the first member: the body must be one.
    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn chunks_deflated_apart_are_one_gzip_member() {
        let line = b"kube_pod_info{namespace=\"default\",pod=\"web-1\"} 1\n";
        let text: Vec<u8> = line.iter().copied().cycle().take(300_000).collect();
        let (a, rest) = text.split_at(70_000);
        let (b, c) = rest.split_at(1);
        let body = gzip(&[a, b, &[], c]);
        assert_eq!(gunzip(&body), text);
        assert!(body.len() < text.len() / 10, "compressed: {}", body.len());
        // Any reader gets exactly the text: nothing follows the one member.
        let mut decoder = flate2::read::GzDecoder::new(&body[..]);
        std::io::copy(&mut decoder, &mut std::io::sink()).expect("decode");
        assert!(decoder.into_inner().is_empty());
    }

    #[test]
    fn an_empty_body_is_an_empty_gzip_stream() {
        assert_eq!(gunzip(&gzip(&[])), b"");
    }
}
