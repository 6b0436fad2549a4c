//! [`CompactSamples`]: one object's samples frozen into a single reference-counted block.
//!
//! A collection visits every object once per family. Kept as a struct with four boxes
//! (identity, labels, samples, family starts), each visit touched five allocations in as many
//! memory pages (the allocator groups allocations by size), through two levels of pointers.
//! In one block the family-start table sits at a fixed offset, and each sample is followed by
//! its own labels, so a family's data is one contiguous run:
//!
//! ```text
//! Header | family starts [u32; families + 1] | identity [Arc<str>] | slots [16 B]
//!                                       kind's common labels?, common labels, sample, its labels, …
//! ```
//!
//! An object whose samples all carry the same label pairs (a custom resource's `name`,
//! `namespace` and `customresource_*` labels, see [`Samples::share_common_labels`]) keeps them
//! once, in the slots before its first sample: those every object of its kind has with the same
//! values as a reference to the kind's (one slot), the others as pairs. Each sample keeps a bit
//! mask of where they go among its own labels, and the kind's slot where its labels go among the
//! object's: a collection puts every label back in place without comparing names
//! ([`interleave`]).
//!
//! [`Samples::share_common_labels`]: super::Samples::share_common_labels

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use super::text::{prefetch, prefetch_str};
use super::{Sample, Text};

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    start_unix_nanos: u64,
    /// Entries of the family-start table: families + 1.
    family_starts: u32,
    identity: u32,
    /// Byte offsets from the block's start.
    identity_offset: u32,
    slots_offset: u32,
    slots: u32,
    /// Common label pairs in the object's first slots (after the kind's, if any).
    common: u16,
    /// Whether the first slot holds the kind's common labels (a [`KindSlot`]).
    kind_common: bool,
}

// Every object pays for the header: sharing labels fits in what was padding.
const _: () = assert!(size_of::<Header>() == 40);

/// A sample's slot; its `labels` label pairs fill the slots after it.
#[repr(C)]
#[derive(Clone, Copy)]
struct SampleSlot {
    value: f64,
    labels: u32,
    /// Where the object's common labels go among the sample's (see [`interleave`]).
    order: u32,
}

type Label = (Text, Text);

/// Label pairs shared by every object of a kind that has them all (see
/// [`super::Samples::share_common_labels`]): a thin pointer, so that the kind's slot holds the
/// order too.
pub type KindLabels = Arc<Vec<Label>>;

/// The kind's common labels and where they go among the object's (see [`interleave`]).
#[repr(C)]
pub(super) struct KindSlot {
    pub(super) labels: KindLabels,
    pub(super) order: u32,
}

/// A slot holds a sample, a label pair or the kind's common labels.
const SLOT: usize = 16;
const _: () = assert!(size_of::<SampleSlot>() == SLOT && size_of::<Label>() == SLOT);
const _: () = assert!(align_of::<SampleSlot>() <= 8 && align_of::<Label>() <= 8);
const _: () = assert!(size_of::<KindSlot>() == SLOT && align_of::<KindSlot>() <= 8);

/// The most labels a sample of an object with common labels may have: a bit of its order each.
pub(super) const MAX_INTERLEAVED: usize = u32::BITS as usize;
const _: () = assert!(MAX_INTERLEAVED <= u16::MAX as usize);

/// The label pairs every sample of an object has, taken out of the samples by
/// [`super::Samples::finish`].
#[derive(Default)]
pub(super) struct CommonLabels {
    /// The kind's, when the object has them all.
    pub(super) kind: Option<KindSlot>,
    /// The others, in the samples' order; at most [`MAX_INTERLEAVED`].
    pub(super) object: Vec<Label>,
}

impl CommonLabels {
    fn slots(&self) -> usize {
        usize::from(self.kind.is_some()) + self.object.len()
    }
}

const FAMILY_STARTS_OFFSET: usize = size_of::<Header>();

