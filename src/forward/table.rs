//! The lock-free core: one shard's open-addressing hash table of MFEs, with the MFEs inline, a
//! copy of them per worker, and each worker's counts inside its own copy.
//!
//! All the `unsafe` of the data plane's tables lives here, below a safe API:
//!
//! - [`Table`]: single writer (serialised by its own mutex), any number of readers. The table
//!   is one **block**: a header line, the groups' tag words, then **one copy of the slot array
//!   per worker**, then the writer's MFE ids (one per slot), then one wrong-interface word per
//!   slot and worker. A slot is one 64-byte line for IPv4 (two for IPv6) that holds the whole
//!   MFE and its worker's counts: a header word (sequence number, state, list length; see
//!   `seqlock.rs`), its key, its OIF list (four OIFs inline for IPv4, three for IPv6; a longer
//!   list lives in a heap array whose pointer takes the first OIF place), and the packet and
//!   byte counts of the copy's worker in its last two words.
//! - **Per-worker copies.** The writer writes every change into each worker's copy, under that
//!   copy's own sequence lock; a worker reads only its own copy and counts in the line it has
//!   just read, so a hit reads and writes one slot line (with the counts in a line of their
//!   own it wrote a second one), and two workers never write one line (the writer does, on a
//!   change). A lookup loads the four slot lines of the key's home group ahead, with its tag
//!   word, and matches the tags of that group and the next at once (`BENCHMARKS.md` has what
//!   each bought).
//! - Slots are published under the sequence lock of `seqlock.rs`: a reader sees each MFE
//!   wholly before or wholly after a change.
//! - Probing goes group by group from a home group chosen by a 64-bit mix of the key
//!   (multiply-shift onto any number of groups). A group's tag word holds a 16-bit tag per
//!   slot (or empty, or removed): a lookup checks only the slots whose tag matches, and a group
//!   with an empty slot ends the probe. The table grows at seven eighths full (live and
//!   removed slots) and is rebuilt to three quarters full (its load stays between 0.75 and
//!   0.875 as it grows): a key past its home group is mostly in the next one, whose tags a
//!   lookup matches with its own, and a fuller table is a smaller one in the cache. A removed
//!   slot is a tombstone that probes continue past and that is **never reused** before the
//!   next rebuild: a slot's counters then belong to one MFE for
//!   the block's whole life, so no counter is ever reset under a worker that may still be
//!   adding to it. A rebuild makes a fresh block with zeroed counters, publishes it, and then
//!   carries each MFE's counts from the old block into the writer's books; the old block is
//!   retired through `crossbeam::epoch`. A lookup that loaded the old block just before the
//!   swap and counts after the writer read it loses that one count (at most one packet per
//!   worker per rebuild, or one burst).
//! - Large blocks are aligned to 2 MiB and advised as huge pages (`MADV_HUGEPAGE`) before they
//!   are first touched, where the kernel offers transparent huge pages: a random lookup into a
//!   table of 100 MB then needs no page walk.
//! - [`Kept`]: a reader's copy of each directly reached table's block (its head and lookup
//!   geometry) and of the directory snapshot that holds the tables, valid while the store's
//!   layout version reads the same. Every block swap and directory store bumps the version
//!   before anything is retired, so a reader that still reads the old version is pinned in
//!   an epoch the retired block outlives.
//! - [`ReaderPin`] / [`Pin`]: a reader's own epoch registration on the default collector and a
//!   guard it keeps pinned between lookups, moved forward every [`REPIN`] lookups (the
//!   quiescent-state scheme of DPDK's QSBR: the worker announces progress now and then, not on
//!   every packet). A `Pin` can only come from a `ReaderPin`, so every guard a table sees
//!   belongs to the collector its writer retires garbage to.
//!
//! Orderings: slot headers as in `seqlock.rs`. Publishing a block is a `Release` store paired
//! with the readers' `Acquire` load; the block's header line is written before and never after.
//! Counters are `Relaxed`: each has one writer (its worker), and a sum is not a snapshot.
#![allow(unsafe_code)]

use std::alloc::{self, Layout as AllocLayout};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam::epoch::{self, Guard, LocalHandle};
use crossbeam::utils::CachePadded;
use rustc_hash::FxHashMap;

use super::counters::EntryCounters;
use super::index::{Index, IndexRef};
use super::seqlock::{header, len_of, state_of, SeqLock, LIVE, TOMB};
use crate::addr::{Family, IfKey, Sg};

/// Smallest slot count of a block.
const MIN_SLOTS: usize = 8;
/// Slots per group (one tag word covers a group).
const GROUP: usize = 4;
/// Most OIFs a slot holds inline (IPv4; IPv6 holds three).
pub(super) const MAX_INLINE: usize = 4;
/// Words in one cache line.
const LINE_WORDS: usize = 8;
/// Bytes in one cache line.
const LINE: usize = 64;
/// A transparent huge page.
const HUGE_PAGE: usize = 2 << 20;
/// Blocks of at least this many bytes are aligned to a huge page and take whole huge pages
/// (the last one partly unused), so every lookup in them is one TLB entry per 2 MiB. Below
/// it, a block stays in small pages: the unused part of one huge page would outweigh it.
const HUGE_FROM: usize = HUGE_PAGE / 2;
/// A reader moves its epoch forward every this many lookups (and at every burst).
pub(super) const REPIN: u32 = 64;
/// What [`Kept::hit_fast`] gives when the key is surely not in the block.
pub(super) const ABSENT: usize = usize::MAX;
/// What [`Kept::hit_fast`] gives when neither the key's home group nor the group after it
/// holds a match and neither has an empty slot (for the last group, only the home group's
/// slots count): the key may be further on ([`Kept::hit_next`]).
pub(super) const NEXT_GROUP: usize = usize::MAX - 1;

/// The header's length field when the list is in a heap array (the array has the length).
const SPILLED: u64 = 0xffff;
/// The header bits a fast-path hit checks besides the sequence's odd bit: the state, and the
/// length's bits from 8 up (zero for every inline list, set for [`SPILLED`]).
const FAST_MASK: u64 = header(0, 0xff, 0xfff8);

// ---------------------------------------------------------------------------------------------
// Slot layout and encoding

/// Where things are in a slot, by family: IPv4 slots are one line, IPv6 slots two.
///
/// Word 0 is the header, then the key, then the inline OIFs (or, for a list too long for them,
/// the pointer to its heap array in the first OIF place), and last the copy's worker's packet
/// and byte counts.
struct Layout {
    /// Lines per slot.
    lines: usize,
    /// Words of the key (S,G).
    key_words: usize,
    /// Words per inline OIF.
    oif_words: usize,
    /// OIFs held inline.
    inline: usize,
}

