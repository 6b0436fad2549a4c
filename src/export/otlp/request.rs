//! Encoded requests, the buffers they are built in (kept from one export to the next) and
//! what an encoder reports.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// One finished export request (`ExportMetricsServiceRequest` or `ExportLogsServiceRequest`),
/// encoded. Dropped, it gives its body back to
/// the buffers of the encoder that made it, for the next request.
#[derive(Debug)]
pub struct OtlpRequest {
    pub body: Bytes,
    /// Data points, or log records.
    pub points: usize,
    pub(super) buffers: Arc<Buffers>,
}

impl Drop for OtlpRequest {
    fn drop(&mut self) {
        self.buffers.give_body(std::mem::take(&mut self.body));
    }
}

/// Buffers an exporter keeps from one collection to the next ([`OtlpEncoder::with_buffers`]).
/// Freed, a request body or a points buffer came back from the allocator as fresh pages,
/// each faulted in and zeroed again (a tenth of an export cycle's CPU at 150,000 pods with
/// the bodies, 3–4% more with the point buffers). They hold about 25 MiB between
/// collections; an encoder without them keeps its own for one collection.
#[derive(Clone, Debug, Default)]
pub struct OtlpBuffers(pub(super) Arc<Buffers>);

#[derive(Debug, Default)]
pub(super) struct Buffers {
    /// Request bodies sent and dropped.
    bodies: Mutex<Vec<Vec<u8>>>,
    /// Point buffers of finished collections ([`Spare`]).
    pub(super) points: Mutex<Vec<Vec<u8>>>,
}

pub(super) fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Buffers {
    /// Enough for the requests in flight between an encoder and its sender.
    const KEEP_BODIES: usize = 4;

    /// An empty buffer with room for `len` bytes. New ones get an eighth more, so that the
    /// next requests, about as big, fit in them too.
    pub(super) fn take_body(&self, len: usize) -> Vec<u8> {
        match locked(&self.bodies).pop() {
            Some(mut body) if body.capacity() >= len => {
                body.clear();
                body
            }
            _ => Vec::with_capacity(len.saturating_add(len / 8)),
        }
    }

    /// Keeps `body`'s buffer if nothing else still holds it.
    fn give_body(&self, body: Bytes) {
        if body.is_empty() {
            return;
        }
        if let Ok(body) = body.try_into_mut() {
            let mut kept = locked(&self.bodies);
            if kept.len() < Self::KEEP_BODIES {
                kept.push(body.into());
            }
        }
    }
}

/// What an encoder did over one collection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeSummary {
    pub requests: u64,
    pub points: u64,
    /// Points that would not fit even in a request of their own, dropped.
    pub points_dropped: u64,
}

impl EncodeSummary {
    /// Counts a finished request of `points` and hands it to `emit`; true when nobody wants
    /// more.
    pub(super) fn hand_out(
        &mut self,
        emit: &mut impl FnMut(OtlpRequest) -> ControlFlow<()>,
        body: Vec<u8>,
        points: usize,
        buffers: &Arc<Buffers>,
    ) -> bool {
        self.requests += 1;
        let request = OtlpRequest {
            body: body.into(),
            points,
            buffers: buffers.clone(),
        };
        emit(request).is_break()
    }
}
