//! One pipeline, in process: load a generated cluster, then time collections.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kube_emulator::GeneratedCluster;
use kube_state_otel::export::ordered::collect_in_order;
use kube_state_otel::export::otlp::{DEFAULT_MAX_REQUEST_BYTES, OtlpBuffers, OtlpEncoder};
use kube_state_otel::export::prometheus::TextEncoder;
use kube_state_otel::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number, OpenMetricsType};
use kube_state_otel::metric::Schema;
use kube_state_otel::pipeline::{Pipeline, PipelineSettings, ResourceFilter};
use kube_state_otel::telemetry::Telemetry;
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Stream, Temporality};

use crate::proc::{median, mib, rss, thread_cpu};

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 500)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// Collections to time (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Skip the opentelemetry_sdk baseline (it needs GiBs at large sizes).
    #[arg(long)]
    no_sdk: bool,
    /// Time only the OTLP collection (to profile it alone): no text, no SDK baseline.
    #[arg(long)]
    otlp_only: bool,
    /// The pipeline's schema: ksm, semconv or both.
    #[arg(long, default_value = "ksm")]
    schema: Schema,
    /// OTLP with each object's identity labels on a resource of its own.
    #[arg(long)]
    identity_on_resource: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let pid = std::process::id();
    let cluster = GeneratedCluster::new(args.nodes, args.pods_per_node, 1);
    let objects = cluster.objects();
    let settings = PipelineSettings {
        schema: args.schema,
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(settings, Telemetry::new())?;
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let n = objects.len();
    let stored = pipeline.load_objects(objects);
    let load_cpu = thread_cpu() - cpu;
    let load_wall = wall.elapsed();
    let store_bytes = pipeline.store_heap_bytes() as u64;

    let mut cpu_times = Vec::new();
    let mut series = 0;
    let mut body_bytes = 0;
    let text_runs = if args.otlp_only { 0 } else { args.repeat };
    for _ in 0..text_runs {
        let mut bytes = 0usize;
        let start = thread_cpu();
        let mut encoder = TextEncoder::new(64 * 1024, |chunk: Bytes| bytes += chunk.len());
        for part in pipeline.parts(&ResourceFilter::default()) {
            part.collect(&mut encoder);
        }
        series = encoder.finish();
        cpu_times.push(thread_cpu() - start);
        body_bytes = bytes;
    }
    let ours = median(&mut cpu_times);

    // The same collection on two threads, as /metrics runs it: wall time.
    let mut walls = Vec::new();
    for _ in 0..text_runs {
        let start = Instant::now();
        let mut bytes = 0usize;
        collect_in_order(
            pipeline.parts(&ResourceFilter::default()),
            2,
            kube_state_otel::http::LOOKAHEAD,
            |emit| TextEncoder::new(64 * 1024, emit),
            |chunk| bytes += chunk.len(),
        );
        walls.push(start.elapsed());
    }
    let parallel = median(&mut walls);

    // The OTLP collection (semconv instruments object by object), encoded into requests.
    let mut otlp_times = Vec::new();
    let (mut requests, mut otlp_bytes) = (0, 0);
    // Kept from one collection to the next, as the exporter does.
    let buffers = OtlpBuffers::default();
    for _ in 0..args.repeat {
        (requests, otlp_bytes) = (0, 0);
        let start = thread_cpu();
        let service = [KeyValue::new("service.name", "kso-bench")];
        let mut encoder = OtlpEncoder::new(&service, DEFAULT_MAX_REQUEST_BYTES, 1, 2, |request| {
            requests += 1;
            otlp_bytes += request.body.len();
            ControlFlow::Continue(())
        })
        .with_buffers(&buffers)
        .identity_on_resource(args.identity_on_resource);
        pipeline.collect(&mut encoder);
        encoder.finish();
        otlp_times.push(thread_cpu() - start);
    }
    let otlp = median(&mut otlp_times);

    // The collection alone, into a sink that reads every attribute and keeps nothing: what
    // the encoders add on top of it.
    let mut bare_times = Vec::new();
    let mut touched = 0u64;
    for _ in 0..args.repeat {
        let start = thread_cpu();
        let mut sink = ReadingSink::default();
        pipeline.collect(&mut sink);
        bare_times.push(thread_cpu() - start);
        touched = sink.bytes;
    }
    let bare = median(&mut bare_times);

    println!(
        "## collect: {} nodes × {} pods/node ({} pods), schema {:?}",
        args.nodes,
        args.pods_per_node,
        cluster.pod_count(),
        args.schema
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| objects stored | {stored} of {n} |");
    println!(
        "| load (decode + compact) | {:.2} s CPU, {:.2} s wall |",
        load_cpu.as_secs_f64(),
        load_wall.as_secs_f64()
    );
    println!("| store heap (samples) | {:.1} MiB |", mib(store_bytes));
    println!(
        "| store heap per pod | {:.0} B |",
        store_bytes as f64 / cluster.pod_count().max(1) as f64
    );
    if !args.otlp_only {
        println!("| series | {series} |");
        println!("| text body | {:.1} MiB |", mib(body_bytes as u64));
        println!(
            "| collection → Prometheus text, median of {} | {:.3} s CPU |",
            args.repeat,
            ours.as_secs_f64()
        );
        println!(
            "| the same on 2 threads (as /metrics runs it), median of {} | {:.3} s wall |",
            args.repeat,
            parallel.as_secs_f64()
        );
    }
    println!(
        "| collection → OTLP requests ({requests} of ≤ 4 MiB, {:.1} MiB), median of {} | {:.3} s CPU |",
        mib(otlp_bytes as u64),
        args.repeat,
        otlp.as_secs_f64()
    );
    println!(
        "| the collection alone (a sink that reads each attribute, {:.1} MiB), median of {} | {:.3} s CPU |",
        mib(touched),
        args.repeat,
        bare.as_secs_f64()
    );
    if !args.no_sdk && !args.otlp_only {
        let sdk = sdk_collect(&pipeline, args.repeat, series as usize);
        println!(
            "| opentelemetry_sdk collection + the same text rendering, median of {} | {:.3} s CPU |",
            args.repeat,
            sdk.as_secs_f64()
        );
        println!(
            "| SDK CPU / ours | {:.1}× |",
            sdk.as_secs_f64() / ours.as_secs_f64().max(1e-9)
        );
        let (_, hwm) = rss(pid);
        println!(
            "| peak RSS of this process (with the SDK's copies) | {:.1} MiB |",
            mib(hwm)
        );
    }
    Ok(())
}

/// Reads each observation's attribute keys and values (their first and last bytes, as an
/// encoder's copy would load them) and keeps only their total length.
#[derive(Default)]
struct ReadingSink {
    bytes: u64,
}

// SAFETY: keeps nothing of the attributes.
unsafe impl MetricSink for ReadingSink {
    fn begin(&mut self, _desc: &InstrumentDesc) {}

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        for kv in attributes {
            let (key, value) = (kv.key.as_str().as_bytes(), kv.value.as_str());
            let value = value.as_bytes();
            let ends = [key.first(), key.last(), value.first(), value.last()].map(|b| b.copied());
            std::hint::black_box(ends);
            self.bytes += (key.len() + value.len()) as u64;
        }
        std::hint::black_box(value);
    }
}

