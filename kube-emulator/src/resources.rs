//! The static table of API resources the emulator knows, with the Kubernetes minors that
//! serve each of their versions.
//!
//! One row per resource; discovery, routing, apply and field selectors all read this table
//! (through [`crate::surface::Surface`] for what one minor serves), so serving a new kind or
//! version means adding one row or one version entry here and nothing else.
//!
//! Custom resources are registered at runtime, when a CustomResourceDefinition is written
//! ([`register`]), and get the ids after the static rows. A custom resource's id is decided by
//! its identity alone (group, plural, kind and scope, which the apiserver never lets a CRD
//! change): the same CRD gets the same id in every emulator of the process and when it is
//! deleted and created again, so forbids, faults and stats keyed by id keep applying to it.
//! Ids are never removed or reused. Registered types are leaked `&'static` values, interned so
//! memory grows with the number of distinct definitions only, not with writes: the table stays
//! `&'static` for every reader. What one emulator serves of a custom resource now (its served
//! versions, short names, categories) is in its [`crate::surface::Surface`], not here.

use std::collections::BTreeSet;
use std::sync::{Mutex, RwLock};

/// Verbs advertised for every resource (the emulator implements list/watch/get/create/update/delete;
/// patch is advertised because kubectl refuses some commands otherwise and answers 405).
pub const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// One version a resource is served under, and the Kubernetes minors serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// `v1`, `v1beta1`, ...
    pub name: &'static str,
    /// First minor (of Kubernetes 1.x) that has it; 0 = older than every emulated minor.
    pub since: u32,
    /// First minor that no longer serves it.
    pub removed: Option<u32>,
    /// Whether it is served without `--runtime-config`. Alpha APIs, and beta APIs introduced
    /// since 1.24 (KEP-3136), are off by default.
    pub enabled_by_default: bool,
}

impl ApiVersion {
    /// Whether Kubernetes 1.`minor` has this version (enabled or not).
    pub fn exists_in(&self, minor: u32) -> bool {
        self.since <= minor && self.removed.is_none_or(|r| minor < r)
    }
}

/// One API resource (a plural name in a group), possibly served under several versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Versions, preferred first. The object body is identical in all of them (only
    /// `apiVersion` differs), so list only versions whose schema really is the same.
    pub versions: &'static [ApiVersion],
    /// Plural, lower-case resource name as used in URLs (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`).
    pub singular: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names (`po`).
    pub short_names: &'static [&'static str],
    /// Field paths besides `metadata.name`/`metadata.namespace` that the real apiserver
    /// accepts in a `fieldSelector` for this resource. Their values are extracted once at
    /// store time so selecting on them is cheap; other paths are evaluated by re-parsing.
    pub indexed_fields: &'static [&'static str],
    /// Discovery categories (`all`) as kubectl uses them for `kubectl get all`.
    pub categories: &'static [&'static str],
}

impl ResourceType {
    /// `apiVersion` for `version` (`v1` or `apps/v1`).
    pub fn api_version(&self, version: &str) -> String {
        group_version(self.group, version)
    }

    /// The preferred (first) version of the table, the one used when every version is served.
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0].name
    }

    /// `pods` or `deployments.apps`, as RBAC messages and the control surface name resources.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The table entry of `version`, whatever minors serve it.
    pub fn version(&self, version: &str) -> Option<&'static ApiVersion> {
        self.versions.iter().find(|v| v.name == version)
    }
}

/// `group/version`, or just `version` for the core group.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// One version entry of [`res!`]: `"v1"` is served by every emulated minor and on by default;
/// `("v1beta1", 34.., off)` exists from 1.34 on and needs `--runtime-config`;
/// `("v1beta1", 28..34, off)` also stops being served in 1.34.
macro_rules! version {
    ($name:literal) => {
        ApiVersion {
            name: $name,
            since: 0,
            removed: None,
            enabled_by_default: true,
        }
    };
    (($name:literal, $since:literal.., $default:ident)) => {
        ApiVersion {
            name: $name,
            since: $since,
            removed: None,
            enabled_by_default: version!(@$default),
        }
    };
    (($name:literal, $since:literal..$removed:literal, $default:ident)) => {
        ApiVersion {
            name: $name,
            since: $since,
            removed: Some($removed),
            enabled_by_default: version!(@$default),
        }
    };
    (@on) => {
        true
    };
    (@off) => {
        false
    };
}