/// What the store keeps per object: its identity values, start time and samples, in one
/// allocation. Cloning shares it (it never changes).
pub struct CompactSamples {
    block: NonNull<Header>,
    _owns: PhantomData<Header>,
}

// SAFETY: the block is immutable after construction except for its atomic reference count;
// what it owns (`Text`, `Arc<str>`) is Send and Sync.
unsafe impl Send for CompactSamples {}
// SAFETY: as above.
unsafe impl Sync for CompactSamples {}

/// Where the parts of a block are.
struct Shape {
    layout: Layout,
    identity_offset: usize,
    slots_offset: usize,
}

impl Shape {
    fn of(family_starts: usize, identity: usize, slots: usize) -> Option<Shape> {
        let header = Layout::new::<Header>();
        let (layout, _) = header
            .extend(Layout::array::<u32>(family_starts).ok()?)
            .ok()?;
        let (layout, identity_offset) = layout
            .extend(Layout::array::<Arc<str>>(identity).ok()?)
            .ok()?;
        let (layout, slots_offset) = layout.extend(Layout::array::<Label>(slots).ok()?).ok()?;
        // Offsets are kept as u32 in the header.
        u32::try_from(layout.size()).ok()?;
        Some(Shape {
            layout: layout.pad_to_align(),
            identity_offset,
            slots_offset,
        })
    }
}

