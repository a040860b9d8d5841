//! The lock-free core: one shard's open-addressing hash table of MFEs, with the MFEs inline.
//!
//! All the `unsafe` of the crate's data plane lives here, below a safe API:
//!
//! - [`Table`]: single writer (serialised by its own mutex), any number of readers. A slot is
//!   one 64-byte line for IPv4 (two for IPv6) that holds the whole MFE: a header word
//!   (sequence number, state, list length), the MFE's counter id, its key, and its OIF list
//!   (four OIFs inline for IPv4, three for IPv6; a longer list lives in a heap array the slot
//!   points at). A hit finds the whole MFE in one line, then writes the worker's counter record.
//! - Slots are published with a **sequence lock**: the writer makes the sequence odd, rewrites
//!   the words, and makes it even again with a `Release` store; a reader reads the header, the
//!   words it needs and the header again, and retries the slot if the header moved. All words
//!   are atomics, so a torn read is a retried read, never undefined behaviour. A reader
//!   therefore sees each MFE wholly before or wholly after a change. The sequence number of a
//!   slot grows by two per write; the header compared also holds the state and the length.
//! - Linear probing from a 64-bit mix of the key, mapped onto any capacity (not only powers of
//!   two) by a multiply-shift, so the table can grow by 1.5x and stay between half and three
//!   quarters full. A deleted slot is a tombstone: probes continue past it, inserts reuse it.
//!   Growing or compacting builds a new slot array, publishes it, and retires the old one
//!   through `crossbeam::epoch`; readers pinned on the old array keep reading it, unchanged.
//! - **Counters** are not in the slot: each MFE has a stable counter id, and each worker has a
//!   32-byte record per id in per-shard chunks that never move (chunk `k` holds `64 << k` ids,
//!   worker-major, so two workers never write one line). Ids survive rebuilds; an id freed by a
//!   removal is reused only after an epoch grace period, when no reader can still count on it.
//!   Per MFE, a lookup adds packets and bytes (and wrong-interface arrivals on that path);
//!   per-OIF and negative counts are derived by the writer from the packet count at each list
//!   change (the "books"), so the packet path writes two words.
//! - [`ReaderPin`] / [`Pin`]: a reader's own epoch registration on the default collector and a
//!   guard it keeps pinned between lookups. A `Pin` can only come from a `ReaderPin`, so every
//!   guard a table sees belongs to the collector its writer retires garbage to.
//!
//! Orderings: the header store that ends a write is `Release`, and the writer's `Release`
//! fence after making the sequence odd orders that odd header before the data stores; a reader
//! loads the header with `Acquire`, the data `Relaxed`, then an `Acquire` fence and the header
//! again (the usual atomic sequence-lock protocol). Publishing a slot array or a counter chunk
//! is a `Release` store paired with the readers' `Acquire` load. Counters are `Relaxed`: each
//! record has one writer (its worker), and a sum is not a snapshot.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam::epoch::{self, Atomic, Guard, LocalHandle, Owned};
use crossbeam::queue::SegQueue;
use crossbeam::utils::CachePadded;
use rustc_hash::FxHashMap;

use super::counters::{EntryCounters, Rec};
use crate::addr::{Family, IfKey, Sg};

/// Smallest slot array.
const MIN_SLOTS: usize = 8;
/// Most OIFs a slot holds inline (IPv4; IPv6 holds three).
pub(super) const MAX_INLINE: usize = 4;
/// Words in one cache line.
const LINE_WORDS: usize = 8;
/// Counter chunks per table: chunk `k` holds `64 << k` ids, so 26 chunks hold 2^32 ids.
const CHUNKS: usize = 26;
/// Ids in chunk 0.
const CHUNK0: u64 = 64;

/// Slot states (header bits 48..56).
const EMPTY: u64 = 0;
const LIVE: u64 = 1;
const TOMB: u64 = 2;
/// The header's length field when the list is in a heap array (the array has the length).
const SPILLED: u64 = 0xffff;

/// A header word: sequence number (bits 0..32), list length (32..48), state (48..56).
fn header(seq: u32, state: u64, len: u64) -> u64 {
    u64::from(seq) | (len << 32) | (state << 48)
}

fn seq_of(h: u64) -> u32 {
    h as u32
}

fn state_of(h: u64) -> u64 {
    (h >> 48) & 0xff
}

fn len_of(h: u64) -> u64 {
    (h >> 32) & 0xffff
}

// ---------------------------------------------------------------------------------------------
// Slot layout and encoding

