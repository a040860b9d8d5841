//! A forwarding worker's [`Reader`], the [`Verdict`]s it returns, and burst lookup.

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use super::counters::WorkerSlot;
use super::table::{hash_sg, Pin, ReaderPin};
use super::{Directory, Shard};
use crate::addr::{Family, IfKey, Sg};
use crate::error::{Error, Result};

/// Most keys one [`Reader::lookup_burst`] call takes.
///
/// **Progress:** constant.
pub const MAX_BURST: usize = 256;

/// The key of one packet, for [`Reader::lookup_burst`].
///
/// **Progress:** plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKey<A> {
    /// The interface the packet arrived on.
    pub arrival: IfKey<A>,
    /// The packet's source address.
    pub source: A,
    /// The packet's group (destination) address.
    pub group: A,
    /// The packet's length, added to the MFE's byte counter.
    pub bytes: u32,
}

/// What to do with a packet.
///
/// **Progress:** plain data; borrows the reader until it is dropped.
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'r, A> {
    /// The MFE exists on the arrival interface: send a copy out of each of these OIFs.
    Forward(Oifs<'r, A>),
    /// The MFE exists, but its incoming interface is `iif`, not the arrival interface: drop
    /// the packet (and maybe tell the routing protocol, for PIM asserts).
    WrongInterface {
        /// The MFE's incoming interface.
        iif: IfKey<A>,
    },
    /// The MFE is negative (no OIFs): drop the packet.
    Negative,
    /// No MFE for (source, group): report the miss to the engine.
    Miss,
}

/// The OIF list of a [`Verdict::Forward`]: borrowed from the MFE version the lookup saw.
///
/// **Progress:** every method is wait-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oifs<'r, A>(&'r [IfKey<A>]);

impl<'r, A: Family> Oifs<'r, A> {
    /// The number of OIFs (never 0 in a verdict).
    ///
    /// **Progress:** wait-free.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no OIF (never, in a verdict).
    ///
    /// **Progress:** wait-free.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `i`-th OIF, in the order the engine installed them.
    ///
    /// **Progress:** wait-free.
    pub fn get(&self, i: usize) -> Option<IfKey<A>> {
        self.0.get(i).copied()
    }

    /// The OIFs, in order.
    ///
    /// **Progress:** wait-free.
    pub fn iter(&self) -> impl Iterator<Item = IfKey<A>> + 'r {
        self.0.iter().copied()
    }

    /// The OIFs copied into a vector.
    ///
    /// **Progress:** allocates.
    pub fn to_vec(&self) -> Vec<IfKey<A>> {
        self.0.to_vec()
    }
}

/// One forwarding worker's handle on the forwarding table.
///
/// Create it on the worker's own thread and keep it there: it holds an epoch registration
/// and a pinned guard, so it is not `Send`. It also holds one worker slot (its own counter
/// lines) until it is dropped.
///
/// Each lookup re-pins (moves the reader's local epoch forward, no fence) and revalidates its
/// cached directory (about one atomic load). A verdict borrows the reader, so the next lookup
/// cannot run while an OIF list from the previous one is still in use. An idle worker should
/// call [`Reader::quiesce`], or it holds back memory reclamation of replaced MFEs.
///
/// A miss probes every other shard (one per interface that is an incoming interface,
/// typically tens) to tell a wrong-interface arrival from a true miss: a miss costs one probe
/// per shard.
///
/// **Progress:** lookups are wait-free apart from the miss path's probes, which are bounded by
/// the number of shards; no lock, no allocation, no reference-count change.
pub struct Reader<A: Family> {
    pin: ReaderPin,
    dir: Cache<Arc<ArcSwap<Directory<A>>>, Arc<Directory<A>>>,
    slot: WorkerSlot,
    misses: u64,
}

impl<A: Family> Reader<A> {
    pub(super) fn new(dir: Arc<ArcSwap<Directory<A>>>, slot: WorkerSlot) -> Self {
        Reader {
            pin: ReaderPin::new(),
            dir: Cache::new(dir),
            slot,
            misses: 0,
        }
    }

