//! Leases.
//!
//! KSM identifies a lease by its name alone; the namespace is a label of each family.

use k8s_openapi::api::coordination::v1::Lease;

use super::common::{self, text};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static LEASES: KindDef<Lease> = KindDef {
    resource: "leases",
    identity_labels: &["lease"],
    identity: common::name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_lease_owner",
            "Information about the Lease's owner.",
            owner,
        ),
        Family::experimental(
            "kube_lease_renew_time",
            "Kube lease renew time.",
            |l, _, s| {
                let renew = l.spec.as_ref().and_then(|spec| spec.renew_time.as_ref());
                if let Some(t) = renew {
                    s.push_labeled(
                        &[("namespace", text(&l.metadata.namespace))],
                        t.0.as_second() as f64,
                    );
                }
            },
        ),
    ],
};

/// One sample per owner reference, or one with empty owner labels when there is none.
fn owner(l: &Lease, _: &KindOptions, samples: &mut Samples) {
    let namespace = text(&l.metadata.namespace);
    let holder = l.spec.as_ref().map(|s| text(&s.holder_identity));
    let holder = holder.unwrap_or_default();
    let owners = l.metadata.owner_references.as_deref().unwrap_or_default();
    let mut push = |kind: &str, name: &str| {
        samples.push_labeled(
            &[
                ("owner_kind", kind),
                ("owner_name", name),
                ("namespace", namespace),
                ("lease_holder", holder),
            ],
            1.0,
        );
    };
    if owners.is_empty() {
        push("", "");
    }
    for o in owners {
        push(&o.kind, &o.name);
    }
}