/// Where things are in a slot, by family: IPv4 slots are one line, IPv6 slots two.
///
/// Word 0 is the header, word 1 the counter id, then the key, then the spill pointer, then
/// the inline OIFs.
struct Layout {
    /// Words per slot (a multiple of [`LINE_WORDS`]).
    words: usize,
    /// Words of the key (S,G).
    key_words: usize,
    /// Words per inline OIF.
    oif_words: usize,
    /// OIFs held inline.
    inline: usize,
}

const V4: Layout = Layout {
    words: 8,
    key_words: 1,
    oif_words: 1,
    inline: 4,
};
const V6: Layout = Layout {
    words: 16,
    key_words: 4,
    oif_words: 3,
    inline: 3,
};

#[inline(always)]
fn layout<A: Family>() -> &'static Layout {
    if A::BITS == 32 {
        &V4
    } else {
        &V6
    }
}

const ID_WORD: usize = 1;
const KEY_WORD: usize = 2;

#[inline(always)]
fn spill_word<A: Family>() -> usize {
    KEY_WORD + layout::<A>().key_words
}

#[inline(always)]
fn oif_word<A: Family>(i: usize) -> usize {
    spill_word::<A>() + 1 + i * layout::<A>().oif_words
}

/// The key words of (S,G): IPv4 packs both addresses in one word.
pub(super) type KeyWords = [u64; 4];

/// The key words of `sg`.
#[inline(always)]
pub(super) fn key_of<A: Family>(sg: &Sg<A>) -> KeyWords {
    let (s, g) = (sg.source.to_bits(), sg.group.to_bits());
    if A::BITS == 32 {
        [((s as u64) << 32) | g as u64, 0, 0, 0]
    } else {
        [(s >> 64) as u64, s as u64, (g >> 64) as u64, g as u64]
    }
}

/// A 64-bit mix of the key; the table maps it onto its capacity with a multiply-shift.
#[inline(always)]
pub(super) fn hash_key(k: &KeyWords) -> u64 {
    const M1: u64 = 0x9e37_79b9_7f4a_7c15;
    const M2: u64 = 0xd6e8_feb8_6659_fd93;
    let mut h = k[0].wrapping_mul(M1);
    if k[1] | k[2] | k[3] != 0 {
        h = (h ^ k[1]).wrapping_mul(M2);
        h = (h ^ (h >> 32) ^ k[2]).wrapping_mul(M1);
        h = (h ^ k[3]).wrapping_mul(M2);
    }
    h ^= h >> 29;
    h.wrapping_mul(M2)
}

/// The slot a probe for `hash` starts at, in `0..cap`.
#[inline(always)]
fn start(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

fn encode_oif<A: Family>(o: &IfKey<A>) -> [u64; 3] {
    let nh = o.next_hop.to_bits();
    if A::BITS == 32 {
        [u64::from(o.index) | ((nh as u64) << 32), 0, 0]
    } else {
        [u64::from(o.index), (nh >> 64) as u64, nh as u64]
    }
}

#[inline(always)]
fn decode_oif<A: Family>(w: [u64; 3]) -> IfKey<A> {
    if A::BITS == 32 {
        IfKey {
            index: w[0] as u32,
            next_hop: A::from_bits(u128::from(w[0] >> 32)),
        }
    } else {
        IfKey {
            index: w[0] as u32,
            next_hop: A::from_bits((u128::from(w[1]) << 64) | u128::from(w[2])),
        }
    }
}

/// A list too long for the slot, in its own allocation. Immutable once published; freed
/// through the epoch collector after the slot stops pointing at it.
struct Spill<A> {
    oifs: Box<[IfKey<A>]>,
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
    /// The `&mut self` borrow is what makes re-pinning sound: nothing reached under the
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
// Slot arrays

/// One cache line of slot words.
#[repr(align(64))]
struct Line([AtomicU64; LINE_WORDS]);

/// A slot array of `cap` slots. Dropping it frees the lines only: the spilled lists its slots
/// point at belong to the MFEs, which the newer arrays still hold.
struct Slots {
    cap: usize,
    words_per_slot: usize,
    lines: Box<[Line]>,
}

impl Slots {
    fn new<A: Family>(cap: usize) -> Self {
        let words_per_slot = layout::<A>().words;
        let lines = (0..cap * words_per_slot / LINE_WORDS)
            .map(|_| Line(Default::default()))
            .collect();
        Slots {
            cap,
            words_per_slot,
            lines,
        }
    }

    /// Word `j` of slot `i`.
    #[inline(always)]
    fn word(&self, i: usize, j: usize) -> &AtomicU64 {
        let w = i * self.words_per_slot + j;
        &self.lines[w / LINE_WORDS].0[w % LINE_WORDS]
    }
}

/// The OIF list of a hit: in the caller's buffer (first `.0` entries), or a heap array.
pub(super) enum List<'a, A> {
    Inline(usize),
    Spilled(&'a [IfKey<A>]),
}

/// An OIF list as the writer reads it: short ones copied, long ones borrowed.
enum Listed<'a, A> {
    Inline([IfKey<A>; MAX_INLINE], usize),
    Spilled(&'a [IfKey<A>]),
}

impl<A> Listed<'_, A> {
    fn as_slice(&self) -> &[IfKey<A>] {
        match self {
            Listed::Inline(a, n) => &a[..*n],
            Listed::Spilled(s) => s,
        }
    }
}

/// A hit: the MFE's counter id and its OIF list.
pub(super) struct Hit<'a, A> {
    pub(super) id: u32,
    pub(super) list: List<'a, A>,
}