macro_rules! res {
    ($group:expr, [$($v:tt),+], $plural:expr, $singular:expr, $kind:expr, $namespaced:expr,
     short = [$($s:expr),*], fields = [$($f:expr),*] $(, categories = [$($c:expr),*])?) => {
        ResourceType {
            group: $group,
            versions: &[$(version!($v)),+],
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $namespaced,
            short_names: &[$($s),*],
            indexed_fields: &[$($f),*],
            categories: &[$($($c),*)?],
        }
    };
}

/// Every resource the emulator knows. Field lists mirror the apiserver's field label
/// conversion functions so a selector the real server rejects is noticed in tests.
pub static RESOURCES: &[ResourceType] = &[
    // core/v1
    res!(
        "",
        ["v1"],
        "pods",
        "pod",
        "Pod",
        true,
        short = ["po"],
        fields = [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName"
        ],
        categories = ["all"]
    ),
    res!(
        "",
        ["v1"],
        "nodes",
        "node",
        "Node",
        false,
        short = ["no"],
        fields = ["spec.unschedulable"]
    ),
    res!(
        "",
        ["v1"],
        "namespaces",
        "namespace",
        "Namespace",
        false,
        short = ["ns"],
        fields = ["status.phase"]
    ),
    res!(
        "",
        ["v1"],
        "services",
        "service",
        "Service",
        true,
        short = ["svc"],
        fields = [],
        categories = ["all"]
    ),
    res!(
        "",
        ["v1"],
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        short = ["ep"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        short = ["cm"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "secrets",
        "secret",
        "Secret",
        true,
        short = [],
        fields = ["type"]
    ),
    res!(
        "",
        ["v1"],
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        false,
        short = ["pv"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        short = ["pvc"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "resourcequotas",
        "resourcequota",
        "ResourceQuota",
        true,
        short = ["quota"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "limitranges",
        "limitrange",
        "LimitRange",
        true,
        short = ["limits"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        true,
        short = ["rc"],
        fields = ["status.replicas"],
        categories = ["all"]
    ),
    res!(
        "",
        ["v1"],
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        short = ["sa"],
        fields = []
    ),
    res!(
        "",
        ["v1"],
        "events",
        "event",
        "Event",
        true,
        short = ["ev"],
        fields = [
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "reason",
            "type"
        ]
    ),
    // apps/v1
    res!(
        "apps",
        ["v1"],
        "deployments",
        "deployment",
        "Deployment",
        true,
        short = ["deploy"],
        fields = [],
        categories = ["all"]
    ),
    res!(
        "apps",
        ["v1"],
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        short = ["rs"],
        fields = ["status.replicas"],
        categories = ["all"]
    ),
    res!(
        "apps",
        ["v1"],
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        short = ["sts"],
        fields = [],
        categories = ["all"]
    ),
    res!(
        "apps",
        ["v1"],
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        short = ["ds"],
        fields = [],
        categories = ["all"]
    ),
    res!(
        "apps",
        ["v1"],
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
        short = [],
        fields = []
    ),
    // batch/v1
    res!(
        "batch",
        ["v1"],
        "jobs",
        "job",
        "Job",
        true,
        short = [],
        fields = ["status.successful"],
        categories = ["all"]
    ),
    res!(
        "batch",
        ["v1"],
        "cronjobs",
        "cronjob",
        "CronJob",
        true,
        short = ["cj"],
        fields = [],
        categories = ["all"]
    ),
    // autoscaling/v2 (v1 has a different schema, so it is not served)
    res!(
        "autoscaling",
        ["v2"],
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        short = ["hpa"],
        fields = [],
        categories = ["all"]
    ),
    // networking.k8s.io/v1
    res!(
        "networking.k8s.io",
        ["v1"],
        "ingresses",
        "ingress",
        "Ingress",
        true,
        short = ["ing"],
        fields = []
    ),
    res!(
        "networking.k8s.io",
        ["v1"],
        "ingressclasses",
        "ingressclass",
        "IngressClass",
        false,
        short = [],
        fields = []
    ),
    res!(
        "networking.k8s.io",
        ["v1"],
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        true,
        short = ["netpol"],
        fields = []
    ),
    // discovery.k8s.io/v1
    res!(
        "discovery.k8s.io",
        ["v1"],
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        true,
        short = [],
        fields = []
    ),
    // policy/v1
    res!(
        "policy",
        ["v1"],
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        short = ["pdb"],
        fields = []
    ),
    // coordination.k8s.io/v1
    res!(
        "coordination.k8s.io",
        ["v1"],
        "leases",
        "lease",
        "Lease",
        true,
        short = [],
        fields = []
    ),
    // rbac.authorization.k8s.io/v1
    res!(
        "rbac.authorization.k8s.io",
        ["v1"],
        "roles",
        "role",
        "Role",
        true,
        short = [],
        fields = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        ["v1"],
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        short = [],
        fields = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        ["v1"],
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        short = [],
        fields = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        ["v1"],
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        short = [],
        fields = []
    ),
    // certificates.k8s.io/v1
    res!(
        "certificates.k8s.io",
        ["v1"],
        "certificatesigningrequests",
        "certificatesigningrequest",
        "CertificateSigningRequest",
        false,
        short = ["csr"],
        fields = ["spec.signerName"]
    ),
    // admissionregistration.k8s.io
    res!(
        "admissionregistration.k8s.io",
        ["v1"],
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        "MutatingWebhookConfiguration",
        false,
        short = [],
        fields = []
    ),
    res!(
        "admissionregistration.k8s.io",
        ["v1"],
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        "ValidatingWebhookConfiguration",
        false,
        short = [],
        fields = []
    ),
    // ValidatingAdmissionPolicy: v1 since 1.30; v1beta1 (1.28, off by default) stops being
    // served in 1.34 and v1alpha1 (1.26) in 1.32, by their prerelease lifecycles.
    res!(
        "admissionregistration.k8s.io",
        [
            ("v1", 30.., on),
            ("v1beta1", 28..34, off),
            ("v1alpha1", 26..32, off)
        ],
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        "ValidatingAdmissionPolicy",
        false,
        short = [],
        fields = []
    ),
    res!(
        "admissionregistration.k8s.io",
        [
            ("v1", 30.., on),
            ("v1beta1", 28..34, off),
            ("v1alpha1", 26..32, off)
        ],
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        "ValidatingAdmissionPolicyBinding",
        false,
        short = [],
        fields = []
    ),
    // MutatingAdmissionPolicy (KEP-3962): v1alpha1 in 1.32, v1beta1 in 1.34 (both off by
    // default), v1 in 1.36. The versions share the schema, so they are served from the same
    // objects.
    res!(
        "admissionregistration.k8s.io",
        [
            ("v1", 36.., on),
            ("v1beta1", 34.., off),
            ("v1alpha1", 32.., off)
        ],
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicy",
        "MutatingAdmissionPolicy",
        false,
        short = [],
        fields = []
    ),
    res!(
        "admissionregistration.k8s.io",
        [
            ("v1", 36.., on),
            ("v1beta1", 34.., off),
            ("v1alpha1", 32.., off)
        ],
        "mutatingadmissionpolicybindings",
        "mutatingadmissionpolicybinding",
        "MutatingAdmissionPolicyBinding",
        false,
        short = [],
        fields = []
    ),
    // storage.k8s.io/v1
    res!(
        "storage.k8s.io",
        ["v1"],
        "storageclasses",
        "storageclass",
        "StorageClass",
        false,
        short = ["sc"],
        fields = []
    ),
    res!(
        "storage.k8s.io",
        ["v1"],
        "volumeattachments",
        "volumeattachment",
        "VolumeAttachment",
        false,
        short = [],
        fields = []
    ),
    res!(
        "storage.k8s.io",
        ["v1"],
        "csidrivers",
        "csidriver",
        "CSIDriver",
        false,
        short = [],
        fields = []
    ),
    res!(
        "storage.k8s.io",
        ["v1"],
        "csinodes",
        "csinode",
        "CSINode",
        false,
        short = [],
        fields = []
    ),
    // apiextensions.k8s.io/v1: the short names and category of the apiserver's CRD storage
    // (apiextensions-apiserver `pkg/registry/customresourcedefinition/etcd.go`).
    res!(
        "apiextensions.k8s.io",
        ["v1"],
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        short = ["crd", "crds"],
        fields = [],
        categories = ["api-extensions"]
    ),
    // scheduling.k8s.io/v1
    res!(
        "scheduling.k8s.io",
        ["v1"],
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        false,
        short = ["pc"],
        fields = []
    ),
];

/// Index of a resource in [`RESOURCES`], or past it a custom resource registered at runtime
/// (see the module docs); stores and counters are keyed by it.
pub type ResourceId = usize;

/// Custom resource types, id `RESOURCES.len() + index`, each as first registered.
static CUSTOM: RwLock<Vec<&'static ResourceType>> = RwLock::new(Vec::new());
/// Every distinct custom type ever registered, so re-registering one leaks nothing.
static INTERNED: Mutex<Vec<&'static ResourceType>> = Mutex::new(Vec::new());

/// The resource `r`: a [`RESOURCES`] row, or a custom resource as first registered (its
/// identity and names; a [`crate::surface::Surface`] knows its served versions now).
///
/// Ids come from this module only, so an unknown id is a bug in the emulator.
pub fn get(r: ResourceId) -> &'static ResourceType {
    match r.checked_sub(RESOURCES.len()) {
        None => &RESOURCES[r],
        Some(i) => CUSTOM.read().unwrap_or_else(|e| e.into_inner())[i],
    }
}

/// Whether `r` is a custom resource (served while its CRD exists) rather than a table row.
pub fn is_custom(r: ResourceId) -> bool {
    r >= RESOURCES.len()
}

/// A custom resource type before registration: [`ResourceType`] with owned lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomType {
    pub group: &'static str,
    /// Every version of the definition, preferred first; `enabled_by_default` = served.
    pub versions: Vec<ApiVersion>,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: Vec<&'static str>,
    pub categories: Vec<&'static str>,
}

impl CustomType {
    fn is(&self, t: &ResourceType) -> bool {
        t.group == self.group
            && t.versions == self.versions.as_slice()
            && t.plural == self.plural
            && t.singular == self.singular
            && t.kind == self.kind
            && t.namespaced == self.namespaced
            && t.short_names == self.short_names.as_slice()
            && t.categories == self.categories.as_slice()
    }
}

/// Registers a custom resource type: returns its id (the one of any earlier type with the same
/// group, plural, kind and scope) and the interned `&'static` type.
pub(crate) fn register(ct: CustomType) -> (ResourceId, &'static ResourceType) {
    let interned = {
        let mut all = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        match all.iter().find(|t| ct.is(t)) {
            Some(t) => *t,
            None => {
                let leaked: &'static ResourceType = Box::leak(Box::new(ResourceType {
                    group: ct.group,
                    versions: ct.versions.leak(),
                    plural: ct.plural,
                    singular: ct.singular,
                    kind: ct.kind,
                    namespaced: ct.namespaced,
                    short_names: ct.short_names.leak(),
                    // Field selectors on custom resources: metadata.name and namespace only.
                    indexed_fields: &[],
                    categories: ct.categories.leak(),
                }));
                all.push(leaked);
                leaked
            }
        }
    };
    let same = |t: &ResourceType| {
        t.group == interned.group
            && t.plural == interned.plural
            && t.kind == interned.kind
            && t.namespaced == interned.namespaced
    };
    let mut custom = CUSTOM.write().unwrap_or_else(|e| e.into_inner());
    let id = match custom.iter().position(|t| same(t)) {
        Some(i) => i,
        None => {
            custom.push(interned);
            custom.len() - 1
        }
    };
    (RESOURCES.len() + id, interned)
}

/// Leaks `s` once per distinct string, for the `&'static str`s of registered types.
pub(crate) fn intern(s: &str) -> &'static str {
    static STRINGS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut all = STRINGS.lock().unwrap_or_else(|e| e.into_inner());
    match all.get(s) {
        Some(t) => t,
        None => {
            let leaked: &'static str = Box::leak(s.into());
            all.insert(leaked);
            leaked
        }
    }
}

