//! The data plane: the forwarding table that workers look up per packet.
//!
//! MFEs are sharded by incoming interface (iif). A `Directory` maps each iif to its shard and
//! is published through `arc_swap`. Every forwarding worker owns a [`Reader`] that keeps a
//! directory snapshot and a copy of where each shard's block is, by interface index, and
//! checks them with one load of the store's layout version, which every directory store and
//! every block swap bumps: a hit goes from the arrival interface to the block in one load.
//! Releasing an interface removes its shard with one directory store, whatever the number of
//! MFEs in it.
//!
//! Inside a shard, MFEs live inline in a single-writer, multi-reader open-addressing table
//! (see `table.rs`, which holds the data plane's `unsafe` with `seqlock.rs` and `index.rs`):
//! one cache line per IPv4 MFE holds its key and OIF list, published under a per-slot sequence
//! lock (`seqlock.rs`), so a hit finds the MFE in one line and a reader sees each MFE wholly
//! before or wholly after a change; the worker's counters of that MFE are in a line of their
//! own next to it. Tables replaced by a rebuild and long OIF lists are reclaimed by `crossbeam::epoch`.
//!
//! A lookup whose arrival shard lacks the key finds the shard that has it through one
//! incoming-interface index over the whole store (`index.rs`: a fingerprint of (S,G) and the
//! shard, a 32-bit word per MFE, checked in the shard it names before it makes a verdict), so
//! a miss or a wrong-interface verdict costs one probe there, not one per shard.
//!
//! Files: `table.rs` (lock-free core: shard table, counters, epochs), `seqlock.rs` (the slot
//! sequence lock and its loom models), `index.rs` (the incoming-interface index and its loom
//! models), `reader.rs` (the worker's [`Reader`] and its verdicts),
//! `counters.rs` (the summed counters and worker slots), this file (the writer-side
//! `ForwardStore` and the shard directory).
//!
//! Consistency: a lookup sees one directory snapshot and, in it, each MFE at one version. A
//! change returns once it is published: a lookup that starts afterwards sees it (the reader
//! reads the layout version on every lookup).
//!
//! Progress: a lookup takes no lock, allocates nothing and changes no reference count; its
//! only shared writes are to the worker's own counter records. It re-reads a slot that the
//! writer is rewriting at that moment (a handful of stores). Writer calls take the store's
//! mutex (the engine's control lock already serialises them).
//!
//! Memory: shards removed from the directory are kept on a retired list and dropped by a later
//! writer call once no reader snapshot holds them, so the cost of freeing a large shard falls
//! on the writer, not on a forwarding worker.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

use crate::addr::{Family, IfKey, Sg};
use crate::error::Result;

mod counters;
mod index;
mod reader;
mod seqlock;
mod table;

pub use counters::EntryCounters;
pub use reader::{Oifs, PacketKey, Reader, Verdict, MAX_BURST};

use counters::WorkerSlots;
use index::{Index, IndexWriter};
use table::{hash_key, key_of, Table};

/// Most worker slots a store accepts; [`ForwardStore::new`] clamps to `1..=MAX_WORKERS`.
const MAX_WORKERS: usize = 4096;

/// The MFEs whose incoming interface is one interface.
pub(crate) struct Shard<A> {
    table: Table<A>,
}

/// Interface indexes below this, with no next hop, are found by direct indexing.
const DIRECT: u32 = 1024;

/// An immutable map from iif to shard; a change publishes a new directory.
pub(crate) struct Directory<A> {
    shards: FxHashMap<IfKey<A>, Arc<Shard<A>>>,
    /// The same shards for plain interfaces (no next hop) of index below [`DIRECT`], by index:
    /// a lookup's shard is one load away instead of a hash probe.
    direct: Box<[Option<Arc<Shard<A>>>]>,
    /// The store's incoming-interface index (one for every directory of the store).
    index: Arc<Index>,
}

impl<A: Family> Directory<A> {
    fn empty(index: Arc<Index>) -> Self {
        Directory {
            shards: FxHashMap::default(),
            direct: Box::new([]),
            index,
        }
    }

    /// The hash and index shard number of every MFE in every shard, for an index rebuild.
    fn keys(&self, f: &mut dyn FnMut(u64, u32)) {
        for (iif, shard) in &self.shards {
            let sid = sid_of(iif);
            shard.table.hashes(&mut |h| f(h, sid));
        }
    }

    /// A copy with `iif`'s shard set to `shard`, or removed when `None`. Copies the map of
    /// shards (tens of pointers), never a shard.
    fn with(&self, iif: IfKey<A>, shard: Option<Arc<Shard<A>>>) -> Self {
        let mut shards = self.shards.clone();
        match shard {
            Some(s) => shards.insert(iif, s),
            None => shards.remove(&iif),
        };
        let direct_len = shards
            .keys()
            .filter(|k| is_direct(k))
            .map(|k| k.index as usize + 1)
            .max()
            .unwrap_or(0);
        let mut direct = vec![None; direct_len];
        for (k, s) in &shards {
            if is_direct(k) {
                direct[k.index as usize] = Some(Arc::clone(s));
            }
        }
        Directory {
            shards,
            direct: direct.into_boxed_slice(),
            index: Arc::clone(&self.index),
        }
    }