/// Where a writer's probe for a key ended.
enum Probe {
    /// The key is in slot `.0`.
    Found(usize),
    /// The key is absent; `.0` is the slot an insert should use (first tombstone or empty).
    Absent(usize),
}

// ---------------------------------------------------------------------------------------------
// The writer's books

/// Per-MFE figures only the writer keeps, by counter id: what the per-OIF and negative counts
/// are derived from.
#[derive(Default)]
struct Books {
    /// Packets counted while the MFE was negative, up to its last change to a non-empty list.
    negative: u64,
    /// The MFE's packet count when its list last became empty.
    negative_since: u64,
    /// For each OIF of the current list, in list order, the MFE's packet count when it joined.
    joined: Joined,
}

/// Join marks of up to four OIFs inline, more on the heap.
enum Joined {
    Inline([u64; MAX_INLINE]),
    Heap(Box<[u64]>),
}

impl Default for Joined {
    fn default() -> Self {
        Joined::Inline([0; MAX_INLINE])
    }
}

impl Joined {
    /// `n` marks of 0.
    fn zeros(n: usize) -> Self {
        if n <= MAX_INLINE {
            Joined::Inline([0; MAX_INLINE])
        } else {
            Joined::Heap(vec![0; n].into_boxed_slice())
        }
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            Joined::Inline(a) => a.get(i).copied().unwrap_or(0),
            Joined::Heap(v) => v.get(i).copied().unwrap_or(0),
        }
    }
}

/// What the writer knows about the table it owns.
struct WriterState {
    live: usize,
    tombstones: usize,
    /// Ids ever handed out are `0..next_id`.
    next_id: u32,
    /// By counter id.
    books: Vec<Books>,
}

// ---------------------------------------------------------------------------------------------
// The table

/// One shard's MFEs: an open-addressing hash table with the MFEs inline; readers take no
/// lock.
///
/// **Progress:** [`Table::get`] takes no lock and writes nothing shared; it re-reads a slot
/// while the writer is rewriting that slot (a few stores), and is otherwise bounded by the
/// slot count. Writer methods take the table's own mutex, so a second writer waits instead of
/// corrupting the table.
pub(super) struct Table<A> {
    slots: Atomic<Slots>,
    /// Counter chunks, allocated by the writer before any slot names an id in them; freed by
    /// `Drop` only.
    chunks: [AtomicPtr<Rec>; CHUNKS],
    workers: u16,
    /// Ids whose grace period has passed, pushed by the epoch collector.
    recycled: Arc<SegQueue<u32>>,
    /// On its own cache line: every writer call locks it, and readers read `slots` and
    /// `chunks` on every lookup.
    writer: CachePadded<Mutex<WriterState>>,
    _family: PhantomData<A>,
}

/// The chunk of counter id `id` and the offset in it.
#[inline(always)]
fn chunk_of(id: u32) -> (usize, usize, usize) {
    let v = u64::from(id) + CHUNK0;
    let k = (63 - v.leading_zeros()) as usize - 6;
    let size = (CHUNK0 << k) as usize;
    (k, size, (v as usize) - size)
}

impl<A: Family> Table<A> {
    /// An empty table whose MFEs have counter records for `workers` workers.
    pub(super) fn new(workers: u16) -> Self {
        Table {
            slots: Atomic::new(Slots::new::<A>(MIN_SLOTS)),
            chunks: Default::default(),
            workers,
            recycled: Arc::new(SegQueue::new()),
            writer: CachePadded::new(Mutex::new(WriterState {
                live: 0,
                tombstones: 0,
                next_id: 0,
                books: Vec::new(),
            })),
            _family: PhantomData,
        }
    }

