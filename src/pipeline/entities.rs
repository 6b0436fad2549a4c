//! The pipeline as the source of entity events (`--entity-events`): each kind's entity samples
//! (the last family of its objects) become events, changes from the stores' change logs, the
//! whole state from their snapshots. A pod's workload and Services are resolved here, from
//! the ReplicaSets, Jobs and Services the pipeline watches.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{KindRuntime, Pipeline};
use crate::export::otlp::{EntityEvent, EntitySource, EventKind};
use crate::kinds::entity::related::Related;
use crate::kinds::entity::{CONTAINER, CONTAINER_TYPE, OBJECT, SELECTOR_LABELS};
use crate::metric::{CompactSamples, Text};
use crate::store::Change;

type Pairs = [(Text, Text)];

/// The entity samples of an object: its last family.
fn entity_samples(object: &CompactSamples) -> impl Iterator<Item = (&Pairs, f64)> {
    object.family(object.family_count().saturating_sub(1))
}

/// One entity of an object: its type, its attributes (identifying pair first).
fn entities<'a>(
    object: &'a CompactSamples,
    object_type: &'static str,
) -> impl Iterator<Item = (&'static str, &'a Pairs)> {
    entity_samples(object).filter_map(move |(pairs, what)| {
        let entity_type = if what == OBJECT {
            object_type
        } else if what == CONTAINER {
            CONTAINER_TYPE
        } else {
            return None;
        };
        (!pairs.is_empty()).then_some((entity_type, pairs))
    })
}

/// Hands `sink` the state events of `object`'s entities.
fn states(
    object: &CompactSamples,
    object_type: &'static str,
    related: &Related,
    sink: &mut dyn FnMut(&EntityEvent<'_>),
) {
    let labels = entity_samples(object)
        .find(|(_, what)| *what == SELECTOR_LABELS)
        .map_or(&[][..], |(pairs, _)| pairs);
    let mut extra = Vec::new();
    for (entity_type, pairs) in entities(object, object_type) {
        extra.clear();
        if entity_type == "k8s.pod" {
            related.for_pod(pairs, labels, &mut extra);
        }
        sink(&event(EventKind::State, entity_type, pairs, &extra));
    }
}

fn event<'a>(
    kind: EventKind,
    entity_type: &'a str,
    pairs: &'a Pairs,
    related: &'a [(&'a str, &'a str)],
) -> EntityEvent<'a> {
    let ((id_key, id), description) = match pairs.split_first() {
        Some(((k, v), rest)) => ((k.as_str(), v.as_str()), rest),
        None => (("", ""), pairs),
    };
    EntityEvent {
        kind,
        entity_type,
        id: (id_key, id),
        description: if kind == EventKind::State {
            description
        } else {
            &[]
        },
        related,
    }
}

/// The delete events of what `change` removed: every entity of a deleted object, the
/// containers gone from an updated pod.
fn deletes(change: &Change, object_type: &'static str, sink: &mut dyn FnMut(&EntityEvent<'_>)) {
    let Some(before) = &change.before else {
        return;
    };
    let still = |id: &(Text, Text)| {
        change.after.as_ref().is_some_and(|after| {
            entities(after, object_type).any(|(_, pairs)| pairs.first() == Some(id))
        })
    };
    for (entity_type, pairs) in entities(before, object_type) {
        if pairs.first().is_some_and(|id| !still(id)) {
            sink(&event(EventKind::Delete, entity_type, pairs, &[]));
        }
    }
}

impl Pipeline {
    /// The kinds sending entity events, with their entity type.
    fn entity_kinds(&self) -> Vec<(Arc<KindRuntime>, &'static str)> {
        self.kinds()
            .iter()
            .filter(|k| k.store.changes().is_some())
            .filter_map(|k| Some((k.clone(), k.kind.entity_type()?)))
            .collect()
    }

    /// The objects pods refer to, from the kinds watched.
    fn related(kinds: &[(Arc<KindRuntime>, &'static str)]) -> Related {
        let mut related = Related::default();
        for (k, _) in kinds {
            let add: fn(&mut Related, &Pairs) = match k.kind.resource() {
                "replicasets" => Related::add_replicaset,
                "jobs" => Related::add_job,
                "services" => Related::add_service,
                _ => continue,
            };
            related.watching(
                k.kind.resource() == "replicasets",
                k.kind.resource() == "jobs",
            );
            k.store.for_each(|object| {
                for (pairs, what) in entity_samples(object) {
                    if what == OBJECT {
                        add(&mut related, pairs);
                    }
                }
            });
        }
        related
    }
}

impl EntitySource for Pipeline {
    fn wake(&self) -> Arc<Notify> {
        self.entity_wake.clone()
    }

    fn deletes_pending(&self) -> bool {
        self.kinds()
            .iter()
            .filter_map(|k| k.store.changes())
            .any(|log| log.deletes_pending())
    }

    fn drain(&self, sink: &mut dyn FnMut(&EntityEvent<'_>)) {
        let kinds = self.entity_kinds();
        let mut listed = Vec::new();
        let mut changes = Vec::new();
        for (k, entity_type) in &kinds {
            if let Some(log) = k.store.changes() {
                let (drained, first_list) = log.drain();
                if first_list {
                    listed.push((k, *entity_type));
                }
                changes.extend(drained.into_iter().map(|c| (*entity_type, c)));
            }
        }
        for (entity_type, change) in &changes {
            deletes(change, entity_type, sink);
        }
        let pods_changed = changes
            .iter()
            .any(|(t, c)| *t == "k8s.pod" && c.after.is_some());
        if changes.is_empty() && listed.is_empty() {
            return;
        }
        let related = if pods_changed || !listed.is_empty() {
            Pipeline::related(&kinds)
        } else {
            Related::default()
        };
        for (entity_type, change) in &changes {
            if let Some(after) = &change.after {
                states(after, entity_type, &related, sink);
            }
        }
        // A kind that has just listed sends its whole state.
        for (k, entity_type) in listed {
            k.store
                .for_each(|object| states(object, entity_type, &related, sink));
        }
    }

    fn full_state(&self, sink: &mut dyn FnMut(&EntityEvent<'_>)) {
        let kinds = self.entity_kinds();
        let related = Pipeline::related(&kinds);
        for (k, entity_type) in &kinds {
            k.store
                .for_each(|object| states(object, entity_type, &related, sink));
        }
    }
}
