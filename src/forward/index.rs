//! The incoming-interface index: one open-addressing table over every MFE of the store, from a
//! fingerprint of (S,G) to the shard that holds it, so a lookup whose arrival shard lacks the
//! key reaches its verdict (wrong interface or miss) with one probe here and, for a wrong
//! interface, one in the shard named, instead of one probe per shard.
//!
//! - **A hint, always verified.** An entry is one 32-bit word: a 21-bit fingerprint of the key
//!   (bits of its hash that the probe start does not use) and a shard number (the direct
//!   interface index plus 2, or [`NOT_DIRECT`] for the shards reached through the directory's
//!   hash map). Readers act on an entry only after finding the whole key in the shard it names,
//!   so an entry that is stale (its shard released), or whose fingerprint belongs to another
//!   key, costs a probe and never makes a verdict: the worst it does is nothing. The entries
//!   are a multiset: two keys of one fingerprint in one shard have two equal entries, and
//!   removing either leaves the right count.
//! - **One word per entry, one writer.** Inserting and removing are single `Release` stores of
//!   one word, read with `Acquire`, so a reader never sees half an entry, and one that sees an
//!   entry also sees the shard's slot the writer filled before it.
//! - **Linear probing whose cells never empty again.** A probe starts at a cell chosen by a
//!   multiply-shift of the hash and goes cell by cell to the first empty one. An insert takes
//!   the first cell from the start that is empty or removed; a removal writes [`TOMB`], never
//!   empty. So every cell between an entry's start and its place stays non-empty for the
//!   block's whole life, and no probe stops short of an entry that is there (the loom model
//!   below fails when removal empties the cell instead).
//! - **Rebuilt from the shards.** The index grows when its used cells (live and removed) pass
//!   two thirds, and shrinks below one eighth live, to half full, by building a new block from
//!   the keys of every shard (an entry has no key to move), publishing it, bumping the layout
//!   version and retiring the old block through `crossbeam::epoch`, as a table's block swap
//!   does. Readers keep the block's place beside their kept shard blocks ([`IndexRef`]), valid
//!   while the layout version reads the same.
//! - **Releasing an interface** stays one directory store: the released shard's entries are
//!   removed afterwards by the writer, one store each; until then they name a shard that is
//!   gone and are skipped.
//!
//! Memory: 4 bytes per cell, in whole cache lines, at a load of 1/2 to 2/3: 6 to 8 bytes per
//! MFE.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::epoch::{self, Guard};

use super::table::Pin;

/// An empty cell.
const EMPTY: u32 = 0;
/// A removed entry's cell: shard number 0, which no live entry has.
const TOMB: u32 = !0 << SID_BITS;
/// Bits of the shard number.
const SID_BITS: u32 = 11;
const SID_MASK: u32 = (1 << SID_BITS) - 1;
/// The shard number of every shard the directory reaches through its hash map (interfaces with
/// a next hop, or of index 1024 and up): the reader looks through those shards.
pub(super) const NOT_DIRECT: u32 = 1;
/// The shard number of the shard reached directly by interface index `i` (`i < 1024`).
#[inline(always)]
pub(super) fn direct_sid(i: u32) -> u32 {
    i + 2
}
/// The direct interface index of shard number `sid`, if it is one.
#[inline(always)]
pub(super) fn direct_of(sid: u32) -> Option<u32> {
    sid.checked_sub(2)
}

/// Fewest cells of a block.
const MIN_CELLS: usize = 16;

/// The entry word of a key whose hash is `hash`, in shard number `sid` (`1..2048`).
#[inline(always)]
fn entry(hash: u64, sid: u32) -> u32 {
    fingerprint(hash) | sid
}

/// Bits 16..37 of the hash, in the entry's high 21 bits: the probe start uses the top bits.
#[inline(always)]
fn fingerprint(hash: u64) -> u32 {
    ((hash >> 16) as u32) << SID_BITS
}

