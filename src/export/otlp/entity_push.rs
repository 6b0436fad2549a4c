//! The entity events push: changes sent within a second (deletes at once), every entity's
//! state every interval, over the same transport, retries and request splitting as the
//! metrics push; only while this replica leads, and the whole state again when it becomes the
//! leader (what happened while it followed was not sent).
//!
//! One job at a time: events are encoded on a blocking thread into requests the sender sends
//! as they come. Changes arriving meanwhile wait, coalesced per object, in the stores' change
//! logs, so memory stays bounded by the objects watched whatever the receiver's pace.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::Meter;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::entity::{EntityEvent, EntityFormat, EntitySource, RecordEncoder, scope_attributes};
use super::exporter::{
    Field, OtlpTelemetry, Sender, register_by_result, spawn_encoding, unix_nanos,
};
use super::logs::LogsEncoder;
use super::request::OtlpBuffers;
use super::{OtlpConfig, OtlpError};
use crate::leader::Leadership;

/// How long changes are gathered before they are sent (deletes are not waited for).
pub const BATCH_DELAY: Duration = Duration::from_secs(1);
/// How often a follower looks whether it leads now.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(1);

/// Everything the entity events push needs.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityConfig {
    /// Transport settings of the logs signal.
    pub otlp: OtlpConfig,
    /// Time between two sends of the whole state.
    pub interval: Duration,
    pub format: EntityFormat,
}

/// A pipeline's entity events push as a reload sees it, with one set of telemetry for the
/// process's life.
pub struct EntityPush {
    source: Arc<dyn EntitySource>,
    leadership: Leadership,
    telemetry: Arc<OtlpTelemetry>,
    meter: Meter,
    registered: Once,
    running: Option<(EntityConfig, EntityExporter)>,
}

/// A running push; dropping it stops it.
pub struct EntityExporter(JoinHandle<()>);

impl Drop for EntityExporter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EntityPush {
    pub fn new(source: Arc<dyn EntitySource>, leadership: Leadership, meter: Meter) -> Self {
        EntityPush {
            source,
            leadership,
            telemetry: Arc::new(OtlpTelemetry::default()),
            meter,
            registered: Once::new(),
            running: None,
        }
    }

    /// The settings pushed with now, if any.
    pub fn config(&self) -> Option<&EntityConfig> {
        self.running.as_ref().map(|(config, _)| config)
    }

    /// A push of `config`, started (inside a Tokio runtime).
    pub fn start(&self, config: &EntityConfig) -> Result<EntityExporter, OtlpError> {
        self.registered
            .call_once(|| register(&self.telemetry, &self.meter));
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        let sender = Sender::new(
            &config.otlp,
            self.telemetry.clone(),
            self.leadership.clone(),
        )?;
        tracing::info!(
            endpoint = config.otlp.endpoint,
            protocol = %config.otlp.protocol,
            interval = ?config.interval,
            format = %config.format,
            "pushing entity events"
        );
        let push = Push {
            source: self.source.clone(),
            config: config.clone(),
            telemetry: self.telemetry.clone(),
            leadership: self.leadership.clone(),
            buffers: OtlpBuffers::default(),
        };
        Ok(EntityExporter(runtime.spawn(push.run(sender))))
    }

    /// Puts `next` in force, stopping the running push; `None` stops pushing.
    pub fn replace(&mut self, next: Option<(EntityConfig, EntityExporter)>) {
        if next.is_none() && self.running.is_some() {
            tracing::info!("entity events push stopped");
        }
        self.running = next;
    }
}

struct Push {
    source: Arc<dyn EntitySource>,
    config: EntityConfig,
    telemetry: Arc<OtlpTelemetry>,
    leadership: Leadership,
    buffers: OtlpBuffers,
}

impl Push {
    async fn run(self, mut sender: Sender) {
        let wake = self.source.wake();
        let mut leading = false;
        let mut next_full = Instant::now() + self.config.interval;
        loop {
            let woken = tokio::select! {
                _ = wake.notified() => true,
                _ = tokio::time::sleep_until(next_full) => false,
                _ = tokio::time::sleep(LEADERSHIP_CHECK) => false,
            };
            if woken && !self.source.deletes_pending() {
                // Changes come in bursts (a rollout): one batch for the burst.
                tokio::time::sleep(BATCH_DELAY).await;
            }
            let now_leading = self.leadership.is_leader();
            let became_leader = now_leading && !leading;
            leading = now_leading;
            if !leading {
                // A follower sends nothing; what changed meanwhile is in the state it sends
                // when it leads.
                self.source.drain(&mut |_| {});
                continue;
            }
            let full = became_leader || Instant::now() >= next_full;
            if !woken && !full {
                continue;
            }
            let source = self.source.clone();
            let pending = spawn_encoding(&self.telemetry, self.config.otlp.max_request_bytes, {
                let (config, buffers) = (self.config.clone(), self.buffers.clone());
                move |mut emit| {
                    let mut encoder = LogsEncoder::new(
                        &config.otlp.resource,
                        &scope_attributes(),
                        config.otlp.max_request_bytes,
                        move |request| emit.send(request),
                    )
                    .with_buffers(&buffers);
                    let mut records = RecordEncoder::new(
                        config.format,
                        config.interval,
                        unix_nanos(SystemTime::now()),
                    );
                    let mut sink = |event: &EntityEvent<'_>| encoder.push(records.encode(event));
                    source.drain(&mut sink);
                    if full {
                        source.full_state(&mut sink);
                    }
                    encoder.finish()
                }
            });
            if full {
                next_full = Instant::now() + self.config.interval;
            }
            match sender.export(pending).await {
                Ok(stats) if stats.points > 0 => {
                    tracing::debug!(events = stats.points, full, "entity events sent");
                }
                Ok(_) => {}
                Err(OtlpError::CollectionPanicked) => {
                    tracing::error!("entity events encoding panicked");
                }
                // The sender logged it; the next full state repairs what was lost.
                Err(_) => {}
            }
        }
    }
}

/// The push's figures as self-telemetry instruments on `meter`.
fn register(telemetry: &Arc<OtlpTelemetry>, meter: &Meter) {
    register_by_result(
        meter,
        telemetry,
        (
            "kube_state_otel_entity_events_total",
            "Entity events (log records) sent, by result: acknowledged, or in a request given up",
        ),
        |t| &t.points_sent,
        |t| &t.points_failed,
    );
    register_by_result(
        meter,
        telemetry,
        (
            "kube_state_otel_entity_event_requests_total",
            "OTLP logs export requests of entity events, by result",
        ),
        |t| &t.requests_ok,
        |t| &t.requests_failed,
    );
    let counters: [(&'static str, &'static str, Field); 2] = [
        (
            "kube_state_otel_entity_events_rejected_total",
            "Entity events the receiver rejected",
            |t| &t.points_rejected,
        ),
        (
            "kube_state_otel_entity_events_dropped_total",
            "Entity events too large for a request of their own",
            |t| &t.points_dropped,
        ),
    ];
    for (name, help, field) in counters {
        let t = telemetry.clone();
        meter
            .u64_observable_counter(name)
            .with_description(help)
            .with_callback(move |o| o.observe(field(&t).load(Ordering::Relaxed), &[]))
            .build();
    }
}
