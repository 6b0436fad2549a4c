//! PersistentVolumes.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeSpec};

use super::common::{self, push_each, push_one_of, quantity_int_value};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static PERSISTENTVOLUMES: KindDef<PersistentVolume> = KindDef {
    resource: "persistentvolumes",
    identity_labels: &["persistentvolume"],
    identity: common::name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.persistentvolume",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.persistentvolume.name"],
        uid: Some("k8s.persistentvolume.uid"),
    }),
    families: &[
        Family::stable(
            "kube_persistentvolume_claim_ref",
            "Information about the Persistent Volume Claim Reference.",
            claim_ref,
        ),
        Family::experimental(
            "kube_persistentvolume_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_persistentvolume_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_persistentvolume_status_phase",
            "The phase indicates if a volume is available, bound to a claim, or released by a claim.",
            |pv: &PersistentVolume, _, s| {
                let phases = ["Pending", "Available", "Bound", "Released", "Failed"];
                let phase = pv.status.as_ref().and_then(|st| st.phase.as_deref());
                push_one_of(s, "phase", &phases, phase);
            },
        )
        .semconv(&[SemconvMetric::updown("k8s.persistentvolume.status.phase", "{persistentvolume}", "Number of PersistentVolumes in a given phase.").attributes(&[Attr::Rename("phase", "k8s.persistentvolume.status.phase")])]),
        Family::stable(
            "kube_persistentvolume_info",
            "Information about persistentvolume.",
            info,
        ),
        Family::stable(
            "kube_persistentvolume_capacity_bytes",
            "Persistentvolume capacity in bytes.",
            capacity_bytes,
        )
        .semconv(&[SemconvMetric::updown("k8s.persistentvolume.storage.capacity", "By", "The storage capacity of the PersistentVolume.")]),
        Family::experimental(
            "kube_persistentvolume_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_persistentvolume_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::experimental(
            "kube_persistentvolume_csi_attributes",
            "CSI attributes of the Persistent Volume.",
            csi_attributes,
        )
        .opt_in(),
        Family::experimental(
            "kube_persistentvolume_volume_mode",
            "Volume Mode information for the PersistentVolume.",
            |pv, _, s| {
                // Unset means the API's default.
                let mode = spec(pv).and_then(|sp| sp.volume_mode.as_deref());
                s.push_labeled(&[("volumemode", mode.unwrap_or("Filesystem"))], 1.0);
            },
        ),
        Family::experimental(
            "kube_persistentvolume_access_mode",
            "The access mode(s) specified by the persistent volume.",
            |pv, _, s| {
                push_each(
                    s,
                    "access_mode",
                    spec(pv).and_then(|sp| sp.access_modes.as_deref()),
                )
            },
        ),
    ],
};

fn spec(pv: &PersistentVolume) -> Option<&PersistentVolumeSpec> {
    pv.spec.as_ref()
}

fn claim_ref(pv: &PersistentVolume, _: &KindOptions, samples: &mut Samples) {
    if let Some(claim) = spec(pv).and_then(|sp| sp.claim_ref.as_ref()) {
        samples.push_labeled(
            &[
                ("name", claim.name.as_deref().unwrap_or_default()),
                (
                    "claim_namespace",
                    claim.namespace.as_deref().unwrap_or_default(),
                ),
            ],
            1.0,
        );
    }
}

/// The labels of `kube_persistentvolume_info` that describe the volume source.
#[derive(Default)]
struct Source<'a> {
    gce_persistent_disk_name: &'a str,
    ebs_volume_id: &'a str,
    azure_disk_name: &'a str,
    fc_wwids: String,
    fc_lun: String,
    fc_target_wwns: String,
    iscsi_target_portal: &'a str,
    iscsi_iqn: &'a str,
    iscsi_lun: String,
    iscsi_initiator_name: &'a str,
    nfs_server: &'a str,
    nfs_path: &'a str,
    csi_driver: &'a str,
    csi_volume_handle: &'a str,
    local_path: &'a str,
    local_fs: &'a str,
    host_path: &'a str,
    host_path_type: &'a str,
}

/// Only the first source set, in kube-state-metrics' order of precedence, is described.
fn source(spec: &PersistentVolumeSpec) -> Source<'_> {
    let mut s = Source::default();
    if let Some(gce) = &spec.gce_persistent_disk {
        s.gce_persistent_disk_name = &gce.pd_name;
    } else if let Some(ebs) = &spec.aws_elastic_block_store {
        s.ebs_volume_id = &ebs.volume_id;
    } else if let Some(azure) = &spec.azure_disk {
        s.azure_disk_name = &azure.disk_name;
    } else if let Some(fc) = &spec.fc {
        s.fc_lun = fc.lun.map(|lun| lun.to_string()).unwrap_or_default();
        s.fc_target_wwns = fc.target_wwns.as_deref().unwrap_or_default().join(",");
        s.fc_wwids = fc.wwids.as_deref().unwrap_or_default().join(",");
    } else if let Some(iscsi) = &spec.iscsi {
        s.iscsi_target_portal = &iscsi.target_portal;
        s.iscsi_iqn = &iscsi.iqn;
        s.iscsi_lun = iscsi.lun.to_string();
        s.iscsi_initiator_name = iscsi.initiator_name.as_deref().unwrap_or_default();
    } else if let Some(nfs) = &spec.nfs {
        s.nfs_server = &nfs.server;
        s.nfs_path = &nfs.path;
    } else if let Some(csi) = &spec.csi {
        s.csi_driver = &csi.driver;
        s.csi_volume_handle = &csi.volume_handle;
    } else if let Some(local) = &spec.local {
        s.local_path = &local.path;
        s.local_fs = local.fs_type.as_deref().unwrap_or_default();
    } else if let Some(host_path) = &spec.host_path {
        s.host_path = &host_path.path;
        s.host_path_type = host_path.type_.as_deref().unwrap_or_default();
    }
    s
}

