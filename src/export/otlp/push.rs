//! A pipeline's OTLP push as a reload sees it: started, replaced with new settings or stopped,
//! with one set of telemetry for the process's life.

use std::sync::{Arc, Once};

use opentelemetry::metrics::Meter;

use super::{OtlpConfig, OtlpError, OtlpExporter, OtlpTelemetry};
use crate::leader::Leadership;
use crate::meter::Collect;

pub struct OtlpPush {
    collect: Collect,
    leadership: Leadership,
    telemetry: Arc<OtlpTelemetry>,
    meter: Meter,
    /// The telemetry is registered on `meter` with the first exporter (a pipeline that never
    /// pushes reports no OTLP telemetry).
    registered: Once,
    running: Option<(OtlpConfig, OtlpExporter)>,
}

impl OtlpPush {
    /// Nothing pushed yet; `meter` is where its telemetry will be reported.
    pub fn new(collect: Collect, leadership: Leadership, meter: Meter) -> Self {
        OtlpPush {
            collect,
            leadership,
            telemetry: Arc::new(OtlpTelemetry::default()),
            meter,
            registered: Once::new(),
            running: None,
        }
    }

    /// The settings pushed with now, if any.
    pub fn config(&self) -> Option<&OtlpConfig> {
        self.running.as_ref().map(|(config, _)| config)
    }

    /// An exporter for `config`, started; it pushes alongside the running one until
    /// [`OtlpPush::replace`] puts it in its place.
    pub fn start(&self, config: &OtlpConfig) -> Result<OtlpExporter, OtlpError> {
        self.registered
            .call_once(|| self.telemetry.register(&self.meter));
        tracing::info!(
            endpoint = config.endpoint,
            protocol = %config.protocol,
            interval = ?config.interval,
            "pushing OTLP"
        );
        OtlpExporter::spawn(
            config.clone(),
            self.collect.clone(),
            self.telemetry.clone(),
            self.leadership.clone(),
        )
    }

    /// Puts `next` (an exporter [`OtlpPush::start`]ed with its config) in force, stopping the
    /// running one; `None` stops pushing.
    pub fn replace(&mut self, next: Option<(OtlpConfig, OtlpExporter)>) {
        if next.is_none() && self.running.is_some() {
            tracing::info!("OTLP push stopped");
        }
        self.running = next;
    }
}