const V4: Layout = Layout {
    lines: 1,
    key_words: 1,
    oif_words: 1,
    inline: 4,
};
const V6: Layout = Layout {
    lines: 2,
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

const KEY_WORD: usize = 1;

/// The word of a spilled list's pointer: the first OIF place, unused while the list is not
/// inline.
#[inline(always)]
fn spill_word<A: Family>() -> usize {
    oif_word::<A>(0)
}

#[inline(always)]
fn oif_word<A: Family>(i: usize) -> usize {
    KEY_WORD + layout::<A>().key_words + i * layout::<A>().oif_words
}

/// The word of the packet count (the byte count is the next, the slot's last).
#[inline(always)]
fn count_word<A: Family>() -> usize {
    layout::<A>().lines * LINE_WORDS - 2
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

/// A 64-bit mix of the key; the table maps it onto its capacity with a multiply-shift (its
/// high bits) and takes the tag from its low bits. Folded multiplies (the two halves of a
/// 128-bit product, xored), whose every output bit depends on every input bit: one for an
/// IPv4 key, three for IPv6. One multiply and a fold are three instructions where two
/// multiplies and a shift-xor took six.
#[inline(always)]
pub(super) fn hash_key(k: &KeyWords) -> u64 {
    const M1: u64 = 0x9e37_79b9_7f4a_7c15;
    const M2: u64 = 0xd6e8_feb8_6659_fd93;
    const M3: u64 = 0xa076_1d64_78bd_642f;
    const M4: u64 = 0xe703_7ed1_a0b4_28db;
    #[inline(always)]
    fn fold(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        p as u64 ^ (p >> 64) as u64
    }
    let mut h = k[0];
    if k[1] | k[2] | k[3] != 0 {
        h = fold(h ^ M1, k[1] ^ M2) ^ fold(k[2] ^ M3, k[3] ^ M4);
    }
    fold(h, M1)
}

/// The slot a probe for `hash` starts at, in `0..cap`.
#[inline(always)]
fn start(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

/// Tag lanes: an empty slot, a removed one; live keys have tags with bit 15 set.
const T_EMPTY: u64 = 0;
const T_TOMB: u64 = 1;
/// Bit 0 of every 16-bit lane, and bit 15.
const LANE_LO: u64 = 0x0001_0001_0001_0001;
const LANE_HI: u64 = 0x8000_8000_8000_8000;

/// The 16-bit tag of a key (from bits the group choice does not use), never a marker: 15 bits
/// of the hash and bit 15 set (one instruction where a clamp to the markers took three).
#[inline(always)]
fn tag_of(hash: u64) -> u64 {
    hash & 0xffff | 0x8000
}

/// Bit 15 of each lane of `t` that may equal `tag` (exact for the lowest such lane; a lane
/// above a true match may be flagged too, which the key check settles).
#[inline(always)]
fn lanes_matching(t: u64, tag: u64) -> u64 {
    let x = t ^ (tag * LANE_LO);
    x.wrapping_sub(LANE_LO) & !x & LANE_HI
}

/// The first lane of tag word `t` whose tag is `tag` (exact), if any: [`first_lane_of_two`]
/// with an empty second word (no tag is zero).
#[inline(always)]
fn first_lane(t: u64, tag: u64) -> Option<usize> {
    first_lane_of_two(t, 0, tag)
}

/// The first lane of the eight of two groups' tag words, `t` then `next`, whose tag is `tag`
/// (exact), if any: a lane from 4 up is lane `- 4` of the second group. What the fast path of
/// a hit reads: on x86_64 one SSE2 compare of the eight lanes at once, about half the
/// instructions of the word-at-a-time [`lanes_matching`] with its three 64-bit constants.
#[inline(always)]
fn first_lane_of_two(t: u64, next: u64, tag: u64) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi16, _mm_movemask_epi8, _mm_set1_epi16, _mm_set_epi64x,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; these only move and compare registers.
        let bytes = unsafe {
            let lanes = _mm_set_epi64x(next as i64, t as i64);
            let want = _mm_set1_epi16(tag as i16);
            _mm_movemask_epi8(_mm_cmpeq_epi16(lanes, want)) as u32
        };
        let m = bytes & 0x5555;
        (m != 0).then(|| m.trailing_zeros() as usize / 2)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let lane = |w: u64| {
            let m = lanes_matching(w, tag);
            (m != 0).then(|| m.trailing_zeros() as usize / 16)
        };
        lane(t).or_else(|| lane(next).map(|l| l + GROUP))
    }
}

/// True when some lane of `t` is empty.
#[inline(always)]
fn has_empty(t: u64) -> bool {
    t.wrapping_sub(LANE_LO) & !t & LANE_HI != 0
}

/// The first empty lane of `t`, if any.
fn first_empty(t: u64) -> Option<usize> {
    (0..GROUP).find(|&j| (t >> (16 * j)) & 0xffff == T_EMPTY)
}

/// The words of an OIF. An IPv4 next hop is kept byte-swapped: `Ipv4Addr` holds its octets in
/// network order, so decoding swaps back and the two swaps cancel, leaving a plain copy on
/// the packet path.
fn encode_oif<A: Family>(o: &IfKey<A>) -> [u64; 3] {
    let nh = o.next_hop.to_bits();
    if A::BITS == 32 {
        let swapped = (nh as u32).swap_bytes();
        [u64::from(o.index) | (u64::from(swapped) << 32), 0, 0]
    } else {
        [u64::from(o.index), (nh >> 64) as u64, nh as u64]
    }
}

#[inline(always)]
fn decode_oif<A: Family>(w: [u64; 3]) -> IfKey<A> {
    if A::BITS == 32 {
        IfKey {
            index: w[0] as u32,
            next_hop: A::from_bits(u128::from(((w[0] >> 32) as u32).swap_bytes())),
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
    /// Lookups left before the next re-pin is due; zero whenever the reader is unpinned, so
    /// a nonzero count also says that `guard` is `Some` (what [`ReaderPin::enter_fast`]
    /// relies on).
    left: u32,
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
            left: 0,
        }
    }

    /// Pins if unpinned, re-pins (moves the local epoch forward) every [`REPIN`] calls or
    /// when `now`, and returns the pin. Re-pinning reads the collector's global epoch, a line
    /// the writer's thread writes: once per [`REPIN`] lookups it costs nothing measurable,
    /// while reclamation waits at most that many lookups of this worker.
    ///
    /// The `&mut self` borrow is what makes re-pinning sound: nothing reached under the
    /// previous pin can still be borrowed.
    #[inline]
    pub(super) fn enter(&mut self, now: bool) -> Pin<'_> {
        if now || self.left <= 1 {
            self.repin();
            self.left = REPIN;
        }
        self.left -= 1;
        let guard = &*self.guard.get_or_insert_with(|| self.handle.pin());
        Pin { guard }
    }

    /// The pin of a lookup on the fast path: as [`ReaderPin::enter`] without `now`, with the
    /// re-pin due every [`REPIN`] lookups done out of line, so the common lookup carries
    /// only the count and its compare. `None` when the reader is not pinned (the caller falls
    /// back to [`ReaderPin::enter`], which pins).
    #[inline(always)]
    pub(super) fn enter_fast(&mut self) -> Option<Pin<'_>> {
        // One subtract and its borrow: the count was zero when it borrows.
        let (left, due) = self.left.overflowing_sub(1);
        self.left = left;
        if due {
            // Out of line: the re-pin due, or the reader unpinned.
            return self.enter_fast_due();
        }
        debug_assert!(self.guard.is_some());
        // SAFETY: `left` is nonzero only while the reader is pinned: set so only by `enter`
        // and `enter_fast_due`, which pin first, and zeroed by `quiesce`, which unpins.
        let guard = unsafe { self.guard.as_ref().unwrap_unchecked() };
        Some(Pin { guard })
    }

    /// [`ReaderPin::enter_fast`] with no fast-path lookups left: re-pins and counts this lookup
    /// as the first of the next [`REPIN`], or `None` when the reader is unpinned.
    #[cold]
    #[inline(never)]
    fn enter_fast_due(&mut self) -> Option<Pin<'_>> {
        self.left = 0;
        self.guard.as_ref()?;
        self.repin();
        self.left = REPIN - 1;
        self.guard.as_ref().map(|guard| Pin { guard })
    }

    /// The pin the reader holds, if pinned, without counting a lookup: for a lookup that
    /// [`ReaderPin::enter_fast`] counted already.
    #[inline(always)]
    pub(super) fn current(&mut self) -> Option<Pin<'_>> {
        self.guard.as_ref().map(|guard| Pin { guard })
    }

    /// Moves the local epoch forward (if pinned); the callers restart the count. Out of line:
    /// it is due once per [`REPIN`] lookups.
    #[cold]
    #[inline(never)]
    fn repin(&mut self) {
        if let Some(guard) = &mut self.guard {
            guard.repin();
            // Re-pinning reads the collector's epoch with a relaxed load. Made an acquire here
            // (free where loads are ordered), a reader whose new epoch is past a block's
            // retirement also sees the layout version bumped before it, so it never keeps
            // using that block (see `BlockRef`).
            fence(Ordering::Acquire);
        }
    }

    /// Unpins, so an idle worker does not hold back reclamation.
    pub(super) fn quiesce(&mut self) {
        self.left = 0;
        self.guard = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks

/// The first line of a block: its geometry, written before the block is published and never
/// after.
#[repr(C, align(64))]
struct Head {
    /// What a lookup reads.
    geo: Geo,
    /// Slots (a multiple of [`GROUP`]).
    cap: usize,
    // The second line: the writer's.
    /// First line of the MFE ids (one `u32` per slot).
    ids_base: usize,
    /// First line of the wrong-interface words.
    wrong_base: usize,
    /// Lines of wrong-interface words per worker.
    wrong_lines: usize,
    /// The allocation.
    size: usize,
    align: usize,
}

/// Lines the head takes.
const HEAD_LINES: usize = std::mem::size_of::<Head>() / LINE;

/// A view of a block, by its head, valid for `'a`. Readers reach it through [`Table::block`]
/// under a pin. Words are reached from the allocation's own pointer, never through a
/// reference to the head.
#[derive(Clone, Copy)]
pub(super) struct Block<'a> {
    head: NonNull<Head>,
    /// The head's geometry, copied once: the compiler may not keep fields read through a
    /// reference across the slot's atomic loads, but it keeps these locals in registers.
    geo: Geo,
    _life: PhantomData<&'a Head>,
}

/// What a lookup needs of a block's geometry, in lines from the block's start.
#[derive(Clone, Copy)]
struct Geo {
    /// Groups (`cap / GROUP`).
    groups: usize,
    /// First line of the groups' tag words (one word per group, and a spare one after the
    /// last group's, all removed lanes, never written after the block is made).
    tags_base: usize,
    /// First line of the slots of the copy this view reads (worker 0's in a block's head).
    groups_base: usize,
    /// Lines of one copy of the slots (`cap * slot_lines`).
    copy_lines: usize,
    /// Lines per slot.
    slot_lines: usize,
    /// Workers with a copy of the slots.
    workers: usize,
}

