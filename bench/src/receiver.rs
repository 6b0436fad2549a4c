//! A local OTLP/gRPC receiver that decodes what it is sent, as a Collector would, and counts it.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kube_state_otel::demo::receiver::{collected_at, points};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// What the receiver has been sent so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    pub requests: u64,
    pub points: u64,
    /// Encoded size of the largest request.
    pub largest: usize,
    pub bytes: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

/// One request: when it arrived, when its points were collected, and its resource's
/// `service.instance.id` (which replica sent it, under leader election).
#[derive(Clone, Debug)]
pub struct Push {
    pub at: SystemTime,
    pub collected: SystemTime,
    pub instance: String,
}

/// The time of the request's first point.
fn collected(request: &ExportMetricsServiceRequest) -> Option<SystemTime> {
    collected_at(request).map(|nanos| UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}

#[derive(Default)]
struct Counter(Mutex<Received>, Mutex<Vec<Push>>);

/// The first resource's `service.instance.id`, or empty.
fn instance(request: &ExportMetricsServiceRequest) -> String {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| r.resource.iter().flat_map(|r| &r.attributes))
        .find(|kv| kv.key == "service.instance.id")
        .and_then(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => Some(s.clone()),
                _ => None,
            },
        )
        .unwrap_or_default()
}

#[tonic::async_trait]
impl MetricsService for Counter {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let request = request.get_ref();
        let len = request.encoded_len();
        let points = points(request);
        let at = SystemTime::now();
        let push = Push {
            at,
            collected: collected(request).unwrap_or(at),
            instance: instance(request),
        };
        self.1.lock().unwrap_or_else(|p| p.into_inner()).push(push);
        let now = Instant::now();
        let mut received = self.0.lock().unwrap_or_else(|p| p.into_inner());
        received.requests += 1;
        received.points += points as u64;
        received.largest = received.largest.max(len);
        received.bytes += len as u64;
        received.first.get_or_insert(now);
        received.last = Some(now);
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The receiver, serving on `port` until stopped or dropped.
pub struct Receiver {
    counter: Arc<Counter>,
    pub port: u16,
    task: JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(0).await
    }

    /// A receiver on `port` (0: a free one).
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let counter = Arc::new(Counter::default());
        // Far above the exporter's 4 MiB limit, so an oversized request is measured, not refused.
        let service =
            MetricsServiceServer::from_arc(counter.clone()).max_decoding_message_size(512 << 20);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            // Flow-control windows that grow with the connection's bandwidth-delay product,
            // as grpc-go's (the Collector's) do; fixed 64 KiB windows would make the exporter
            // send in small writes and wait for window updates.
            let served = Server::builder()
                .http2_adaptive_window(Some(true))
                .serve_with_incoming_shutdown(service, TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("OTLP receiver stopped: {e}");
            }
        });
        Ok(Receiver {
            counter,
            port,
            task,
            stop: Some(stop),
        })
    }

    /// Stops serving: connections are closed once their requests are answered, and the port
    /// is free again.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    pub fn received(&self) -> Received {
        *self.counter.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request so far, in arrival order.
    pub fn pushes(&self) -> Vec<Push> {
        self.counter
            .1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What was received so far, counting from nothing again.
    pub fn take(&self) -> Received {
        std::mem::take(&mut *self.counter.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
