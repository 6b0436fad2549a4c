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
//!                                                                   sample, its labels, sample, …
//! ```

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
}

/// A sample's slot; its `labels` label pairs fill the slots after it.
#[repr(C)]
#[derive(Clone, Copy)]
struct SampleSlot {
    value: f64,
    labels: u32,
}

type Label = (Text, Text);

/// A slot holds a sample or a label pair.
const SLOT: usize = 16;
const _: () = assert!(size_of::<SampleSlot>() == SLOT && size_of::<Label>() == SLOT);
const _: () = assert!(align_of::<SampleSlot>() <= 8 && align_of::<Label>() <= 8);
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
        labels: Vec<Label>,
        samples: &[Sample],
        family_start: &[u32],
    ) -> CompactSamples {
        let slots = samples.len() + labels.len();
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
            Some(sample) => index as usize + sample.labels_start as usize,
            None => slots,
        };
        // SAFETY: the layout has a nonzero size (the header); every part is written below at
        // the offsets `Shape` computed, within the allocation, before the block is shared.
        // Counts and offsets fit the header's u32s: `Shape::of` checked the whole size does.
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
            let mut labels = labels.into_iter();
            for sample in samples {
                let count = sample.labels_end - sample.labels_start;
                slot.cast::<SampleSlot>().write(SampleSlot {
                    value: sample.value,
                    labels: count,
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

    /// The samples of enabled family `family`, each with its label pairs.
    pub fn family(&self, family: usize) -> FamilySamples<'_> {
        let (at, end) = self.family_slots(family);
        FamilySamples {
            object: self,
            at,
            end,
        }
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

    /// Stage 2: the family's run of slots, and the identity.
    fn prefetch_run(&self, family: usize) {
        let (start, end) = self.family_slots(family);
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
        prefetch(self.identity().as_ptr());
    }

    /// Stage 3: the identity strings and the label value texts.
    fn prefetch_texts(&self, family: usize) {
        if !self.has_samples(family) {
            return;
        }
        self.identity().iter().for_each(|s| prefetch_str(s));
        for (labels, _) in self.family(family) {
            labels.iter().for_each(|(_, value)| value.prefetch());
        }
    }

    /// Stage 4: the strings of the label value texts.
    fn prefetch_strs(&self, family: usize) {
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

impl<'a> Iterator for FamilySamples<'a> {
    type Item = (&'a [Label], f64);

    fn next(&mut self) -> Option<Self::Item> {
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
            Some((labels, sample.value))
        }
    }
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
        let (family_starts, identity, slots) = (
            header.family_starts as usize,
            header.identity as usize,
            header.slots as usize,
        );
        let Some(shape) = Shape::of(family_starts, identity, slots) else {
            return;
        };
        // SAFETY: this was the last handle; the parts were written in `new` and are dropped
        // once each: the identity strings, then every label slot (found from the samples).
        unsafe {
            let ids = self.base().add(shape.identity_offset).cast_mut();
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                ids.cast::<Arc<str>>(),
                identity,
            ));
            let mut at = 0;
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
        CompactSamples::new(&[], 0, Vec::new(), &[], &[0])
    }
}

impl PartialEq for CompactSamples {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
            && self.start_time() == other.start_time()
            && self.family_count() == other.family_count()
            && (0..self.family_count()).all(|f| self.family(f).eq(other.family(f)))
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
}
