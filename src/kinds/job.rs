//! Jobs.

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};

use super::common::{self, bool_value, push_condition_as, push_if_set, push_int, push_time};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static JOBS: KindDef<Job> = KindDef {
    resource: "jobs",
    identity_labels: &["namespace", "job_name"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.job",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.job.name"],
        uid: Some("k8s.job.uid"),
    }),
    families: &[
        Family::experimental(
            "kube_job_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_job_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable("kube_job_info", "Information about job.", |_, _, s| {
            s.push(1.0)
        }),
        Family::stable(
            "kube_job_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_job_spec_parallelism",
            "The maximum desired number of pods the job should run at any given time.",
            |j, _, s| push_if_set(s, spec(j).and_then(|sp| sp.parallelism)),
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.job.pod.max_parallel",
            "{pod}",
            "The max desired number of pods the job should run at any given time.",
        )]),
        Family::stable(
            "kube_job_spec_completions",
            "The desired number of successfully finished pods the job should be run with.",
            |j, _, s| push_if_set(s, spec(j).and_then(|sp| sp.completions)),
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.job.pod.desired_successful",
            "{pod}",
            "The desired number of successfully finished pods the job should be run with.",
        )]),
        Family::stable(
            "kube_job_spec_active_deadline_seconds",
            "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.",
            |j, _, s| push_if_set(s, spec(j).and_then(|sp| sp.active_deadline_seconds)),
        ),
        Family::stable(
            "kube_job_status_succeeded",
            "The number of pods which reached Phase Succeeded.",
            |j, _, s| push_int(s, status(j).and_then(|st| st.succeeded)),
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.job.pod.successful",
            "{pod}",
            "The number of pods which reached phase Succeeded for a job.",
        )]),
        Family::stable(
            "kube_job_status_failed",
            "The number of pods which reached Phase Failed and the reason for failure.",
            status_failed,
        ),
        Family::stable(
            "kube_job_status_active",
            "The number of actively running pods.",
            |j, _, s| push_int(s, status(j).and_then(|st| st.active)),
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.job.pod.active",
            "{pod}",
            "The number of pending and actively running pods for a job.",
        )]),
        Family::experimental(
            "kube_job_status_ready",
            "The number of ready pods that belong to this Job.",
            |j, _, s| push_int(s, status(j).and_then(|st| st.ready)),
        ),
        Family::stable(
            "kube_job_complete",
            "The job has completed its execution.",
            |j, _, s| push_condition_flags(j, s, "Complete"),
        ),
        Family::stable(
            "kube_job_failed",
            "The job has failed its execution.",
            |j, _, s| push_condition_flags(j, s, "Failed"),
        ),
        Family::stable(
            "kube_job_status_start_time",
            "StartTime represents time when the job was acknowledged by the Job Manager.",
            |j, _, s| push_time(s, status(j).and_then(|st| st.start_time.as_ref())),
        ),
        Family::stable(
            "kube_job_status_completion_time",
            "CompletionTime represents time when the job was completed.",
            |j, _, s| push_time(s, status(j).and_then(|st| st.completion_time.as_ref())),
        ),
        Family::experimental(
            "kube_job_status_suspended",
            "The number of pods which reached Phase Suspended.",
            |j, _, s| {
                for c in conditions(j, "Suspended") {
                    s.push(bool_value(c.status == "True"));
                }
            },
        ),
        Family::stable(
            "kube_job_owner",
            "Information about the Job's owner.",
            common::owner,
        ),
        // kube_job_status_failed splits failures by condition reason (0/1 per reason).
        Family::semconv_only(
            "The number of pods which reached phase Failed.",
            &[SemconvMetric::updown(
                "k8s.job.pod.failed",
                "{pod}",
                "The number of pods which reached phase Failed for a job.",
            )],
            |j, _, s| push_int(s, status(j).and_then(|st| st.failed)),
        ),
    ],
};

fn spec(j: &Job) -> Option<&JobSpec> {
    j.spec.as_ref()
}

fn status(j: &Job) -> Option<&JobStatus> {
    j.status.as_ref()
}

/// The job's conditions of one type.
fn conditions<'a>(j: &'a Job, type_: &'a str) -> impl Iterator<Item = &'a JobCondition> {
    let all = status(j).and_then(|st| st.conditions.as_deref());
    all.unwrap_or_default()
        .iter()
        .filter(move |c| c.type_ == type_)
}

/// `condition="true"|"false"|"unknown"` for each condition of `type_`.
fn push_condition_flags(j: &Job, samples: &mut Samples, type_: &str) {
    for c in conditions(j, type_) {
        push_condition_as(samples, "condition", &c.status);
    }
}

/// Failure reasons the job controller sets that kube-state-metrics reports by name.
const FAILURE_REASONS: [&str; 3] = ["BackoffLimitExceeded", "DeadlineExceeded", "Evicted"];

/// Unlabelled 0 while nothing failed. Otherwise one sample per known reason for each `Failed`
/// condition, plus the failed count under `reason=""` when no condition names a known reason.
fn status_failed(j: &Job, _: &KindOptions, samples: &mut Samples) {
    let failed = status(j).and_then(|st| st.failed).unwrap_or_default();
    if failed == 0 {
        samples.push(0.0);
        return;
    }
    let mut reason_known = false;
    for c in conditions(j, "Failed") {
        for reason in FAILURE_REASONS {
            let matches = c.reason.as_deref() == Some(reason);
            reason_known |= matches;
            samples.push_labeled(&[("reason", reason)], bool_value(matches));
        }
    }
    if !reason_known {
        samples.push_labeled(&[("reason", "")], f64::from(failed));
    }
}

fn describe_entity(
    j: &Job,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    entity::push_generic(j, "Job", options, samples);
}
