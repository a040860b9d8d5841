//! The lock-free core: one shard's open-addressing hash table of MFEs, reclaimed by epochs.
//!
//! All the `unsafe` of the crate lives here, below a safe API:
//!
//! - [`Table`]: single writer (serialised by its own mutex), any number of readers. Slots are
//!   `Atomic<Entry>`; an empty slot is null, a deleted one is null tagged [`TOMBSTONE`].
//!   Linear probing from the FxHash of (source, group).
//! - [`Entry`]: one immutable version of an MFE. Changing an MFE publishes a new version with
//!   one `Release` store into its slot and retires the old one with `defer_destroy`; the shard
//!   is never copied. Growing or compacting builds a new slot array that points at the same
//!   entries, publishes it, and retires the old array (not the entries).
//! - The counter block of an MFE (see [`super::counters`]) is shared by all its versions. It is
//!   not owned by any one version: it is freed (deferred) when the MFE is removed or when a
//!   larger block replaces it, and by [`Table`]'s `Drop` for the live MFEs. A raw pointer
//!   instead of an `Arc` saves a 16-byte header, an allocation and a dependent load per packet.
//! - [`ReaderPin`] / [`Pin`]: a reader's own epoch registration on the default collector and a
//!   guard it keeps pinned between lookups. A `Pin` can only come from a `ReaderPin`, so every
//!   guard a table sees belongs to the collector its writer retires garbage to.
//!
//! Orderings: every pointer store that publishes (an entry into a slot, a slot array into the
//! table) is `Release` and pairs with the `Acquire` load a reader probes with, so a reader that
//! sees a pointer sees the fully built entry or array behind it. Counters are `Relaxed`: each
//! counter line has one writer (its worker), and a sum is not a snapshot.
#![allow(unsafe_code)]

use std::hash::Hasher;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam::epoch::{self, Atomic, Guard, LocalHandle, Owned, Shared};
use crossbeam::utils::CachePadded;
use rustc_hash::{FxHashMap, FxHasher};

use super::counters::{
    slots_in, stride_for, EntryCounters, Line, BYTES, FIRST_OIF, NEGATIVE, PACKETS, PER_LINE,
    WRONG_IF,
};
use crate::addr::{Family, IfKey, Sg};

/// Tag of a deleted slot: probes continue past it, inserts may reuse it.
const TOMBSTONE: usize = 1;
/// Smallest slot array (a power of two).
const MIN_SLOTS: usize = 8;
/// OIFs kept inside the entry; longer lists spill to the heap.
const INLINE_OIFS: usize = 4;
/// Most OIF counter slots a block holds.
const MAX_SLOTS: usize = u16::MAX as usize - FIRST_OIF;

/// The FxHash of (source, group) that places an MFE in a table.
pub(super) fn hash_sg<A: Family>(sg: &Sg<A>) -> u64 {
    let mut h = FxHasher::default();
    h.write_u128(sg.source.to_bits());
    h.write_u128(sg.group.to_bits());
    h.finish()
}

// ---------------------------------------------------------------------------------------------
// Reader epochs

/// A forwarding worker's epoch state: its own registration on the default collector and the
/// guard it keeps pinned between lookups. `!Send`, like the `LocalHandle` inside.
pub(super) struct ReaderPin {
    // Declared first so it is dropped (unpinned) before the handle is released.
    guard: Option<Guard>,
    handle: LocalHandle,
}

/// Proof that the reader is pinned on the default collector, for as long as `'g`.
#[derive(Clone, Copy)]
pub(super) struct Pin<'g> {
    guard: &'g Guard,
}

impl ReaderPin {
    /// Registers a new participant on the default collector (unpinned).
    pub(super) fn new() -> Self {
        ReaderPin {
            guard: None,
            handle: epoch::default_collector().register(),
        }
    }