impl<'a> Block<'a> {
    /// The view of the block whose head is `head`.
    ///
    /// # Safety
    /// `head` is the head of a live block (from [`Block::new`]) that stays allocated for `'a`.
    #[inline(always)]
    unsafe fn at(head: NonNull<Head>) -> Block<'a> {
        // SAFETY: the caller's contract; the head is written before the block is shared and
        // never after.
        let h = unsafe { head.as_ref() };
        Block {
            head,
            geo: h.geo,
            _life: PhantomData,
        }
    }

    /// A zeroed block of `cap` slots (rounded up to a group) for family `A`, with a copy of
    /// the slots for each of `workers` workers.
    fn new<A: Family>(cap: usize, workers: usize) -> Block<'a> {
        let lay = layout::<A>();
        let cap = cap.max(MIN_SLOTS).div_ceil(GROUP) * GROUP;
        let groups = cap / GROUP;
        let tags_base = HEAD_LINES;
        // One tag word more than there are groups, all removed lanes (none matches a tag, none
        // is empty), set below and never written again: the fast path reads the word after the
        // home group's whatever the group, and for the last group, whose next one is the
        // first, that word says neither "here" nor "absent".
        let groups_base = tags_base + (groups + 1).div_ceil(LINE_WORDS);
        let copy_lines = cap * lay.lines;
        let ids_base = groups_base + workers * copy_lines;
        let wrong_lines = cap.div_ceil(LINE_WORDS);
        let wrong_base = ids_base + cap.div_ceil(LINE / 4);
        let lines = wrong_base + workers * wrong_lines;
        let mut size = lines * LINE;
        let mut align = LINE;
        if size >= HUGE_FROM && !cfg!(miri) {
            align = HUGE_PAGE;
            size = size.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        }
        let Ok(al) = AllocLayout::from_size_align(size, align) else {
            alloc::handle_alloc_error(AllocLayout::new::<Head>());
        };
        // SAFETY: `al` has a non-zero size (at least two lines).
        let p = unsafe { alloc::alloc(al) };
        let Some(base) = NonNull::new(p) else {
            alloc::handle_alloc_error(al);
        };
        if align == HUGE_PAGE {
            advise_huge(p, size);
        }
        // SAFETY: `p` is a fresh allocation of `size` bytes; zero bytes are valid `AtomicU64`s
        // and a valid `Head` before it is written below. Zeroing it after the advice is what
        // first touches the pages, so they can come as huge pages.
        unsafe { std::ptr::write_bytes(p, 0, size) };
        let head = base.cast::<Head>();
        // SAFETY: the allocation starts with `HEAD_LINES` lines for the head, aligned to 64.
        unsafe {
            head.as_ptr().write(Head {
                geo: Geo {
                    groups,
                    tags_base,
                    groups_base,
                    copy_lines,
                    slot_lines: lay.lines,
                    workers,
                },
                cap,
                ids_base,
                wrong_base,
                wrong_lines,
                size,
                align,
            });
        }
        // SAFETY: the block was just made; the caller owns it.
        let b = unsafe { Block::at(head) };
        b.tags(groups).store(T_TOMB * LANE_LO, Ordering::Relaxed);
        b
    }

    #[inline(always)]
    fn head(&self) -> &'a Head {
        // SAFETY: the head is written before the block is shared and never after; the block
        // lives for `'a`.
        unsafe { self.head.as_ref() }
    }

    /// Word `w` of line `line`.
    #[inline(always)]
    fn word(&self, line: usize, w: usize) -> &'a AtomicU64 {
        // SAFETY: every caller passes a line below the block's line count (a tag line, a slot's
        // lines in the copy of a worker below `workers`, a wrong-interface line of such a
        // worker, for a slot below `cap`), and `w < LINE_WORDS`; the words past the head are
        // zero-initialised `AtomicU64`s.
        unsafe {
            &*self
                .head
                .as_ptr()
                .cast::<AtomicU64>()
                .add(line * LINE_WORDS + w)
        }
    }

    /// The first line of slot `i`.
    #[inline(always)]
    fn slot_line(&self, i: usize) -> usize {
        self.geo.groups_base + i * self.geo.slot_lines
    }

    /// The tag word of group `g`: four 16-bit lanes, one per slot of the group, each
    /// [`T_EMPTY`], [`T_TOMB`] or the tag of the live key in that slot.
    #[inline(always)]
    fn tags(&self, g: usize) -> &'a AtomicU64 {
        self.word(self.geo.tags_base + g / LINE_WORDS, g % LINE_WORDS)
    }

    /// Writer: sets lane `i % GROUP` of slot `i`'s tag word to `tag`, publishing (`Release`)
    /// what was written to the slot before.
    fn set_tag(&self, i: usize, tag: u64) {
        let t = self.tags(i / GROUP);
        let shift = 16 * (i % GROUP);
        let w = t.load(Ordering::Relaxed) & !(0xffff << shift) | (tag << shift);
        t.store(w, Ordering::Release);
    }

    /// Word `j` of slot `i` (IPv6 slots span two lines).
    #[inline(always)]
    fn slot_word(&self, i: usize, j: usize) -> &'a AtomicU64 {
        self.word(self.slot_line(i) + j / LINE_WORDS, j % LINE_WORDS)
    }

    /// The header lock of slot `i`.
    #[inline(always)]
    fn lock(&self, i: usize) -> &'a SeqLock {
        SeqLock::at(self.word(self.slot_line(i), 0))
    }

    /// The view of worker `worker`'s copy of the slots (`worker < workers`), from the block's
    /// own view (worker 0's: [`Table::block`], a kept block), never from a copy's view. A
    /// reader without a copy reads worker 0's and counts nothing, see [`Block::copy_for`].
    #[inline(always)]
    fn copy(self, worker: usize) -> Block<'a> {
        let mut b = self;
        b.geo.groups_base += worker * b.geo.copy_lines;
        b
    }

    /// The copy a reader of worker slot `worker` reads: its own, or worker 0's (read only)
    /// for a reader the block has no copy for.
    #[inline(always)]
    fn copy_for(self, worker: usize) -> Block<'a> {
        if worker < self.geo.workers {
            self.copy(worker)
        } else {
            self
        }
    }

    /// The packet and byte counts of slot `i` in the copy this view reads.
    #[inline(always)]
    fn counts<A: Family>(&self, i: usize) -> (&'a AtomicU64, &'a AtomicU64) {
        let w = count_word::<A>();
        (self.slot_word(i, w), self.slot_word(i, w + 1))
    }

    /// The writer's id of the MFE in slot `i` (the writer's own words: readers never read
    /// them).
    fn id(&self, i: usize) -> &'a AtomicU32 {
        let h = self.head();
        // SAFETY: the ids region holds one `u32` per slot below `cap` (see `Block::new`),
        // zero-initialised, 4-aligned inside a 64-aligned line; `i < cap` for every caller.
        unsafe {
            &*self
                .head
                .as_ptr()
                .cast::<u8>()
                .add(h.ids_base * LINE + i * 4)
                .cast::<AtomicU32>()
        }
    }

    /// `worker`'s wrong-interface count of slot `i`. `worker < workers`.
    #[inline(always)]
    fn wrong(&self, i: usize, worker: usize) -> &'a AtomicU64 {
        let h = self.head();
        let line = h.wrong_base + worker * h.wrong_lines + i / LINE_WORDS;
        self.word(line, i % LINE_WORDS)
    }

    /// Slot `i`'s counts summed over workers: packets, bytes, wrong-interface arrivals.
    fn sums<A: Family>(&self, i: usize) -> (u64, u64, u64) {
        let mut s = (0u64, 0u64, 0u64);
        for w in 0..self.geo.workers {
            let (p, b) = self.copy(w).counts::<A>(i);
            s.0 = s.0.saturating_add(p.load(Ordering::Relaxed));
            s.1 = s.1.saturating_add(b.load(Ordering::Relaxed));
            s.2 = s.2.saturating_add(self.wrong(i, w).load(Ordering::Relaxed));
        }
        s
    }

    /// Frees the block's memory (not the spilled lists its slots point at).
    ///
    /// # Safety
    /// No one may use the block afterwards, and it is freed once.
    unsafe fn free(self) {
        let h = self.head();
        // SAFETY: the layout the block was allocated with (checked then).
        let al = unsafe { AllocLayout::from_size_align_unchecked(h.size, h.align) };
        // SAFETY: allocated by `Block::new` with `al`; the caller guarantees no further use.
        unsafe { alloc::dealloc(self.head.as_ptr().cast(), al) };
    }
}

/// Where a table's block is and its lookup geometry: what a reader keeps between lookups,
/// so a lookup goes from the arrival interface straight to the block, without reaching
/// through the directory, the shard and the table.
///
/// A copy stays usable for as long as the store's layout version (bumped after every block
/// swap and every directory change, before anything is retired) reads the same, under the
/// reader's current pin, as when the copy was taken: a reader that reads the old version may
/// still use the replaced block, and the collector frees it only after that reader's pin
/// moves on. The reader also holds the directory snapshot the copy came from, so the table
/// (and its current block) is not dropped under it.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct BlockRef {
    head: NonNull<Head>,
    geo: Geo,
}

impl BlockRef {
    /// The block, for as long as `pin` lasts.
    ///
    /// # Safety
    /// The copy was taken from its table under `pin`, or under an earlier pin of the same
    /// reader with the store's layout version unchanged since, as read under `pin`; and the
    /// reader still holds the directory snapshot the table was reached through.
    #[inline(always)]
    unsafe fn enter<'a>(self, _pin: Pin<'a>) -> Block<'a> {
        Block {
            head: self.head,
            geo: self.geo,
            _life: PhantomData,
        }
    }
}

/// What keeps a reader's tables alive (its directory snapshot), and lists them by the
/// interface index they are reached by directly.
pub(super) trait Tables<A> {
    /// The table at each direct index, or `None` where there is none.
    fn direct<'a>(&'a self) -> impl Iterator<Item = Option<&'a Table<A>>>
    where
        A: 'a;

    /// The store's incoming-interface index.
    fn index(&self) -> &Index;
}

/// A reader's copies of the blocks of the tables it reaches directly, and the snapshot `H`
/// that keeps those tables alive, taken again whenever the store's layout version moves.
pub(super) struct Kept<H> {
    version: Arc<AtomicU64>,
    /// The version the copies were taken at (`u64::MAX`: none taken yet).
    seen: u64,
    holder: H,
    blocks: Vec<Option<BlockRef>>,
    /// The same blocks as the fast path of a hit reads them (see [`Kept::hit_fast`]); `None`
    /// also for a block without a copy for the reader.
    fast: Vec<Option<Fast>>,
    /// The incoming-interface index's block, under the same rule as the blocks (`None`: none
    /// taken yet).
    index: Option<IndexRef>,
    /// The reader's worker slot, whose copy of the slots `fast` points at.
    worker: usize,
}

