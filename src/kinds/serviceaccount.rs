//! ServiceAccounts: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::ServiceAccount;

use super::KindDef;
use super::common;

pub static SERVICEACCOUNTS: KindDef<ServiceAccount> = KindDef {
    resource: "serviceaccounts",
    identity_labels: &["namespace", "serviceaccount"],
    identity: common::namespace_name,
    families: &[],
};