    /// The MFE for `key` (`hash` is [`hash_key`] of it): its counter id, and its OIF list,
    /// copied into `buf` when it is inline.
    ///
    /// **Progress:** no lock; see [`Table`].
    #[inline]
    pub(super) fn get<'a>(
        &'a self,
        key: &KeyWords,
        hash: u64,
        buf: &mut [IfKey<A>; MAX_INLINE],
        pin: Pin<'a>,
    ) -> Option<Hit<'a, A>> {
        let lay = layout::<A>();
        // SAFETY: the slot array is never null, and a replaced array is only freed through
        // `defer_destroy`, after every guard pinned when it was replaced (ours included) has
        // moved on; `Drop` frees it too, but needs `&mut self`, excluded by `'a`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, pin.guard).deref() };
        let mut i = start(hash, slots.cap);
        for _ in 0..slots.cap {
            loop {
                let h1 = slots.word(i, 0).load(Ordering::Acquire);
                if seq_of(h1) & 1 == 1 {
                    std::hint::spin_loop();
                    continue;
                }
                match state_of(h1) {
                    EMPTY => return None,
                    LIVE => {}
                    _ => break,
                }
                // A live slot's key never changes in place, so a mismatch needs no check: at
                // worst the slot was being removed and refilled, and the key was absent then.
                if (0..lay.key_words)
                    .any(|j| slots.word(i, KEY_WORD + j).load(Ordering::Relaxed) != key[j])
                {
                    break;
                }
                let id = slots.word(i, ID_WORD).load(Ordering::Relaxed) as u32;
                let len = len_of(h1);
                let spill = if len == SPILLED {
                    slots.word(i, spill_word::<A>()).load(Ordering::Relaxed) as *const Spill<A>
                } else {
                    let n = (len as usize).min(lay.inline);
                    for (k, out) in buf.iter_mut().enumerate().take(n) {
                        let mut w = [0u64; 3];
                        for (j, x) in w.iter_mut().enumerate().take(lay.oif_words) {
                            *x = slots.word(i, oif_word::<A>(k) + j).load(Ordering::Relaxed);
                        }
                        *out = decode_oif(w);
                    }
                    std::ptr::null()
                };
                fence(Ordering::Acquire);
                if slots.word(i, 0).load(Ordering::Relaxed) != h1 {
                    continue;
                }
                let list = if spill.is_null() {
                    List::Inline((len as usize).min(lay.inline))
                } else {
                    // SAFETY: the header did not move between the two reads, so the pointer
                    // was the slot's list while this reader was pinned. A list is retired
                    // through the collector only after a slot write unlinked it, so it stays
                    // allocated while the pin lasts (`'a`). It was fully built before the
                    // header store that published it (`Release`, paired with our `Acquire`).
                    List::Spilled(unsafe { &(*spill).oifs })
                };
                return Some(Hit { id, list });
            }
            i += 1;
            if i == slots.cap {
                i = 0;
            }
        }
        None
    }

    /// Starts loading the first slot a probe for `hash` reads, so a burst can overlap the
    /// cache misses of many keys before it probes them.
    #[inline]
    pub(super) fn prefetch(&self, hash: u64, pin: Pin<'_>) {
        // SAFETY: as in `get`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, pin.guard).deref() };
        let i = start(hash, slots.cap);
        prefetch_line(slots.word(i, 0));
    }

    /// `worker`'s counter record of id `id`, if both are in range.
    #[inline(always)]
    fn rec(&self, id: u32, worker: usize) -> Option<&Rec> {
        if worker >= usize::from(self.workers) {
            return None;
        }
        let (k, size, off) = chunk_of(id);
        let chunk = self.chunks.get(k)?.load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: chunk `k` has `workers * size` records and is freed only by `Drop`
        // (`&mut self`); `worker < workers` and `off < size`.
        Some(unsafe { &*chunk.add(worker * size + off) })
    }

    /// Starts loading `worker`'s counter record of `id` (for a burst).
    #[inline]
    pub(super) fn prefetch_rec(&self, id: u32, worker: usize) {
        if let Some(r) = self.rec(id, worker) {
            prefetch_line(&r.packets);
        }
    }

    /// Counts a packet of `bytes` that matched MFE `id` on its incoming interface: a plain
    /// load and store per counter, since only `worker` writes its record.
    #[inline]
    pub(super) fn count(&self, id: u32, worker: usize, bytes: u32) {
        if let Some(r) = self.rec(id, worker) {
            bump(&r.packets, 1);
            bump(&r.bytes, u64::from(bytes));
        }
    }

    /// Counts an arrival for MFE `id` on another interface than its incoming one.
    pub(super) fn count_wrong_if(&self, id: u32, worker: usize) {
        if let Some(r) = self.rec(id, worker) {
            bump(&r.wrong_if, 1);
        }
    }

    /// MFEs in the table.
    pub(super) fn len(&self) -> usize {
        self.lock().live
    }

    /// The counters of `sg`'s MFE, summed over workers; `None` if it is absent.
    pub(super) fn counters(&self, sg: &Sg<A>) -> Option<EntryCounters<A>> {
        let st = self.lock();
        let guard = epoch::pin();
        // SAFETY: the array is published and only this writer (lock held) replaces it.
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        let key = key_of(sg);
        let Probe::Found(i) = self.probe(slots, &key, hash_key(&key)) else {
            return None;
        };
        let id = slots.word(i, ID_WORD).load(Ordering::Relaxed) as u32;
        let listed = self.list_at(slots, i);
        let oifs = listed.as_slice();
        let sum = |f: fn(&Rec) -> &AtomicU64| {
            (0..usize::from(self.workers))
                .filter_map(|w| self.rec(id, w))
                .fold(0u64, |acc, r| {
                    acc.wrapping_add(f(r).load(Ordering::Relaxed))
                })
        };
        let packets = sum(|r| &r.packets);
        let books = st.books.get(id as usize);
        let negative = books.map_or(0, |b| {
            let open = if oifs.is_empty() {
                packets.saturating_sub(b.negative_since)
            } else {
                0
            };
            b.negative + open
        });
        Some(EntryCounters {
            packets,
            bytes: sum(|r| &r.bytes),
            wrong_if: sum(|r| &r.wrong_if),
            negative,
            oifs: oifs
                .iter()
                .enumerate()
                .map(|(k, o)| {
                    let joined = books.map_or(0, |b| b.joined.get(k));
                    (*o, packets.saturating_sub(joined))
                })
                .collect(),
        })
    }

    /// The MFE's packet count summed over workers (the writer's view).
    fn packets(&self, id: u32) -> u64 {
        (0..usize::from(self.workers))
            .filter_map(|w| self.rec(id, w))
            .fold(0u64, |acc, r| {
                acc.wrapping_add(r.packets.load(Ordering::Relaxed))
            })
    }

    /// The OIF list of live slot `i`, read by the writer (no one else writes it): a short
    /// list copied, a long one borrowed (it is retired only through the collector, and the
    /// writer is pinned while it uses it).
    fn list_at<'s>(&self, slots: &'s Slots, i: usize) -> Listed<'s, A> {
        let lay = layout::<A>();
        let len = len_of(slots.word(i, 0).load(Ordering::Relaxed));
        if len == SPILLED {
            let p = slots.word(i, spill_word::<A>()).load(Ordering::Relaxed) as *const Spill<A>;
            // SAFETY: the writer lock is held, so this is the slot's current list; a later
            // replacement retires it through the collector, which frees it only after the
            // writer's own pin (held by every caller while it uses the list) is released.
            return Listed::Spilled(unsafe { &(*p).oifs });
        }
        let mut out = [IfKey::new(0); MAX_INLINE];
        let n = (len as usize).min(lay.inline);
        for (k, o) in out.iter_mut().enumerate().take(n) {
            let mut w = [0u64; 3];
            for (j, x) in w.iter_mut().enumerate().take(lay.oif_words) {
                *x = slots.word(i, oif_word::<A>(k) + j).load(Ordering::Relaxed);
            }
            *o = decode_oif(w);
        }
        Listed::Inline(out, n)
    }

    /// Inserts the MFE or publishes its new OIF list (duplicates already removed).
    pub(super) fn install(&self, sg: Sg<A>, oifs: &[IfKey<A>]) {
        let mut st = self.lock();
        let guard = epoch::pin();
        let key = key_of(&sg);
        let hash = hash_key(&key);
        let cap = self.capacity(&guard);
        if (st.live + st.tombstones + 1) * 4 > cap * 3 {
            let want = (st.live + 1) * 2;
            self.rebuild(&mut st, want, &guard);
        }
        // SAFETY: the array is published and we are the only writer (lock held).
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        match self.probe(slots, &key, hash) {
            Probe::Found(i) => {
                let id = slots.word(i, ID_WORD).load(Ordering::Relaxed) as u32;
                let old = self.list_at(slots, i);
                self.rebook(&mut st, id, old.as_slice(), oifs);
                let old_spill = self.write_slot(slots, i, id, &key, oifs);
                if let Some(p) = old_spill {
                    retire_spill(p, &guard);
                }
            }
            Probe::Absent(i) => {
                let id = self.new_id(&mut st);
                let books = Books {
                    joined: Joined::zeros(oifs.len()),
                    ..Books::default()
                };
                match st.books.get_mut(id as usize) {
                    Some(b) => *b = books,
                    None => st.books.push(books),
                }
                let was = state_of(slots.word(i, 0).load(Ordering::Relaxed));
                self.write_slot(slots, i, id, &key, oifs);
                if was == TOMB {
                    st.tombstones -= 1;
                }
                st.live += 1;
            }
        }
    }

    /// Updates the books of MFE `id` for a list change from `old` to `new`: an OIF that stays
    /// keeps its join mark, a new one joins at the current packet count; the negative count
    /// closes or opens.
    fn rebook(&self, st: &mut WriterState, id: u32, old: &[IfKey<A>], new: &[IfKey<A>]) {
        // The packet count (a read of every worker's record) is only needed when an OIF joins
        // or the list turns empty or non-empty; a leave needs none.
        let packets = std::cell::OnceCell::new();
        let packets = || *packets.get_or_init(|| self.packets(id));
        let Some(b) = st.books.get_mut(id as usize) else {
            return;
        };
        let index: Option<FxHashMap<IfKey<A>, usize>> =
            (old.len() > 16).then(|| old.iter().enumerate().map(|(k, o)| (*o, k)).collect());
        let joined = &b.joined;
        let mark = |o: &IfKey<A>| {
            let at = match &index {
                Some(ix) => ix.get(o).copied(),
                None => old.iter().position(|x| x == o),
            };
            at.map_or_else(packets, |k| joined.get(k))
        };
        b.joined = if new.len() <= MAX_INLINE {
            let mut a = [0; MAX_INLINE];
            for (m, o) in a.iter_mut().zip(new) {
                *m = mark(o);
            }
            Joined::Inline(a)
        } else {
            Joined::Heap(new.iter().map(mark).collect())
        };
        if old.is_empty() && !new.is_empty() {
            b.negative += packets().saturating_sub(b.negative_since);
        } else if !old.is_empty() && new.is_empty() {
            b.negative_since = packets();
        }
    }

    /// Writes MFE `id` with key `key` and list `oifs` into slot `i` under the sequence lock.
    /// Returns the slot's previous spilled list, for the caller to retire.
    fn write_slot(
        &self,
        slots: &Slots,
        i: usize,
        id: u32,
        key: &KeyWords,
        oifs: &[IfKey<A>],
    ) -> Option<*mut Spill<A>> {
        let lay = layout::<A>();
        let h0 = slots.word(i, 0).load(Ordering::Relaxed);
        let old_spill = (state_of(h0) == LIVE && len_of(h0) == SPILLED)
            .then(|| slots.word(i, spill_word::<A>()).load(Ordering::Relaxed) as *mut Spill<A>);
        let seq = seq_of(h0);
        slots.word(i, 0).store(
            header(seq.wrapping_add(1), state_of(h0), len_of(h0)),
            Ordering::Relaxed,
        );
        fence(Ordering::Release);
        slots
            .word(i, ID_WORD)
            .store(u64::from(id), Ordering::Relaxed);
        for (j, k) in key.iter().enumerate().take(lay.key_words) {
            slots.word(i, KEY_WORD + j).store(*k, Ordering::Relaxed);
        }
        let len = if oifs.len() <= lay.inline {
            for (k, o) in oifs.iter().enumerate() {
                let w = encode_oif(o);
                for (j, x) in w.iter().enumerate().take(lay.oif_words) {
                    slots
                        .word(i, oif_word::<A>(k) + j)
                        .store(*x, Ordering::Relaxed);
                }
            }
            slots.word(i, spill_word::<A>()).store(0, Ordering::Relaxed);
            oifs.len() as u64 // <= inline
        } else {
            let spill = Box::into_raw(Box::new(Spill { oifs: oifs.into() }));
            slots
                .word(i, spill_word::<A>())
                .store(spill as u64, Ordering::Relaxed);
            SPILLED
        };
        slots
            .word(i, 0)
            .store(header(seq.wrapping_add(2), LIVE, len), Ordering::Release);
        old_spill
    }

    /// A counter id with zeroed records: one whose grace period has passed, or a new one.
    fn new_id(&self, st: &mut WriterState) -> u32 {
        if let Some(id) = self.recycled.pop() {
            for w in 0..usize::from(self.workers) {
                if let Some(r) = self.rec(id, w) {
                    // No reader counts on this id any more (its grace period has passed), and
                    // the slot that names it next is published after these stores.
                    r.packets.store(0, Ordering::Relaxed);
                    r.bytes.store(0, Ordering::Relaxed);
                    r.wrong_if.store(0, Ordering::Relaxed);
                }
            }
            return id;
        }
        // Ids past the last chunk (over 4 billion MFEs in one shard, far beyond memory) are
        // handed out without counters rather than failing: `rec` finds no chunk for them.
        let id = st.next_id;
        st.next_id = st.next_id.saturating_add(1);
        let (k, size, _) = chunk_of(id);
        if let Some(chunk) = self.chunks.get(k) {
            if chunk.load(Ordering::Relaxed).is_null() {
                let recs: Box<[Rec]> = (0..usize::from(self.workers) * size)
                    .map(|_| Rec::default())
                    .collect();
                chunk.store(Box::into_raw(recs) as *mut Rec, Ordering::Release);
            }
        }
        id
    }

    /// Removes the MFE; false if it was absent.
    pub(super) fn remove(&self, sg: &Sg<A>) -> bool {
        let mut st = self.lock();
        let guard = epoch::pin();
        // SAFETY: as in `install`.
        let slots = unsafe { self.slots.load(Ordering::Acquire, &guard).deref() };
        let key = key_of(sg);
        let Probe::Found(i) = self.probe(slots, &key, hash_key(&key)) else {
            return false;
        };
        let h0 = slots.word(i, 0).load(Ordering::Relaxed);
        let id = slots.word(i, ID_WORD).load(Ordering::Relaxed) as u32;
        let spill = (len_of(h0) == SPILLED)
            .then(|| slots.word(i, spill_word::<A>()).load(Ordering::Relaxed) as *mut Spill<A>);
        slots.word(i, 0).store(
            header(seq_of(h0).wrapping_add(1), LIVE, len_of(h0)),
            Ordering::Relaxed,
        );
        fence(Ordering::Release);
        slots.word(i, 0).store(
            header(seq_of(h0).wrapping_add(2), TOMB, 0),
            Ordering::Release,
        );
        if let Some(p) = spill {
            retire_spill(p, &guard);
        }
        let recycled = Arc::clone(&self.recycled);
        // The id is reused once every reader pinned now has moved on: none can count on it.
        guard.defer(move || recycled.push(id));
        st.live -= 1;
        st.tombstones += 1;
        let cap = slots.cap;
        if cap > MIN_SLOTS && st.live * 8 < cap {
            let want = st.live * 2;
            self.rebuild(&mut st, want, &guard);
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A panicking writer leaves the table consistent (every step is one publication), so
        // a poisoned lock is still usable.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn capacity(&self, guard: &Guard) -> usize {
        // SAFETY: the array is never null and is protected by `guard`.
        unsafe { self.slots.load(Ordering::Acquire, guard).deref() }.cap
    }

    /// Linear probe for `key` in `slots`, on the writer's side (no slot is being written).
    fn probe(&self, slots: &Slots, key: &KeyWords, hash: u64) -> Probe {
        let lay = layout::<A>();
        let mut i = start(hash, slots.cap);
        let mut free = None;
        for _ in 0..slots.cap {
            let h = slots.word(i, 0).load(Ordering::Relaxed);
            match state_of(h) {
                EMPTY => return Probe::Absent(free.unwrap_or(i)),
                LIVE => {
                    if (0..lay.key_words)
                        .all(|j| slots.word(i, KEY_WORD + j).load(Ordering::Relaxed) == key[j])
                    {
                        return Probe::Found(i);
                    }
                }
                _ => {
                    free.get_or_insert(i);
                }
            }
            i += 1;
            if i == slots.cap {
                i = 0;
            }
        }
        // The load limit keeps an empty slot; a full wrap can only end on a tombstone.
        Probe::Absent(free.unwrap_or(0))
    }

    /// Publishes a new slot array with room for `want` MFEs (at least [`MIN_SLOTS`]) holding
    /// the live MFEs and no tombstones, and retires the old array. Growing happens at 3/4 full
    /// and shrinking below 1/8, both to half full.
    fn rebuild(&self, st: &mut WriterState, want: usize, guard: &Guard) {
        let lay = layout::<A>();
        let cap = want.max(MIN_SLOTS);
        let fresh = Slots::new::<A>(cap);
        let old = self.slots.load(Ordering::Acquire, guard);
        // SAFETY: the published array; only this writer replaces it.
        let old_ref = unsafe { old.deref() };
        for i in 0..old_ref.cap {
            let h = old_ref.word(i, 0).load(Ordering::Relaxed);
            if state_of(h) != LIVE {
                continue;
            }
            let mut key = [0u64; 4];
            for (j, k) in key.iter_mut().enumerate().take(lay.key_words) {
                *k = old_ref.word(i, KEY_WORD + j).load(Ordering::Relaxed);
            }
            let mut n = start(hash_key(&key), cap);
            while state_of(fresh.word(n, 0).load(Ordering::Relaxed)) != EMPTY {
                n += 1;
                if n == cap {
                    n = 0;
                }
            }
            // Relaxed: the array is published below with `Release`. The spilled list, if any,
            // moves to the new array (the old one does not own it).
            for j in 1..lay.words {
                let w = old_ref.word(i, j).load(Ordering::Relaxed);
                fresh.word(n, j).store(w, Ordering::Relaxed);
            }
            fresh
                .word(n, 0)
                .store(header(0, LIVE, len_of(h)), Ordering::Relaxed);
        }
        self.slots.store(Owned::new(fresh), Ordering::Release);
        // SAFETY: the old array is unlinked; dropping it frees its lines only, after every
        // reader pinned now has moved on.
        unsafe { guard.defer_destroy(old) };
        st.tombstones = 0;
    }
}