/// A kept block as the fast path of a hit reads it: absolute places, so a hit does no
/// geometry arithmetic, and the reader's own copy of the slots.
#[derive(Clone, Copy)]
struct Fast {
    tags: NonNull<AtomicU64>,
    /// The reader's copy of the slots.
    slots: NonNull<AtomicU64>,
    /// The reader's wrong-interface words.
    wrong: NonNull<AtomicU64>,
    groups: usize,
}

impl Fast {
    /// The fast path's places in the block of `b`, for `worker`; `None` when the block has
    /// no copy for the worker (its lookups then take the full path, which knows).
    fn of(b: &BlockRef, worker: usize) -> Option<Fast> {
        if worker >= b.geo.workers {
            return None;
        }
        let base = b.head.cast::<AtomicU64>();
        let g = &b.geo;
        // SAFETY: the head is written before the block is shared and never after, and the
        // caller holds the pin the copy `b` was taken under (`Kept::refresh`).
        let h = unsafe { b.head.as_ref() };
        // SAFETY: each offset is the first word of a region of the block (tag words, the
        // worker's copy of the slots, its wrong-interface words), inside its allocation (see
        // `Block::new`).
        unsafe {
            Some(Fast {
                tags: base.add(g.tags_base * LINE_WORDS),
                slots: base.add((g.groups_base + worker * g.copy_lines) * LINE_WORDS),
                wrong: base.add((h.wrong_base + worker * h.wrong_lines) * LINE_WORDS),
                groups: g.groups,
            })
        }
    }
}

/// [`Kept`] checked against the layout version under a pin: its blocks are usable for as
/// long as the pin lasts.
pub(super) struct KeptView<'a, H> {
    holder: &'a H,
    blocks: &'a [Option<BlockRef>],
    fast: &'a [Option<Fast>],
    index: Option<IndexRef>,
    pin: Pin<'a>,
}

impl<H> Clone for KeptView<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for KeptView<'_, H> {}

impl<H> Kept<H> {
    /// No copies yet, `holder` as the snapshot; `version` is the store's layout version.
    pub(super) fn new(version: Arc<AtomicU64>, holder: H, worker: usize) -> Self {
        Kept {
            version,
            seen: u64::MAX,
            holder,
            blocks: Vec::new(),
            fast: Vec::new(),
            index: None,
            worker,
        }
    }

    /// Reads the layout version under `pin` and, if it moved since the copies were taken,
    /// takes a new snapshot from `fresh` and copies its blocks again.
    #[inline(always)]
    pub(super) fn view<'a, A: Family>(
        &'a mut self,
        pin: Pin<'a>,
        fresh: impl FnOnce() -> H,
    ) -> KeptView<'a, H>
    where
        H: Tables<A>,
    {
        let version = self.version.load(Ordering::Acquire);
        if version != self.seen {
            self.refresh(pin, fresh(), version);
        }
        KeptView {
            holder: &self.holder,
            blocks: &self.blocks,
            fast: &self.fast,
            index: self.index,
            pin,
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh<A: Family>(&mut self, pin: Pin<'_>, holder: H, version: u64)
    where
        H: Tables<A>,
    {
        self.blocks.clear();
        self.blocks
            .extend(holder.direct().map(|t| t.map(|t| t.current(pin))));
        let worker = self.worker;
        self.fast.clear();
        self.fast.extend(
            self.blocks
                .iter()
                .map(|b| b.as_ref().and_then(|b| Fast::of(b, worker))),
        );
        self.index = Some(holder.index().current(pin));
        // The old snapshot goes only now, when no copy taken from it is left.
        self.holder = holder;
        self.seen = version;
    }

    /// Drops the copies and takes `holder` as the snapshot; the next [`Kept::view`] copies
    /// again.
    pub(super) fn forget(&mut self, holder: H) {
        self.blocks.clear();
        self.fast.clear();
        self.index = None;
        self.holder = holder;
        self.seen = u64::MAX;
    }

    /// The fast path of a hit on the block kept for direct index `i`: the common case only,
    /// `None` for everything else, with nothing counted then, so the caller takes the full
    /// path ([`Kept::view`], [`Block::get`]) that decides every case. Taken here: the layout
    /// version unchanged, then as [`FastBlock::hit`]. [`ABSENT`] when the key is surely not in
    /// the block (no match in a home group with an empty slot), or there is no block: the
    /// caller looks for it elsewhere without probing this block again.
    #[inline(always)]
    pub(super) fn hit_fast<A: Family>(
        &self,
        pin: Pin<'_>,
        i: usize,
        key: &KeyWords,
        hash: u64,
        bytes: u32,
        buf: &mut [IfKey<A>; MAX_INLINE],
    ) -> Option<usize> {
        let Some(f) = self.fast_at(pin, i)? else {
            // No block, or one without this reader's copy (the full path's).
            return match self.blocks.get(i) {
                Some(Some(_)) => None,
                _ => Some(ABSENT),
            };
        };
        f.prefetch::<A>(hash);
        let mut why = Short::Other;
        short_answer(f.hit::<A>(key, hash, bytes, buf, &mut why), why)
    }

    /// [`Kept::hit_fast`] for a key it gave [`NEXT_GROUP`] for: the key in the groups after its
    /// home group, as [`FastBlock::hit_next`]; [`ABSENT`] when the key is surely not in the block, `None`
    /// for everything else, with nothing counted.
    #[inline(always)]
    pub(super) fn hit_next<A: Family>(
        &self,
        pin: Pin<'_>,
        i: usize,
        key: &KeyWords,
        hash: u64,
        bytes: u32,
        buf: &mut [IfKey<A>; MAX_INLINE],
    ) -> Option<usize> {
        let f = self.fast_at(pin, i)??;
        let mut why = Short::Other;
        short_answer(f.hit_next::<A>(key, hash, bytes, buf, &mut why), why)
    }

    /// The fast-path block at direct index `i` under `pin`: `None` when the layout version
    /// moved since the copies were taken (the full path refreshes them), `Some(None)` when
    /// the index has no fast-path block.
    #[inline(always)]
    fn fast_at<'p>(&self, pin: Pin<'p>, i: usize) -> Option<Option<FastBlock<'p>>> {
        if self.version.load(Ordering::Acquire) != self.seen {
            return None;
        }
        Some(
            self.fast
                .get(i)
                .copied()
                .flatten()
                .map(|f| FastBlock { f, _pin: pin }),
        )
    }
}

/// A short-path probe's result as [`Kept::hit_fast`] gives it: a hit, [`ABSENT`],
/// [`NEXT_GROUP`], or `None` for the full path.
#[inline(always)]
fn short_answer(hit: Option<usize>, why: Short) -> Option<usize> {
    match (hit, why) {
        (None, Short::Absent) => Some(ABSENT),
        (None, Short::Next) => Some(NEXT_GROUP),
        (hit, _) => hit,
    }
}

/// Why [`FastBlock::hit`] gave no hit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Short {
    /// The key is not in the block.
    Absent,
    /// Neither the home group nor the next holds a match, and neither has an empty slot (for
    /// the last group, whose next is read as the spare word, the home group is full): the key
    /// may be further on.
    Next,
    /// Anything else: the full path decides.
    Other,
}

/// A kept block's fast-path places checked against the layout version under a pin: usable
/// for as long as the pin lasts.
#[derive(Clone, Copy)]
pub(super) struct FastBlock<'a> {
    f: Fast,
    _pin: Pin<'a>,
}

impl<'a> FastBlock<'a> {
    /// `f`, taken at the layout version just read under `pin` (the callers' duty: the two
    /// constructors, [`Kept::hit_fast`] and [`KeptView::fast`], check it first).
    #[inline(always)]
    fn checked(f: Option<Fast>, pin: Pin<'a>) -> Option<Self> {
        Some(FastBlock { f: f?, _pin: pin })
    }