/// The same registrations through `opentelemetry_sdk`: its collection handed to an exporter
/// that renders its points as Prometheus text (the SDK path end to end).
/// Each instrument's cardinality limit is the collection's whole series count, so no point is
/// dropped; the SDK sizes its maps by the limit, and a fixed 10M took over 24 GiB here.
fn sdk_collect(pipeline: &Pipeline, repeat: usize, series: usize) -> Duration {
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(TextRendering).build())
        .with_view(move |_: &opentelemetry_sdk::metrics::Instrument| {
            Stream::builder()
                .with_cardinality_limit(series + 1)
                .build()
                .ok()
        })
        .build();
    pipeline.register_instruments(&provider);
    let mut times = Vec::new();
    for _ in 0..repeat {
        // The periodic reader collects and exports on its own thread: count the process' CPU.
        let start = crate::proc::cpu(std::process::id());
        let _ = provider.force_flush();
        times.push(crate::proc::cpu(std::process::id()) - start);
    }
    median(&mut times)
}

/// The SDK's exporter for the baseline: renders each collection as Prometheus text, output
/// discarded. (The SDK's in-memory exporter would need its `testing` feature, which turns on
/// features of crates the exporter shares and makes a workspace build and `cargo run` differ.)
struct TextRendering;

impl PushMetricExporter for TextRendering {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        render_sdk_points(metrics);
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Renders one SDK collection as Prometheus text (output discarded).
fn render_sdk_points(metrics: &ResourceMetrics) {
    let mut encoder = TextEncoder::new(64 * 1024, |_: Bytes| {});
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let (kind, points): (InstrumentKind, Vec<(Vec<KeyValue>, f64)>) = match metric.data() {
                AggregatedMetrics::F64(MetricData::Gauge(g)) => (
                    InstrumentKind::Gauge,
                    g.data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.value()))
                        .collect(),
                ),
                AggregatedMetrics::F64(MetricData::Sum(s)) => (
                    InstrumentKind::Counter,
                    s.data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.value()))
                        .collect(),
                ),
                _ => continue,
            };
            encoder.begin(&InstrumentDesc {
                scope: scope.scope().name().into(),
                schema_url: scope
                    .scope()
                    .schema_url()
                    .unwrap_or_default()
                    .to_string()
                    .into(),
                name: metric.name().to_string().into(),
                description: metric.description().to_string().into(),
                unit: metric.unit().to_string().into(),
                kind,
                openmetrics: OpenMetricsType::FromKind,
            });
            for (attributes, value) in points {
                encoder.observe(Number::F64(value), &attributes);
            }
        }
    }
    encoder.finish();
}