    /// The shard of incoming interface `iif`.
    #[inline]
    pub(crate) fn shard(&self, iif: &IfKey<A>) -> Option<&Shard<A>> {
        if is_direct(iif) {
            self.direct.get(iif.index as usize)?.as_deref()
        } else {
            self.shards.get(iif).map(|s| &**s)
        }
    }
}

/// True for an interface the directory indexes directly.
#[inline]
fn is_direct<A: Family>(k: &IfKey<A>) -> bool {
    k.index < DIRECT && k.next_hop == A::UNSPECIFIED
}

/// The incoming-interface index's shard number of interface `k`.
fn sid_of<A: Family>(k: &IfKey<A>) -> u32 {
    if is_direct(k) {
        index::direct_sid(k.index)
    } else {
        index::NOT_DIRECT
    }
}

/// What the store's writer lock guards.
struct Writer<A> {
    /// Shards removed from the directory that a reader may still see.
    retired: Vec<Arc<Shard<A>>>,
    /// The incoming-interface index's writer side.
    index: IndexWriter,
}

/// The forwarding table, writer side: installs, replaces and removes MFEs, and hands out
/// readers.
///
/// One writer at a time (the engine's control lock); a mutex inside makes a second writer wait
/// rather than corrupt the table.
pub(crate) struct ForwardStore<A: Family> {
    dir: Arc<ArcSwap<Directory<A>>>,
    /// The layout version: bumped after every directory store and every block swap, so a
    /// reader knows, with one load, that the blocks it keeps are still the current ones.
    version: Arc<AtomicU64>,
    /// The writer lock, with the retired shards and the index's writer side.
    writer: Mutex<Writer<A>>,
    workers: Arc<WorkerSlots>,
    max_workers: usize,
    /// Workers the tables have a copy of their slots for now (at most `max_workers`): they
    /// grow when a reader takes a slot beyond them, so memory follows the readers that exist.
    lines: AtomicUsize,
}

impl<A: Family> ForwardStore<A> {
    /// An empty table for at most `max_workers` concurrent readers (clamped to 1..=4096), with
    /// per-worker copies for `lines` of them to begin with (more are added as readers come).
    ///
    /// **Progress:** allocates.
    pub(crate) fn new(max_workers: usize, lines: usize) -> Self {
        let max_workers = max_workers.clamp(1, MAX_WORKERS);
        let lines = lines.clamp(1, max_workers);
        let version = Arc::new(AtomicU64::new(0));
        let (index, index_writer) = Index::new(Arc::clone(&version));
        ForwardStore {
            dir: Arc::new(ArcSwap::from_pointee(Directory::empty(index))),
            version,
            writer: Mutex::new(Writer {
                retired: Vec::new(),
                index: index_writer,
            }),
            workers: WorkerSlots::new(max_workers),
            max_workers,
            lines: AtomicUsize::new(lines),
        }
    }

    /// Inserts (S,G) into `iif`'s shard, creating the shard, or publishes its new OIF list.
    /// An empty list makes a negative MFE. Duplicate OIFs are ignored. The caller guarantees
    /// (S,G) is in no other shard. A new MFE goes into the incoming-interface index after it
    /// is in its shard, so an index entry a reader finds names a shard that has the MFE.
    ///
    /// **Progress:** may block (writer mutex); allocates.
    pub(crate) fn install(&self, sg: Sg<A>, iif: IfKey<A>, oifs: &[IfKey<A>]) {
        let mut w = self.lock();
        let oifs = dedup(oifs);
        let dir = self.dir.load();
        let hash = hash_key(&key_of(&sg));
        match dir.shards.get(&iif) {
            Some(shard) => {
                // Before the MFE is in its shard: a rebuild lists the shards' MFEs.
                w.index.make_room(|f| dir.keys(f));
                if shard.table.install(sg, &oifs) {
                    w.index.insert(hash, sid_of(&iif));
                }
            }
            None => {
                w.index.make_room(|f| dir.keys(f));
                let shard = Arc::new(Shard {
                    // <= MAX_WORKERS
                    table: Table::new(
                        self.lines.load(Ordering::Relaxed) as u16,
                        Arc::clone(&self.version),
                    ),
                });
                // Filled before it is published: readers see the shard with its MFE.
                shard.table.install(sg, &oifs);
                self.publish(dir.with(iif, Some(shard)));
                w.index.insert(hash, sid_of(&iif));
            }
        }
        sweep(&mut w.retired);
    }

    /// Removes (S,G) from `iif`'s shard; false if it was not there. A shard left empty leaves
    /// the directory, so misses do not probe it.
    ///
    /// **Progress:** may block (writer mutex).
    pub(crate) fn remove(&self, sg: Sg<A>, iif: IfKey<A>) -> bool {
        let mut w = self.lock();
        let dir = self.dir.load_full();
        let Some(shard) = dir.shards.get(&iif) else {
            return false;
        };
        let removed = shard.table.remove(&sg);
        if removed {
            // After the shard: a reader that finds the entry first and then not the MFE
            // skips it.
            w.index.remove(hash_key(&key_of(&sg)), sid_of(&iif));
            if shard.table.len() == 0 {
                self.publish(dir.with(iif, None));
                w.retired.push(Arc::clone(shard));
            }
            w.index.shrink(|f| self.dir.load().keys(f));
        }
        drop(dir);
        sweep(&mut w.retired);
        removed
    }