impl CompactSamples {
    /// Freezes the builder's parts; `family_start` holds sample indices, `samples` index
    /// `labels` in order.
    pub(super) fn new(
        identity: &[Text],
        start_unix_nanos: u64,
        common: CommonLabels,
        labels: Vec<Label>,
        samples: &[Sample],
        family_start: &[u32],
    ) -> CompactSamples {
        let common_slots = common.slots();
        let slots = common_slots + samples.len() + labels.len();
        let Some(shape) = Shape::of(family_start.len(), identity.len(), slots) else {
            // More than 4 GiB for one object: Kubernetes objects are at most a few MiB.
            tracing::warn!(
                slots,
                "an object's samples do not fit in one block; dropped"
            );
            return CompactSamples::default();
        };
        // The slot where sample `index` starts (or the end, past the last sample).
        let slot_of = |index: u32| match samples.get(index as usize) {
            Some(sample) => common_slots + index as usize + sample.labels_start as usize,
            None => slots,
        };
        // SAFETY: the layout has a nonzero size (the header); every part is written below at
        // the offsets `Shape` computed, within the allocation, before the block is shared.
        // Counts and offsets fit the header's u32s: `Shape::of` checked the whole size does;
        // the common pairs are at most `MAX_INTERLEAVED`, within the header's u16.
        unsafe {
            let base = alloc(shape.layout);
            let Some(block) = NonNull::new(base.cast::<Header>()) else {
                handle_alloc_error(shape.layout);
            };
            block.write(Header {
                refs: AtomicUsize::new(1),
                start_unix_nanos,
                family_starts: family_start.len() as u32,
                identity: identity.len() as u32,
                identity_offset: shape.identity_offset as u32,
                slots_offset: shape.slots_offset as u32,
                slots: slots as u32,
                common: common.object.len() as u16,
                kind_common: common.kind.is_some(),
            });
            let starts = base.add(FAMILY_STARTS_OFFSET).cast::<u32>();
            for (i, &start) in family_start.iter().enumerate() {
                starts.add(i).write(slot_of(start) as u32);
            }
            let ids = base.add(shape.identity_offset).cast::<Arc<str>>();
            for (i, text) in identity.iter().enumerate() {
                ids.add(i).write(text.to_shared());
            }
            let mut slot = base.add(shape.slots_offset);
            if let Some(kind) = common.kind {
                slot.cast::<KindSlot>().write(kind);
                slot = slot.add(SLOT);
            }
            for label in common.object {
                slot.cast::<Label>().write(label);
                slot = slot.add(SLOT);
            }
            let mut labels = labels.into_iter();
            for sample in samples {
                let count = sample.labels_end - sample.labels_start;
                slot.cast::<SampleSlot>().write(SampleSlot {
                    value: sample.value,
                    labels: count,
                    order: sample.order,
                });
                slot = slot.add(SLOT);
                for label in labels.by_ref().take(count as usize) {
                    slot.cast::<Label>().write(label);
                    slot = slot.add(SLOT);
                }
            }
            CompactSamples {
                block,
                _owns: PhantomData,
            }
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the block lives as long as any handle to it.
        unsafe { self.block.as_ref() }
    }

    fn base(&self) -> *const u8 {
        self.block.as_ptr().cast::<u8>()
    }

    fn family_starts(&self) -> &[u32] {
        let len = self.header().family_starts as usize;
        // SAFETY: written in `new`, `len` entries at this offset.
        unsafe { std::slice::from_raw_parts(self.base().add(FAMILY_STARTS_OFFSET).cast(), len) }
    }

    fn slot(&self, index: usize) -> *const u8 {
        // In bounds for `index <= slots` (one past the end is the end of the block's slots).
        self.base()
            .wrapping_add(self.header().slots_offset as usize + index * SLOT)
    }

    /// Values of the kind's identity labels, in the kind's order.
    pub fn identity(&self) -> &[Arc<str>] {
        let header = self.header();
        let ids = self.base().wrapping_add(header.identity_offset as usize);
        // SAFETY: written in `new`, `identity` entries at this offset.
        unsafe { std::slice::from_raw_parts(ids.cast(), header.identity as usize) }
    }

    /// The label pairs every sample of the object has, in the samples' order: none unless its
    /// builder asked ([`super::Samples::share_common_labels`]).
    /// [`CompactSamples::family_with_common`] says where they go among each sample's own.
    pub fn common_labels(&self) -> impl Iterator<Item = &Label> {
        let (kind, order) = match self.kind_slot() {
            Some(slot) => (&slot.labels[..], slot.order),
            None => (&[][..], 0),
        };
        interleave(order, self.object_labels(), kind)
    }

    /// Whether the object has [`CompactSamples::common_labels`].
    pub fn has_common_labels(&self) -> bool {
        self.common_slots() > 0
    }

    /// The slots before the first sample: the kind's common labels and the object's.
    fn common_slots(&self) -> usize {
        let header = self.header();
        usize::from(header.kind_common) + usize::from(header.common)
    }

    fn kind_slot(&self) -> Option<&KindSlot> {
        if !self.header().kind_common {
            return None;
        }
        // SAFETY: `new` wrote the kind's slot first.
        Some(unsafe { &*self.slot(0).cast::<KindSlot>() })
    }

    fn object_labels(&self) -> &[Label] {
        let header = self.header();
        let first = self.slot(usize::from(header.kind_common));
        // SAFETY: `new` wrote `common` pairs from this slot on (the slot is in bounds, or one
        // past the end for an empty block: aligned and not null either way).
        unsafe { std::slice::from_raw_parts(first.cast(), usize::from(header.common)) }
    }

    /// When the object's counters started counting (Unix nanoseconds; 0 if unknown).
    pub fn start_time(&self) -> u64 {
        self.header().start_unix_nanos
    }

    /// How many families the object has samples (or none) for.
    pub fn family_count(&self) -> usize {
        (self.header().family_starts as usize).saturating_sub(1)
    }

    /// The slots of enabled family `family`; empty when it has no samples.
    fn family_slots(&self, family: usize) -> (usize, usize) {
        let starts = self.family_starts();
        match (starts.get(family), starts.get(family + 1)) {
            (Some(&start), Some(&end)) => (start as usize, end as usize),
            _ => (0, 0),
        }
    }

    /// Whether enabled family `family` has samples.
    pub fn has_samples(&self, family: usize) -> bool {
        let (start, end) = self.family_slots(family);
        start < end
    }

    /// The samples of enabled family `family`, each with its own label pairs (without the
    /// [`CompactSamples::common_labels`]).
    pub fn family(&self, family: usize) -> FamilySamples<'_> {
        let (at, end) = self.family_slots(family);
        FamilySamples {
            object: self,
            at,
            end,
        }
    }