    /// Word `w` of the region starting at `p`.
    #[inline(always)]
    fn at(self, p: NonNull<AtomicU64>, w: usize) -> &'a AtomicU64 {
        // SAFETY: the copy was taken under a pin of this reader at the layout version read
        // under `_pin` (see `checked`), so the block is still allocated (see `BlockRef`); the
        // callers' `w` are inside the region: a tag word of a group up to `groups` (the spare
        // word after the last group's, which matches no tag, so the slots a match in the
        // word after the home group's names are below `groups * GROUP`), a word of a slot
        // below `groups * GROUP` in the worker's copy, the worker's wrong-interface word of
        // such a slot.
        unsafe { &*p.as_ptr().add(w) }
    }

    /// Starts loading what a hit of `hash` in its home group touches besides the tag word:
    /// every slot of the group in the reader's copy (where the hit is counted too), so the
    /// slot the tag word names is on its way whichever it is (see [`prefetch_group`]).
    #[inline(always)]
    pub(super) fn prefetch<A: Family>(self, hash: u64) {
        let f = self.f;
        let g = start(hash, f.groups);
        prefetch_group::<A>(self.at(f.slots, g * GROUP * layout::<A>().lines * LINE_WORDS));
    }

    /// Starts loading the line of the home group's tag word of `hash`, and nothing else: the
    /// first stage of a burst's two ([`FastBlock::prefetch_named`] is the second).
    #[inline(always)]
    pub(super) fn prefetch_tags(self, hash: u64) {
        prefetch_line(self.at(self.f.tags, start(hash, self.f.groups)));
    }

    /// Starts loading the slot that the first lane with `hash`'s tag names in its home group
    /// or the next one, if any lane has it: the second stage of a burst, once the tag words'
    /// line is in (see [`FastBlock::prefetch_tags`]). One slot's lines instead of the whole
    /// group's, so a burst, whose misses overlap anyway, moves a quarter of the slot lines.
    /// The tag words are read as a hint only: the probe that follows reads them again.
    #[inline(always)]
    pub(super) fn prefetch_named<A: Family>(self, hash: u64) {
        let f = self.f;
        let g = start(hash, f.groups);
        let t = self.at(f.tags, g).load(Ordering::Relaxed);
        // The spare word after the last group's, for the last group (as in `hit`).
        let next = self.at(f.tags, g + 1).load(Ordering::Relaxed);
        if let Some(lane) = first_lane_of_two(t, next, tag_of(hash)) {
            let lines = layout::<A>().lines;
            prefetch_lines(
                self.at(f.slots, (g * GROUP + lane) * lines * LINE_WORDS),
                lines,
            );
        }
    }

    /// As [`FastBlock::prefetch`], and the home group's tag word too: for a key looked up a
    /// few keys later.
    #[inline(always)]
    pub(super) fn prefetch_all<A: Family>(self, hash: u64) {
        self.prefetch_tags(hash);
        self.prefetch::<A>(hash);
    }

    /// The common hit: the key in the first slot whose tag matches in its home group or the
    /// group after it; that slot stable (not mid-rewrite) and its list inline. Then the list is
    /// copied into `buf`, the hit counted in the slot (the reader's copy), and the list's
    /// length returned. `None` for everything else, with nothing counted, and `why` set to
    /// [`Short::Absent`] when neither group has a tag match and either has an empty slot (the
    /// key is not in the block), to [`Short::Next`] when neither has a match nor an empty slot
    /// (the key may be further on; [`FastBlock::hit_next`] looks there).
    ///
    /// The same reads and the same checks as the full path, in fewer instructions: no
    /// geometry arithmetic, no loop, no retry. That is what lets the processor overlap the
    /// cache misses of several lookups in a row. The groups after the next are left to the
    /// caller, out of line: a loop inline made the common case slower than the full path it
    /// saves.
    #[inline(always)]
    pub(super) fn hit<A: Family>(
        self,
        key: &KeyWords,
        hash: u64,
        bytes: u32,
        buf: &mut [IfKey<A>; MAX_INLINE],
        why: &mut Short,
    ) -> Option<usize> {
        let g = start(hash, self.f.groups);
        let t = self.at(self.f.tags, g).load(Ordering::Acquire);
        // The next group's word too (the block's spare word after the last group's): a key
        // whose home group was full sits there mostly, and a match there is a hit like any
        // other (a live key is in one slot only), found without a branch taken one key in ten.
        let next = self.at(self.f.tags, g + 1).load(Ordering::Acquire);
        let Some(lane) = first_lane_of_two(t, next, tag_of(hash)) else {
            // A probe ends at the first group with an empty slot, so an empty lane in either
            // word says the key is absent (for the last group, `next` is the spare word, whose
            // lanes are never empty: the first group, after it, is `hit_next`'s).
            *why = if has_empty(t) || has_empty(next) {
                Short::Absent
            } else {
                Short::Next
            };
            return None;
        };
        // Lanes 4..8 are the next group's slots, which follow the home group's.
        self.take::<A>(key, g, lane, bytes, buf)
    }

    /// As [`FastBlock::hit`], in the groups after the key's home group (for a key whose full
    /// home group holds no match): group by group to the first one whose tag lanes match,
    /// which is [`FastBlock::hit`]'s from there, or to the first one with an empty slot, which
    /// sets `why` to [`Short::Absent`] (the key is not in the block); else `why` is
    /// [`Short::Other`]. Only tag words are read on the way, so a key absent from the block
    /// (a miss, a wrong-interface arrival) costs a tag word per group and no slot.
    #[inline(always)]
    pub(super) fn hit_next<A: Family>(
        self,
        key: &KeyWords,
        hash: u64,
        bytes: u32,
        buf: &mut [IfKey<A>; MAX_INLINE],
        why: &mut Short,
    ) -> Option<usize> {
        *why = Short::Other;
        let groups = self.f.groups;
        let tag = tag_of(hash);
        let mut g = start(hash, groups);
        for _ in 1..groups {
            g += 1;
            if g == groups {
                g = 0;
            }
            let t = self.at(self.f.tags, g).load(Ordering::Acquire);
            if let Some(lane) = first_lane(t, tag) {
                return self.take::<A>(key, g, lane, bytes, buf);
            }
            // As in `find`: a group with an empty slot ends the probe.
            if has_empty(t) {
                *why = Short::Absent;
                return None;
            }
        }
        None
    }

    /// For a wrong-interface verdict: true when the block holds `key` live (`hash` is
    /// [`hash_key`] of it), and then the arrival is counted on the reader's wrong-interface
    /// word of its slot. The probe of [`Block::holding`], from the kept places: no geometry,
    /// no OIF list read.
    #[inline(always)]
    pub(super) fn count_if_held<A: Family>(self, key: &KeyWords, hash: u64) -> bool {
        let f = self.f;
        let slot_words = layout::<A>().lines * LINE_WORDS;
        let tags = |g: usize| self.at(f.tags, g);
        let held = find_slot(tags, f.groups, start(hash, f.groups), hash, |i| {
            holds_live::<A>(|j| self.at(f.slots, i * slot_words + j), key).then_some(i)
        });
        match held {
            Some(i) => {
                bump(self.at(f.wrong, i), 1);
                true
            }
            None => false,
        }
    }

    /// The rest of a hit in group `g`, whose lane `lane` is the first with the key's tag: that
    /// slot read under its sequence lock, the list copied into `buf` and the hit counted, as
    /// [`FastBlock::hit`] says (another slot of the group with the same tag is the full
    /// path's).
    #[inline(always)]
    fn take<A: Family>(
        self,
        key: &KeyWords,
        g: usize,
        lane: usize,
        bytes: u32,
        buf: &mut [IfKey<A>; MAX_INLINE],
    ) -> Option<usize> {
        let f = self.f;
        let lay = layout::<A>();
        let slot_words = lay.lines * LINE_WORDS;
        let s = (g * GROUP + lane) * slot_words;
        let lock = SeqLock::at(self.at(f.slots, s));
        // Stable, live, and with an inline list (a length below 8: the longest inline list
        // is 4, a spilled one's length field is `SPILLED`), all in one mask and compare.
        let h1 = lock.try_read_begin_if(FAST_MASK, header(0, LIVE, 0))?;
        let len = len_of(h1);
        let word = |j: usize| self.at(f.slots, s + j);
        if !holds_key::<A>(word, key) {
            return None;
        }
        copy_inline(word, buf);
        if !lock.read_valid(h1) {
            return None;
        }
        let c = s + count_word::<A>();
        bump(self.at(f.slots, c), 1);
        bump(self.at(f.slots, c + 1), u64::from(bytes));
        Some((len as usize).min(lay.inline))
    }
}

impl<'a, H> KeptView<'a, H> {
    /// The fast-path places of the block at direct index `i`, if there is one.
    #[inline(always)]
    pub(super) fn fast(&self, i: usize) -> Option<FastBlock<'a>> {
        // The view was made at the layout version read under `pin` (`Kept::view`).
        FastBlock::checked(*self.fast.get(i)?, self.pin)
    }

    /// The snapshot.
    #[inline(always)]
    pub(super) fn holder(&self) -> &'a H {
        self.holder
    }

    /// The pin the view was checked under.
    #[inline(always)]
    pub(super) fn pin(&self) -> Pin<'a> {
        self.pin
    }

    /// Offers `each` the shard number of every index entry that may be `hash`'s key, in probe
    /// order, until it returns something (see `index.rs`); `None` without an index copy,
    /// which a view made by [`Kept::view`] always has.
    #[inline]
    pub(super) fn shards_of<R>(
        &self,
        hash: u64,
        each: impl FnMut(u32) -> Option<R>,
    ) -> Option<Option<R>> {
        let ix = self.index?;
        // SAFETY: the copy was taken with the blocks (`Kept::refresh`), at the layout version
        // read under `pin` when this view was made.
        Some(unsafe { ix.probe(self.pin, hash, each) })
    }

    /// The block of the table at direct index `i`, if there is one.
    #[inline(always)]
    pub(super) fn block(&self, i: usize) -> Option<Block<'a>> {
        let b = (*self.blocks.get(i)?)?;
        // SAFETY: the copies were taken from `holder`'s tables under a pin of this reader,
        // at the layout version read under `pin` when this view was made (`Kept::view`), and
        // the view borrows `holder` for `'a`.
        Some(unsafe { b.enter(self.pin) })
    }
}

