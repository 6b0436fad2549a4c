//! LimitRanges.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::common::{self, quantity_cores};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static LIMITRANGES: KindDef<LimitRange> = KindDef {
    resource: "limitranges",
    identity_labels: &["namespace", "limitrange"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::stable(
            "kube_limitrange",
            "Information about limit range.",
            constraints,
        ),
        Family::stable(
            "kube_limitrange_created",
            "Unix creation timestamp",
            common::created,
        ),
    ],
};

type Constraint = fn(&LimitRangeItem) -> &Option<BTreeMap<String, Quantity>>;

/// The constraints of a limit, with the `constraint` label kube-state-metrics gives each.
const CONSTRAINTS: &[(&str, Constraint)] = &[
    ("min", |l| &l.min),
    ("max", |l| &l.max),
    ("default", |l| &l.default),
    ("defaultRequest", |l| &l.default_request),
    ("maxLimitRequestRatio", |l| &l.max_limit_request_ratio),
];

/// One sample per resource of every constraint of every limit, in milli-precision units
/// (Go's `MilliValue() / 1000`) whatever the resource.
fn constraints(lr: &LimitRange, _: &KindOptions, samples: &mut Samples) {
    let limits = lr.spec.as_ref().map(|spec| spec.limits.as_slice());
    for limit in limits.unwrap_or_default() {
        for (constraint, field) in CONSTRAINTS {
            for (resource, quantity) in field(limit).iter().flatten() {
                let Some(value) = quantity_cores(quantity) else {
                    continue;
                };
                samples.push_labeled(
                    &[
                        ("resource", resource),
                        ("type", &limit.type_),
                        ("constraint", constraint),
                    ],
                    value,
                );
            }
        }
    }
}