    /// Drops every MFE whose incoming interface is `iif` with one directory store; returns how
    /// many. The reader-visible cost does not depend on that number; the memory is freed by a
    /// later writer call, once no reader still holds a snapshot with the shard. After the
    /// store, the shard's entries leave the incoming-interface index one by one (writer work
    /// in proportion to the MFEs dropped, as the control plane's own is); until they have,
    /// they name a shard that is gone, and readers skip them.
    ///
    /// **Progress:** may block (writer mutex).
    pub(crate) fn remove_shard(&self, iif: IfKey<A>) -> usize {
        let mut w = self.lock();
        let dir = self.dir.load_full();
        let Some(shard) = dir.shards.get(&iif) else {
            return 0;
        };
        self.publish(dir.with(iif, None));
        // Counted after the store: the count locks the shard's writer state, a cold line that
        // readers need not wait for.
        let dropped = shard.table.len();
        let sid = sid_of(&iif);
        shard.table.hashes(&mut |h| {
            w.index.remove(h, sid);
        });
        w.index.shrink(|f| self.dir.load().keys(f));
        w.retired.push(Arc::clone(shard));
        drop(dir);
        sweep(&mut w.retired);
        dropped
    }

    /// The counters of (S,G) in `iif`'s shard, summed over workers.
    ///
    /// **Progress:** may block (writer mutex); allocates.
    pub(crate) fn counters(&self, sg: Sg<A>, iif: IfKey<A>) -> Option<EntryCounters<A>> {
        let _writer = self.lock();
        let dir = self.dir.load();
        let shard = dir.shards.get(&iif)?;
        shard.table.counters(&sg)
    }

    /// A reader for one forwarding worker, holding one worker slot until it is dropped.
    ///
    /// # Errors
    /// [`crate::Error::TooManyReaders`] when all `max_workers` slots are taken.
    ///
    /// **Progress:** may block (slot mutex); allocates. When the slot is beyond the counter
    /// lines the tables have, takes the writer lock and rebuilds every shard once.
    pub(crate) fn reader(&self) -> Result<Reader<A>> {
        let slot = self.workers.acquire()?;
        if slot.index() >= self.lines.load(Ordering::Acquire) {
            self.grow_lines(slot.index() + 1);
        }
        Ok(Reader::new(
            Arc::clone(&self.dir),
            Arc::clone(&self.version),
            slot,
        ))
    }

    /// MFEs in all shards.
    ///
    /// **Progress:** may block (writer mutex).
    pub(crate) fn len(&self) -> usize {
        let _writer = self.lock();
        self.dir.load().shards.values().map(|s| s.table.len()).sum()
    }

    /// The number of worker slots.
    ///
    /// **Progress:** wait-free.
    pub(crate) fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Gives every table copies for at least `need` workers (doubling, up to
    /// `max_workers`), before the reader that needs them is handed out: one rebuild per shard,
    /// counts carried over.
    #[cold]
    fn grow_lines(&self, need: usize) {
        let mut w = self.lock();
        let have = self.lines.load(Ordering::Relaxed);
        if need > have {
            let lines = need.next_power_of_two().clamp(have, self.max_workers);
            for shard in self.dir.load().shards.values() {
                shard.table.grow_workers(lines as u16); // <= MAX_WORKERS
            }
            self.lines.store(lines, Ordering::Release);
        }
        sweep(&mut w.retired);
    }

    /// Stores a new directory, then bumps the layout version (before any shard it drops is
    /// retired), so readers refresh the blocks they keep at their next lookup.
    fn publish(&self, dir: Directory<A>) {
        self.dir.store(Arc::new(dir));
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, Writer<A>> {
        // Every writer step is a complete publish, so a poisoned lock guards a sound table.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Drops the retired shards no directory snapshot holds any more (count 1: only this list).
fn sweep<A>(retired: &mut Vec<Arc<Shard<A>>>) {
    retired.retain(|s| Arc::strong_count(s) > 1);
}

/// The list without repeats, first occurrence kept; borrowed when it has none (the control
/// plane's lists are already unique, so the usual call allocates nothing).
fn dedup<A: Family>(oifs: &[IfKey<A>]) -> Cow<'_, [IfKey<A>]> {
    let unique = if oifs.len() <= 16 {
        oifs.iter().enumerate().all(|(i, o)| !oifs[..i].contains(o))
    } else {
        let mut seen = rustc_hash::FxHashSet::default();
        oifs.iter().all(|o| seen.insert(*o))
    };
    if unique {
        return Cow::Borrowed(oifs);
    }
    let mut seen = rustc_hash::FxHashSet::default();
    Cow::Owned(oifs.iter().filter(|o| seen.insert(**o)).copied().collect())
}

#[cfg(test)]
mod tests;