/// The cell a probe for `hash` starts at, in `0..cap`.
#[inline(always)]
fn start(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

/// A 32-bit atomic word as the protocol uses it: std's for the blocks, loom's in the models.
pub(super) trait Word32 {
    fn load(&self, o: Ordering) -> u32;
    fn store(&self, v: u32, o: Ordering);
}

impl Word32 for AtomicU32 {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u32 {
        AtomicU32::load(self, o)
    }
    #[inline(always)]
    fn store(&self, v: u32, o: Ordering) {
        AtomicU32::store(self, v, o);
    }
}

/// The orderings and the removal mark of the protocol. Production code uses [`STRICT`] only;
/// the models run weakened copies to show that each part is needed.
#[derive(Clone, Copy)]
struct Rules {
    /// A reader's load of a cell.
    load: Ordering,
    /// The writer's store of an entry.
    store: Ordering,
    /// What a removal leaves in the cell.
    removed: u32,
}

const STRICT: Rules = Rules {
    load: Ordering::Acquire,
    store: Ordering::Release,
    removed: TOMB,
};

/// Reader: offers the shard number of every live entry whose fingerprint is `hash`'s to
/// `each`, in probe order, until `each` returns something or an empty cell ends the probe.
/// `cell(i)` is cell `i` of `cap` (at least one cell is empty: the load limit).
#[inline(always)]
fn probe<'c, W: Word32 + 'c, R>(
    cell: impl Fn(usize) -> &'c W,
    cap: usize,
    hash: u64,
    rules: Rules,
    mut each: impl FnMut(u32) -> Option<R>,
) -> Option<R> {
    let want = fingerprint(hash);
    let mut i = start(hash, cap);
    for _ in 0..cap {
        let w = cell(i).load(rules.load);
        if w == EMPTY {
            return None;
        }
        if w ^ want <= SID_MASK && w & SID_MASK != 0 {
            if let Some(r) = each(w & SID_MASK) {
                return Some(r);
            }
        }
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    None
}

/// Writer: stores the entry of (`hash`, `sid`) in the first empty or removed cell from the
/// probe start; true when that cell was removed (not empty). The caller keeps a cell empty.
fn insert<'c, W: Word32 + 'c>(
    cell: impl Fn(usize) -> &'c W,
    cap: usize,
    hash: u64,
    sid: u32,
    rules: Rules,
) -> bool {
    let mut i = start(hash, cap);
    for _ in 0..cap {
        let w = cell(i).load(Ordering::Relaxed);
        if w == EMPTY || w == TOMB {
            cell(i).store(entry(hash, sid), rules.store);
            return w != EMPTY;
        }
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    // The load limit (used cells at most two thirds) always leaves an empty cell.
    unreachable!("an index block without an empty cell")
}

/// Writer: removes one entry of (`hash`, `sid`); false when there is none.
fn remove<'c, W: Word32 + 'c>(
    cell: impl Fn(usize) -> &'c W,
    cap: usize,
    hash: u64,
    sid: u32,
    rules: Rules,
) -> bool {
    let e = entry(hash, sid);
    let mut i = start(hash, cap);
    for _ in 0..cap {
        let w = cell(i).load(Ordering::Relaxed);
        if w == EMPTY {
            return false;
        }
        if w == e {
            cell(i).store(rules.removed, rules.store);
            return true;
        }
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    false
}

/// Cells per cache line.
const LINE_CELLS: usize = 16;

/// One cache line of cells.
#[repr(C, align(64))]
struct Line([AtomicU32; LINE_CELLS]);

/// One block of cells, zeroed (empty), in whole lines.
struct IndexBlock {
    lines: Box<[Line]>,
}

impl IndexBlock {
    /// A block of at least `cap` cells (and [`MIN_CELLS`]).
    fn new(cap: usize) -> Box<IndexBlock> {
        let n = cap.max(MIN_CELLS).div_ceil(LINE_CELLS);
        Box::new(IndexBlock {
            lines: (0..n)
                .map(|_| Line(std::array::from_fn(|_| AtomicU32::new(EMPTY))))
                .collect(),
        })
    }

    fn cap(&self) -> usize {
        self.lines.len() * LINE_CELLS
    }

    fn cell(&self, i: usize) -> &AtomicU32 {
        &self.lines[i / LINE_CELLS].0[i % LINE_CELLS]
    }
}

/// The index as readers reach it: the current block.
pub(super) struct Index {
    /// Never null; replaced blocks are freed through the epoch collector, the current one by
    /// `Drop`.
    block: AtomicPtr<IndexBlock>,
}

impl Index {
    /// An empty index and its writer, which bumps `version` after every block swap.
    pub(super) fn new(version: Arc<AtomicU64>) -> (Arc<Index>, IndexWriter) {
        let index = Arc::new(Index {
            block: AtomicPtr::new(Box::into_raw(IndexBlock::new(MIN_CELLS))),
        });
        let writer = IndexWriter {
            index: Arc::clone(&index),
            version,
            live: 0,
            used: 0,
        };
        (index, writer)
    }

    /// Where the current block is, for a reader to keep between lookups.
    #[inline]
    pub(super) fn current(&self, _pin: Pin<'_>) -> IndexRef {
        // SAFETY: never null; a replaced block is freed only through the collector, after every
        // reader pinned when it was replaced (`_pin` included) has moved on.
        let b = unsafe { &*self.block.load(Ordering::Acquire) };
        // The whole array's pointer (its provenance covers every line); the lines are `repr(C)`
        // arrays of cells with no padding, so the cells are one run.
        IndexRef {
            cells: NonNull::from(&*b.lines).cast(),
            cap: b.cap(),
        }
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw`, ours alone now (retired blocks are the collector's).
        drop(unsafe { Box::from_raw(*self.block.get_mut()) });
    }
}

/// A reader's copy of where the index block is: usable under the same rule as the shard
/// blocks it keeps (taken under a pin of this reader, the layout version unchanged since, as
/// read under the current pin), since every index block swap bumps the version before the old
/// block is retired.
#[derive(Clone, Copy)]
pub(super) struct IndexRef {
    cells: NonNull<AtomicU32>,
    cap: usize,
}

impl IndexRef {
    /// Offers `each` the shard number of every entry that may be `hash`'s key, in probe order,
    /// until it returns something; see [`probe`].
    ///
    /// # Safety
    /// The copy was taken under `_pin`, or under an earlier pin of the same reader with the
    /// store's layout version unchanged since, as read under `_pin`.
    #[inline(always)]
    pub(super) unsafe fn probe<R>(
        self,
        _pin: Pin<'_>,
        hash: u64,
        each: impl FnMut(u32) -> Option<R>,
    ) -> Option<R> {
        // SAFETY: the block is still allocated (the caller's contract) and `i < cap`.
        let cell = |i: usize| unsafe { &*self.cells.as_ptr().add(i) };
        probe(cell, self.cap, hash, STRICT, each)
    }
}

/// The index's one writer, inside the store's writer lock.
pub(super) struct IndexWriter {
    index: Arc<Index>,
    version: Arc<AtomicU64>,
    /// Live entries.
    live: usize,
    /// Cells not empty (live and removed).
    used: usize,
}

impl IndexWriter {
    fn block(&self) -> &IndexBlock {
        // SAFETY: never null; only this writer (`&self`) replaces or frees it.
        unsafe { &*self.index.block.load(Ordering::Relaxed) }
    }

    /// Makes room for one more entry: rebuilds from `keys` when the used cells would pass two
    /// thirds. `keys` calls its argument with the hash and shard number of every MFE in the
    /// shards (it is called twice: to count, then to fill); call this before the MFE being
    /// added is in a shard.
    pub(super) fn make_room(&mut self, keys: impl Fn(&mut dyn FnMut(u64, u32))) {
        let cap = self.block().cap();
        if (self.used + 1) * 3 > cap * 2 {
            self.rebuild((self.live + 1) * 2, keys);
        }
    }

    /// Adds the entry of an MFE of hash `hash` in shard number `sid` (room made first).
    pub(super) fn insert(&mut self, hash: u64, sid: u32) {
        let b = self.block();
        let reused = insert(|i| b.cell(i), b.cap(), hash, sid, STRICT);
        self.live += 1;
        if !reused {
            self.used += 1;
        }
    }

    /// Removes one entry of (`hash`, `sid`); false when there is none.
    pub(super) fn remove(&mut self, hash: u64, sid: u32) -> bool {
        let b = self.block();
        let removed = remove(|i| b.cell(i), b.cap(), hash, sid, STRICT);
        if removed {
            self.live -= 1;
        }
        removed
    }

    /// Shrinks the index when fewer than one cell in eight is live, rebuilding from `keys`
    /// (as [`IndexWriter::make_room`]).
    pub(super) fn shrink(&mut self, keys: impl Fn(&mut dyn FnMut(u64, u32))) {
        let cap = self.block().cap();
        if cap > MIN_CELLS && self.live * 8 < cap {
            self.rebuild(self.live * 2, keys);
        }
    }

    /// Entries live now.
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Publishes a block of at least `cap` cells, and at least twice as many as `keys` has
    /// entries, holding those entries; bumps the layout version and retires the old block.
    fn rebuild(&mut self, cap: usize, keys: impl Fn(&mut dyn FnMut(u64, u32))) {
        let mut live = 0;
        keys(&mut |_, _| live += 1);
        let fresh = IndexBlock::new(cap.max(live * 2));
        let n = fresh.cap();
        keys(&mut |hash, sid| {
            insert(|i| fresh.cell(i), n, hash, sid, STRICT);
        });
        let guard = epoch::pin();
        let old = self
            .index
            .block
            .swap(Box::into_raw(fresh), Ordering::Release);
        // Before the old block is retired, as for a shard block (see `table::BlockRef`).
        self.version.fetch_add(1, Ordering::SeqCst);
        retire(old, &guard);
        self.live = live;
        self.used = live;
    }
}

/// A retired block on its way to the collector, which may free it on another thread.
struct SendIndexBlock(*mut IndexBlock);

// SAFETY: a block is plain memory of atomics; it is moved to be freed, once.
unsafe impl Send for SendIndexBlock {}

impl SendIndexBlock {
    fn into_inner(self) -> *mut IndexBlock {
        self.0
    }
}

/// Frees an unlinked block once no reader can reach it.
fn retire(p: *mut IndexBlock, guard: &Guard) {
    let p = SendIndexBlock(p);
    // SAFETY: `p` came from `Box::into_raw` and is unlinked, with the layout version bumped:
    // only readers pinned now can still reach it, and the closure runs once they have all
    // moved on, once.
    unsafe { guard.defer_unchecked(move || drop(Box::from_raw(p.into_inner()))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose probe starts at `cell` of `cap`, with fingerprint `fp`.
    fn hash_at(cell: usize, cap: usize, fp: u64) -> u64 {
        let h = ((cell as u128) << 64).div_ceil(cap as u128) as u64;
        (h & !0x3f_ffff_0000) | (fp << 16)
    }

    fn found(cells: &[AtomicU32], hash: u64) -> Vec<u32> {
        let mut all = Vec::new();
        probe(
            |i| &cells[i],
            cells.len(),
            hash,
            STRICT,
            |sid| {
                all.push(sid);
                None::<()>
            },
        );
        all
    }

    #[test]
    fn entries_are_found_removed_and_their_cells_reused() {
        let cap = 16;
        let cells: Vec<AtomicU32> = (0..cap).map(|_| AtomicU32::new(EMPTY)).collect();
        let c = |i: usize| &cells[i];
        let (a, b, x) = (hash_at(3, cap, 1), hash_at(3, cap, 2), hash_at(3, cap, 3));
        assert_eq!(start(a, cap), 3);
        assert!(!insert(c, cap, a, direct_sid(5), STRICT));
        assert!(!insert(c, cap, b, direct_sid(6), STRICT));
        assert_eq!(found(&cells, a), [direct_sid(5)]);
        assert_eq!(found(&cells, b), [direct_sid(6)]);
        assert_eq!(found(&cells, x), Vec::<u32>::new());
        // A removal leaves a mark the probe for `b` (one cell further) goes past.
        assert!(remove(c, cap, a, direct_sid(5), STRICT));
        assert!(!remove(c, cap, a, direct_sid(5), STRICT), "removed once");
        assert!(!remove(c, cap, b, direct_sid(7), STRICT), "another shard");
        assert_eq!(found(&cells, a), Vec::<u32>::new());
        assert_eq!(found(&cells, b), [direct_sid(6)]);
        // The next insert from that start reuses the removed cell.
        assert!(insert(c, cap, x, NOT_DIRECT, STRICT));
        assert_eq!(cells[3].load(Ordering::Relaxed), entry(x, NOT_DIRECT));
        assert_eq!(found(&cells, x), [NOT_DIRECT]);
        // Equal entries (one fingerprint, one shard) are a multiset.
        assert!(!insert(c, cap, b, direct_sid(6), STRICT));
        assert_eq!(found(&cells, b), [direct_sid(6), direct_sid(6)]);
        assert!(remove(c, cap, b, direct_sid(6), STRICT));
        assert_eq!(found(&cells, b), [direct_sid(6)]);
    }

    #[test]
    fn probes_wrap_around_the_end() {
        let cap = 16;
        let cells: Vec<AtomicU32> = (0..cap).map(|_| AtomicU32::new(EMPTY)).collect();
        let c = |i: usize| &cells[i];
        let hashes: Vec<u64> = (1..=3).map(|fp| hash_at(cap - 1, cap, fp)).collect();
        for (k, h) in hashes.iter().enumerate() {
            insert(c, cap, *h, direct_sid(k as u32), STRICT);
        }
        assert_ne!(cells[0].load(Ordering::Relaxed), EMPTY);
        for (k, h) in hashes.iter().enumerate() {
            assert_eq!(found(&cells, *h), [direct_sid(k as u32)]);
        }
    }

    #[test]
    fn the_writer_grows_and_shrinks_by_rebuilding() {
        let version = Arc::new(AtomicU64::new(0));
        let (index, mut w) = Index::new(Arc::clone(&version));
        let n = if cfg!(miri) { 60 } else { 2000 };
        let hash = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut keys: Vec<u64> = Vec::new();
        for k in 0..n {
            let listed = keys.clone();
            w.make_room(|f| listed.iter().for_each(|h| f(*h, direct_sid(1))));
            w.insert(hash(k), direct_sid(1));
            keys.push(hash(k));
        }
        assert!(version.load(Ordering::Relaxed) > 0, "grown by rebuilds");
        let cap = w.block().cap();
        assert!(n as usize * 3 <= cap * 2, "{n} entries in {cap} cells");
        for h in &keys {
            let b = w.block();
            let mut seen = 0;
            probe(
                |i| b.cell(i),
                cap,
                *h,
                STRICT,
                |sid| {
                    seen += usize::from(sid == direct_sid(1));
                    None::<()>
                },
            );
            assert!(seen >= 1, "an entry lost in a rebuild");
        }
        while keys.len() > 3 {
            let h = keys.pop().unwrap();
            assert!(w.remove(h, direct_sid(1)));
            let listed = keys.clone();
            w.shrink(|f| listed.iter().for_each(|h| f(*h, direct_sid(1))));
        }
        assert_eq!(w.live(), 3);
        assert!(w.block().cap() <= 64, "shrunk");
        drop(index);
    }
}

/// Loom models of the index protocol: a probe against a writer that removes, reuses and adds.
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::{AtomicU32 as LoomWord, AtomicUsize};
    use loom::sync::Arc;
    use loom::thread;

    use crate::forward::seqlock::loom_tests::fails;

    impl Word32 for LoomWord {
        fn load(&self, o: Ordering) -> u32 {
            LoomWord::load(self, o)
        }
        fn store(&self, v: u32, o: Ordering) {
            LoomWord::store(self, v, o);
        }
    }

    const CAP: usize = 4;

    /// A hash starting at cell 0 of [`CAP`] with fingerprint `fp`.
    fn at0(fp: u64) -> u64 {
        fp << 16
    }

    /// Key `b` stays in shard 6 throughout, one cell past key `a`, which the writer removes
    /// and whose cell it gives to key `c`. A probe for `b` must find it under every
    /// interleaving: the cells before it never turn empty.
    fn chain(rules: Rules) {
        loom::model(move || {
            let cells: Arc<Vec<LoomWord>> = Arc::new((0..CAP).map(|_| LoomWord::new(0)).collect());
            let (a, b, c) = (at0(1), at0(2), at0(3));
            insert(|i| &cells[i], CAP, a, direct_sid(5), rules);
            insert(|i| &cells[i], CAP, b, direct_sid(6), rules);
            let r = cells.clone();
            let reader = thread::spawn(move || {
                let got = probe(|i| &r[i], CAP, b, rules, Some);
                assert_eq!(got, Some(direct_sid(6)), "a live entry not found");
            });
            remove(|i| &cells[i], CAP, a, direct_sid(5), rules);
            insert(|i| &cells[i], CAP, c, direct_sid(7), rules);
            remove(|i| &cells[i], CAP, c, direct_sid(7), rules);
            reader.join().unwrap();
        });
    }

    /// The writer fills a shard's slot (`slot`, relaxed, as the slot's own words are) and then
    /// adds the index entry; a reader that finds the entry must then see the slot filled.
    fn publication(rules: Rules) {
        loom::model(move || {
            let cells: Arc<Vec<LoomWord>> = Arc::new((0..CAP).map(|_| LoomWord::new(0)).collect());
            let slot = Arc::new(AtomicUsize::new(0));
            let a = at0(1);
            let (r, s) = (cells.clone(), slot.clone());
            let reader = thread::spawn(move || {
                if probe(|i| &r[i], CAP, a, rules, Some).is_some() {
                    assert_eq!(
                        s.load(Ordering::Relaxed),
                        1,
                        "an entry whose shard slot is not filled"
                    );
                }
            });
            slot.store(1, Ordering::Relaxed);
            insert(|i| &cells[i], CAP, a, direct_sid(5), rules);
            reader.join().unwrap();
        });
    }

    #[test]
    fn a_live_entry_is_always_found() {
        chain(STRICT);
    }

    #[test]
    fn an_entry_found_has_its_slot_filled() {
        publication(STRICT);
    }

    /// Asserts that `model` with `rules` fails, and by its own assertion (whose message holds
    /// `by`), not by a loom limit or any other panic.
    fn assert_caught(model: fn(Rules), rules: Rules, by: &str) {
        let msg = fails(move || model(rules));
        assert!(msg.as_deref().is_some_and(|m| m.contains(by)), "{msg:?}");
    }

    #[test]
    fn a_removal_that_empties_its_cell_is_caught() {
        let rules = Rules {
            removed: EMPTY,
            ..STRICT
        };
        assert_caught(chain, rules, "not found");
    }

    #[test]
    fn a_relaxed_entry_store_is_caught() {
        let rules = Rules {
            store: Ordering::Relaxed,
            ..STRICT
        };
        assert_caught(publication, rules, "not filled");
    }

    #[test]
    fn a_relaxed_cell_load_is_caught() {
        let rules = Rules {
            load: Ordering::Relaxed,
            ..STRICT
        };
        assert_caught(publication, rules, "not filled");
    }
}
