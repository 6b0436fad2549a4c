//! Jobs: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::batch::v1::Job;

use super::KindDef;
use super::common;

pub static JOBS: KindDef<Job> = KindDef {
    resource: "jobs",
    identity_labels: &["namespace", "job_name"],
    identity: common::namespace_name,
    families: &[],
};
