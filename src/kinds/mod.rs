//! One file per Kubernetes kind, each a table of metric families.
//!
//! A kind is a [`KindDef`]: the resource name, the identity labels every family of the kind
//! carries first, and the families. Families shared by many kinds (`_created`, `_labels`,
//! `_annotations`, `_owner`, …) live in [`common`].

pub mod certificatesigningrequest;
pub mod clusterrole;
pub mod clusterrolebinding;
pub mod common;
pub mod configmap;
pub mod cronjob;
pub mod daemonset;
pub mod decode;
pub mod deployment;
pub mod endpoint;
pub mod endpointslice;
pub mod entity;
pub mod horizontalpodautoscaler;
pub mod ingress;
pub mod ingressclass;
pub mod job;
pub mod lease;
pub mod limitrange;
pub mod mutatingadmissionpolicy;
pub mod mutatingadmissionpolicybinding;
pub mod mutatingwebhookconfiguration;
pub mod namespace;
pub mod networkpolicy;
pub mod node;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod poddisruptionbudget;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod role;
pub mod rolebinding;
pub mod secret;
pub mod semconv;
pub mod service;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;
pub mod validatingadmissionpolicy;
pub mod validatingadmissionpolicybinding;
pub mod validatingwebhookconfiguration;
pub mod volumeattachment;

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use crate::metric::semconv::Entity;
use crate::metric::{
    CompactSamples, Family, FamilyDesc, KindOptions, Samples, Stability, Text, intern,
};
use decode::{DecodeError, decode_lenient};

/// What a kind's object type must offer.
pub trait KubeObject:
    k8s_openapi::Resource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + DeserializeOwned
    + Clone
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<O> KubeObject for O where
    O: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + DeserializeOwned
        + Clone
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// A Kubernetes kind as the exporter sees it.
pub struct KindDef<O: 'static> {
    /// The plural resource name, as in `--resources` (`pods`, `deployments`).
    pub resource: &'static str,
    /// Label names every sample of the kind starts with (`namespace`, `pod`, `uid`).
    pub identity_labels: &'static [&'static str],
    /// Values for [`KindDef::identity_labels`].
    pub identity: fn(&O) -> Vec<Text>,
    /// What of the kind's objects is pulled from the API server.
    pub read: Read,
    /// The kind's objects as OpenTelemetry entities (`--entity-events`); `None` for kinds
    /// the k8scluster receiver reports no entities of.
    pub entity_events: Option<entity::EntityDef<O>>,
    /// The semantic-conventions entity of the kind; `None` for kinds semconv does not model.
    pub entity: Option<Entity>,
    pub families: &'static [Family<O>],
}

impl<O: KubeObject> KindDef<O> {
    /// The samples of the families at `enabled` (indices into [`KindDef::families`]).
    pub fn samples(&self, object: &O, enabled: &[usize], options: &KindOptions) -> CompactSamples {
        let mut identity = (self.identity)(object);
        let meta = k8s_openapi::Metadata::metadata(object);
        if options.semconv_uid && self.entity.is_some_and(|e| e.uid.is_some()) {
            identity.push(intern(meta.uid.as_deref().unwrap_or_default()));
        }
        let mut samples = Samples::new(identity);
        if let Some(created) = &meta.creation_timestamp {
            samples.set_start_time(u64::try_from(created.0.as_nanosecond()).unwrap_or(0));
        }
        for &index in enabled {
            samples.begin_family();
            if let Some(family) = self.families.get(index) {
                (family.generate)(object, options, &mut samples);
            }
        }
        // The entity family comes last, where no instrument reads it.
        if let Some(entity) = self
            .entity_events
            .as_ref()
            .filter(|_| options.entity_events)
        {
            samples.begin_family();
            (entity.describe)(object, options, &mut samples);
        }
        samples.finish()
    }
}

