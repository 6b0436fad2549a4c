//! `/metrics` under abuse, with real clients over TCP against the binary: readers that stall,
//! clients that leave mid-body, more scrapes than `--max-concurrent-scrapes`, slow and
//! oversized or malformed request heads, and kept-alive connections left idle. RELIABILITY.md
//! ("/metrics under abuse") records what each shows.

use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster, ServerHandle};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

mod harness;
use harness::{Exporter, start_emulator, value, wait_for_within};

const GET_METRICS: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";

/// A cluster whose full scrape (about 50 MB of text) is several times what the exporter, the
/// kernel and a client's small receive buffer can hold between them, so a reader that stops
/// reading stalls the scrape.
fn large_cluster() -> Emulator {
    Emulator::with_cluster(&GeneratedCluster::new(150, 30, 3))
}

async fn small_exporter(extra: &[&str]) -> (ServerHandle, Exporter) {
    let server = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let exporter = Exporter::start(&server.url(), extra);
    exporter.wait_ready().await;
    (server, exporter)
}

/// A figure of the exporter's self-telemetry (0 before it is first reported).
async fn telemetry(exporter: &Exporter, family: &str) -> f64 {
    value(&exporter.telemetry().await, family, &[]).unwrap_or(0.0)
}

/// A connection whose receive buffer is small, so what the server sends waits on its side.
async fn connect(port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connected")
}

/// Reads until the end of a response head; returns the head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("a response head within 30 s")
            .expect("read");
        assert_eq!(n, 1, "the connection closed in the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A scrape whose client reads the response head and then nothing.
async fn stalled_scrape(port: u16) -> TcpStream {
    let mut stream = connect(port).await;
    stream.write_all(GET_METRICS).await.expect("request sent");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
}

/// Everything the server still sends until it closes the connection (an error, a reset,
/// counts as closed); panics if it has not within `within`.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let read = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            received.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the server closed the connection in time");
    received
}

/// The last chunk of a complete chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}})
}

/// Readers that stall hold their scrapes in flight, bounded (their memory: the scrape's
/// buffers), until the write timeout cuts them off; meanwhile full scrapes succeed, a client
/// that leaves mid-body frees its slot at once, watch updates reach `/metrics`, and a scrape
/// beyond the cap is refused at once with 503 and `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_are_cut_off_while_the_exporter_serves_on() {
    const STALLED: usize = 3;
    let server = start_emulator(large_cluster()).await;
    let exporter = Exporter::start(
        &server.url(),
        &[
            "--max-concurrent-scrapes",
            "5",
            "--server-write-timeout",
            "30s",
        ],
    );
    wait_for_within("ready", Duration::from_secs(120), || exporter.ready()).await;
    let in_flight = || telemetry(&exporter, "kube_state_otel_scrapes_in_flight");
    let completed = || telemetry(&exporter, "kube_state_otel_scrapes_total");
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(stalled_scrape(exporter.port).await);
    }
    assert_eq!(in_flight().await, STALLED as f64);
    // A full scrape completes beside them.
    let full = reqwest::get(format!("http://127.0.0.1:{}/metrics", exporter.port))
        .await
        .expect("scraped");
    assert_eq!(full.status(), 200);
    let body = full.bytes().await.expect("the whole body");
    assert!(
        body.len() > 40_000_000,
        "a large scrape: {} bytes",
        body.len()
    );
    assert_eq!(completed().await, 1.0);
    // A client that reads a little of the body and leaves: its scrape stops (it is not
    // completed) and frees its slot while the stalled ones, which only the write timeout
    // ends, are still in flight.
    let mut leaving = connect(exporter.port).await;
    leaving.write_all(GET_METRICS).await.expect("request sent");
    read_head(&mut leaving).await;
    let mut some = vec![0u8; 1 << 20];
    leaving.read_exact(&mut some).await.expect("a MiB of body");
    drop(leaving);
    wait_for_within(
        "the leaving client's scrape to end",
        Duration::from_secs(20),
        || async { in_flight().await == STALLED as f64 },
    )
    .await;
    assert_eq!(
        completed().await,
        1.0,
        "the abandoned scrape did not run to its end"
    );
    // Watch updates reach /metrics while the stalled scrapes hold their snapshots.
    server
        .emulator()
        .apply(pod("during-stall"))
        .expect("pod stored");
    wait_for_within(
        "the new pod on /metrics",
        Duration::from_secs(20),
        || async {
            exporter
                .get(exporter.port, "/metrics?resources=pods")
                .await
                .is_some_and(|(_, body)| body.contains("pod=\"during-stall\""))
        },
    )
    .await;
    // Beyond the cap: refused at once, counted.
    let blocking = stalled_scrape(exporter.port).await;
    let last = stalled_scrape(exporter.port).await;
    assert_eq!(in_flight().await, 5.0);
    let refused = reqwest::get(format!("http://127.0.0.1:{}/metrics", exporter.port))
        .await
        .expect("answered");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        telemetry(&exporter, "kube_state_otel_scrapes_rejected_total").await,
        1.0
    );
    assert_eq!(
        in_flight().await,
        5.0,
        "the stalled scrapes are still in flight"
    );

    // The write timeout (30 s from each request) cuts every stalled reader off: every
    // scrape's work ends, and what the client then reads ends before the body's end.
    let before = completed().await;
    wait_for_within("no scrape in flight", Duration::from_secs(90), || async {
        in_flight().await == 0.0
    })
    .await;
    assert_eq!(
        completed().await,
        before,
        "the stalled scrapes did not run to their end"
    );
    stalled.push(blocking);
    stalled.push(last);
    for stream in &mut stalled {
        let received = read_to_close(stream, Duration::from_secs(30)).await;
        assert!(!received.ends_with(LAST_CHUNK), "cut off before the end");
        assert!(received.len() < body.len());
    }
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(port: u16, request: &[u8]) -> String {
    let mut stream = connect(port).await;
    // The server may answer and close before it has read everything (a head too large).
    let _ = stream.write_all(request).await;
    String::from_utf8_lossy(&read_to_close(&mut stream, Duration::from_secs(30)).await).into_owned()
}