    /// [`CompactSamples::family`], each sample with the order that puts the common labels
    /// among its own: `interleave(order, common_labels(), own)` gives its labels as pushed.
    pub fn family_with_common(&self, family: usize) -> impl Iterator<Item = (&[Label], u32, f64)> {
        let mut samples = self.family(family);
        std::iter::from_fn(move || samples.next_with_order())
    }

    /// The address of the block: a collection walks objects in memory order.
    pub fn address(&self) -> usize {
        self.block.as_ptr() as usize
    }

    /// Prefetch stage 1 of a collection (see [`CompactSamples::PREFETCH_STAGES`]): the
    /// header and the family's entries in the family-start table, at fixed offsets.
    fn prefetch_header(&self, family: usize) {
        let starts = self.base().wrapping_add(FAMILY_STARTS_OFFSET);
        prefetch(self.base());
        prefetch(starts.wrapping_add(family * size_of::<u32>()));
        prefetch(starts.wrapping_add((family + 1) * size_of::<u32>()));
    }

    /// Stage 2: the family's run of slots, the common labels, and the identity.
    fn prefetch_run(&self, family: usize) {
        let (start, end) = self.family_slots(family);
        if start == end {
            return;
        }
        self.prefetch_slots(start, end);
        self.prefetch_slots(0, self.common_slots());
        prefetch(self.identity().as_ptr());
    }

    /// Slots `start..end` (none when empty).
    fn prefetch_slots(&self, start: usize, end: usize) {
        if start == end {
            return;
        }
        let mut line = self.slot(start);
        let last = self.slot(end - 1);
        while line <= last {
            prefetch(line);
            line = line.wrapping_add(64);
        }
        prefetch(last);
    }

    /// Stage 3: the identity strings and the label value texts (the kind's common labels are
    /// shared by all its objects, hence in the cache already).
    fn prefetch_texts(&self, family: usize) {
        if !self.has_samples(family) {
            return;
        }
        self.identity().iter().for_each(|s| prefetch_str(s));
        self.object_labels()
            .iter()
            .for_each(|(_, value)| value.prefetch());
        for (labels, _) in self.family(family) {
            labels.iter().for_each(|(_, value)| value.prefetch());
        }
    }

    /// Stage 4: the strings of the label value texts.
    fn prefetch_strs(&self, family: usize) {
        if !self.has_samples(family) {
            return;
        }
        self.object_labels()
            .iter()
            .for_each(|(_, value)| value.prefetch_str());
        for (labels, _) in self.family(family) {
            labels.iter().for_each(|(_, value)| value.prefetch_str());
        }
    }

    /// A collection reads an object's family through four levels of pointers (block, slots,
    /// texts, strings). Run stage `i` on an object several batches before it is read, the
    /// lowest stage furthest ahead, and each level arrives in the cache while other objects
    /// are read: the misses overlap instead of stalling one by one.
    pub const PREFETCH_STAGES: [fn(&CompactSamples, usize); 4] = [
        CompactSamples::prefetch_header,
        CompactSamples::prefetch_run,
        CompactSamples::prefetch_texts,
        CompactSamples::prefetch_strs,
    ];

    /// How many samples all families hold together.
    pub fn len(&self) -> usize {
        (0..self.family_count())
            .map(|family| self.family(family).count())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        !(0..self.family_count()).any(|family| self.has_samples(family))
    }

    /// Heap bytes held (label strings are shared and not counted).
    pub fn heap_bytes(&self) -> usize {
        let header = self.header();
        let size = header.slots_offset as usize + header.slots as usize * SLOT;
        size.next_multiple_of(align_of::<Header>())
    }
}