/// What of a kind's objects the watchers pull: no more than its families read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Whole objects.
    Objects,
    /// Every family reads only `metadata`: the kind is watched metadata-only
    /// (`PartialObjectMetadata`), so object contents (a ConfigMap's data) are never pulled.
    /// Guarded per kind by a test that a full object and its metadata-only form give the same
    /// samples.
    Metadata,
    /// The families read `metadata` and fields the API server prints as Table columns: the
    /// kind is read as server-side Tables (`crate::watch::table`), so nothing else of an
    /// object (a Secret's data) is ever sent. The families see an object holding the row's
    /// metadata and each column's cell at its field. Guarded per kind by a test that a full
    /// object and its Table form give the same samples.
    Table(&'static [TableColumn]),
}

/// A printed column a [`Read::Table`] kind reads, and the top-level field of the object its
/// cell stands for (Secrets' `Type` column is `.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableColumn {
    /// The column's name in the Table's `columnDefinitions`.
    pub column: &'static str,
    pub field: &'static str,
}

/// A family's table entry without its generator.
#[derive(Clone, Debug)]
pub struct FamilyInfo {
    pub desc: FamilyDesc,
    pub stability: Stability,
    pub opt_in: bool,
}

/// An object turned into samples, with the UID the store keys it by.
#[derive(Debug)]
pub struct ObjectSamples {
    pub uid: String,
    pub samples: CompactSamples,
    /// Fields that could not be decoded and were left out (JSON paths).
    pub dropped: Vec<String>,
}

/// A kind with its object type erased.
pub trait AnyKind: Send + Sync {
    fn resource(&self) -> &'static str;
    /// The object kind (`Pod`), as in an object's `kind` field.
    fn object_kind(&self) -> &'static str;
    /// The API group of the kind (`apps`, `batch`; `""` for core), as in RBAC rules.
    fn api_group(&self) -> &'static str;
    /// The API version the kind is read in (`v1`, `v2`).
    fn api_version(&self) -> &'static str;
    fn identity_labels(&self) -> &'static [&'static str];
    fn entity(&self) -> Option<Entity>;
    /// The entity type of the kind's entity events (`k8s.pod`), if it has them.
    fn entity_type(&self) -> Option<&'static str>;
    fn families(&self) -> Vec<FamilyInfo>;
    /// What of the kind's objects is pulled ([`KindDef::read`]).
    fn read(&self) -> Read;
    /// Decodes one object (leniently) and computes the samples of the `enabled` families.
    fn samples_from_json(
        &self,
        object: serde_json::Value,
        enabled: &[usize],
        options: &KindOptions,
    ) -> Result<ObjectSamples, DecodeError>;
}

impl<O: KubeObject> AnyKind for KindDef<O> {
    fn resource(&self) -> &'static str {
        self.resource
    }

    fn object_kind(&self) -> &'static str {
        O::KIND
    }

    fn api_group(&self) -> &'static str {
        O::GROUP
    }

    fn api_version(&self) -> &'static str {
        O::VERSION
    }

    fn identity_labels(&self) -> &'static [&'static str] {
        self.identity_labels
    }

    fn read(&self) -> Read {
        self.read
    }

    fn entity(&self) -> Option<Entity> {
        self.entity
    }

    fn entity_type(&self) -> Option<&'static str> {
        self.entity_events.as_ref().map(|e| e.entity_type)
    }

    fn families(&self) -> Vec<FamilyInfo> {
        self.families
            .iter()
            .map(|f| FamilyInfo {
                desc: FamilyDesc::from(f),
                stability: f.stability,
                opt_in: f.opt_in,
            })
            .collect()
    }

    fn samples_from_json(
        &self,
        object: serde_json::Value,
        enabled: &[usize],
        options: &KindOptions,
    ) -> Result<ObjectSamples, DecodeError> {
        let decoded = decode_lenient::<O>(object)?;
        Ok(ObjectSamples {
            uid: uid(&decoded.object),
            samples: self.samples(&decoded.object, enabled, options),
            dropped: decoded.dropped,
        })
    }
}

/// The key an object is stored under: its UID, or namespace/name for objects without one.
pub fn uid<O: KubeObject>(object: &O) -> String {
    let meta = k8s_openapi::Metadata::metadata(object);
    match &meta.uid {
        Some(uid) if !uid.is_empty() => uid.clone(),
        _ => format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        ),
    }
}