impl<'a> Block<'a> {
    /// The MFE for `key` (`hash` is [`hash_key`] of it) in the copy of worker slot `worker`
    /// ([`Block::copy_for`]): where it is, and its OIF list, copied into `buf` when it is
    /// inline. Starts loading the home group's slots together with its tag word, since a hit
    /// mostly sits there.
    ///
    /// **Progress:** no lock; see [`Table`].
    #[inline(always)]
    pub(super) fn get<A: Family>(
        self,
        key: &KeyWords,
        hash: u64,
        worker: usize,
        buf: &mut [IfKey<A>; MAX_INLINE],
    ) -> Option<Hit<'a, A>> {
        let b = self.copy_for(worker);
        let g = start(hash, b.geo.groups);
        b.prefetch_hit::<A>(g);
        find::<A>(b, g, key, hash, buf)
    }

    /// As [`Block::get`], without starting any load ahead: for a burst, whose keys were
    /// prefetched already ([`Block::prefetch`]), and for the shards a miss or a
    /// wrong-interface arrival looks through, where the key is mostly absent and the probe
    /// mostly ends at the tag word.
    #[inline]
    pub(super) fn get_cold<A: Family>(
        self,
        key: &KeyWords,
        hash: u64,
        worker: usize,
        buf: &mut [IfKey<A>; MAX_INLINE],
    ) -> Option<Hit<'a, A>> {
        let b = self.copy_for(worker);
        let g = start(hash, b.geo.groups);
        find::<A>(b, g, key, hash, buf)
    }

    /// Where the block holds `key` live (`hash` is [`hash_key`] of it), for a wrong-interface
    /// verdict: the probe of [`Block::get_cold`] in the copy of worker slot `worker`, with
    /// each candidate's key and state read under its sequence lock and no OIF list read or
    /// copied.
    #[inline]
    pub(super) fn holding<A: Family>(
        self,
        key: &KeyWords,
        hash: u64,
        worker: usize,
    ) -> Option<Held<'a>> {
        let b = self.copy_for(worker);
        let g = start(hash, b.geo.groups);
        find_slot(
            |g| b.tags(g),
            b.geo.groups,
            g,
            hash,
            |i| holds_live::<A>(|j| b.slot_word(i, j), key).then_some(Held { block: b, slot: i }),
        )
    }

    /// Starts loading the tag word of the home group of `hash` and the group's slots in the
    /// copy of worker slot `worker`, so a burst can overlap the cache misses of many keys
    /// before it probes them.
    #[inline]
    pub(super) fn prefetch<A: Family>(self, hash: u64, worker: usize) {
        let b = self.copy_for(worker);
        let g = start(hash, b.geo.groups);
        prefetch_line(b.tags(g));
        b.prefetch_hit::<A>(g);
    }

    /// Starts loading what a hit in home group `g` touches besides the tag word: the group's
    /// slots (in the copy this view reads), as [`FastBlock::prefetch`].
    #[inline(always)]
    fn prefetch_hit<A: Family>(self, g: usize) {
        prefetch_group::<A>(self.slot_word(g * GROUP, 0));
    }
}

impl<A: Family> Hit<'_, A> {
    /// Counts a packet of `bytes` that matched on its incoming interface, in the slot of the
    /// copy it was found in: a plain load and store per counter, since only `worker` writes
    /// them. Nothing for a reader the block has no copy for (it read worker 0's).
    #[inline(always)]
    pub(super) fn count(&self, worker: usize, bytes: u32) {
        if worker < self.block.geo.workers {
            let (p, b) = self.block.counts::<A>(self.slot);
            bump(p, 1);
            bump(b, u64::from(bytes));
        }
    }
}

/// Where an MFE is, without its OIF list: what a wrong-interface verdict counts on.
pub(super) struct Held<'a> {
    block: Block<'a>,
    slot: usize,
}

impl Held<'_> {
    /// Counts an arrival on another interface than the MFE's incoming one.
    #[inline(always)]
    pub(super) fn count_wrong_if(&self, worker: usize) {
        if worker < self.block.geo.workers {
            bump(self.block.wrong(self.slot, worker), 1);
        }
    }
}

/// Asks the kernel for transparent huge pages over `[p, p + len)` (2 MiB aligned). A hint:
/// where the kernel offers none (`enabled = never`, or not Linux), nothing changes.
fn advise_huge(p: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        extern "C" {
            fn madvise(
                addr: *mut std::ffi::c_void,
                len: usize,
                advice: std::ffi::c_int,
            ) -> std::ffi::c_int;
        }
        /// `MADV_HUGEPAGE` on every Linux architecture.
        const MADV_HUGEPAGE: std::ffi::c_int = 14;
        // SAFETY: `[p, p + len)` is one allocation of ours, page aligned; the advice changes
        // how it is backed, never its contents or its validity. A failure is ignored.
        unsafe { madvise(p.cast(), len, MADV_HUGEPAGE) };
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    let _ = (p, len);
}

/// A retired block on its way to the collector, which may free it on another thread.
struct SendBlock(NonNull<Head>);

// SAFETY: a block is plain memory of atomics; it is moved to be freed, once.
unsafe impl Send for SendBlock {}

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

/// A hit: where the MFE is (for its counters) and its OIF list.
pub(super) struct Hit<'a, A> {
    block: Block<'a>,
    slot: usize,
    pub(super) list: List<'a, A>,
}

/// Where a writer's probe for a key ended.
enum Probe {
    /// The key is in slot `.0`.
    Found(usize),
    /// The key is absent; `.0` is the empty slot an insert uses (tombstones are not reused).
    Absent(usize),
}

// ---------------------------------------------------------------------------------------------
// The writer's books

/// Per-MFE figures only the writer keeps, by the MFE's id: what the per-OIF and negative
/// counts are derived from, and the counts carried over from blocks the MFE has left.
#[derive(Default)]
struct Books {
    /// Packets, bytes and wrong-interface arrivals counted in earlier blocks.
    carried: (u64, u64, u64),
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
    /// Ids of removed MFEs, for the next inserts (readers never see ids).
    free_ids: Vec<u32>,
    /// By MFE id.
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
    /// The current block's head; never null. Replaced blocks are freed through the epoch
    /// collector, the current one by `Drop`.
    block: AtomicPtr<Head>,
    /// Workers with a copy of the slots in the blocks made from now on (the writer's; readers
    /// read a block's own count from its head).
    workers: AtomicUsize,
    /// The store's layout version, bumped after every block swap (see [`BlockRef`]).
    version: Arc<AtomicU64>,
    /// On its own cache line: every writer call locks it, and readers read `block` on every
    /// lookup.
    writer: CachePadded<Mutex<WriterState>>,
    _family: PhantomData<A>,
}

impl<A: Family> Table<A> {
    /// An empty table whose MFEs have counters for `workers` workers; it bumps `version`
    /// after each block swap.
    pub(super) fn new(workers: u16, version: Arc<AtomicU64>) -> Self {
        let workers = usize::from(workers.max(1));
        Table {
            block: AtomicPtr::new(Block::new::<A>(MIN_SLOTS, workers).head.as_ptr()),
            workers: AtomicUsize::new(workers),
            version,
            writer: CachePadded::new(Mutex::new(WriterState {
                live: 0,
                tombstones: 0,
                free_ids: Vec::new(),
                books: Vec::new(),
            })),
            _family: PhantomData,
        }
    }

    /// The current block, for as long as the guard lasts (a reader's pin, or the writer's own
    /// guard).
    #[inline(always)]
    fn block<'a>(&'a self, _guard: &'a Guard) -> Block<'a> {
        let p = self.block.load(Ordering::Acquire);
        // SAFETY: never null (set in `new`, replaced only by blocks from `Block::new`). A
        // replaced block is freed only through the collector, after every guard pinned when
        // it was replaced (`_guard` included) has moved on; `Drop` frees the current one, but
        // needs `&mut self`, excluded by `'a`.
        unsafe { Block::at(NonNull::new_unchecked(p)) }
    }

    /// The current block, for as long as a reader's pin lasts.
    #[inline(always)]
    pub(super) fn pinned<'a>(&'a self, pin: Pin<'a>) -> Block<'a> {
        self.block(pin.guard)
    }

