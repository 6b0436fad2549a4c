//! What a pod's entity takes from other objects when its events are sent, as the receiver's
//! `pod.GetMetadata` finds it in its informers' stores: the workload above its ReplicaSet
//! (a Deployment) or Job (a CronJob), and the Services whose selector matches its labels.
//! The objects are read from their kinds' entity samples; a kind not watched adds nothing.

use std::collections::HashMap;

use super::{NAMESPACE_NAME, WORKLOAD_KIND, WORKLOAD_NAME};
use crate::metric::Text;

pub const SERVICE_NAME: &str = "k8s.service.name";
/// Service selector entries, `k8s.service.selector.<key>`.
pub const SELECTOR_PREFIX: &str = "k8s.service.selector.";

type Pairs = [(Text, Text)];

fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.as_str())
}

/// An object's owner of one kind: its name and UID.
#[derive(Clone, Debug, PartialEq)]
struct Owner {
    name: Text,
    uid: Text,
}

impl Owner {
    /// The owner of `kind` (lower case) among an entity's attributes.
    fn of(pairs: &Pairs, kind: &str) -> Option<Owner> {
        let find = |suffix: &str| {
            let key = format!("k8s.{kind}.{suffix}");
            pairs
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| v.clone())
        };
        Some(Owner {
            name: find("name")?,
            uid: find("uid")?,
        })
    }
}

/// A Service as its pods are matched against it.
struct Service {
    /// `k8s.service.<name>`, the attribute a matched pod gets.
    attribute: String,
    selector: Vec<(String, String)>,
}

/// The ReplicaSets, Jobs and Services pods refer to, indexed for one batch of events.
#[derive(Default)]
pub struct Related {
    /// ReplicaSet UID → the Deployment owning it; `None`: the kind is not watched.
    replicasets: Option<HashMap<String, Option<Owner>>>,
    jobs: Option<HashMap<String, Option<Owner>>>,
    /// Namespace → its Services with a selector.
    services: HashMap<String, Vec<Service>>,
}

impl Related {
    /// A ReplicaSet's entity attributes (the ReplicaSet kind is watched).
    pub fn add_replicaset(&mut self, entity: &Pairs) {
        let owned = Owner::of(entity, "deployment");
        let uid = get(entity, "k8s.replicaset.uid")
            .unwrap_or_default()
            .to_string();
        self.replicasets.get_or_insert_default().insert(uid, owned);
    }

    /// A Job's entity attributes (the Job kind is watched).
    pub fn add_job(&mut self, entity: &Pairs) {
        let owned = Owner::of(entity, "cronjob");
        let uid = get(entity, "k8s.job.uid").unwrap_or_default().to_string();
        self.jobs.get_or_insert_default().insert(uid, owned);
    }

    /// Notes that a kind is watched even if it has no objects yet.
    pub fn watching(&mut self, replicasets: bool, jobs: bool) {
        if replicasets {
            self.replicasets.get_or_insert_default();
        }
        if jobs {
            self.jobs.get_or_insert_default();
        }
    }

    /// A Service's entity attributes; one without a selector selects no pod.
    pub fn add_service(&mut self, entity: &Pairs) {
        let selector: Vec<(String, String)> = entity
            .iter()
            .filter_map(|(k, v)| {
                let key = k.as_str().strip_prefix(SELECTOR_PREFIX)?;
                Some((key.to_string(), v.as_str().to_string()))
            })
            .collect();
        if selector.is_empty() {
            return;
        }
        let namespace = get(entity, NAMESPACE_NAME).unwrap_or_default().to_string();
        let name = get(entity, SERVICE_NAME).unwrap_or_default();
        self.services.entry(namespace).or_default().push(Service {
            attribute: format!("k8s.service.{name}"),
            selector,
        });
    }