/// Finds the resource for an object's `apiVersion` and `kind`, in any minor.
pub fn by_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
    find_by_kind(
        (0..RESOURCES.len()).map(|r| (r, &RESOURCES[r])),
        api_version,
        kind,
    )
}

/// [`by_kind`] among `candidates`.
pub(crate) fn find_by_kind<'a>(
    mut candidates: impl Iterator<Item = (ResourceId, &'a ResourceType)>,
    api_version: &str,
    kind: &str,
) -> Option<ResourceId> {
    let (group, version) = split_api_version(api_version);
    candidates
        .find(|(_, r)| r.group == group && r.kind == kind && r.version(version).is_some())
        .map(|(id, _)| id)
}

/// Finds a resource by `plural`, `plural.group`, kind or short name, as the control surface
/// and CLI accept it.
pub fn by_name(name: &str) -> Option<ResourceId> {
    find_by_name((0..RESOURCES.len()).map(|r| (r, &RESOURCES[r])), name)
}

/// [`by_name`] among `candidates`.
pub(crate) fn find_by_name<'a>(
    mut candidates: impl Iterator<Item = (ResourceId, &'a ResourceType)>,
    name: &str,
) -> Option<ResourceId> {
    let (plural, group) = match name.split_once('.') {
        Some((p, g)) => (p, Some(g)),
        None => (name, None),
    };
    let lower = plural.to_ascii_lowercase();
    candidates
        .find(|(_, r)| {
            group.is_none_or(|g| g == r.group)
                && (r.plural == lower
                    || r.singular == lower
                    || r.kind.eq_ignore_ascii_case(plural)
                    || r.short_names.contains(&lower.as_str()))
        })
        .map(|(id, _)| id)
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Sort key putting GA versions first (higher number first), then beta, then alpha, then
/// names that are not kube-like (`v1`, `v2beta1`, `v1alpha3`; a CRD may name a version `foo`),
/// as `CompareKubeAwareVersionStrings` orders them (it sorts the last group by name; here they
/// keep their order).
pub(crate) fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u32>, std::cmp::Reverse<u32>) {
    const OTHER: (u8, std::cmp::Reverse<u32>, std::cmp::Reverse<u32>) =
        (3, std::cmp::Reverse(0), std::cmp::Reverse(0));
    let Some(rest) = v.strip_prefix('v') else {
        return OTHER;
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Ok(major) = rest[..digits].parse() else {
        return OTHER;
    };
    let tail = &rest[digits..];
    let stage = |t: &str, stage: u8| t.parse().ok().map(|n| (stage, n));
    let (stage, minor) = match tail {
        "" => (0, 0),
        t => match t
            .strip_prefix("beta")
            .and_then(|n| stage(n, 1))
            .or_else(|| t.strip_prefix("alpha").and_then(|n| stage(n, 2)))
        {
            Some(s) => s,
            None => return OTHER,
        },
    };
    (stage, std::cmp::Reverse(major), std::cmp::Reverse(minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let pods = by_kind("v1", "Pod").unwrap();
        assert_eq!(RESOURCES[pods].plural, "pods");
        assert_eq!(by_kind("apps/v1", "Deployment"), by_name("deploy"));
        assert_eq!(by_name("deployments.apps"), by_name("Deployment"));
        assert!(by_kind("autoscaling/v1", "HorizontalPodAutoscaler").is_none());
        assert_eq!(
            by_kind(
                "admissionregistration.k8s.io/v1alpha1",
                "MutatingAdmissionPolicy"
            ),
            by_kind("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy")
        );
    }

    #[test]
    fn versions_are_listed_by_stability() {
        for r in RESOURCES {
            let mut sorted = r.versions.to_vec();
            sorted.sort_by_key(|v| version_priority(v.name));
            assert_eq!(sorted, r.versions, "{}", r.plural);
        }
    }

    #[test]
    fn kube_aware_version_order() {
        let mut versions = [
            "foo", "v1alpha1", "v2beta1", "v1", "v1beta2", "v2", "v1beta",
        ];
        versions.sort_by_key(|v| version_priority(v));
        assert_eq!(
            versions,
            [
                "v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo", "v1beta"
            ]
        );
    }

    #[test]
    fn version_lifecycles() {
        let map = &RESOURCES[by_name("mutatingadmissionpolicies").unwrap()];
        let v1 = map.version("v1").unwrap();
        assert!(!v1.exists_in(35) && v1.exists_in(36) && v1.enabled_by_default);
        let vap_beta = RESOURCES[by_name("validatingadmissionpolicies").unwrap()]
            .version("v1beta1")
            .unwrap();
        assert!(vap_beta.exists_in(33) && !vap_beta.exists_in(34) && !vap_beta.enabled_by_default);
        assert!(RESOURCES[by_name("pods").unwrap()].versions[0].exists_in(31));
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.plural == b.plural),
                    "{}",
                    a.plural
                );
            }
        }
    }
}