/// The samples of one family of a [`CompactSamples`], each with its label pairs.
pub struct FamilySamples<'a> {
    object: &'a CompactSamples,
    at: usize,
    end: usize,
}

impl<'a> FamilySamples<'a> {
    fn next_with_order(&mut self) -> Option<(&'a [Label], u32, f64)> {
        if self.at >= self.end {
            return None;
        }
        // SAFETY: family runs start at a sample slot and `new` wrote each sample's labels
        // right after it, so `at` is a sample slot and its labels are within the run.
        unsafe {
            let sample = self.object.slot(self.at).cast::<SampleSlot>().read();
            let labels = std::slice::from_raw_parts(
                self.object.slot(self.at + 1).cast::<Label>(),
                sample.labels as usize,
            );
            self.at += 1 + sample.labels as usize;
            Some((labels, sample.order, sample.value))
        }
    }
}

impl<'a> Iterator for FamilySamples<'a> {
    type Item = (&'a [Label], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let (labels, _, value) = self.next_with_order()?;
        Some((labels, value))
    }
}

/// Puts `common` among `own` as `order` says: bit `i` set, item `i` is the next of `own`;
/// clear, the next of `common` (when one runs out, the other goes on). An object's common
/// labels, a sample's own and its order give the sample's labels as they were pushed, without
/// comparing them.
pub fn interleave<T>(
    order: u32,
    common: impl IntoIterator<Item = T>,
    own: impl IntoIterator<Item = T>,
) -> impl Iterator<Item = T> {
    let (mut common, mut own, mut order) = (common.into_iter(), own.into_iter(), order);
    std::iter::from_fn(move || {
        let from_own = order & 1 == 1;
        order >>= 1;
        if from_own {
            own.next().or_else(|| common.next())
        } else {
            common.next().or_else(|| own.next())
        }
    })
}

impl Clone for CompactSamples {
    fn clone(&self) -> Self {
        // As `Arc`: a count past isize::MAX means leaked handles; abort rather than wrap.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        CompactSamples {
            block: self.block,
            _owns: PhantomData,
        }
    }
}

impl Drop for CompactSamples {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Everything other handles did happens before the block is freed (as in `Arc`).
        fence(Ordering::Acquire);
        let header = self.header();
        let (family_starts, identity, slots, kind_common, common) = (
            header.family_starts as usize,
            header.identity as usize,
            header.slots as usize,
            header.kind_common,
            usize::from(header.common),
        );
        let Some(shape) = Shape::of(family_starts, identity, slots) else {
            return;
        };
        // SAFETY: this was the last handle; the parts were written in `new` and are dropped
        // once each: the identity strings, the common labels, then every label slot (found
        // from the samples).
        unsafe {
            let ids = self.base().add(shape.identity_offset).cast_mut();
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                ids.cast::<Arc<str>>(),
                identity,
            ));
            if kind_common {
                std::ptr::drop_in_place(self.slot(0).cast_mut().cast::<KindSlot>());
            }
            let first = usize::from(kind_common);
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.slot(first).cast_mut().cast::<Label>(),
                common,
            ));
            let mut at = first + common;
            while at < slots {
                let sample = self.slot(at).cast::<SampleSlot>().read();
                let labels = sample.labels as usize;
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                    self.slot(at + 1).cast_mut().cast::<Label>(),
                    labels,
                ));
                at += 1 + labels;
            }
            dealloc(self.block.as_ptr().cast(), shape.layout);
        }
    }
}

impl Default for CompactSamples {
    fn default() -> Self {
        CompactSamples::new(&[], 0, CommonLabels::default(), Vec::new(), &[], &[0])
    }
}

impl PartialEq for CompactSamples {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
            && self.start_time() == other.start_time()
            && self.common_labels().eq(other.common_labels())
            && self.family_count() == other.family_count()
            && (0..self.family_count())
                .all(|f| self.family_with_common(f).eq(other.family_with_common(f)))
    }
}

