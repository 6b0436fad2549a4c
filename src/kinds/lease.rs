//! Leases: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::coordination::v1::Lease;

use super::KindDef;
use super::common;

pub static LEASES: KindDef<Lease> = KindDef {
    resource: "leases",
    identity_labels: &["lease"],
    identity: common::name,
    families: &[],
};
