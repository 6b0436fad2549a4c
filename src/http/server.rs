//! The HTTP server of both ports, with the limits of kube-state-metrics' Go server: Go
//! net/http's read-header, read, write and idle timeouts, and a bound on request heads; TLS
//! (and HTTP/2 by ALPN, as Go offers it) when the web configuration has it.
//!
//! hyper has only a header timeout, which also runs while a kept-alive connection waits for
//! its next request (so it would cut idle connections after 5 s, not 5 min). Instead each
//! connection's socket carries the deadline of the phase the connection is in, as Go sets
//! its read and write deadlines: an operation past it fails, hyper drops the connection, and
//! the response body goes with it, which stops its scrape.
//!
//! A TLS handshake must end within the shortest of the timeouts, as Go's server bounds it. On
//! HTTP/2, where requests share the connection, the idle timeout applies while no stream is
//! open, and a stream still answering past its write deadline ends the whole connection (Go
//! resets only that stream; scrapers use HTTP/1.1 unless told otherwise).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

use super::guard::{Security, guarded};

/// Largest request head (request line and headers) read; a larger one is answered 431 and
/// the connection closed. Bearer tokens and cookies fit many times over; an endless header
/// costs at most this per connection (Go's default allows 1 MiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A server's timeouts, with Go net/http's meaning (kube-state-metrics' `--server-*-timeout`
/// flags); a zero duration is no limit.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub read_header: Duration,
    pub read: Duration,
    pub write: Duration,
    pub idle: Duration,
}

/// Serves `router` on `addr`, behind `security`, until the process ends.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    security: Security,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let web = security.web.clone();
    let router = guarded(router, security);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // Timeouts are the socket's (below), not hyper's.
    http1
        .max_header_size(MAX_HEADER_BYTES)
        .header_read_timeout(None);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        // Go's default.
        .max_concurrent_streams(250);
    let protocols = Protocols { http1, http2 };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        // Each connection gets the settings in force when it arrives (a rotated certificate
        // is used from the next connection on).
        let tls = web
            .as_ref()
            .and_then(|web| web.current().tls.as_ref().map(|tls| tls.config()));
        let router = router.clone();
        let protocols = protocols.clone();
        tokio::spawn(async move {
            let Some(config) = tls else {
                return protocols.serve(stream, false, router, timeouts).await;
            };
            let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
            let stream = match handshake_deadline(timeouts) {
                Some(limit) => match tokio::time::timeout(limit, handshake).await {
                    Ok(result) => result,
                    Err(_) => return tracing::debug!("TLS handshake timed out"),
                },
                None => handshake.await,
            };
            match stream {
                Ok(stream) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    protocols.serve(stream, h2, router, timeouts).await;
                }
                Err(error) => tracing::debug!("TLS handshake failed: {error}"),
            }
        });
    }
}

/// Go's `tlsHandshakeTimeout`: the shortest of the read-header, read and write timeouts.
fn handshake_deadline(t: Timeouts) -> Option<Duration> {
    [t.read_header, t.read, t.write]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
}

#[derive(Clone)]
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

impl Protocols {
    async fn serve<S>(&self, io: S, h2: bool, router: Router, timeouts: Timeouts)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let deadlines = Arc::new(Deadlines::new(timeouts, h2));
        let io = TokioIo::new(TimedIo {
            io,
            deadlines: deadlines.clone(),
            read_alarm: Alarm::default(),
            write_alarm: Alarm::default(),
        });
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let stream = deadlines.request_read();
            // A Router is always ready: it may be called without polling readiness.
            let response = tower::Service::call(&mut router.clone(), request.map(Body::new));
            let deadlines = deadlines.clone();
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| Tracked {
                    body,
                    deadlines,
                    stream,
                }))
            }
        });
        let result = if h2 {
            self.http2.serve_connection(io, service).await
        } else {
            self.http1.serve_connection(io, service).await
        };
        if let Err(error) = result {
            tracing::debug!("connection ended: {error}");
        }
    }
}

/// As axum's and hyper's servers do: a connection reset before it was accepted is no matter;
/// anything else (out of file descriptors) is logged and waited out, not fatal.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Where a connection is in its request cycle, since when.
#[derive(Clone, Copy)]
enum Phase {
    /// Reading a request's head: from the connection's start, or the next request's first byte.
    Reading(Instant),
    /// Answering a request (until the write deadline).
    Writing,
    /// Waiting for the next request, since the last response ended.
    Idle(Instant),
}

/// A connection's phase and deadlines.
struct Deadlines {
    timeouts: Timeouts,
    cycle: Mutex<Cycle>,
}

struct Cycle {
    phase: Phase,
    /// The last response's write deadline, until the next request starts: it covers the
    /// flushing of a response's tail after its body ended, as Go's write deadline does.
    write: Option<Instant>,
    /// The connection's task as it last read: woken when the read deadline comes nearer
    /// (a response has ended: hyper would not read again before its old deadline).
    reader: Option<Waker>,
    /// HTTP/2: the open streams' ids and write deadlines (None on HTTP/1.1).
    streams: Option<Vec<(u64, Option<Instant>)>>,
    next_stream: u64,
}

