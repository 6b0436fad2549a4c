//! Entity events at scale, in process: a generated cluster loaded with and without
//! `--entity-events` (what the entity attributes add to the store), then full-state cycles
//! encoded into OTLP logs requests as the push sends them (CPU, records, bytes).

use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kube_emulator::GeneratedCluster;
use kube_state_otel::export::otlp::{
    DEFAULT_MAX_REQUEST_BYTES, EntityEvent, EntityFormat, EntitySource, LogsEncoder, RecordEncoder,
    scope_attributes,
};
use kube_state_otel::pipeline::{Pipeline, PipelineSettings};
use kube_state_otel::telemetry::Telemetry;
use opentelemetry::KeyValue;

use crate::proc::{median, mib, rss, thread_cpu};

/// The generated cluster: 150,000 pods by default.
#[derive(clap::Args)]
pub struct Size {
    /// Nodes of the generated cluster.
    #[arg(long = "nodes", default_value_t = 5000)]
    nodes: usize,
    /// Pods on each node.
    #[arg(long = "pods-per-node", default_value_t = 30)]
    pods: usize,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    size: Size,
    /// Full-state cycles to time (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Load without entity events (the baseline of the store's size).
    #[arg(long)]
    without: bool,
    /// `receiver` or `spec`.
    #[arg(long, default_value = "receiver")]
    format: EntityFormat,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let with_entities = PipelineSettings {
        entity_events: !args.without,
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(with_entities, Telemetry::new())?;
    let Size { nodes, pods } = args.size;
    let loading = thread_cpu();
    let stored = pipeline.load_objects(GeneratedCluster::new(nodes, pods, 1).objects());
    let load_cpu = thread_cpu() - loading;
    let pid = std::process::id();
    let store_bytes = pipeline.store_heap_bytes() as u64;
    let (rss_now, rss_peak) = rss(pid);
    println!(
        "entities: {stored} objects ({} nodes × {} pods), entity events {}: load {:.2} s CPU, \
         store {:.1} MiB, RSS {:.0} MiB (peak {:.0} MiB)",
        nodes,
        pods,
        if args.without { "off" } else { "on" },
        load_cpu.as_secs_f64(),
        mib(store_bytes),
        mib(rss_now),
        mib(rss_peak),
    );
    if args.without {
        return Ok(());
    }
    let resource = [KeyValue::new("service.name", "kube-state-otel")];
    let mut cpu_times = Vec::new();
    let (mut records, mut requests, mut bytes, mut walls) = (0, 0, 0usize, Vec::new());
    for _ in 0..args.repeat.max(1) {
        let (start, wall) = (thread_cpu(), Instant::now());
        let mut sent = 0usize;
        let mut encoder = LogsEncoder::new(
            &resource,
            &scope_attributes(),
            DEFAULT_MAX_REQUEST_BYTES,
            |request| {
                sent += request.body.len();
                ControlFlow::Continue(())
            },
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut record = RecordEncoder::new(args.format, Duration::from_secs(300), now);
        pipeline.full_state(&mut |event: &EntityEvent<'_>| encoder.push(record.encode(event)));
        let summary = encoder.finish();
        cpu_times.push(thread_cpu() - start);
        walls.push(wall.elapsed());
        (records, requests, bytes) = (summary.points, summary.requests, sent);
    }
    let cpu = median(&mut cpu_times);
    let wall = median(&mut walls);
    let (_, peak) = rss(pid);
    println!(
        "full state ({}): {records} records in {requests} requests of at most 4 MiB, \
         {:.1} MiB encoded ({:.0} B per record); {:.3} s CPU, {:.3} s wall (median of {}); \
         peak RSS {:.0} MiB",
        args.format,
        mib(bytes as u64),
        bytes as f64 / records.max(1) as f64,
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        args.repeat.max(1),
        mib(peak),
    );
    Ok(())
}
