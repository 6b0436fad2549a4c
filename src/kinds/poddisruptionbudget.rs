//! PodDisruptionBudgets: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::KindDef;
use super::common;

pub static PODDISRUPTIONBUDGETS: KindDef<PodDisruptionBudget> = KindDef {
    resource: "poddisruptionbudgets",
    identity_labels: &["namespace", "poddisruptionbudget"],
    identity: common::namespace_name,
    families: &[],
};
