//! ResourceQuotas.

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::KindDef;
use super::common::{self, quantity_cores, quantity_int_value};
use crate::metric::{Family, KindOptions, Samples};

pub static RESOURCEQUOTAS: KindDef<ResourceQuota> = KindDef {
    resource: "resourcequotas",
    identity_labels: &["namespace", "resourcequota"],
    identity: common::namespace_name,
    metadata_only: false,
    families: &[
        Family::stable(
            "kube_resourcequota_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_resourcequota",
            "Information about resource quota.",
            usage,
        ),
        Family::experimental(
            "kube_resourcequota_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        // Stable in KSM's code (and HELP), though its docs list it as experimental.
        Family::stable(
            "kube_resourcequota_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

/// The status' hard limits and usage, one sample per resource and `type`.
fn usage(rq: &ResourceQuota, _: &KindOptions, samples: &mut Samples) {
    let Some(status) = &rq.status else {
        return;
    };
    for (kind, list) in [("hard", &status.hard), ("used", &status.used)] {
        for (resource, quantity) in list.iter().flatten() {
            if let Some(value) = quota_value(quantity) {
                samples.push_labeled(&[("resource", resource), ("type", kind)], value);
            }
        }
    }
}

/// Go's `math.MaxInt64 / 1000`: above it a value in milli-units no longer fits an int64.
const MAX_MILLI_VALUE: f64 = (i64::MAX / 1000) as f64;

/// kube-state-metrics' `convertValueToFloat64`: milli-unit precision (so `500m` CPU is 0.5)
/// unless the value is too large for that, then whole units.
fn quota_value(quantity: &Quantity) -> Option<f64> {
    let value = quantity_int_value(quantity)?;
    if value > MAX_MILLI_VALUE {
        Some(value)
    } else {
        quantity_cores(quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Option<f64> {
        quota_value(&Quantity(s.to_string()))
    }

    #[test]
    fn milli_precision_until_it_would_overflow() {
        assert_eq!(value("500m"), Some(0.5));
        assert_eq!(value("1Gi"), Some(1073741824.0));
        assert_eq!(value("0.0001"), Some(0.001));
        assert_eq!(value("2Ei"), Some(2f64.powi(61)));
        assert_eq!(value("lots"), None);
    }
}
