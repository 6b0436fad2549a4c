//! A kind's families as observable instruments whose callbacks read the kind's store.

use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::{Key, KeyValue, Value};

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

fn observe_family(
    store: &KindStore,
    identity_labels: &'static [&'static str],
    position: usize,
    observer: &dyn AsyncInstrument<f64>,
) {
    let mut attributes: Vec<KeyValue> = Vec::with_capacity(8);
    store.for_each(|object| {
        for (labels, value) in object.family(position) {
            attributes.clear();
            attributes.extend(
                identity_labels
                    .iter()
                    .zip(object.identity())
                    .map(|(k, v)| KeyValue::new(Key::from_static_str(k), Value::from(v.shared()))),
            );
            attributes.extend(
                labels
                    .iter()
                    .map(|(k, v)| KeyValue::new(Key::from(k.shared()), Value::from(v.shared()))),
            );
            observer.observe(value, &attributes);
        }
    });
}