    /// Pins (or re-pins: moves the local epoch forward) and returns the pin.
    ///
    /// The `&mut self` borrow is what makes re-pinning sound: no entry reached under the
    /// previous pin can still be borrowed.
    pub(super) fn enter(&mut self) -> Pin<'_> {
        if let Some(guard) = &mut self.guard {
            guard.repin();
        }
        let guard = &*self.guard.get_or_insert_with(|| self.handle.pin());
        Pin { guard }
    }

    /// Unpins, so an idle worker does not hold back reclamation.
    pub(super) fn quiesce(&mut self) {
        self.guard = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Entries

/// An OIF list with the counter slot of each OIF; short lists live inside the entry.
enum OifList<A> {
    Inline {
        len: u8,
        slots: [u8; INLINE_OIFS],
        oifs: [IfKey<A>; INLINE_OIFS],
    },
    Spilled {
        slots: Box<[u16]>,
        oifs: Box<[IfKey<A>]>,
    },
}

impl<A: Family> OifList<A> {
    fn new(oifs: &[IfKey<A>], slots: &[u16]) -> Self {
        let small = oifs.len() <= INLINE_OIFS && slots.iter().all(|&s| s <= u16::from(u8::MAX));
        if !small {
            return OifList::Spilled {
                slots: slots.into(),
                oifs: oifs.into(),
            };
        }
        let mut inline_oifs = [IfKey::new(0); INLINE_OIFS];
        let mut inline_slots = [0u8; INLINE_OIFS];
        inline_oifs[..oifs.len()].copy_from_slice(oifs);
        for (dst, &src) in inline_slots.iter_mut().zip(slots) {
            *dst = src as u8; // checked above: src <= 255
        }
        OifList::Inline {
            len: oifs.len() as u8, // checked above: <= INLINE_OIFS
            slots: inline_slots,
            oifs: inline_oifs,
        }
    }

    fn oifs(&self) -> &[IfKey<A>] {
        match self {
            OifList::Inline { len, oifs, .. } => &oifs[..usize::from(*len)],
            OifList::Spilled { oifs, .. } => oifs,
        }
    }

    fn slot(&self, i: usize) -> usize {
        match self {
            OifList::Inline { slots, .. } => usize::from(slots[i]),
            OifList::Spilled { slots, .. } => usize::from(slots[i]),
        }
    }
}

/// One immutable version of an MFE: key, incoming interface, OIF list with counter slots, and
/// a pointer to the MFE's counter block (which it does not own; see the module docs).
pub(super) struct Entry<A> {
    sg: Sg<A>,
    iif: IfKey<A>,
    /// `workers * stride` lines, worker-major, 64-byte aligned.
    block: NonNull<Line>,
    workers: u16,
    stride: u16,
    /// OIF slots of the block ever handed out (never-used slots are `used..`, all zero).
    used: u16,
    oifs: OifList<A>,
}

// SAFETY: the only non-thread-safe field is `block`, a pointer to atomics that stay valid while
// any version pointing at them is reachable (module docs); everything else is plain data.
unsafe impl<A: Send> Send for Entry<A> {}
// SAFETY: as above; shared access only performs atomic operations on the block.
unsafe impl<A: Sync> Sync for Entry<A> {}

/// Allocates a zeroed block of `workers * stride` lines.
fn new_block(workers: usize, stride: usize) -> NonNull<Line> {
    let lines: Box<[Line]> = (0..workers * stride).map(|_| Line::default()).collect();
    let raw = Box::into_raw(lines) as *mut Line;
    // A boxed slice pointer is never null (dangling but non-null when empty).
    NonNull::new(raw).unwrap_or(NonNull::dangling())
}

/// Frees a block made by [`new_block`].
///
/// # Safety
/// `block` came from `new_block(workers, stride)`, is freed once, and no reference into it is
/// used afterwards.
unsafe fn free_block(block: NonNull<Line>, workers: usize, stride: usize) {
    let slice = std::ptr::slice_from_raw_parts_mut(block.as_ptr(), workers * stride);
    // SAFETY: the caller guarantees `slice` is the boxed slice `new_block` leaked, freed once.
    drop(unsafe { Box::from_raw(slice) });
}

impl<A: Family> Entry<A> {
    /// The incoming interface.
    pub(super) fn iif(&self) -> IfKey<A> {
        self.iif
    }

    /// The OIF list (empty for a negative MFE).
    pub(super) fn oifs(&self) -> &[IfKey<A>] {
        self.oifs.oifs()
    }

    /// The counter `counter` of `worker`, if both are in range.
    fn counter(&self, worker: usize, counter: usize) -> Option<&AtomicU64> {
        let stride = usize::from(self.stride);
        if worker >= usize::from(self.workers) || counter >= stride * PER_LINE {
            return None;
        }
        let line = worker * stride + counter / PER_LINE;
        // SAFETY: `line < workers * stride`, the length of the block, which stays allocated for
        // as long as this version is reachable (module docs), so for the lifetime of `&self`.
        let line = unsafe { &*self.block.as_ptr().add(line) };
        Some(&line.0[counter % PER_LINE])
    }

    /// Adds `n` to one of `worker`'s counters: a plain load and store, since no one else
    /// writes that line.
    #[inline]
    fn bump(&self, worker: usize, counter: usize, n: u64) {
        if let Some(c) = self.counter(worker, counter) {
            c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
        }
    }

    /// Counts a forwarded packet: MFE packets and bytes, and one packet on every OIF.
    pub(super) fn count_forward(&self, worker: usize, bytes: u32) {
        self.bump(worker, PACKETS, 1);
        self.bump(worker, BYTES, u64::from(bytes));
        for i in 0..self.oifs().len() {
            self.bump(worker, FIRST_OIF + self.oifs.slot(i), 1);
        }
    }

    /// Counts a packet dropped by this negative MFE.
    pub(super) fn count_negative(&self, worker: usize, bytes: u32) {
        self.bump(worker, PACKETS, 1);
        self.bump(worker, BYTES, u64::from(bytes));
        self.bump(worker, NEGATIVE, 1);
    }

    /// Counts an arrival on another interface than the incoming one.
    pub(super) fn count_wrong_if(&self, worker: usize) {
        self.bump(worker, WRONG_IF, 1);
    }

    /// One counter summed over every worker.
    fn sum(&self, counter: usize) -> u64 {
        (0..usize::from(self.workers))
            .filter_map(|w| self.counter(w, counter))
            .fold(0u64, |acc, c| acc.wrapping_add(c.load(Ordering::Relaxed)))
    }

    /// The counters of this MFE, summed over workers.
    pub(super) fn counters(&self) -> EntryCounters<A> {
        let oifs = self.oifs();
        EntryCounters {
            packets: self.sum(PACKETS),
            bytes: self.sum(BYTES),
            wrong_if: self.sum(WRONG_IF),
            negative: self.sum(NEGATIVE),
            oifs: (0..oifs.len())
                .map(|i| (oifs[i], self.sum(FIRST_OIF + self.oifs.slot(i))))
                .collect(),
        }
    }

    /// The first version of an MFE, with a fresh zeroed block.
    fn first(sg: Sg<A>, iif: IfKey<A>, oifs: &[IfKey<A>], workers: u16) -> Self {
        let stride = stride_for(oifs.len().min(MAX_SLOTS));
        let slots: Vec<u16> = (0..oifs.len()).map(slot_u16).collect();
        Entry {
            sg,
            iif,
            block: new_block(usize::from(workers), stride),
            workers,
            stride: slot_u16(stride), // <= stride_for(MAX_SLOTS) = 8192: exact
            used: slot_u16(oifs.len()),
            oifs: OifList::new(oifs, &slots),
        }
    }

    /// The next version of this MFE with a new OIF list. OIFs that stay keep their counter
    /// slot; a new OIF takes a never-used slot of the same block. When none is left, the
    /// version gets a new, compacted block with the values copied; the old block is returned
    /// for the caller to retire.
    ///
    /// Never-used slots only: a slot freed by a removed OIF may still be incremented by a
    /// reader holding an older version, so handing it to a new OIF would misattribute counts.
    fn next(&self, oifs: &[IfKey<A>]) -> (Self, Option<NonNull<Line>>) {
        let kept = self.kept_slots(oifs);
        let fresh = kept.iter().filter(|s| s.is_none()).count();
        let used = usize::from(self.used);
        if used + fresh <= slots_in(usize::from(self.stride)) {
            let mut next_free = used;
            let slots: Vec<u16> = kept
                .iter()
                .map(|s| {
                    s.unwrap_or_else(|| {
                        next_free += 1;
                        next_free - 1
                    })
                })
                .map(slot_u16)
                .collect();
            let entry = Entry {
                sg: self.sg,
                iif: self.iif,
                block: self.block,
                workers: self.workers,
                stride: self.stride,
                used: slot_u16(next_free),
                oifs: OifList::new(oifs, &slots),
            };
            return (entry, None);
        }
        let entry = Entry::first(self.sg, self.iif, oifs, self.workers);
        for w in 0..usize::from(self.workers) {
            for c in [PACKETS, BYTES, WRONG_IF, NEGATIVE] {
                entry.copy_counter(self, w, c, c);
            }
            for (i, s) in kept.iter().enumerate() {
                if let Some(s) = s {
                    entry.copy_counter(self, w, FIRST_OIF + s, FIRST_OIF + i);
                }
            }
        }
        (entry, Some(self.block))
    }

    /// For each OIF of `oifs`, its counter slot in this version if it is already an OIF.
    fn kept_slots(&self, oifs: &[IfKey<A>]) -> Vec<Option<usize>> {
        let old = self.oifs();
        if old.len() <= 16 {
            return oifs
                .iter()
                .map(|o| old.iter().position(|x| x == o).map(|i| self.oifs.slot(i)))
                .collect();
        }
        let index: FxHashMap<IfKey<A>, usize> = old
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, self.oifs.slot(i)))
            .collect();
        oifs.iter().map(|o| index.get(o).copied()).collect()
    }

    /// Copies one worker's counter from `from` into this (unpublished) version's block.
    fn copy_counter(&self, from: &Entry<A>, worker: usize, src: usize, dst: usize) {
        if let (Some(s), Some(d)) = (from.counter(worker, src), self.counter(worker, dst)) {
            d.store(s.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// A slot number or stride as stored in an entry. Blocks hold at most [`MAX_SLOTS`] OIF slots
/// (a router has far fewer interfaces); OIFs of a longer list get the saturated slot
/// `u16::MAX`, which is out of range, so they are forwarded to but not counted.
fn slot_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

// ---------------------------------------------------------------------------------------------
// The table

/// One slot: the current version of an MFE, and a hint of where its counter block is.
///
/// `block` lets a lookup start loading the counter line while it loads the entry, instead of
/// after (one dependent cache miss less per packet). It is only a hint, read to warm the cache
/// and never written through: the counters a lookup bumps are always those of the version it
/// read. Every value it ever holds is a block that is freed only through the epoch collector
/// after it stopped being any version's block, or by `Drop` (`&mut self`); so under a pin a
/// hint that was read is still allocated.
struct Slot<A> {
    entry: Atomic<Entry<A>>,
    block: AtomicPtr<Line>,
}

/// A slot array; its length is a power of two.
struct Slots<A> {
    slots: Box<[Slot<A>]>,
}

impl<A> Slots<A> {
    fn with_len(len: usize) -> Self {
        Slots {
            slots: (0..len)
                .map(|_| Slot {
                    entry: Atomic::null(),
                    block: AtomicPtr::new(std::ptr::null_mut()),
                })
                .collect(),
        }
    }
}

/// What the writer knows about the slot array it owns.
struct WriterState {
    live: usize,
    tombstones: usize,
}

/// Where a probe for a key ended.
enum Probe<'g, A> {
    /// The key is in slot `.0`.
    Found(usize, Shared<'g, Entry<A>>),
    /// The key is absent; `.0` is the slot an insert should use (first tombstone or empty).
    Absent(usize),
}

/// One shard's MFEs: an open-addressing hash table, lock-free for readers.
///
/// **Progress:** [`Table::get`] is wait-free (bounded by the slot count). Writer methods take
/// the table's own mutex, so a second writer waits instead of corrupting the table.
pub(super) struct Table<A> {
    slots: Atomic<Slots<A>>,
    workers: u16,
    /// On its own cache line: every writer call locks it and updates the counts, and readers
    /// read `slots` and `workers` on every lookup; sharing a line made each writer call cost
    /// readers of this shard a cache miss.
    writer: CachePadded<Mutex<WriterState>>,
}

impl<A: Family> Table<A> {
    /// An empty table whose MFE counter blocks have lines for `workers` workers.
    pub(super) fn new(workers: u16) -> Self {
        Table {
            slots: Atomic::new(Slots::with_len(MIN_SLOTS)),
            workers,
            writer: CachePadded::new(Mutex::new(WriterState {
                live: 0,
                tombstones: 0,
            })),
        }
    }

    /// The current version of the MFE for `sg` (`hash` is [`hash_sg`] of it).
    ///
    /// **Progress:** wait-free.
    #[inline]
    pub(super) fn get<'a>(
        &'a self,
        sg: &Sg<A>,
        hash: u64,
        worker: usize,
        pin: Pin<'a>,
    ) -> Option<&'a Entry<A>> {
        let guard = pin.guard;
        // SAFETY: the slot array is never null, and a replaced array is only freed through
        // `defer_destroy`, after every guard pinned when it was replaced (ours included) has
        // moved on; `Drop` frees it too, but needs `&mut self`, excluded by `'a`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, guard).deref() };
        let mask = slots.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..=mask {
            let slot = &slots.slots[i];
            let p = slot.entry.load(Ordering::Acquire, guard);
            if p.is_null() {
                if p.tag() != TOMBSTONE {
                    return None;
                }
            } else {
                self.touch_block(slot, worker);
                // SAFETY: a non-null slot points at a published entry; entries are freed only by
                // `defer_destroy` after being unlinked (protected by `guard`), or by `Drop`
                // (excluded by `'a`). The `Acquire` load pairs with the publishing `Release`.
                let entry = unsafe { p.deref() };
                if entry.sg == *sg {
                    return Some(entry);
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Starts loading `worker`'s first counter line of the block hinted by `slot`, so that
    /// its cache miss overlaps the entry's. A plain read whose value is discarded.
    #[inline]
    fn touch_block(&self, slot: &Slot<A>, worker: usize) {
        if worker >= usize::from(self.workers) {
            return;
        }
        // Acquire pairs with the Release store of the hint in `install`: the block's
        // initialisation happens-before this read of it.
        let block = slot.block.load(Ordering::Acquire);
        if block.is_null() {
            return;
        }
        // SAFETY: the caller is pinned (it holds a `Pin` of this table's collector) and read
        // a non-null entry from this slot first; a block hint is freed only after an epoch
        // grace period that began once it was no longer any reachable version's block (see
        // [`Slot`]), so it is still allocated. `worker < workers` and every block of this
        // table has `workers * stride` lines with `stride >= 1`, so line `worker` is in
        // bounds. The read races only with `Relaxed` atomic stores to the same counters, and
        // is itself an atomic load.
        let line = unsafe { &*block.add(worker) };
        std::hint::black_box(line.0[PACKETS].load(Ordering::Relaxed));
    }

    /// Second stage of a burst: loads the slot `hash` lands on (warmed by
    /// [`Table::prefetch`]) and starts loading its entry and `worker`'s counter line, without
    /// probing further.
    #[inline]
    pub(super) fn prefetch_entry(&self, hash: u64, worker: usize, pin: Pin<'_>) {
        // SAFETY: as in `get`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, pin.guard).deref() };
        let slot = &slots.slots[hash as usize & (slots.slots.len() - 1)];
        let p = slot.entry.load(Ordering::Acquire, pin.guard);
        if p.is_null() {
            return;
        }
        self.touch_block(slot, worker);
        // SAFETY: as in `get`: a published entry, protected by the pin.
        std::hint::black_box(unsafe { p.deref() }.sg);
    }

    /// Touches the first slot `hash` probes, so a burst can overlap the cache misses of many
    /// keys before it probes them.
    #[inline]
    pub(super) fn prefetch(&self, hash: u64, pin: Pin<'_>) {
        // SAFETY: as in `get`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, pin.guard).deref() };
        let i = hash as usize & (slots.slots.len() - 1);
        std::hint::black_box(slots.slots[i].entry.load(Ordering::Relaxed, pin.guard));
    }

    /// MFEs in the table.
    pub(super) fn len(&self) -> usize {
        self.lock().live
    }

    /// Runs `f` on the current version of `sg`'s MFE, on the writer's side.
    pub(super) fn with_entry<R>(&self, sg: &Sg<A>, f: impl FnOnce(&Entry<A>) -> R) -> Option<R> {
        let _writer = self.lock();
        let guard = epoch::pin();
        // SAFETY: the writer lock is held, so the array and the entry stay published while
        // `guard` borrows them; had they been retired, `guard` would still protect them.
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        match Self::probe(slots, sg, hash_sg(sg), &guard) {
            // SAFETY: as above.
            Probe::Found(_, p) => Some(f(unsafe { p.deref() })),
            Probe::Absent(_) => None,
        }
    }

    /// Inserts the MFE or publishes its next version with a new OIF list.
    pub(super) fn install(&self, sg: Sg<A>, iif: IfKey<A>, oifs: &[IfKey<A>]) {
        let mut state = self.lock();
        let guard = epoch::pin();
        let hash = hash_sg(&sg);
        if (state.live + state.tombstones + 1) * 4 > self.capacity(&guard) * 3 {
            let live = state.live + 1;
            self.rebuild(&mut state, live, &guard);
        }
        // SAFETY: the array is published and we are the only writer (lock held).
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        match Self::probe(slots, &sg, hash, &guard) {
            Probe::Found(i, old) => {
                // SAFETY: `old` is the published version; only this writer can unlink it.
                let (entry, old_block) = unsafe { old.deref() }.next(oifs);
                let entry = Entry { iif, ..entry };
                // The hint first: a reader that sees the new version finds its block too.
                slots.slots[i]
                    .block
                    .store(entry.block.as_ptr(), Ordering::Release);
                slots.slots[i]
                    .entry
                    .store(Owned::new(entry), Ordering::Release);
                // SAFETY: `old` was just unlinked; readers still holding it are pinned.
                unsafe { guard.defer_destroy(old) };
                if let Some(block) = old_block {
                    self.retire_block(block, old, &guard);
                }
            }
            Probe::Absent(i) => {
                let entry = Entry::first(sg, iif, oifs, self.workers);
                slots.slots[i]
                    .block
                    .store(entry.block.as_ptr(), Ordering::Release);
                let was = slots.slots[i]
                    .entry
                    .swap(Owned::new(entry), Ordering::Release, &guard);
                if was.tag() == TOMBSTONE {
                    state.tombstones -= 1;
                }
                state.live += 1;
            }
        }
    }

    /// Removes the MFE; false if it was absent.
    pub(super) fn remove(&self, sg: &Sg<A>) -> bool {
        let mut state = self.lock();
        let guard = epoch::pin();
        // SAFETY: as in `install`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        let Probe::Found(i, old) = Self::probe(slots, sg, hash_sg(sg), &guard) else {
            return false;
        };
        // The block hint stays: a reader only follows it after reading a non-null entry here,
        // and the block is freed after the grace period of this removal.
        slots.slots[i]
            .entry
            .store(Shared::null().with_tag(TOMBSTONE), Ordering::Release);
        // SAFETY: `old` is the last version and is now unlinked; its block goes with it.
        self.retire_block(unsafe { old.deref() }.block, old, &guard);
        // SAFETY: as above.
        unsafe { guard.defer_destroy(old) };
        state.live -= 1;
        state.tombstones += 1;
        let capacity = self.capacity(&guard);
        if capacity > MIN_SLOTS && state.live * 4 < capacity {
            let live = state.live;
            self.rebuild(&mut state, live, &guard);
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        // A panicking writer leaves the table consistent (every step is one store), so a
        // poisoned lock is still usable.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn capacity(&self, guard: &Guard) -> usize {
        // SAFETY: the array is never null and is protected by `guard`.
        unsafe { self.slots.load(Ordering::Acquire, guard).deref() }
            .slots
            .len()
    }

    /// Linear probe for `sg` in `slots`.
    fn probe<'g>(slots: &Slots<A>, sg: &Sg<A>, hash: u64, guard: &'g Guard) -> Probe<'g, A> {
        let mask = slots.slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut free = None;
        for _ in 0..=mask {
            let p = slots.slots[i].entry.load(Ordering::Acquire, guard);
            if p.is_null() {
                if p.tag() != TOMBSTONE {
                    return Probe::Absent(free.unwrap_or(i));
                }
                free.get_or_insert(i);
            } else {
                // SAFETY: published entry, protected by `guard`.
                if unsafe { p.deref() }.sg == *sg {
                    return Probe::Found(i, p);
                }
            }
            i = (i + 1) & mask;
        }
        // The load limit keeps an empty slot; a full wrap can only end on a tombstone.
        Probe::Absent(free.unwrap_or(0))
    }

    /// Publishes a new slot array sized for `live` MFEs, pointing at the same entries, with no
    /// tombstones; retires the old array, not the entries. Growing happens at load 3/4 and
    /// shrinking below 1/4, both to a load in (1/4, 1/2]: in a growing table the load stays in
    /// [3/8, 3/4], about 14 bytes of slot array per MFE.
    fn rebuild(&self, state: &mut WriterState, live: usize, guard: &Guard) {
        let len = (live * 2).next_power_of_two().max(MIN_SLOTS);
        let fresh = Slots::with_len(len);
        let old = self.slots.load(Ordering::Acquire, guard);
        // SAFETY: the published array; only this writer replaces it.
        for slot in unsafe { old.deref() }.slots.iter() {
            let p = slot.entry.load(Ordering::Acquire, guard);
            if p.is_null() {
                continue;
            }
            // SAFETY: published entry, protected by `guard`.
            let entry = unsafe { p.deref() };
            let mut i = hash_sg(&entry.sg) as usize & (len - 1);
            while !fresh.slots[i]
                .entry
                .load(Ordering::Relaxed, guard)
                .is_null()
            {
                i = (i + 1) & (len - 1);
            }
            // Relaxed: the array is published below with `Release`.
            fresh.slots[i]
                .block
                .store(entry.block.as_ptr(), Ordering::Relaxed);
            fresh.slots[i].entry.store(p, Ordering::Relaxed);
        }
        self.slots.store(Owned::new(fresh), Ordering::Release);
        // SAFETY: the old array is unlinked; dropping it frees the array only (an `Atomic`
        // does not own its pointee), after every reader pinned now has moved on.
        unsafe { guard.defer_destroy(old) };
        state.tombstones = 0;
    }

    /// Frees `block` (a block of `owner`'s MFE) once no reader can reach it.
    fn retire_block(&self, block: NonNull<Line>, owner: Shared<'_, Entry<A>>, guard: &Guard) {
        // SAFETY: published (or just unlinked) entry, protected by `guard`.
        let owner = unsafe { owner.deref() };
        let (workers, stride) = (usize::from(owner.workers), usize::from(owner.stride));
        let block = SendBlock(block);
        // SAFETY: every version that points at `block` is unlinked by now (the new version, if
        // any, has its own block), so only readers pinned now can reach it; the closure runs
        // after they have all moved on, once. `new_block(workers, stride)` made it.
        unsafe { guard.defer_unchecked(move || free_block(block.into_inner(), workers, stride)) };
    }
}

/// A block pointer handed to the collector, which may run the free on another thread.
struct SendBlock(NonNull<Line>);

impl SendBlock {
    fn into_inner(self) -> NonNull<Line> {
        self.0
    }
}

// SAFETY: a block is plain atomics with no thread affinity; it is moved to be freed, once.
unsafe impl Send for SendBlock {}

impl<A> Drop for Table<A> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader can reach this table (they only reach it through a
        // directory snapshot that holds it), and retired garbage is owned by the collector.
        let guard = unsafe { epoch::unprotected() };
        let slots = self.slots.load(Ordering::Relaxed, guard);
        // SAFETY: the array is never null and is ours alone now.
        for slot in unsafe { slots.deref() }.slots.iter() {
            let p = slot.entry.load(Ordering::Relaxed, guard);
            if p.is_null() {
                continue;
            }
            // SAFETY: a live entry, ours alone; its block is the live MFE's block, freed once
            // here (older blocks were retired when they were replaced).
            unsafe {
                let entry = p.into_owned();
                free_block(
                    entry.block,
                    usize::from(entry.workers),
                    usize::from(entry.stride),
                );
            }
        }
        // SAFETY: ours alone (see above).
        drop(unsafe { slots.into_owned() });
    }
}

/// The entry type, for the memory test.
#[cfg(test)]
pub(super) type EntrySize<A> = Entry<A>;
