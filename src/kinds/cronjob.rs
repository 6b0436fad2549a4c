//! CronJobs: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::batch::v1::CronJob;

use super::KindDef;
use super::common;

pub static CRONJOBS: KindDef<CronJob> = KindDef {
    resource: "cronjobs",
    identity_labels: &["namespace", "cronjob"],
    identity: common::namespace_name,
    families: &[],
};