    /// The verdict for a packet from `source` to `group` that arrived on `arrival`, counted on
    /// the MFE (packets, bytes, and one packet per OIF; or a negative hit; or a
    /// wrong-interface arrival).
    ///
    /// **Progress:** wait-free on a hit; a miss probes every shard once.
    pub fn lookup(&mut self, arrival: IfKey<A>, source: A, group: A, bytes: u32) -> Verdict<'_, A> {
        let pin = self.pin.enter();
        let dir: &Directory<A> = self.dir.load();
        let key = PacketKey {
            arrival,
            source,
            group,
            bytes,
        };
        let worker = self.slot.index();
        resolve(
            dir,
            pin,
            worker,
            &mut self.misses,
            &key,
            hash_sg(&sg_of(&key)),
        )
    }

    /// Looks up a burst of up to [`MAX_BURST`] packets: `verdicts[i]` is the verdict for
    /// `packets[i]`, exactly as [`Reader::lookup`] would give it. Returns `packets.len()`.
    /// The keys are hashed and their first slots touched before any is probed, so the cache
    /// misses of the burst overlap.
    ///
    /// # Errors
    /// [`Error::BurstTooLarge`] when `packets` has more than [`MAX_BURST`] keys or `verdicts`
    /// is shorter than `packets`; nothing is looked up or counted then.
    ///
    /// **Progress:** as [`Reader::lookup`], per packet.
    pub fn lookup_burst<'r>(
        &'r mut self,
        packets: &[PacketKey<A>],
        verdicts: &mut [Verdict<'r, A>],
    ) -> Result<usize> {
        if packets.len() > MAX_BURST || verdicts.len() < packets.len() {
            return Err(Error::BurstTooLarge {
                len: packets.len(),
                max: MAX_BURST.min(verdicts.len()),
            });
        }
        let pin = self.pin.enter();
        let dir: &'r Directory<A> = self.dir.load();
        let worker = self.slot.index();
        // Three passes, so the cache misses of the whole burst overlap: hash and start loading
        // each key's first slot; then start loading the entry and counter line that slot
        // points at; then resolve each key, mostly from cache.
        let mut hashes = [0u64; MAX_BURST];
        let mut shards: [Option<&Shard<A>>; MAX_BURST] = [None; MAX_BURST];
        for ((h, s), p) in hashes.iter_mut().zip(shards.iter_mut()).zip(packets) {
            *h = hash_sg(&sg_of(p));
            *s = dir.shards.get(&p.arrival).map(|s| &**s);
            if let Some(shard) = s {
                shard.table.prefetch(*h, pin);
            }
        }
        for (h, s) in hashes.iter().zip(&shards).take(packets.len()) {
            if let Some(shard) = s {
                shard.table.prefetch_entry(*h, worker, pin);
            }
        }
        for (((v, p), h), s) in verdicts.iter_mut().zip(packets).zip(hashes).zip(shards) {
            *v = match s {
                Some(shard) => resolve_in(shard, dir, pin, worker, &mut self.misses, p, h),
                None => resolve(dir, pin, worker, &mut self.misses, p, h),
            };
        }
        Ok(packets.len())
    }

    /// Unpins the reader and refreshes its directory snapshot, so an idle worker holds back
    /// neither the reclamation of replaced MFEs nor the freeing of removed shards. The next
    /// lookup pins again.
    ///
    /// **Progress:** wait-free.
    pub fn quiesce(&mut self) {
        self.pin.quiesce();
        self.dir.load();
    }

    /// This reader's worker slot, `0..max_workers`: the counter lines it writes.
    ///
    /// **Progress:** wait-free.
    pub fn worker_slot(&self) -> usize {
        self.slot.index()
    }

    /// How many [`Verdict::Miss`] this reader has returned (a plain local counter).
    ///
    /// **Progress:** wait-free.
    pub fn misses(&self) -> u64 {
        self.misses
    }
}

fn sg_of<A: Family>(p: &PacketKey<A>) -> Sg<A> {
    Sg::new(p.source, p.group)
}

/// The verdict for one packet in one directory snapshot, counted.
#[inline]
fn resolve<'a, A: Family>(
    dir: &'a Directory<A>,
    pin: Pin<'a>,
    worker: usize,
    misses: &mut u64,
    p: &PacketKey<A>,
    hash: u64,
) -> Verdict<'a, A> {
    match dir.shards.get(&p.arrival) {
        Some(shard) => resolve_in(shard, dir, pin, worker, misses, p, hash),
        None => resolve_elsewhere(dir, pin, worker, misses, p, hash),
    }
}

/// [`resolve`] when the arrival interface's shard is `shard` (already looked up).
#[inline]
fn resolve_in<'a, A: Family>(
    shard: &'a Shard<A>,
    dir: &'a Directory<A>,
    pin: Pin<'a>,
    worker: usize,
    misses: &mut u64,
    p: &PacketKey<A>,
    hash: u64,
) -> Verdict<'a, A> {
    let sg = sg_of(p);
    if let Some(entry) = shard.table.get(&sg, hash, worker, pin) {
        return if entry.oifs().is_empty() {
            entry.count_negative(worker, p.bytes);
            Verdict::Negative
        } else {
            entry.count_forward(worker, p.bytes);
            Verdict::Forward(Oifs(entry.oifs()))
        };
    }
    resolve_elsewhere(dir, pin, worker, misses, p, hash)
}

/// The rest of [`resolve`] when the arrival interface's shard has no MFE for the key: a
/// wrong-interface arrival if another shard has it, else a miss.
#[cold]
fn resolve_elsewhere<'a, A: Family>(
    dir: &'a Directory<A>,
    pin: Pin<'a>,
    worker: usize,
    misses: &mut u64,
    p: &PacketKey<A>,
    hash: u64,
) -> Verdict<'a, A> {
    let sg = sg_of(p);
    for (iif, shard) in &dir.shards {
        if *iif == p.arrival {
            continue;
        }
        if let Some(entry) = shard.table.get(&sg, hash, usize::MAX, pin) {
            entry.count_wrong_if(worker);
            return Verdict::WrongInterface { iif: entry.iif() };
        }
    }
    *misses += 1;
    Verdict::Miss
}
