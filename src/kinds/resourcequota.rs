//! ResourceQuotas.

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::common::{self, quantity_cores, quantity_int_value};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static RESOURCEQUOTAS: KindDef<ResourceQuota> = KindDef {
    resource: "resourcequotas",
    identity_labels: &["namespace", "resourcequota"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.resourcequota.name"],
        uid: Some("k8s.resourcequota.uid"),
    }),
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
        )
        .semconv(&[
            SemconvMetric::updown("k8s.resourcequota.cpu.limit.hard", "{cpu}", "The CPU limits in a specific namespace. The value represents the configured quota limit of the resource in the namespace.").double()
                .when(&[("resource", &["limits.cpu"]), ("type", &["hard"])]),
            SemconvMetric::updown("k8s.resourcequota.cpu.limit.used", "{cpu}", "The CPU limits in a specific namespace. The value represents the current observed total usage of the resource in the namespace.").double()
                .when(&[("resource", &["limits.cpu"]), ("type", &["used"])]),
            SemconvMetric::updown("k8s.resourcequota.cpu.request.hard", "{cpu}", "The CPU requests in a specific namespace. The value represents the configured quota limit of the resource in the namespace.").double()
                .when(&[("resource", &["requests.cpu", "cpu"]), ("type", &["hard"])]),
            SemconvMetric::updown("k8s.resourcequota.cpu.request.used", "{cpu}", "The CPU requests in a specific namespace. The value represents the current observed total usage of the resource in the namespace.").double()
                .when(&[("resource", &["requests.cpu", "cpu"]), ("type", &["used"])]),
            SemconvMetric::updown("k8s.resourcequota.memory.limit.hard", "By", "The memory limits in a specific namespace. The value represents the configured quota limit of the resource in the namespace.")
                .when(&[("resource", &["limits.memory"]), ("type", &["hard"])]),
            SemconvMetric::updown("k8s.resourcequota.memory.limit.used", "By", "The memory limits in a specific namespace. The value represents the current observed total usage of the resource in the namespace.")
                .when(&[("resource", &["limits.memory"]), ("type", &["used"])]),
            SemconvMetric::updown("k8s.resourcequota.memory.request.hard", "By", "The memory requests in a specific namespace. The value represents the configured quota limit of the resource in the namespace.").when(&[
                ("resource", &["requests.memory", "memory"]),
                ("type", &["hard"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.memory.request.used", "By", "The memory requests in a specific namespace. The value represents the current observed total usage of the resource in the namespace.").when(&[
                ("resource", &["requests.memory", "memory"]),
                ("type", &["used"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.storage.request.hard", "By", "The storage requests in a specific namespace. The value represents the configured quota limit of the resource in the namespace.")
                .when(&[("resource", &["requests.storage"]), ("type", &["hard"])]),
            SemconvMetric::updown("k8s.resourcequota.storage.request.used", "By", "The storage requests in a specific namespace. The value represents the current observed total usage of the resource in the namespace.")
                .when(&[("resource", &["requests.storage"]), ("type", &["used"])]),
            SemconvMetric::updown("k8s.resourcequota.persistentvolumeclaim_count.hard", "{persistentvolumeclaim}", "The total number of PersistentVolumeClaims that can exist in the namespace. The value represents the configured quota limit of the resource in the namespace.")
            .when(&[
                ("resource", &["persistentvolumeclaims"]),
                ("type", &["hard"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.persistentvolumeclaim_count.used", "{persistentvolumeclaim}", "The total number of PersistentVolumeClaims that can exist in the namespace. The value represents the current observed total usage of the resource in the namespace.")
            .when(&[
                ("resource", &["persistentvolumeclaims"]),
                ("type", &["used"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.ephemeral_storage.request.hard", "By", "The sum of local ephemeral storage requests in the namespace. The value represents the configured quota limit of the resource in the namespace.").when(
                &[
                    (
                        "resource",
                        &["requests.ephemeral-storage", "ephemeral-storage"],
                    ),
                    ("type", &["hard"]),
                ],
            ),
            SemconvMetric::updown("k8s.resourcequota.ephemeral_storage.request.used", "By", "The sum of local ephemeral storage requests in the namespace. The value represents the current observed total usage of the resource in the namespace.").when(
                &[
                    (
                        "resource",
                        &["requests.ephemeral-storage", "ephemeral-storage"],
                    ),
                    ("type", &["used"]),
                ],
            ),
            SemconvMetric::updown("k8s.resourcequota.ephemeral_storage.limit.hard", "By", "The sum of local ephemeral storage limits in the namespace. The value represents the configured quota limit of the resource in the namespace.").when(&[
                ("resource", &["limits.ephemeral-storage"]),
                ("type", &["hard"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.ephemeral_storage.limit.used", "By", "The sum of local ephemeral storage limits in the namespace. The value represents the current observed total usage of the resource in the namespace.").when(&[
                ("resource", &["limits.ephemeral-storage"]),
                ("type", &["used"]),
            ]),
            SemconvMetric::updown("k8s.resourcequota.object_count.hard", "{object}", "The object count limits in a specific namespace. The value represents the configured quota limit of the resource in the namespace.")
                .when(&[("resource", OBJECT_COUNTS), ("type", &["hard"])])
                .attributes(&[Attr::Rename("resource", "k8s.resourcequota.resource_name")]),
            SemconvMetric::updown("k8s.resourcequota.object_count.used", "{object}", "The object count limits in a specific namespace. The value represents the current observed total usage of the resource in the namespace.")
                .when(&[("resource", OBJECT_COUNTS), ("type", &["used"])])
                .attributes(&[Attr::Rename("resource", "k8s.resourcequota.resource_name")]),
        ]),
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

/// Quota resources that count objects (`k8s.resourcequota.object_count.*`): `count/<resource>`
/// and the core names Kubernetes also accepts.
const OBJECT_COUNTS: &[&str] = &[
    "count/*",
    "pods",
    "services",
    "services.loadbalancers",
    "services.nodeports",
    "secrets",
    "configmaps",
    "replicationcontrollers",
    "resourcequotas",
];

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