impl Deadlines {
    fn new(timeouts: Timeouts, h2: bool) -> Self {
        let now = Instant::now();
        let cycle = Cycle {
            // HTTP/2 starts idle: the TLS handshake had its own deadline, and the client
            // may open streams whenever it likes.
            phase: if h2 {
                Phase::Idle(now)
            } else {
                Phase::Reading(now)
            },
            write: None,
            reader: None,
            streams: h2.then(Vec::new),
            next_stream: 0,
        };
        Deadlines {
            timeouts,
            cycle: Mutex::new(cycle),
        }
    }

    fn cycle(&self) -> std::sync::MutexGuard<'_, Cycle> {
        self.cycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The deadline of a read by `reader`: the head's while reading one, the response's
    /// while answering (a read is how a stalled response is noticed too: hyper reads to see
    /// the client leave), the idle one while waiting.
    fn read_deadline(&self, reader: &Waker) -> Option<Instant> {
        let t = &self.timeouts;
        let mut cycle = self.cycle();
        if !cycle.reader.as_ref().is_some_and(|w| w.will_wake(reader)) {
            cycle.reader = Some(reader.clone());
        }
        match cycle.phase {
            Phase::Reading(since) => earliest(after(since, t.read_header), after(since, t.read)),
            Phase::Writing => cycle.write_deadline(),
            Phase::Idle(since) => {
                let idle = if t.idle.is_zero() { t.read } else { t.idle };
                after(since, idle)
            }
        }
    }

    fn write_deadline(&self) -> Option<Instant> {
        self.cycle().write_deadline()
    }

    /// Bytes arrived: while idle on HTTP/1.1, the next request has started.
    fn bytes_read(&self) {
        let mut cycle = self.cycle();
        if let (Phase::Idle(_), None) = (cycle.phase, &cycle.streams) {
            cycle.phase = Phase::Reading(Instant::now());
            cycle.write = None;
        }
    }

    /// A request's head has been read; its response is due. Returns the stream's id.
    fn request_read(&self) -> u64 {
        let mut cycle = self.cycle();
        cycle.phase = Phase::Writing;
        let deadline = after(Instant::now(), self.timeouts.write);
        let id = cycle.next_stream;
        cycle.next_stream += 1;
        match &mut cycle.streams {
            Some(streams) => streams.push((id, deadline)),
            None => cycle.write = deadline,
        }
        id
    }

    fn response_ended(&self, stream: u64) {
        let reader = {
            let mut cycle = self.cycle();
            if !matches!(cycle.phase, Phase::Writing) {
                return;
            }
            if let Some(streams) = &mut cycle.streams {
                streams.retain(|(id, _)| *id != stream);
                if !streams.is_empty() {
                    return;
                }
            }
            cycle.phase = Phase::Idle(Instant::now());
            cycle.reader.take()
        };
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

impl Cycle {
    /// The write deadline: the response's, or the earliest of the open streams'.
    fn write_deadline(&self) -> Option<Instant> {
        match &self.streams {
            Some(streams) => streams
                .iter()
                .map(|(_, deadline)| *deadline)
                .fold(None, earliest),
            None => self.write,
        }
    }
}

/// `since + timeout`, or none for a zero timeout (or one beyond the clock's range).
fn after(since: Instant, timeout: Duration) -> Option<Instant> {
    (!timeout.is_zero())
        .then(|| since.checked_add(timeout))
        .flatten()
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Wakes the connection's task at a deadline, so a read or write waiting on the socket sees
/// it pass.
#[derive(Default)]
struct Alarm(Option<Pin<Box<Sleep>>>);

impl Alarm {
    /// Whether `deadline` has passed; if not, the task is woken when it does.
    fn expired(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = deadline else {
            return false;
        };
        let sleep = match &mut self.0 {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self.0.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        sleep.as_mut().poll(cx).is_ready()
    }
}

/// A connection's socket (or TLS stream), whose operations fail once the phase's deadline
/// has passed.
struct TimedIo<S> {
    io: S,
    deadlines: Arc<Deadlines>,
    read_alarm: Alarm,
    write_alarm: Alarm,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "server timeout")
}

impl<S> TimedIo<S> {
    fn write_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.deadlines.write_deadline();
        self.write_alarm.expired(deadline, cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let deadline = this.deadlines.read_deadline(cx.waker());
        if this.read_alarm.expired(deadline, cx) {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.deadlines.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A response body that ends its request's phase when dropped: written, or abandoned with
/// its connection.
struct Tracked {
    body: Body,
    deadlines: Arc<Deadlines>,
    stream: u64,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.deadlines.response_ended(self.stream);
    }
}