fn info(pv: &PersistentVolume, _: &KindOptions, samples: &mut Samples) {
    let default_spec = PersistentVolumeSpec::default();
    let spec = spec(pv).unwrap_or(&default_spec);
    let s = source(spec);
    samples.push_labeled(
        &[
            (
                "storageclass",
                spec.storage_class_name.as_deref().unwrap_or_default(),
            ),
            ("gce_persistent_disk_name", s.gce_persistent_disk_name),
            ("ebs_volume_id", s.ebs_volume_id),
            ("azure_disk_name", s.azure_disk_name),
            ("fc_wwids", &s.fc_wwids),
            ("fc_lun", &s.fc_lun),
            ("fc_target_wwns", &s.fc_target_wwns),
            ("iscsi_target_portal", s.iscsi_target_portal),
            ("iscsi_iqn", s.iscsi_iqn),
            ("iscsi_lun", &s.iscsi_lun),
            ("iscsi_initiator_name", s.iscsi_initiator_name),
            ("nfs_server", s.nfs_server),
            ("nfs_path", s.nfs_path),
            ("csi_driver", s.csi_driver),
            ("csi_volume_handle", s.csi_volume_handle),
            ("local_path", s.local_path),
            ("local_fs", s.local_fs),
            ("host_path", s.host_path),
            ("host_path_type", s.host_path_type),
            (
                "reclaim_policy",
                spec.persistent_volume_reclaim_policy
                    .as_deref()
                    .unwrap_or_default(),
            ),
        ],
        1.0,
    );
}

/// The `storage` capacity in bytes; 0 when unset, as Go reads a missing map entry.
fn capacity_bytes(pv: &PersistentVolume, _: &KindOptions, samples: &mut Samples) {
    let storage = spec(pv)
        .and_then(|sp| sp.capacity.as_ref())
        .and_then(|capacity| capacity.get("storage"));
    match storage {
        Some(quantity) => {
            if let Some(bytes) = quantity_int_value(quantity) {
                samples.push(bytes);
            }
        }
        None => samples.push(0.0),
    }
}

/// The attributes the Ceph CSI driver sets (`mounter`, `mapOptions`), for CSI volumes only.
fn csi_attributes(pv: &PersistentVolume, _: &KindOptions, samples: &mut Samples) {
    let Some(csi) = spec(pv).and_then(|sp| sp.csi.as_ref()) else {
        return;
    };
    let attribute = |key: &str| {
        csi.volume_attributes
            .as_ref()
            .and_then(|a| a.get(key))
            .map_or("", String::as_str)
    };
    samples.push_labeled(
        &[
            ("csi_mounter", attribute("mounter")),
            ("csi_map_options", attribute("mapOptions")),
        ],
        1.0,
    );
}

/// The receiver's persistentvolume entity: name, creation time, allowed labels and annotations.
fn describe_entity(
    pv: &PersistentVolume,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    let Some(mut attributes) = entity::Attributes::of(pv, "k8s.persistentvolume.uid") else {
        return;
    };
    let meta = &pv.metadata;
    attributes.set(
        "k8s.persistentvolume.name",
        meta.name.as_deref().unwrap_or_default(),
    );
    attributes.set(
        "k8s.persistentvolume.creation_timestamp",
        &entity::rfc3339(meta.creation_timestamp.as_ref()),
    );
    attributes.set_allowed(
        "k8s.persistentvolume.label.",
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    attributes.set_allowed(
        "k8s.persistentvolume.annotation.",
        &options.allow_annotations,
        meta.annotations.as_ref(),
    );
    attributes.push(samples, entity::OBJECT);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kinds::common::test_family;

    fn family(json: serde_json::Value, name: &str) -> Vec<String> {
        test_family(&PERSISTENTVOLUMES, json, name)
    }

    #[test]
    fn capacity_in_bytes() {
        let pv = json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "10Gi"}}});
        assert_eq!(
            family(pv, "kube_persistentvolume_capacity_bytes"),
            [" 10737418240"]
        );
    }

    #[test]
    fn only_the_first_source_is_described() {
        let pv = json!({"metadata": {"name": "v"}, "spec": {
            "nfs": {"server": "s", "path": "/p"},
            "csi": {"driver": "d", "volumeHandle": "h"},
        }});
        let info = family(pv, "kube_persistentvolume_info");
        assert!(info[0].contains("nfs_server=s,nfs_path=/p,csi_driver=,"));
    }

    #[test]
    fn bare_volume_yields_defaults_not_a_panic() {
        let pv = json!({"metadata": {"name": "v"}});
        assert_eq!(
            family(pv.clone(), "kube_persistentvolume_capacity_bytes"),
            [" 0"]
        );
        assert_eq!(
            family(pv.clone(), "kube_persistentvolume_volume_mode"),
            ["volumemode=Filesystem 1"]
        );
        for empty in [
            "kube_persistentvolume_claim_ref",
            "kube_persistentvolume_status_phase",
            "kube_persistentvolume_csi_attributes",
            "kube_persistentvolume_access_mode",
        ] {
            assert!(family(pv.clone(), empty).is_empty(), "{empty}");
        }
    }
}
