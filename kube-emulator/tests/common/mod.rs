//! Helpers shared by the integration tests: start a server, talk HTTP, read watch streams.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube_emulator::{Emulator, EmulatorConfig, ServerHandle};
use serde_json::Value;

pub struct Server {
    pub emu: Arc<Emulator>,
    pub handle: ServerHandle,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start(emu: Emulator) -> Self {
        let emu = Arc::new(emu);
        let handle = emu
            .clone()
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self {
            emu,
            handle,
            // The workspace enables reqwest's gzip feature (for other crates' tests); this
            // client must see the wire as the emulator sends it.
            http: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("http client"),
        }
    }

    pub async fn with_config(config: EmulatorConfig) -> Self {
        Self::start(Emulator::with_config(config).expect("valid config")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    /// GET returning status and parsed JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, "anonymous-test", None).await
    }

    pub async fn get_as(&self, path: &str, token: &str, accept: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path)).bearer_auth(token);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let resp = req.send().await.unwrap();
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path}: invalid JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (code, v)
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.send(self.http.post(self.url(path)), body).await
    }

    pub async fn put(&self, path: &str, body: &str) -> (u16, Value) {
        self.send(self.http.put(self.url(path)), body).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, body: &str) -> (u16, Value) {
        let resp = request.body(body.to_string()).send().await.unwrap();
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn watch(&self, path: &str) -> Watch {
        self.watch_as(path, "anonymous-test", None).await
    }

    pub async fn watch_as(&self, path: &str, token: &str, accept: Option<&str>) -> Watch {
        let mut req = self.http.get(self.url(path)).bearer_auth(token);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let resp = req.send().await.unwrap();
        Watch {
            status: resp.status().as_u16(),
            stream: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
            ended: false,
        }
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A watch response read event by event.
pub struct Watch {
    pub status: u16,
    stream: ByteStream,
    buf: Vec<u8>,
    pub ended: bool,
}

impl Watch {
    /// The next event, or None when the stream ended or nothing came within `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).expect("event is JSON"));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("expected a watch event")
    }

    /// Next event that is not a BOOKMARK.
    pub async fn next_non_bookmark(&mut self) -> Value {
        loop {
            let e = self.next().await;
            if e["type"] != "BOOKMARK" {
                return e;
            }
        }
    }

    /// Waits until the stream ends; true if it did within `timeout`.
    pub async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
                Err(_) => return false,
            }
        }
        true
    }
}

pub fn pod(ns: &str, name: &str, labels: Value, node: &str, phase: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": phase}
    })
}

pub fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}