/// Asks the CPU to start loading the line of `w` into the cache, without waiting for it.
#[inline(always)]
fn prefetch_line(w: &AtomicU64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault;
        // SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(w.as_ptr() as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(w.load(Ordering::Relaxed));
}

/// Adds `n` to a counter that only the calling worker writes.
#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// A spilled list handed to the collector, which may free it on another thread.
struct SendSpill<A>(*mut Spill<A>);

// SAFETY: a spilled list is plain data (`IfKey<A>` is `Send` for the families served); it is
// moved to be freed, once.
unsafe impl<A: Send> Send for SendSpill<A> {}

impl<A> SendSpill<A> {
    fn into_inner(self) -> *mut Spill<A> {
        self.0
    }
}

/// Frees an unlinked spilled list once no reader can reach it.
fn retire_spill<A: Family>(p: *mut Spill<A>, guard: &Guard) {
    let p = SendSpill(p);
    // SAFETY: `p` came from `Box::into_raw` in `write_slot`, and the slot write that unlinked
    // it has been published; only readers pinned now can still reach it, and the closure runs
    // after they have all moved on, once.
    unsafe { guard.defer_unchecked(move || drop(Box::from_raw(p.into_inner()))) };
}

impl<A> Drop for Table<A> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader can reach this table (they only reach it through a
        // directory snapshot that holds it), and retired garbage is owned by the collector.
        let guard = unsafe { epoch::unprotected() };
        let slots = self.slots.load(Ordering::Relaxed, guard);
        // SAFETY: the array is never null and is ours alone now.
        let slots = unsafe { slots.into_owned() };
        let spill_at = KEY_WORD
            + if slots.words_per_slot == V4.words {
                V4.key_words
            } else {
                V6.key_words
            };
        for i in 0..slots.cap {
            let h = slots.word(i, 0).load(Ordering::Relaxed);
            if state_of(h) == LIVE && len_of(h) == SPILLED {
                let p = slots.word(i, spill_at).load(Ordering::Relaxed) as *mut Spill<A>;
                // SAFETY: the live MFE's current list, made by `Box::into_raw`, freed once
                // here (older lists were retired when they were replaced).
                drop(unsafe { Box::from_raw(p) });
            }
        }
        drop(slots);
        for (k, c) in self.chunks.iter().enumerate() {
            let p = c.load(Ordering::Relaxed);
            if p.is_null() {
                continue;
            }
            let len = usize::from(self.workers) * ((CHUNK0 as usize) << k);
            let slice = std::ptr::slice_from_raw_parts_mut(p, len);
            // SAFETY: chunk `k` was made by `new_id` as a boxed slice of exactly `len`
            // records, and is freed once, here.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

/// Bytes per slot and per writer's books entry, for the memory test.
#[cfg(test)]
pub(super) fn sizes<A: Family>() -> (usize, usize) {
    (layout::<A>().words * 8, std::mem::size_of::<Books>())
}