impl fmt::Debug for CompactSamples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let families: Vec<Vec<_>> = (0..self.family_count())
            .map(|family| self.family(family).collect())
            .collect();
        f.debug_struct("CompactSamples")
            .field("identity", &self.identity())
            .field("start_unix_nanos", &self.start_time())
            .field("common_labels", &self.common_labels().collect::<Vec<_>>())
            .field("families", &families)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Samples, intern};
    use super::*;

    fn object() -> CompactSamples {
        let mut s = Samples::new(vec![intern("ns"), intern("pod-1")]);
        s.set_start_time(42);
        s.begin_family();
        s.push(1.0);
        s.begin_family();
        s.begin_family();
        s.push_labeled(&[("container", "app"), ("reason", "OOMKilled")], 2.0);
        s.push(3.0);
        s.push_labeled(&[("container", "sidecar")], 4.0);
        s.begin_family();
        s.finish()
    }

    fn family(o: &CompactSamples, f: usize) -> Vec<(Vec<(String, String)>, f64)> {
        o.family(f)
            .map(|(labels, value)| {
                let labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (labels, value)
            })
            .collect()
    }

    #[test]
    fn a_block_gives_back_what_was_pushed() {
        let o = object();
        assert_eq!(&*o.identity()[1], "pod-1");
        assert_eq!(o.start_time(), 42);
        assert_eq!(o.family_count(), 4);
        assert_eq!(family(&o, 0), [(vec![], 1.0)]);
        assert!(!o.has_samples(1) && family(&o, 1).is_empty());
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            family(&o, 2),
            [
                (
                    vec![pair("container", "app"), pair("reason", "OOMKilled")],
                    2.0
                ),
                (vec![], 3.0),
                (vec![pair("container", "sidecar")], 4.0),
            ]
        );
        assert!(!o.has_samples(3) && !o.has_samples(4) && family(&o, 9).is_empty());
        assert_eq!(o.len(), 4);
        // Header 40 B, 5 family starts (+4 B to align), 2 identity strings, 4 samples and 3
        // label pairs.
        assert_eq!(o.heap_bytes(), 40 + 24 + 2 * 16 + 7 * 16);
        assert_eq!(o, object());
        assert_ne!(o, CompactSamples::default());
        assert!(CompactSamples::default().is_empty());
    }

    #[test]
    fn clones_share_the_block_and_the_last_frees_the_strings() {
        let unique = "a-label-value-only-this-test-uses";
        let mut s = Samples::new(vec![intern("ns")]);
        s.begin_family();
        s.push_labeled(&[("k", unique)], 1.0);
        let o = s.finish();
        let copy = o.clone();
        assert_eq!(copy.address(), o.address());
        drop(o);
        assert_eq!(family(&copy, 0)[0].0[0].1, unique);
        // The label text is shared by the interner and this block only.
        let text = intern(unique);
        let before = text.references();
        drop(copy);
        assert_eq!(text.references(), before - 1);
    }

    fn pairs(labels: &[(&str, &str)]) -> Vec<Label> {
        labels.iter().map(|(k, v)| (intern(k), intern(v))).collect()
    }

    /// Samples as a custom resource's: `group`, `name` and `ns` on every one, sorted by name.
    fn custom(kind: &KindLabels, phase_group: &str) -> CompactSamples {
        let mut s = Samples::new(Vec::new());
        s.share_common_labels(kind);
        s.begin_family();
        s.push_dynamic(pairs(&[("group", "g"), ("name", "a"), ("ns", "n")]), 1.0);
        s.begin_family();
        for phase in ["Failed", "Running"] {
            let labels = [
                ("app", "web"),
                ("group", phase_group),
                ("name", "a"),
                ("ns", "n"),
                ("phase", phase),
            ];
            s.push_dynamic(pairs(&labels), 0.0);
        }
        s.finish()
    }

    /// A family's samples with their labels as pushed: the common ones put back.
    fn merged(o: &CompactSamples, f: usize) -> Vec<(Vec<String>, f64)> {
        let common: Vec<&Label> = o.common_labels().collect();
        o.family_with_common(f)
            .map(|(labels, order, value)| {
                let all = interleave(order, common.iter().copied(), labels);
                (all.map(|(k, v)| format!("{k}={v}")).collect(), value)
            })
            .collect()
    }

    #[test]
    fn labels_every_sample_has_are_stored_once() {
        let kind = Arc::new(pairs(&[("group", "g")]));
        let o = custom(&kind, "g");
        let common: Vec<_> = o.common_labels().cloned().collect();
        assert_eq!(common, pairs(&[("group", "g"), ("name", "a"), ("ns", "n")]));
        assert_eq!(family(&o, 0), [(vec![], 1.0)]);
        assert_eq!(family(&o, 1)[0].0.len(), 2);
        let phase = |p: &str| {
            let labels = [
                "app=web",
                "group=g",
                "name=a",
                "ns=n",
                &format!("phase={p}"),
            ];
            (labels.map(String::from).to_vec(), 0.0)
        };
        assert_eq!(merged(&o, 1), [phase("Failed"), phase("Running")]);
        // Header 40 B, 3 family starts (+4 B), the kind's slot, 2 common pairs, 3 samples and
        // 4 own pairs.
        assert_eq!(o.heap_bytes(), 40 + 16 + 10 * 16);
        assert_eq!(o, custom(&kind, "g"));
        assert!(o.has_common_labels() && !object().has_common_labels());
        // The kind's labels are shared, not copied: the last object frees its reference.
        let before = Arc::strong_count(&kind);
        drop(o);
        assert_eq!(Arc::strong_count(&kind), before - 1);

        // A sample whose `group` differs: the kind's labels are not common; `name`, `ns` are.
        let o = custom(&kind, "other");
        let common: Vec<_> = o.common_labels().cloned().collect();
        assert_eq!(common, pairs(&[("name", "a"), ("ns", "n")]));
        assert_eq!(Arc::strong_count(&kind), before - 1);
        let first = ["group=g", "name=a", "ns=n"].map(String::from).to_vec();
        assert_eq!(merged(&o, 0), [(first, 1.0)]);
    }

    #[test]
    fn labels_in_different_orders_or_too_many_are_not_shared() {
        let common = |samples: &[Vec<Label>]| {
            let mut s = Samples::new(Vec::new());
            s.share_common_labels(&Arc::new(pairs(&[("a", "1")])));
            s.begin_family();
            for labels in samples {
                s.push_dynamic(labels.clone(), 1.0);
            }
            let o = s.finish();
            let names: Vec<String> = o.common_labels().map(|(k, _)| k.to_string()).collect();
            assert_eq!(o.has_common_labels(), !names.is_empty());
            names
        };
        let (a, b) = (pairs(&[("a", "1")]), pairs(&[("b", "1")]));
        let (ba, ab) = ([b.clone(), a.clone()].concat(), [a, b.clone()].concat());
        assert_eq!(common(&[ba.clone(), b]), ["b"]);
        // `a` comes after `b` in one sample, before it in the other: only `b` is shared.
        assert_eq!(common(&[ba.clone(), ab]), ["b"]);
        assert_eq!(common(&[ba]), ["b", "a"]);
        // One bit of the order per label.
        let many: Vec<Label> = (0..=MAX_INTERLEAVED)
            .map(|i| (intern(&format!("l{i}")), intern("v")))
            .collect();
        assert_eq!(common(&[many[1..].to_vec()]).len(), MAX_INTERLEAVED);
        assert!(common(&[many]).is_empty());
        // Nothing to share without samples.
        assert!(common(&[]).is_empty());
    }
}
