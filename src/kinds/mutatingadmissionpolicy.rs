//! MutatingAdmissionPolicies.

use k8s_openapi::api::admissionregistration::v1::ParamKind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

/// `admissionregistration.k8s.io/v1` MutatingAdmissionPolicy, which the Kubernetes API version
/// k8s-openapi is built for lacks: only the fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicy {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<MutatingAdmissionPolicySpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicySpec {
    pub param_kind: Option<ParamKind>,
    pub failure_policy: Option<String>,
    pub reinvocation_policy: Option<String>,
}

common::cluster_resource!(
    MutatingAdmissionPolicy,
    "admissionregistration.k8s.io",
    "v1",
    "MutatingAdmissionPolicy",
    "mutatingadmissionpolicies"
);

pub static MUTATINGADMISSIONPOLICIES: KindDef<MutatingAdmissionPolicy> = KindDef {
    resource: "mutatingadmissionpolicies",
    identity_labels: &["namespace", "mutatingadmissionpolicy"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_mutatingadmissionpolicy_info",
            "Information about the MutatingAdmissionPolicy.",
            |p, _, s| {
                let spec = p.spec.as_ref();
                let param_kind = spec.and_then(|sp| sp.param_kind.as_ref());
                let failure_policy = spec.and_then(|sp| sp.failure_policy.as_deref());
                let reinvocation = spec.and_then(|sp| sp.reinvocation_policy.as_deref());
                let extra = [("reinvocation_policy", reinvocation.unwrap_or_default())];
                common::push_admission_policy_info(s, param_kind, failure_policy, &extra);
            },
        ),
        Family::experimental(
            "kube_mutatingadmissionpolicy_created",
            "Unix creation timestamp.",
            common::created,
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::AnyKind;
    use crate::metric::KindOptions;

    #[test]
    fn hand_written_type_decodes_leniently() {
        let object = serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"failurePolicy": 7, "reinvocationPolicy": "Never", "mutations": []},
        });
        let decoded = MUTATINGADMISSIONPOLICIES
            .samples_from_json(object, &[0], &KindOptions::default())
            .expect("decodes without the wrong-typed field");
        assert_eq!(decoded.uid, "u");
        assert_eq!(decoded.dropped, ["spec.failurePolicy"]);
        let info: Vec<_> = decoded.samples.family(0).collect();
        assert_eq!(info.len(), 1);
        let failure_policy = info[0]
            .0
            .iter()
            .find(|(k, _)| k.as_str() == "failure_policy");
        assert_eq!(failure_policy.map(|(_, v)| v.as_str()), Some(""));
    }
}
