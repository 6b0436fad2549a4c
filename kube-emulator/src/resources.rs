//! The static table of API resources the emulator serves.
//!
//! One row per resource; discovery, routing, apply and field selectors all read this table,
//! so serving a new kind means adding one row here and nothing else.

/// Verbs advertised for every resource (the emulator implements list/watch/get/create/update/delete;
/// patch is advertised because kubectl refuses some commands otherwise and answers 405).
pub const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// One API resource (a plural name in a group), possibly served under several versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Served versions, preferred first. The object body is identical in all of them (only
    /// `apiVersion` differs), so list only versions whose schema really is the same.
    pub versions: &'static [&'static str],
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
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The preferred (first) version.
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }

    /// `apiVersion` of the preferred version.
    pub fn preferred_api_version(&self) -> String {
        self.api_version(self.preferred_version())
    }

    /// `pods` or `deployments.apps`, as RBAC messages and the control surface name resources.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether this resource is served under `version`.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }
}

macro_rules! res {
    ($group:expr, [$($v:expr),+], $plural:expr, $singular:expr, $kind:expr, $namespaced:expr,
     short = [$($s:expr),*], fields = [$($f:expr),*] $(, categories = [$($c:expr),*])?) => {
        ResourceType {
            group: $group,
            versions: &[$($v),+],
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

/// Every resource the emulator serves. Field lists mirror the apiserver's field label
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
    res!(
        "admissionregistration.k8s.io",
        ["v1"],
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        "ValidatingAdmissionPolicy",
        false,
        short = [],
        fields = []
    ),
    res!(
        "admissionregistration.k8s.io",
        ["v1"],
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        "ValidatingAdmissionPolicyBinding",
        false,
        short = [],
        fields = []
    ),
    // v1 since Kubernetes 1.36; the beta/alpha versions older clients compile against share
    // the schema, so they are served from the same objects.
    res!(
        "admissionregistration.k8s.io",
        ["v1", "v1beta1", "v1alpha1"],
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicy",
        "MutatingAdmissionPolicy",
        false,
        short = [],
        fields = []
    ),
    res!(
        "admissionregistration.k8s.io",
        ["v1", "v1beta1", "v1alpha1"],
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

/// Index of a resource in [`RESOURCES`]; stores and counters are keyed by it.
pub type ResourceId = usize;

/// Finds the resource serving `plural` in `group` at `version`.
pub fn by_path(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.plural == plural && r.serves(version))
}

/// Finds the resource for an object's `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.kind == kind && r.serves(version))
}

/// Finds a resource by `plural`, `plural.group`, kind or short name, as the control surface
/// and CLI accept it.
pub fn by_name(name: &str) -> Option<ResourceId> {
    let (plural, group) = match name.split_once('.') {
        Some((p, g)) => (p, Some(g)),
        None => (name, None),
    };
    let lower = plural.to_ascii_lowercase();
    RESOURCES.iter().position(|r| {
        group.is_none_or(|g| g == r.group)
            && (r.plural == lower
                || r.singular == lower
                || r.kind.eq_ignore_ascii_case(plural)
                || r.short_names.contains(&lower.as_str()))
    })
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Groups in discovery order (core excluded), each with its versions, preferred first.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        let idx = match out.iter().position(|(g, _)| *g == r.group) {
            Some(i) => i,
            None => {
                out.push((r.group, Vec::new()));
                out.len() - 1
            }
        };
        for v in r.versions {
            if !out[idx].1.contains(v) {
                out[idx].1.push(v);
            }
        }
    }
    // The preferred version of a group is its most stable one: v1 before v1beta1 before v1alpha1.
    for (_, versions) in &mut out {
        versions.sort_by_key(|v| version_priority(v));
    }
    out
}

/// Sort key putting GA versions first (higher number first), then beta, then alpha.
fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u32>, std::cmp::Reverse<u32>) {
    let rest = v.trim_start_matches('v');
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if let Some(t) = tail.strip_prefix("beta") {
        (1, t.parse().unwrap_or(0))
    } else if let Some(t) = tail.strip_prefix("alpha") {
        (2, t.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, std::cmp::Reverse(major), std::cmp::Reverse(minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let pods = by_path("", "v1", "pods").unwrap();
        assert_eq!(RESOURCES[pods].kind, "Pod");
        assert_eq!(by_kind("apps/v1", "Deployment"), by_name("deploy"));
        assert_eq!(by_name("deployments.apps"), by_name("Deployment"));
        assert!(by_path("autoscaling", "v1", "horizontalpodautoscalers").is_none());
        assert_eq!(
            by_kind(
                "admissionregistration.k8s.io/v1alpha1",
                "MutatingAdmissionPolicy"
            ),
            by_kind("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy")
        );
    }

    #[test]
    fn group_versions_are_ordered_by_stability() {
        let g = groups();
        let adm = g
            .iter()
            .find(|(g, _)| *g == "admissionregistration.k8s.io")
            .unwrap();
        assert_eq!(adm.1, vec!["v1", "v1beta1", "v1alpha1"]);
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
