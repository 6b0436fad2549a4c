//! A kind's families as observable instruments whose callbacks read the kind's store.

use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::{Key, KeyValue};

use crate::metric::{FamilyDesc, MetricType};
use crate::store::KindStore;

/// Registers one instrument per enabled family (in store order) on `meter`.
pub fn register_kind(
    meter: &Meter,
    identity_labels: &'static [&'static str],
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
) {
    for (position, family) in families.iter().enumerate() {
        let store = store.clone();
        let callback = move |observer: &dyn AsyncInstrument<f64>| {
            observe_family(&store, identity_labels, position, observer);
        };
        match family.metric_type {
            MetricType::Gauge => {
                meter
                    .f64_observable_gauge(family.name)
                    .with_description(family.help_line.clone())
                    .with_callback(callback)
                    .build();
            }
            MetricType::Counter => {
                meter
                    .f64_observable_counter(family.name)
                    .with_description(family.help_line.clone())
                    .with_callback(callback)
                    .build();
            }
        }
    }
}

/// Objects whose sample ranges are looked up together: the lookups are independent loads the
/// CPU overlaps, instead of one cache miss after another.
const BATCH: usize = 32;

fn observe_family(
    store: &KindStore,
    identity_labels: &'static [&'static str],
    position: usize,
    observer: &dyn AsyncInstrument<f64>,
) {
    let mut attributes: Vec<KeyValue> = Vec::with_capacity(8);
    let mut ranges = Vec::with_capacity(BATCH);
    store.for_each_batch(BATCH, |objects| {
        ranges.clear();
        ranges.extend(objects.iter().map(|o| o.family_range(position)));
        for (object, range) in objects.iter().zip(ranges.drain(..)) {
            if range.is_empty() {
                continue;
            }
            // The identity attributes are built once per object, not per sample.
            attributes.clear();
            attributes.extend(
                identity_labels
                    .iter()
                    .zip(object.identity())
                    .map(|(k, v)| KeyValue::new(Key::from_static_str(k), v.to_value())),
            );
            let identity = attributes.len();
            for (labels, value) in object.family_samples(range) {
                attributes.truncate(identity);
                attributes.extend(
                    labels
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.to_key(), v.to_value())),
                );
                observer.observe(value, &attributes);
            }
        }
    });
}