/// The status line's code and the body of a response read to the connection's end.
fn status_and_body(response: &str) -> (&str, &str) {
    let status = response.split(' ').nth(1).unwrap_or_default();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}

/// A client that sends its request head a byte at a time is disconnected once the read-header
/// timeout has passed, on both ports, without a response; one that sends it whole is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_is_cut_off_after_the_read_header_timeout() {
    let (_server, exporter) = small_exporter(&["--server-read-header-timeout", "1s"]).await;
    for port in [exporter.port, exporter.telemetry_port] {
        let mut stream = connect(port).await;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\n")
            .await
            .expect("sent");
        // Far longer than the timeout, had the server not cut it off.
        let trickle = async {
            for _ in 0..60 {
                if stream.write_all(b"X").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        trickle.await;
        let received = read_to_close(&mut stream, Duration::from_secs(5)).await;
        assert!(received.is_empty(), "no response: {received:?}");
    }
    let response = exchange(
        exporter.port,
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_and_body(&response), ("200", "ok"));
}

/// A kept-alive connection waits for its next request up to the idle timeout, not the
/// read-header timeout (hyper's own header timeout would have closed it), then is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_kept_for_the_idle_timeout() {
    let (_server, exporter) = small_exporter(&[
        "--server-read-header-timeout",
        "1s",
        "--server-idle-timeout",
        "10s",
    ])
    .await;
    let mut stream = connect(exporter.port).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("sent");
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 2];
        stream.read_exact(&mut body).await.expect("the body");
        assert_eq!(&body, b"ok");
        // Idle past the read-header timeout, well within the idle timeout.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let received = read_to_close(&mut stream, Duration::from_secs(30)).await;
    assert!(received.is_empty(), "{received:?}");
}

/// A request head beyond the limit gets 431 (or the connection closed), never an answer; a
/// large one within it (a long bearer token) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused() {
    let (_server, exporter) = small_exporter(&[]).await;
    let request = |header_bytes: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n",
            "a".repeat(header_bytes)
        )
    };
    let limit = kube_state_otel::http::MAX_HEADER_BYTES;
    let response = exchange(exporter.port, request(2 * limit).as_bytes()).await;
    let (status, body) = status_and_body(&response);
    assert!(
        status == "431" && body.is_empty() || response.is_empty(),
        "{response}"
    );
    let response = exchange(exporter.port, request(limit / 2).as_bytes()).await;
    assert_eq!(status_and_body(&response), ("200", "ok"));
}

/// Malformed request lines and heads get 400 with an empty body; the errors the routes give
/// (a bad query, an unknown path or method) say nothing of the program's internals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_errors_reveal_nothing() {
    let (_server, exporter) = small_exporter(&[]).await;
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /metrics HTTP/9.1\r\n\r\n",
        b"GET /metrics\r\nHost: test\r\n\r\n",
        b"GET /me trics HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost test\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nBad\x01Name: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let response = exchange(exporter.port, request).await;
        assert_eq!(
            status_and_body(&response),
            ("400", ""),
            "{:?}: {response}",
            String::from_utf8_lossy(request)
        );
    }
    for (request, status, answer) in [
        (
            "GET /metrics?resources=pods&resources=nodes HTTP/1.1",
            "400",
            "invalid query string\n",
        ),
        ("GET /nowhere HTTP/1.1", "404", ""),
        ("DELETE /metrics HTTP/1.1", "405", ""),
    ] {
        let request = format!("{request}\r\nHost: test\r\nConnection: close\r\n\r\n");
        let response = exchange(exporter.port, request.as_bytes()).await;
        assert_eq!(status_and_body(&response), (status, answer), "{request}");
    }
}
