//! A small HTTP/1.1 client for the benchmarks' requests to the exporter and the emulator, on the
//! exporter's own hyper stack. Not reqwest: it would bring crates and features the exporter is
//! not built with (url and IDNA, whose derive macros turn on features of `syn`; hyper-util's
//! proxy support; tower's timeout), so a workspace build would not share its dependencies with
//! `cargo run` and the second would rebuild nearly everything.

use std::io::Read;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A connection pool; gzip responses are asked for and decoded unless built with `no_gzip`.
#[derive(Clone)]
pub struct Client {
    pool: Pool<HttpConnector, Full<Bytes>>,
    gzip: bool,
}

impl Client {
    /// Asks for gzip and decodes it, as reqwest and kube's client do.
    pub fn new() -> Client {
        Client::with_gzip(true)
    }

    /// Neither asks for gzip nor decodes it: bodies are read as sent.
    pub fn plain() -> Client {
        Client::with_gzip(false)
    }

    fn with_gzip(gzip: bool) -> Client {
        Client {
            pool: Pool::builder(TokioExecutor::new()).build_http(),
            gzip,
        }
    }

    pub fn get(&self, url: impl AsRef<str>) -> Request {
        self.request(Method::GET, url.as_ref())
    }

    pub fn post(&self, url: impl AsRef<str>) -> Request {
        self.request(Method::POST, url.as_ref())
    }

    fn request(&self, method: Method, url: &str) -> Request {
        Request {
            client: self.clone(),
            method,
            url: url.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// A request being built.
pub struct Request {
    client: Client,
    method: Method,
    url: String,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
}

/// `value` percent-encoded for a query string.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Request {
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        for (key, value) in pairs {
            let separator = if self.url.contains('?') { '&' } else { '?' };
            self.url.push(separator);
            self.url.push_str(&encode(key.as_ref()));
            self.url.push('=');
            self.url.push_str(&encode(value.as_ref()));
        }
        self
    }

    pub fn bearer_auth(self, token: &str) -> Self {
        self.header(AUTHORIZATION, &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn json(self, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.header(CONTENT_TYPE, "application/json").body(body)
    }

    pub async fn send(self) -> anyhow::Result<Response> {
        let mut request = http::Request::builder().method(self.method).uri(&self.url);
        if self.client.gzip {
            request = request.header(ACCEPT_ENCODING, "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(self.body))
            .with_context(|| format!("request to {}", self.url))?;
        let response = self
            .client
            .pool
            .request(request)
            .await
            .with_context(|| format!("sending to {}", self.url))?;
        let gzipped = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|e| e == "gzip");
        Ok(Response {
            decode: self.client.gzip && gzipped,
            url: self.url,
            inner: response,
        })
    }
}

/// A response whose body is read on demand.
pub struct Response {
    inner: http::Response<Incoming>,
    /// Decode gzip when the body is read whole.
    decode: bool,
    url: String,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response, or an error naming its status when it is not a success.
    pub fn error_for_status(self) -> anyhow::Result<Self> {
        if !self.status().is_success() {
            bail!("{} answered {}", self.url, self.status());
        }
        Ok(self)
    }

    /// The next chunk of the body as sent (gzip not decoded), or `None` at its end.
    pub async fn chunk(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            let Some(frame) = self.inner.body_mut().frame().await else {
                return Ok(None);
            };
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
    }

    pub async fn bytes(mut self) -> anyhow::Result<Bytes> {
        let body = self.inner.body_mut().collect().await?.to_bytes();
        if !self.decode {
            return Ok(body);
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out)?;
        Ok(Bytes::from(out))
    }

    pub async fn text(self) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.bytes().await?.to_vec())?)
    }

    pub async fn json<T: DeserializeOwned>(self) -> anyhow::Result<T> {
        Ok(serde_json::from_slice(&self.bytes().await?)?)
    }
}