    /// The attributes a pod's entity gets from other objects: its workload, and
    /// `k8s.service.<name>` = `""` for each Service selecting it (by its `labels`).
    pub fn for_pod<'a>(
        &'a self,
        pod: &'a Pairs,
        labels: &'a Pairs,
        out: &mut Vec<(&'a str, &'a str)>,
    ) {
        let workload = [
            (
                &self.replicasets,
                "replicaset",
                "ReplicaSet",
                "Deployment",
                "k8s.deployment",
            ),
            (&self.jobs, "job", "Job", "CronJob", "k8s.cronjob"),
        ];
        for (index, kind, kind_name, above_name, above) in workload {
            let (Some(index), Some(owner)) = (index, Owner::of(pod, kind)) else {
                continue;
            };
            let Some(found) = index.get(owner.uid.as_str()) else {
                continue;
            };
            match found {
                Some(top) => {
                    out.push((WORKLOAD_KIND, above_name));
                    out.push((WORKLOAD_NAME, top.name.as_str()));
                    let (name_key, uid_key) = match above {
                        "k8s.deployment" => ("k8s.deployment.name", "k8s.deployment.uid"),
                        _ => ("k8s.cronjob.name", "k8s.cronjob.uid"),
                    };
                    out.push((name_key, top.name.as_str()));
                    out.push((uid_key, top.uid.as_str()));
                }
                None => {
                    out.push((WORKLOAD_KIND, kind_name));
                    out.push((
                        WORKLOAD_NAME,
                        get(pod, &format!("k8s.{kind}.name")).unwrap_or_default(),
                    ));
                }
            }
        }
        let namespace = get(pod, NAMESPACE_NAME).unwrap_or_default();
        for service in self.services.get(namespace).into_iter().flatten() {
            let selects = service
                .selector
                .iter()
                .all(|(k, v)| get(labels, k) == Some(v.as_str()));
            if selects {
                out.push((service.attribute.as_str(), ""));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::intern;

    fn pairs(list: &[(&str, &str)]) -> Vec<(Text, Text)> {
        list.iter().map(|(k, v)| (intern(k), intern(v))).collect()
    }

    #[test]
    fn a_pods_workload_and_services_come_from_the_objects_above_it() {
        let mut related = Related::default();
        related.add_replicaset(&pairs(&[
            ("k8s.replicaset.uid", "rs-1"),
            ("k8s.deployment.name", "web"),
            ("k8s.deployment.uid", "d-1"),
        ]));
        related.add_replicaset(&pairs(&[("k8s.replicaset.uid", "rs-2")]));
        related.add_service(&pairs(&[
            ("k8s.namespace.name", "shop"),
            ("k8s.service.name", "web"),
            ("k8s.service.selector.app", "web"),
        ]));
        related.add_service(&pairs(&[
            ("k8s.namespace.name", "shop"),
            ("k8s.service.name", "other"),
            ("k8s.service.selector.app", "other"),
        ]));
        related.add_service(&pairs(&[
            ("k8s.namespace.name", "shop"),
            ("k8s.service.name", "manual"),
        ]));
        related.add_service(&pairs(&[
            ("k8s.namespace.name", "elsewhere"),
            ("k8s.service.name", "web"),
            ("k8s.service.selector.app", "web"),
        ]));
        let labels = pairs(&[("app", "web"), ("tier", "front")]);
        let pod = pairs(&[
            ("k8s.pod.uid", "p"),
            ("k8s.replicaset.name", "web-7d"),
            ("k8s.replicaset.uid", "rs-1"),
            ("k8s.namespace.name", "shop"),
        ]);
        let mut out = Vec::new();
        related.for_pod(&pod, &labels, &mut out);
        assert_eq!(
            out,
            [
                ("k8s.workload.kind", "Deployment"),
                ("k8s.workload.name", "web"),
                ("k8s.deployment.name", "web"),
                ("k8s.deployment.uid", "d-1"),
                ("k8s.service.web", ""),
            ]
        );
        // A bare ReplicaSet is the workload; a Job kind not watched adds nothing.
        let bare = pairs(&[
            ("k8s.replicaset.name", "rs"),
            ("k8s.replicaset.uid", "rs-2"),
            ("k8s.job.name", "j"),
            ("k8s.job.uid", "j-1"),
        ]);
        let mut out = Vec::new();
        related.for_pod(&bare, &[], &mut out);
        assert_eq!(
            out,
            [
                ("k8s.workload.kind", "ReplicaSet"),
                ("k8s.workload.name", "rs")
            ]
        );
        // A watched Job kind without the pod's Job adds nothing either (not listed yet).
        related.watching(false, true);
        let mut out = Vec::new();
        related.for_pod(&bare, &[], &mut out);
        assert_eq!(out.len(), 2);
        related.add_job(&pairs(&[
            ("k8s.job.uid", "j-1"),
            ("k8s.cronjob.name", "nightly"),
            ("k8s.cronjob.uid", "c-1"),
        ]));
        let mut out = Vec::new();
        related.for_pod(&bare, &[], &mut out);
        assert_eq!(
            out[2..],
            [
                ("k8s.workload.kind", "CronJob"),
                ("k8s.workload.name", "nightly"),
                ("k8s.cronjob.name", "nightly"),
                ("k8s.cronjob.uid", "c-1"),
            ]
        );
    }
}