    /// Where the current block is, for a reader to keep between lookups (see [`BlockRef`]).
    #[inline]
    fn current(&self, pin: Pin<'_>) -> BlockRef {
        let b = self.block(pin.guard);
        BlockRef {
            head: b.head,
            geo: b.geo,
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
        let block = self.block(&guard);
        let key = key_of(sg);
        let Probe::Found(i) = probe::<A>(block, &key, hash_key(&key)) else {
            return None;
        };
        let id = block.id(i).load(Ordering::Relaxed) as usize;
        let books = st.books.get(id);
        let (packets, bytes, wrong_if) = totals::<A>(block, i, books);
        let listed = list_at::<A>(block, i);
        let oifs = listed.as_slice();
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
            bytes,
            wrong_if,
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

    /// Inserts the MFE or publishes its new OIF list (duplicates already removed); true when
    /// the MFE is new to the table.
    pub(super) fn install(&self, sg: Sg<A>, oifs: &[IfKey<A>]) -> bool {
        let mut st = self.lock();
        let guard = epoch::pin();
        let key = key_of(&sg);
        let hash = hash_key(&key);
        let cap = self.block(&guard).head().cap;
        if (st.live + st.tombstones + 1) * 8 > cap * 7 {
            let want = (st.live + 1) * 4 / 3;
            self.rebuild(&mut st, want, &guard);
        }
        let block = self.block(&guard);
        match probe::<A>(block, &key, hash) {
            Probe::Found(i) => {
                let id = block.id(i).load(Ordering::Relaxed);
                let old = list_at::<A>(block, i);
                rebook(&mut st, block, i, id, old.as_slice(), oifs);
                let old_spill = write_slot(block, i, id, &key, oifs);
                if let Some(p) = old_spill {
                    retire_spill(p, &guard);
                }
                false
            }
            Probe::Absent(i) => {
                let books = Books {
                    joined: Joined::zeros(oifs.len()),
                    ..Books::default()
                };
                let id = match st.free_ids.pop() {
                    Some(id) => {
                        st.books[id as usize] = books;
                        id
                    }
                    None => {
                        st.books.push(books);
                        (st.books.len() - 1) as u32 // one id per live MFE: far below 2^32
                    }
                };
                write_slot(block, i, id, &key, oifs);
                block.set_tag(i, tag_of(hash));
                st.live += 1;
                true
            }
        }
    }

    /// Calls `f` with the hash ([`hash_key`]) of every MFE in the table.
    pub(super) fn hashes(&self, f: &mut dyn FnMut(u64)) {
        let _st = self.lock();
        let guard = epoch::pin();
        let block = self.block(&guard);
        for i in 0..block.head().cap {
            if state_of(block.lock(i).current()) != LIVE {
                continue;
            }
            f(hash_key(&key_at::<A>(block, i)));
        }
    }

    /// Gives every MFE a copy for at least `workers` workers (more never go): one rebuild at
    /// the same size, which carries the counts over.
    pub(super) fn grow_workers(&self, workers: u16) {
        let workers = usize::from(workers);
        let mut st = self.lock();
        if workers <= self.workers.load(Ordering::Relaxed) {
            return;
        }
        self.workers.store(workers, Ordering::Relaxed);
        let guard = epoch::pin();
        let cap = self.block(&guard).head().cap;
        self.rebuild(&mut st, cap, &guard);
    }

    /// Removes the MFE; false if it was absent.
    pub(super) fn remove(&self, sg: &Sg<A>) -> bool {
        let mut st = self.lock();
        let guard = epoch::pin();
        let block = self.block(&guard);
        let key = key_of(sg);
        let Probe::Found(i) = probe::<A>(block, &key, hash_key(&key)) else {
            return false;
        };
        let h0 = block.lock(i).current();
        let id = block.id(i).load(Ordering::Relaxed);
        let spill = (len_of(h0) == SPILLED).then(|| {
            block
                .slot_word(i, spill_word::<A>())
                .load(Ordering::Relaxed) as *mut Spill<A>
        });
        for c in 0..block.geo.workers {
            let lock = block.copy(c).lock(i);
            let before = lock.write_begin();
            lock.write_end(before, TOMB, 0);
        }
        block.set_tag(i, T_TOMB);
        if let Some(p) = spill {
            retire_spill(p, &guard);
        }
        // Readers never see ids, so the id is free at once; the slot is not reused before the
        // next rebuild, so its counters stay this MFE's until then.
        st.free_ids.push(id);
        st.live -= 1;
        st.tombstones += 1;
        let cap = block.head().cap;
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

    /// Publishes a new block with room for `want` MFEs (at least [`MIN_SLOTS`]) holding the
    /// live MFEs and no tombstones, carries their counts into the books, and retires the old
    /// block. Growing happens at 7/8 full (live and removed slots), to 3/4 full; shrinking
    /// below 1/8 full, to half full.
    fn rebuild(&self, st: &mut WriterState, want: usize, guard: &Guard) {
        let fresh = Block::new::<A>(want, self.workers.load(Ordering::Relaxed));
        let old = self.block(guard);
        let old_cap = old.head().cap;
        for i in 0..old_cap {
            let h = old.lock(i).current();
            if state_of(h) != LIVE {
                continue;
            }
            let key = key_at::<A>(old, i);
            let hash = hash_key(&key);
            let Probe::Absent(n) = probe::<A>(fresh, &key, hash) else {
                unreachable!("a key twice in one block");
            };
            // Relaxed: the block is published below with `Release`. The spilled list, if any,
            // moves to the new block (the old one does not own it). The counts start at zero:
            // what the old block counted goes into the books below.
            for c in 0..fresh.geo.workers {
                let to = fresh.copy(c);
                for j in KEY_WORD..count_word::<A>() {
                    let w = old.slot_word(i, j).load(Ordering::Relaxed);
                    to.slot_word(n, j).store(w, Ordering::Relaxed);
                }
                to.lock(n).init(LIVE, len_of(h));
            }
            let id = old.id(i).load(Ordering::Relaxed);
            fresh.id(n).store(id, Ordering::Relaxed);
            fresh.set_tag(n, tag_of(hash));
        }
        self.block.store(fresh.head.as_ptr(), Ordering::Release);
        // Before the old block is retired: a reader that still sees the old version may still
        // use the old block, and the collector frees it only after such a reader moves on.
        self.version.fetch_add(1, Ordering::SeqCst);
        // Read after the swap: a lookup that starts now counts in the new block, so only one
        // already under way when the block changed can still add to the old one.
        for i in 0..old_cap {
            if state_of(old.lock(i).current()) != LIVE {
                continue;
            }
            let id = old.id(i).load(Ordering::Relaxed) as usize;
            let (p, b, w) = old.sums::<A>(i);
            if let Some(books) = st.books.get_mut(id) {
                let c = &mut books.carried;
                *c = (
                    c.0.saturating_add(p),
                    c.1.saturating_add(b),
                    c.2.saturating_add(w),
                );
            }
        }
        let retired = SendBlock(old.head);
        // SAFETY: the old block is unlinked; it is freed once, after every reader pinned now
        // has moved on, and the closure owns nothing but its pointer.
        unsafe {
            guard.defer_unchecked(move || {
                let b = retired;
                Block::at(b.0).free();
            })
        };
        st.tombstones = 0;
    }
}

/// The probe of a lookup from home group `g`: group by group, through the lanes whose tag
/// matches, to the first group with an empty slot.
#[inline(always)]
fn find<'a, A: Family>(
    block: Block<'a>,
    g: usize,
    key: &KeyWords,
    hash: u64,
    buf: &mut [IfKey<A>; MAX_INLINE],
) -> Option<Hit<'a, A>> {
    find_slot(
        |g| block.tags(g),
        block.geo.groups,
        g,
        hash,
        |i| {
            read_slot::<A>(block, i, key, buf).map(|list| Hit {
                block,
                slot: i,
                list,
            })
        },
    )
}

/// The probe from home group `g` that [`find`], [`Block::holding`] and
/// [`FastBlock::count_if_held`] share, over `groups` groups whose tag words are `tags(g)`:
/// offers each slot whose tag lane matches `hash`'s to `at`, in probe order, until it returns
/// something or a group with an empty slot ends the probe.
#[inline(always)]
fn find_slot<'t, R>(
    tags: impl Fn(usize) -> &'t AtomicU64,
    groups: usize,
    mut g: usize,
    hash: u64,
    mut at: impl FnMut(usize) -> Option<R>,
) -> Option<R> {
    let tag = tag_of(hash);
    for _ in 0..groups {
        let t = tags(g).load(Ordering::Acquire);
        let mut m = lanes_matching(t, tag);
        while m != 0 {
            let i = g * GROUP + m.trailing_zeros() as usize / 16;
            m &= m - 1;
            if let Some(r) = at(i) {
                return Some(r);
            }
        }
        // Inserts take the first empty slot from the home group on, and slots turn empty
        // only in a new block: a group with an empty slot ends the probe.
        if has_empty(t) {
            return None;
        }
        g += 1;
        if g == groups {
            g = 0;
        }
    }
    None
}

/// The key of slot `i`, as the writer reads it (no one else writes it).
fn key_at<A: Family>(block: Block<'_>, i: usize) -> KeyWords {
    let mut key = [0u64; 4];
    for (j, k) in key.iter_mut().enumerate().take(layout::<A>().key_words) {
        *k = block.slot_word(i, KEY_WORD + j).load(Ordering::Relaxed);
    }
    key
}

/// True when the slot whose word `j` is `word(j)` holds `key` (read relaxed, under the
/// caller's sequence-lock read).
#[inline(always)]
fn holds_key<'a, A: Family>(word: impl Fn(usize) -> &'a AtomicU64, key: &KeyWords) -> bool {
    for (j, k) in key.iter().enumerate().take(layout::<A>().key_words) {
        if word(KEY_WORD + j).load(Ordering::Relaxed) != *k {
            return false;
        }
    }
    true
}

/// Copies every inline OIF place of the slot whose word `j` is `word(j)` into `buf`,
/// whatever the list's length: the places past it hold zeros or an older list, and a copy
/// without a branch per OIF is shorter.
#[inline(always)]
fn copy_inline<'a, A: Family>(
    word: impl Fn(usize) -> &'a AtomicU64,
    buf: &mut [IfKey<A>; MAX_INLINE],
) {
    let lay = layout::<A>();
    for (k, out) in buf.iter_mut().enumerate().take(lay.inline) {
        let mut w = [0u64; 3];
        for (j, x) in w.iter_mut().enumerate().take(lay.oif_words) {
            *x = word(oif_word::<A>(k) + j).load(Ordering::Relaxed);
        }
        *out = decode_oif(w);
    }
}

/// Reads slot `i` under its sequence lock: its OIF list (short ones into `buf`) if it holds
/// `key` live, else `None`. Retries while the slot is being rewritten.
#[inline(always)]
fn read_slot<'a, A: Family>(
    block: Block<'a>,
    i: usize,
    key: &KeyWords,
    buf: &mut [IfKey<A>; MAX_INLINE],
) -> Option<List<'a, A>> {
    let lay = layout::<A>();
    let lock = block.lock(i);
    loop {
        let h1 = lock.read_begin();
        if state_of(h1) != LIVE {
            return None;
        }
        // A live slot's key never changes in place, so a mismatch needs no check: at worst
        // the slot was being removed, and the key was absent then.
        if !holds_key::<A>(|j| block.slot_word(i, j), key) {
            return None;
        }
        let len = len_of(h1);
        let spill = if len == SPILLED {
            block
                .slot_word(i, spill_word::<A>())
                .load(Ordering::Relaxed) as *const Spill<A>
        } else {
            copy_inline(|j| block.slot_word(i, j), buf);
            std::ptr::null()
        };
        if !lock.read_valid(h1) {
            continue;
        }
        return Some(if spill.is_null() {
            List::Inline((len as usize).min(lay.inline))
        } else {
            // SAFETY: the header did not move between the two reads, so the pointer was the
            // slot's list while the caller was pinned. A list is retired through the
            // collector only after a slot write unlinked it, so it stays allocated while the
            // pin lasts (`'a`). It was fully built before the header store that published it
            // (`Release`, paired with the `Acquire` in `read_begin`).
            List::Spilled(unsafe { &(*spill).oifs })
        });
    }
}

