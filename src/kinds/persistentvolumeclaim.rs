//! PersistentVolumeClaims.

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus,
};

use super::common::{self, push_conditions, push_each, push_one_of, quantity_int_value};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static PERSISTENTVOLUMECLAIMS: KindDef<PersistentVolumeClaim> = KindDef {
    resource: "persistentvolumeclaims",
    identity_labels: &["namespace", "persistentvolumeclaim"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.persistentvolumeclaim",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.persistentvolumeclaim.name"],
        uid: Some("k8s.persistentvolumeclaim.uid"),
    }),
    families: &[
        Family::stable(
            "kube_persistentvolumeclaim_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_persistentvolumeclaim_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_persistentvolumeclaim_info",
            "Information about persistent volume claim.",
            info,
        ),
        Family::stable(
            "kube_persistentvolumeclaim_status_phase",
            "The phase the persistent volume claim is currently in.",
            |pvc, _, s| {
                let phase = status(pvc).and_then(|st| st.phase.as_deref());
                push_one_of(s, "phase", &["Lost", "Bound", "Pending"], phase);
            },
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.persistentvolumeclaim.status.phase",
            "{persistentvolumeclaim}",
            "Number of PersistentVolumeClaims in a given phase.",
        )
        .attributes(&[Attr::Rename(
            "phase",
            "k8s.persistentvolumeclaim.status.phase",
        )])]),
        Family::stable(
            "kube_persistentvolumeclaim_resource_requests_storage_bytes",
            "The capacity of storage requested by the persistent volume claim.",
            requests_storage_bytes,
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.persistentvolumeclaim.storage.request",
            "By",
            "The storage requested by the PersistentVolumeClaim.",
        )]),
        Family::stable(
            "kube_persistentvolumeclaim_access_mode",
            "The access mode(s) specified by the persistent volume claim.",
            |pvc, _, s| {
                push_each(
                    s,
                    "access_mode",
                    spec(pvc).and_then(|sp| sp.access_modes.as_deref()),
                )
            },
        ),
        Family::experimental(
            "kube_persistentvolumeclaim_status_condition",
            "Information about status of different conditions of persistent volume claim.",
            |pvc, _, s| {
                let conditions = status(pvc).and_then(|st| st.conditions.as_deref());
                push_conditions(s, conditions, |c| (&c.type_, &c.status));
            },
        ),
        Family::experimental(
            "kube_persistentvolumeclaim_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_persistentvolumeclaim_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::semconv_only(
            "The storage capacity provisioned for the claim.",
            &[SemconvMetric::updown(
                "k8s.persistentvolumeclaim.storage.capacity",
                "By",
                "The actual storage capacity provisioned for the PersistentVolumeClaim.",
            )],
            status_capacity_bytes,
        ),
    ],
};

fn spec(pvc: &PersistentVolumeClaim) -> Option<&PersistentVolumeClaimSpec> {
    pvc.spec.as_ref()
}

fn status(pvc: &PersistentVolumeClaim) -> Option<&PersistentVolumeClaimStatus> {
    pvc.status.as_ref()
}

fn info(pvc: &PersistentVolumeClaim, _: &KindOptions, samples: &mut Samples) {
    // The legacy beta annotation still takes precedence over the field, as in Kubernetes.
    let beta_class = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"));
    let spec_field = |field: fn(&PersistentVolumeClaimSpec) -> &Option<String>| {
        spec(pvc)
            .and_then(|sp| field(sp).as_deref())
            .unwrap_or_default()
    };
    let storage_class = match beta_class {
        Some(class) => class.as_str(),
        None => spec_field(|sp| &sp.storage_class_name),
    };
    samples.push_labeled(
        &[
            ("storageclass", storage_class),
            ("volumename", spec_field(|sp| &sp.volume_name)),
            ("volumemode", spec_field(|sp| &sp.volume_mode)),
        ],
        1.0,
    );
}

fn requests_storage_bytes(pvc: &PersistentVolumeClaim, _: &KindOptions, samples: &mut Samples) {
    let storage = spec(pvc)
        .and_then(|sp| sp.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|requests| requests.get("storage"));
    if let Some(bytes) = storage.and_then(quantity_int_value) {
        samples.push(bytes);
    }
}

/// `status.capacity.storage` in bytes, once the claim is bound.
fn status_capacity_bytes(pvc: &PersistentVolumeClaim, _: &KindOptions, samples: &mut Samples) {
    let capacity = status(pvc).and_then(|st| st.capacity.as_ref());
    if let Some(bytes) = capacity
        .and_then(|c| c.get("storage"))
        .and_then(common::quantity_value)
    {
        samples.push(bytes);
    }
}

/// The receiver's persistentvolumeclaim entity: name, namespace, creation time, the bound
/// volume, allowed labels and annotations.
fn describe_entity(
    pvc: &PersistentVolumeClaim,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    let Some(mut attributes) = entity::Attributes::of(pvc, "k8s.persistentvolumeclaim.uid") else {
        return;
    };
    let meta = &pvc.metadata;
    attributes.set(
        "k8s.persistentvolumeclaim.name",
        meta.name.as_deref().unwrap_or_default(),
    );
    attributes.set(
        entity::NAMESPACE_NAME,
        meta.namespace.as_deref().unwrap_or_default(),
    );
    attributes.set(
        "k8s.persistentvolumeclaim.creation_timestamp",
        &entity::rfc3339(meta.creation_timestamp.as_ref()),
    );
    let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    if let Some(volume) = volume.filter(|v| !v.is_empty()) {
        attributes.set("k8s.persistentvolume.name", volume);
    }
    attributes.set_allowed(
        "k8s.persistentvolumeclaim.label.",
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    attributes.set_allowed(
        "k8s.persistentvolumeclaim.annotation.",
        &options.allow_annotations,
        meta.annotations.as_ref(),
    );
    attributes.push(samples, entity::OBJECT);
}