/// True when the slot whose word `j` is `word(j)` holds `key` live, key and state read from
/// one version of the slot under its sequence lock (retried while the slot is being
/// rewritten); nothing else is read.
#[inline(always)]
fn holds_live<'a, A: Family>(word: impl Fn(usize) -> &'a AtomicU64 + Copy, key: &KeyWords) -> bool {
    let lock = SeqLock::at(word(0));
    loop {
        let h1 = lock.read_begin();
        // As in `read_slot`: a live slot's key never changes in place, so a mismatch needs
        // no second header read.
        if state_of(h1) != LIVE || !holds_key::<A>(word, key) {
            return false;
        }
        if lock.read_valid(h1) {
            return true;
        }
    }
}

/// An MFE's counts: what earlier blocks carried plus its slot's sums now.
fn totals<A: Family>(block: Block<'_>, i: usize, books: Option<&Books>) -> (u64, u64, u64) {
    let (p, b, w) = block.sums::<A>(i);
    let c = books.map_or((0, 0, 0), |b| b.carried);
    (
        c.0.saturating_add(p),
        c.1.saturating_add(b),
        c.2.saturating_add(w),
    )
}

/// The writer's probe for `key` in `block` (no slot is being written): group by group from
/// the home group, through the lanes whose tag matches, to the first group with an empty slot.
fn probe<A: Family>(block: Block<'_>, key: &KeyWords, hash: u64) -> Probe {
    let lay = layout::<A>();
    let groups = block.geo.groups;
    let tag = tag_of(hash);
    let home = start(hash, groups);
    let mut g = home;
    for _ in 0..groups {
        let t = block.tags(g).load(Ordering::Relaxed);
        for j in 0..GROUP {
            if (t >> (16 * j)) & 0xffff != tag {
                continue;
            }
            let i = g * GROUP + j;
            if state_of(block.lock(i).current()) == LIVE
                && (0..lay.key_words)
                    .all(|w| block.slot_word(i, KEY_WORD + w).load(Ordering::Relaxed) == key[w])
            {
                return Probe::Found(i);
            }
        }
        if let Some(j) = first_empty(t) {
            return Probe::Absent(g * GROUP + j);
        }
        g += 1;
        if g == groups {
            g = 0;
        }
    }
    // The load limit (live and removed slots at most 7/8) always leaves an empty slot.
    unreachable!("a block without an empty slot")
}

/// The OIF list of live slot `i`, read by the writer (no one else writes it): a short list
/// copied, a long one borrowed (it is retired only through the collector, and the writer is
/// pinned while it uses it).
fn list_at<'s, A: Family>(block: Block<'s>, i: usize) -> Listed<'s, A> {
    let lay = layout::<A>();
    let len = len_of(block.lock(i).current());
    if len == SPILLED {
        let p = block
            .slot_word(i, spill_word::<A>())
            .load(Ordering::Relaxed) as *const Spill<A>;
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
            *x = block
                .slot_word(i, oif_word::<A>(k) + j)
                .load(Ordering::Relaxed);
        }
        *o = decode_oif(w);
    }
    Listed::Inline(out, n)
}

/// Updates the books of MFE `id` (in slot `i`) for a list change from `old` to `new`: an OIF
/// that stays keeps its join mark, a new one joins at the current packet count; the negative
/// count closes or opens.
fn rebook<A: Family>(
    st: &mut WriterState,
    block: Block<'_>,
    i: usize,
    id: u32,
    old: &[IfKey<A>],
    new: &[IfKey<A>],
) {
    let Some(b) = st.books.get_mut(id as usize) else {
        return;
    };
    // The packet count (a read of every worker's copy of the slot) is only needed when an OIF
    // joins or the list turns empty or non-empty; a leave needs none.
    let carried = b.carried.0;
    let packets = std::cell::OnceCell::new();
    let packets = || *packets.get_or_init(|| carried.saturating_add(block.sums::<A>(i).0));
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

/// Writes MFE `id` with key `key` and list `oifs` into slot `i` of every worker's copy, each
/// under its own sequence lock; the counts are not touched. Returns the slot's previous
/// spilled list, for the caller to retire.
fn write_slot<A: Family>(
    block: Block<'_>,
    i: usize,
    id: u32,
    key: &KeyWords,
    oifs: &[IfKey<A>],
) -> Option<*mut Spill<A>> {
    let lay = layout::<A>();
    let h0 = block.lock(i).current();
    let old_spill = (state_of(h0) == LIVE && len_of(h0) == SPILLED).then(|| {
        block
            .slot_word(i, spill_word::<A>())
            .load(Ordering::Relaxed) as *mut Spill<A>
    });
    block.id(i).store(id, Ordering::Relaxed);
    // The words of the slot between the header and the counts, the same in every copy.
    let mut words = [0u64; 2 * LINE_WORDS];
    words[KEY_WORD..KEY_WORD + lay.key_words].copy_from_slice(&key[..lay.key_words]);
    let len = if oifs.len() <= lay.inline {
        for (k, o) in oifs.iter().enumerate() {
            let w = encode_oif(o);
            let at = oif_word::<A>(k);
            words[at..at + lay.oif_words].copy_from_slice(&w[..lay.oif_words]);
        }
        oifs.len() as u64 // <= inline
    } else {
        let spill = Box::into_raw(Box::new(Spill { oifs: oifs.into() }));
        words[spill_word::<A>()] = spill as u64;
        SPILLED
    };
    for c in 0..block.geo.workers {
        let b = block.copy(c);
        let lock = b.lock(i);
        let before = lock.write_begin();
        for (j, w) in words
            .iter()
            .enumerate()
            .take(count_word::<A>())
            .skip(KEY_WORD)
        {
            b.slot_word(i, j).store(*w, Ordering::Relaxed);
        }
        lock.write_end(before, LIVE, len);
    }
    old_spill
}

/// Starts loading the [`GROUP`] slots of a group, whose first word is `first`: a hit reads the
/// slot its tag lane names, known only once the tag word is in, and with the one slot a key
/// prefers loaded ahead alone, the others (about a third of the keys of a full table) were a
/// second cache miss after the tag word's. The lines are adjacent, and the lines ahead of the
/// one the tag word names cost bandwidth, not latency.
#[inline(always)]
fn prefetch_group<A: Family>(first: &AtomicU64) {
    prefetch_lines(first, GROUP * layout::<A>().lines);
}

/// Starts loading `n` adjacent lines from the one of `first`, all inside the block's slots
/// (a group's, or one slot's).
#[inline(always)]
fn prefetch_lines(first: &AtomicU64, n: usize) {
    let p: *const AtomicU64 = first;
    for l in 0..n {
        // An address inside the slots the caller names, the block's own memory
        // (`wrapping_add`: only the address is computed, nothing is read through it).
        prefetch_at(p.wrapping_add(l * LINE_WORDS));
    }
}

/// Asks the CPU to start loading the line of `w` into the cache, without waiting for it.
#[inline(always)]
fn prefetch_line(w: &AtomicU64) {
    prefetch_at(w);
}

/// Asks the CPU to start loading the line of address `p`, without waiting for it.
#[inline(always)]
fn prefetch_at(p: *const AtomicU64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault,
        // whatever the address; SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Adds `n` to a counter that only the calling worker writes. Wrapping, as a plain add on
/// the packet path: a byte count at 100 Gb/s takes 46 years to reach 2^64. The sums the
/// writer makes of these saturate.
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
        let head = *self.block.get_mut();
        // SAFETY: never null (see `Table::block`), and ours alone now.
        let block = unsafe { Block::at(NonNull::new_unchecked(head)) };
        let h = block.head();
        // The first OIF place (`spill_word`), from the block's own geometry.
        let spill_at = KEY_WORD
            + if h.geo.slot_lines == V4.lines {
                V4.key_words
            } else {
                V6.key_words
            };
        for i in 0..h.cap {
            let hd = block.lock(i).current();
            if state_of(hd) == LIVE && len_of(hd) == SPILLED {
                let p = block.slot_word(i, spill_at).load(Ordering::Relaxed) as *mut Spill<A>;
                // SAFETY: the live MFE's current list, made by `Box::into_raw`, freed once
                // here (older lists were retired when they were replaced).
                drop(unsafe { Box::from_raw(p) });
            }
        }
        // SAFETY: `&mut self`: no reader can reach this table (they only reach it through a
        // directory snapshot that holds it); retired blocks belong to the collector.
        unsafe { block.free() };
    }
}

/// Bytes of data plane per slot for `workers` workers (a copy of the slot each, the writer's
/// id, each worker's wrong-interface word), and per writer's books entry, for the memory test.
#[cfg(test)]
pub(super) fn sizes<A: Family>(workers: usize) -> (usize, usize) {
    let per_slot = workers * layout::<A>().lines * LINE + 4 + workers * 8;
    (per_slot, std::mem::size_of::<Books>())
}
