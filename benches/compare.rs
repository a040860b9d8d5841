//! The comparison harness of engine.md section 7 (issues #4 and #9): the engine against the
//! baselines *limit*, *rwlock*, *dashmap* and *naive*, all built in this binary and measured in
//! the same run, so every figure is a ratio from one run on one (noisy, shared, 2-core) machine.
//!
//! Run: `cargo bench --bench compare` (full: about 100 s on 2 cores, under 4 minutes) or
//! `cargo bench --bench compare -- --quick` (about 30 s: the sizes are 10k and 100k, the
//! 1M-MFE workloads run at 100k and the output says so). `--only <letters>` runs a subset of
//! the workloads below (for profiling), e.g. `--only abc`; the JSON then holds their rows.
//! `--sizes 10000,25000,50000` builds the tables at those sizes instead (a sweep: the targets
//! are then named by those sizes, the last is the big one, and `mode` is `"sizes"`).
//!
//! Dimensions (IPv4; the engine is filled through its public API as `benches/common/mod.rs`
//! describes: 8 upstream interfaces = 8 shards, 4 OIFs per MFE from `(*,*)` memberships,
//! MFEs created by `Mgm::new_packet`; default config, so one counter slot per core). Sizes:
//! 10k, 100k and 1M MFEs. The tables of every size are built once and shared by the
//! workloads; lookups walk the MFEs in a shuffled deterministic order (`keys`: at 1M nearly
//! every lookup misses the caches), and every system reads the OIF count and first OIF of its
//! verdict (`consume`).
//!
//! Throughput is given per reader, per wall-clock second and per second of the reader
//! thread's own CPU time (`thread_cpu_ns`). Targets are decided on the CPU-second figures:
//! on 2 shared cores the wall-clock figure also measures how much CPU the scheduler left the
//! reader (the churn writer and other people's builds take some); both are printed, with the
//! hypervisor's steal time over the runs of each size (`/proc/stat`), which the wall-clock
//! figures include and the CPU-second figures do not.
//!
//! Workloads (the letters of `--only`):
//!
//! * (a) one reader thread: engine, *limit*, *rwlock*, *dashmap* at each size; `rounds`
//!   interleaved rounds of about `lookups` untimed lookups per system, medians. Targets:
//!   engine >= 1.5 x *rwlock* and >= 1.5 x *dashmap* per size; hit ns <= 1.2 x *limit* at 10k
//!   and 1M (the moonshot: the row says where it stands).
//! * (b) two reader threads, no writer: engine (each thread its own `Mgm::reader`), *rwlock*,
//!   *dashmap* at each size; the two readers start at opposite offsets of the shuffled keys.
//!   `pair_rounds` interleaved rounds of `pair_dur`, medians. Target: engine >= 3 x *rwlock*
//!   and >= 3 x *dashmap* per reader, per size. Beside them, as context (not a target), two
//!   readers of *limit*'s map: the ceiling of a lookup that counts nothing, and the bar over
//!   that ceiling (above 1: out of reach for any lookup that counts, on this machine).
//! * (c) two readers, idle and then with one writer thread churning, for the engine, *rwlock*
//!   and *dashmap* at each size. The readers time every 16th lookup into an HDR histogram (so
//!   p50/p99 include the ~20-30 ns of two `Instant::now` calls) in both runs, so idle and churn
//!   are measured by the same loop. The writer does batches of ops paced at `CHURN_RATE` ops/s
//!   and sleeps between batches (so 2 cores carry 2 readers and the writer): for the engine it
//!   adds the (S,G) JOIN membership of one MFE on `CHURN_IF` and deletes the one added
//!   `WINDOW` adds earlier (each op touches one MFE); for *rwlock* and *dashmap* it adds or
//!   removes OIF `CHURN_IF` in that MFE's entry (one op = one OIF list change of one entry).
//!   Targets, engine: churn >= 0.9 x idle per reader, and churn p99 <= 2 x idle p99, per size;
//!   a row whose writer fell short of 100k ops/s counts as missed.
//! * (d) single-thread membership add/delete of (S,G) selectors touching one MFE each, at 10k
//!   and 1M MFEs (engine; *naive* for reference). Targets: >= 1M ops/s at 10k; op ns at 1M
//!   <= 1.5 x at 10k.
//! * (e) release of an interface that is the incoming interface of 1k and 100k MFEs: the
//!   whole call, and the reader-visible time = from the start of the call until a reader
//!   spinning on a lookup of one of those MFEs first sees it gone. Each call starts with the
//!   caches evicted, at both sizes; a sample in which the reader was preempted is redone
//!   (see `measure_release`). Target: reader-visible at 100k <= 2 x at 1k.
//! * (f) `take_interface` with a deregistered handle, ns per rejected call. Target: <= 5 ns.
//! * (g) bytes per MFE at 1M MFEs with 4 OIFs, counters included (one record per worker
//!   slot), from the counting global allocator below: live bytes after minus before building,
//!   over the number of MFEs, once for the whole engine (control plane maps included) and once
//!   for the data plane alone (allocations identified by their layout: the shard tables with
//!   their per-worker copies, and the table writers' books). The 1M baselines are measured while they
//!   are built (the same tables then serve (a)-(c)). Targets: data plane <= 160 B, whole
//!   engine <= 256 B.
//! * (h) `lookup_burst` of 256 keys at 1M, per key, against *limit*'s one-by-one lookups.
//!   Target: below *limit*.
//! * (i) miss (a group no MFE uses) and wrong-interface (another upstream interface than the
//!   MFE's) verdicts at 10k, ns per lookup, against the engine's hits measured in the same
//!   rounds. Target: <= 2 x a hit.
//!
//! Baselines: *limit* = single-threaded `FxHashMap<(iif, S, G), [OIF; 4]>`, no counters;
//! *rwlock* = `RwLock<FxHashMap<(iif, S, G), Entry>>`, `Entry` = up to 8 OIFs inline and
//! `AtomicU64` packet and byte counters bumped under the read lock on every hit; *dashmap* =
//! the same `Entry` in a `DashMap<(iif, S, G), Entry, FxBuildHasher>`; *naive* = the MGM
//! semantics of these workloads (memberships and entries in `FxHashMap`s, packet and byte
//! counters per entry) behind one global `RwLock`, for the control-plane figures of (d) and
//! the memory of (g). A baseline's lookup gives `len + first OIF index` for a hit with OIFs
//! (after counting it), 1 for a hit without OIFs and 2 for an absent key.
//!
//! Machine facts are printed first: the CPU model (`/proc/cpuinfo`), the caches of cpu0
//! (`/sys/devices/system/cpu/cpu0/cache`), the transparent huge page setting, and, once the
//! big tables are built, how much of the process's anonymous memory the kernel backs with
//! huge pages (`AnonHugePages` of `/proc/self/smaps_rollup`, else summed over
//! `/proc/self/smaps`).
//!
//! Output: a table on stdout and `compare.json` in `$CARGO_TARGET_DIR`, else `target/`:
//!
//! ```text
//! {"machine": {"cpu", "cores", "caches": [{"level", "type", "size"}, ..], "thp_enabled",
//!              "anon_kb", "anon_huge_pages_kb", "mode", "sizes", "big"},
//!  "targets": [{"metric", "engine", "baseline", "ratio", "target", "met"}, ..],
//!  "context": [{"metric", "value"}, ..]}
//! ```
//!
//! one `targets` row per target (`baseline` and `ratio` are null where a target is absolute;
//! a field the machine does not tell is null).
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hdrhistogram::Histogram;
use mgm::{
    DefaultHooks, IfKey, Mgm, PacketKey, ProtocolHandle, Route, Selector, Verdict, JOIN, MAX_BURST,
};
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use serde_json::json;

mod common;
use common::*;

type K = IfKey<Ipv4Addr>;
type A = Ipv4Addr;

// ---------------------------------------------------------------------------------------------
// Counting allocator: live bytes, and live bytes per (size, align) class, while enabled.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
const CLASSES: usize = 4096;
/// Sizes at or above this are one class per alignment ("large": the shard slot arrays).
const LARGE: usize = 256 << 10;
static CLASS_KEY: [AtomicU64; CLASSES] = [const { AtomicU64::new(0) }; CLASSES];
static CLASS_COUNT: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];
static CLASS_BYTES: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];

fn class_key(l: Layout) -> u64 {
    let size = if l.size() >= LARGE { LARGE } else { l.size() };
    ((size as u64) << 8 | l.align().trailing_zeros() as u64) + 1
}

fn note(l: Layout, sign: i64) {
    LIVE.fetch_add(sign * l.size() as i64, Ordering::Relaxed);
    let key = class_key(l);
    let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % CLASSES;
    for _ in 0..CLASSES {
        let k = CLASS_KEY[i].load(Ordering::Relaxed);
        if k == key
            || (k == 0
                && CLASS_KEY[i]
                    .compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed)
                    .map_or_else(|now| now == key, |_| true))
        {
            CLASS_COUNT[i].fetch_add(sign, Ordering::Relaxed);
            CLASS_BYTES[i].fetch_add(sign * l.size() as i64, Ordering::Relaxed);
            return;
        }
        i = (i + 1) % CLASSES;
    }
}

// SAFETY: defers every allocation to `System` unchanged; the bookkeeping allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            note(l, 1);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            note(l, -1);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            note(l, 1);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            note(l, -1);
            // SAFETY: `realloc`'s contract makes (new, align) a valid layout.
            note(
                unsafe { Layout::from_size_align_unchecked(new, l.align()) },
                1,
            );
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (key, count, bytes) of every class.
fn classes() -> Vec<(u64, i64, i64)> {
    (0..CLASSES)
        .map(|i| {
            (
                CLASS_KEY[i].load(Ordering::Relaxed),
                CLASS_COUNT[i].load(Ordering::Relaxed),
                CLASS_BYTES[i].load(Ordering::Relaxed),
            )
        })
        .filter(|c| c.0 != 0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Baselines

/// Up to four OIFs, inline.
#[derive(Clone, Copy)]
struct Oifs4 {
    len: u8,
    ifs: [K; 4],
}

/// *limit*: single-threaded `FxHashMap<(iif, S, G), OIFs>`.
struct Limit {
    map: FxHashMap<(K, A, A), Oifs4>,
}

impl Limit {
    fn new(n: u32, oifs: &[K]) -> Self {
        let mut o = Oifs4 {
            len: oifs.len() as u8,
            ifs: [IfKey::new(0); 4],
        };
        o.ifs[..oifs.len()].copy_from_slice(oifs);
        let mut map = FxHashMap::default();
        for i in 0..n {
            map.insert((iif(i), source(i), group(i)), o);
        }
        Limit { map }
    }
    #[inline]
    fn lookup(&self, k: &Key) -> u32 {
        match self.map.get(&(k.0, k.1, k.2)) {
            Some(o) => u32::from(o.len) + o.ifs[0].index,
            None => 2,
        }
    }
}

/// Membership selector of the baselines.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Sel {
    All,
    Source(A, A),
}

/// An MFE of *naive* and *dashmap*.
struct BEntry {
    iif: K,
    oifs: Vec<K>,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl BEntry {
    #[inline]
    fn verdict(&self, arrival: K, bytes: u32) -> u32 {
        if self.iif != arrival {
            return self.iif.index;
        }
        if self.oifs.is_empty() {
            return 1;
        }
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(u64::from(bytes), Ordering::Relaxed);
        self.oifs.len() as u32 + self.oifs[0].index
    }
}

/// Membership bookkeeping shared by the baselines (G-21 for the selectors used here).
#[derive(Default)]
struct Members {
    set: FxHashSet<(K, Sel)>,
    all: Vec<K>,
}

impl Members {
    /// Records a membership; true when new.
    fn add(&mut self, k: K, sel: Sel) -> bool {
        let new = self.set.insert((k, sel));
        if new && sel == Sel::All {
            self.all.push(k);
        }
        new
    }
    /// Removes a membership; true when it was there.
    fn delete(&mut self, k: K, sel: Sel) -> bool {
        let was = self.set.remove(&(k, sel));
        if was && sel == Sel::All {
            self.all.retain(|o| *o != k);
        }
        was
    }
    /// Whether `k` still wants (s, g) traffic.
    fn wants(&self, k: K, s: A, g: A) -> bool {
        self.set.contains(&(k, Sel::Source(s, g))) || self.set.contains(&(k, Sel::All))
    }
    fn oifs_for(&self, iif: K) -> Vec<K> {
        self.all.iter().copied().filter(|k| *k != iif).collect()
    }
}

fn apply_add(e: &mut BEntry, k: K) {
    if k != e.iif && !e.oifs.contains(&k) {
        e.oifs.push(k);
    }
}

fn apply_delete(e: &mut BEntry, k: K) {
    e.oifs.retain(|o| *o != k);
}

/// *naive*: the MGM semantics of these workloads behind one global `RwLock`.
struct Naive {
    st: RwLock<NaiveState>,
}

struct NaiveState {
    members: Members,
    entries: FxHashMap<(A, A), BEntry>,
}

impl Naive {
    fn new(n: u32, oifs: &[K]) -> Self {
        let mut members = Members::default();
        for k in oifs {
            members.add(*k, Sel::All);
        }
        let mut st = NaiveState {
            members,
            entries: FxHashMap::default(),
        };
        for i in 0..n {
            let e = BEntry {
                iif: iif(i),
                oifs: st.members.oifs_for(iif(i)),
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            };
            st.entries.insert((source(i), group(i)), e);
        }
        Naive {
            st: RwLock::new(st),
        }
    }
    #[inline]
    fn lookup(&self, k: &Key) -> u32 {
        let st = self.st.read().unwrap();
        match st.entries.get(&(k.1, k.2)) {
            Some(e) => e.verdict(k.0, 1200),
            None => 2,
        }
    }
    fn add(&self, k: K, s: A, g: A) {
        let mut st = self.st.write().unwrap();
        if st.members.add(k, Sel::Source(s, g)) {
            if let Some(e) = st.entries.get_mut(&(s, g)) {
                apply_add(e, k);
            }
        }
    }
    fn delete(&self, k: K, s: A, g: A) {
        let mut st = self.st.write().unwrap();
        if st.members.delete(k, Sel::Source(s, g)) && !st.members.wants(k, s, g) {
            if let Some(e) = st.entries.get_mut(&(s, g)) {
                apply_delete(e, k);
            }
        }
    }
}

/// Most OIFs an [`Entry`] holds inline: the fixtures' four, the churn's fifth, room to spare.
const ENTRY_OIFS: usize = 8;

/// An MFE of *rwlock* and *dashmap*: the OIFs inline, packet and byte counters.
struct Entry {
    len: u8,
    oifs: [K; ENTRY_OIFS],
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Entry {
    fn new(oifs: &[K]) -> Self {
        let mut e = Entry {
            len: 0,
            oifs: [IfKey::new(0); ENTRY_OIFS],
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        };
        for k in oifs {
            assert!(
                e.add_oif(*k),
                "an entry holds at most {ENTRY_OIFS} distinct OIFs"
            );
        }
        e
    }
    /// The verdict value of a hit; counts the packet when it is forwarded.
    #[inline]
    fn hit(&self, bytes: u32) -> u32 {
        if self.len == 0 {
            return 1;
        }
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(u64::from(bytes), Ordering::Relaxed);
        u32::from(self.len) + self.oifs[0].index
    }
    /// Appends `k`; false when it is there already or the entry is full.
    fn add_oif(&mut self, k: K) -> bool {
        let len = usize::from(self.len);
        if len == ENTRY_OIFS || self.oifs[..len].contains(&k) {
            return false;
        }
        self.oifs[len] = k;
        self.len += 1;
        true
    }
    /// Removes `k`, keeping the order of the others; false when it was not there.
    fn remove_oif(&mut self, k: K) -> bool {
        let len = usize::from(self.len);
        match self.oifs[..len].iter().position(|o| *o == k) {
            Some(i) => {
                self.oifs.copy_within(i + 1..len, i);
                self.len -= 1;
                true
            }
            None => false,
        }
    }
    /// One churn op: adds or removes `k`; panics if that changed nothing (a harness bug: the
    /// churn never adds an OIF twice nor removes one it did not add).
    fn churn(&mut self, k: K, add: bool) {
        let changed = if add {
            self.add_oif(k)
        } else {
            self.remove_oif(k)
        };
        assert!(changed, "churn op that changes no OIF list");
    }
}

/// *rwlock*: `RwLock<FxHashMap<(iif, S, G), Entry>>`.
struct Rw {
    map: RwLock<FxHashMap<Key, Entry>>,
}

impl Rw {
    fn new(n: u32, oifs: &[K]) -> Self {
        let mut map = FxHashMap::default();
        for i in 0..n {
            map.insert((iif(i), source(i), group(i)), Entry::new(oifs));
        }
        Rw {
            map: RwLock::new(map),
        }
    }
    #[inline]
    fn lookup(&self, k: &Key) -> u32 {
        // The guard lives to the end of the match: the counters are bumped under the lock.
        match self.map.read().unwrap().get(k) {
            Some(e) => e.hit(1200),
            None => 2,
        }
    }
    /// Adds or removes OIF `oif` in the entry of `k`, under the write lock.
    fn churn(&self, k: &Key, oif: K, add: bool) {
        if let Some(e) = self.map.write().unwrap().get_mut(k) {
            e.churn(oif, add);
        }
    }
}

/// *dashmap*: `DashMap<(iif, S, G), Entry, FxBuildHasher>`.
struct Dash {
    map: DashMap<Key, Entry, FxBuildHasher>,
}

impl Dash {
    fn new(n: u32, oifs: &[K]) -> Self {
        let map = DashMap::with_hasher(FxBuildHasher);
        for i in 0..n {
            map.insert((iif(i), source(i), group(i)), Entry::new(oifs));
        }
        Dash { map }
    }
    #[inline]
    fn lookup(&self, k: &Key) -> u32 {
        match self.map.get(k) {
            Some(e) => e.hit(1200),
            None => 2,
        }
    }
    /// Adds or removes OIF `oif` in the entry of `k`, under its shard's write lock.
    fn churn(&self, k: &Key, oif: K, add: bool) {
        if let Some(mut e) = self.map.get_mut(k) {
            e.churn(oif, add);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workload helpers

/// (arrival, source, group) of one packet.
type Key = (K, A, A);

/// The MFEs' own keys (hits), in a shuffled deterministic order.
fn keys(n: u32, seed: u64) -> Vec<Key> {
    shuffled(n, seed)
        .into_iter()
        .map(|i| (iif(i), source(i), group(i)))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// ns per lookup of `f` over `keys`, `passes` times over the slice.
fn time_lookups(keys: &[Key], passes: usize, mut f: impl FnMut(&Key) -> u32) -> f64 {
    let mut acc = 0u32;
    let start = Instant::now();
    for _ in 0..passes {
        for k in keys {
            acc = acc.wrapping_add(f(black_box(k)));
        }
    }
    let t = start.elapsed();
    black_box(acc);
    t.as_nanos() as f64 / (keys.len() * passes) as f64
}

/// M lookups per second of one reader.
#[derive(Clone, Copy, Debug)]
struct Rate {
    /// Per wall-clock second.
    wall: f64,
    /// Per second the reader thread was on a CPU.
    cpu: f64,
}

impl Rate {
    fn of(lookups: u64, wall_s: f64, cpu_s: Option<f64>) -> Self {
        let n = lookups as f64 / 1e6;
        Rate {
            wall: n / wall_s,
            cpu: n / cpu_s.filter(|c| *c > 0.0).unwrap_or(wall_s),
        }
    }
    /// Median of each figure.
    fn median(v: &[Rate]) -> Rate {
        Rate {
            wall: median(v.iter().map(|r| r.wall).collect()),
            cpu: median(v.iter().map(|r| r.cpu).collect()),
        }
    }
    /// ns per lookup, wall-clock.
    fn ns(self) -> f64 {
        1e3 / self.wall
    }
}

/// The rate of `f` on the calling thread over `passes` passes of `keys`: no lookup is timed
/// on its own.
fn time_rate(keys: &[Key], passes: usize, mut f: impl FnMut(&Key) -> u32) -> Rate {
    let mut acc = 0u32;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..passes {
        for k in keys {
            acc = acc.wrapping_add(f(black_box(k)));
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_since(cpu0);
    black_box(acc);
    Rate::of((keys.len() * passes) as u64, wall, cpu)
}

/// The systems of the multi-threaded workloads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sys {
    Engine,
    Rwlock,
    Dash,
    /// Two readers of *limit*'s immutable map: what a hash lookup with no counters reaches
    /// per reader, the ceiling (b) is read against. Never churned.
    Limit,
}

const SYSTEMS: [Sys; 3] = [Sys::Engine, Sys::Rwlock, Sys::Dash];

impl Sys {
    fn name(self) -> &'static str {
        match self {
            Sys::Engine => "engine",
            Sys::Rwlock => "rwlock",
            Sys::Dash => "dashmap",
            Sys::Limit => "limit",
        }
    }
}

/// The tables of one size, shared by the workloads.
struct Tables {
    n: u32,
    engine: Filled,
    limit: Limit,
    rw: Rw,
    dash: Dash,
    /// Built at the smallest and the biggest size, for (d).
    naive: Option<Naive>,
    /// The lookup order of (a)-(c) and (h), and the churn's order of MFEs.
    keys: Vec<Key>,
}

fn oif_keys(n: u32) -> Vec<K> {
    (0..n).map(|d| IfKey::new(101 + d)).collect()
}

/// Checks that the systems agree on a few keys before anything is timed: the baselines give
/// the same value, and the engine forwards to as many OIFs.
fn check_tables(t: &Tables) {
    let mut reader = t.engine.mgm.reader().unwrap();
    for k in t.keys.iter().take(64) {
        let want = t.limit.lookup(k);
        assert_eq!(t.rw.lookup(k), want);
        assert_eq!(t.dash.lookup(k), want);
        if let Some(naive) = &t.naive {
            assert_eq!(naive.lookup(k), want);
        }
        match reader.lookup(k.0, k.1, k.2, 1200) {
            Verdict::Forward(o) => assert_eq!(o.len(), 4),
            v => panic!("engine verdict {v:?} for a key of an MFE with 4 OIFs"),
        }
    }
}

fn build_tables(engine: Filled, with_naive: bool) -> Tables {
    let n = engine.n;
    let oifs = oif_keys(4);
    Tables {
        n,
        engine,
        limit: Limit::new(n, &oifs),
        rw: Rw::new(n, &oifs),
        dash: Dash::new(n, &oifs),
        naive: with_naive.then(|| Naive::new(n, &oifs)),
        keys: keys(n, 0x5eed),
    }
}

/// Nanoseconds the calling thread has run on a CPU, if the kernel says. `CLOCK_THREAD_CPUTIME_ID`
/// counts the running slice up to the call; `/proc/thread-self/schedstat` (the fallback) only
/// up to the last scheduler tick, which is a few ms off: fine for runs of seconds only.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec, the only memory the call writes.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Nanoseconds the calling thread has run on a CPU, if the kernel says (up to its last
/// scheduler tick: a few ms off, fine for runs of seconds only).
#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// (all, steal) jiffies of all CPUs so far, from `/proc/stat`: steal is the time the
/// hypervisor ran something else while this VM's vCPUs wanted to run, which the wall-clock
/// figures include and the CPU-second figures do not.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    Some((v.iter().take(8).sum(), *v.get(7)?))
}

/// Steal since `from` (a [`cpu_jiffies`] reading), as a share of all CPU time.
fn steal_since(from: Option<(u64, u64)>) -> String {
    match (from, cpu_jiffies()) {
        (Some(a), Some(b)) if b.0 > a.0 => {
            format!("{:.0}%", 100.0 * (b.1 - a.1) as f64 / (b.0 - a.0) as f64)
        }
        _ => "?".into(),
    }
}

/// CPU seconds of the calling thread since `from` (a [`thread_cpu_ns`] reading).
fn cpu_since(from: Option<u64>) -> Option<f64> {
    thread_cpu_ns()
        .zip(from)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e9)
}

// ---------------------------------------------------------------------------------------------
// Two readers, and the churn writer

/// Reader threads of (b) and (c).
const READERS: usize = 2;
/// Lookups between two looks at the stop flag.
const CHUNK: usize = 1024;
/// (c) times one lookup in this many.
const SAMPLE_EVERY: usize = 16;
/// The churn writer's op `j`: add the `j`-th MFE's OIF (engine: its (S,G) membership), and
/// delete the one added `WINDOW` adds earlier.
const WINDOW: usize = 256;
/// Writer pace, membership ops per second (the target asks for >= 100k).
const CHURN_RATE: f64 = 150_000.0;
/// The writer's floor: a run below it counts as missed.
const CHURN_FLOOR: f64 = 100_000.0;
/// Adds per batch (with as many deletes); the writer sleeps between batches.
const CHURN_BATCH: usize = 64;
/// Steps through the keys, coprime with every size here, so `WINDOW` consecutive ops touch
/// distinct MFEs.
const STRIDE: usize = 7919;

/// The stop flag, on a line of its own: the readers look at it between chunks.
#[repr(align(128))]
struct Flag(AtomicBool);

/// What one reader thread did.
struct ReaderFig {
    lookups: u64,
    wall_s: f64,
    cpu_s: Option<f64>,
    hist: Option<Histogram<u64>>,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).unwrap()
}

/// Looks up `keys` from `offset` on, round and round, until `stop`; with `sampled`, the first
/// lookup of every `SAMPLE_EVERY` is timed into a histogram.
fn spin(
    keys: &[Key],
    offset: usize,
    sampled: bool,
    stop: &Flag,
    go: &Barrier,
    mut f: impl FnMut(&Key) -> u32,
) -> ReaderFig {
    let mut hist = sampled.then(new_hist);
    let (head, tail) = keys.split_at(offset);
    let mut acc = 0u32;
    let mut n = 0u64;
    go.wait();
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    'run: loop {
        for chunk in tail.chunks(CHUNK).chain(head.chunks(CHUNK)) {
            match hist.as_mut() {
                None => {
                    for k in chunk {
                        acc = acc.wrapping_add(f(black_box(k)));
                    }
                }
                Some(h) => {
                    for group in chunk.chunks(SAMPLE_EVERY) {
                        let s = Instant::now();
                        acc = acc.wrapping_add(f(black_box(&group[0])));
                        h.saturating_record(s.elapsed().as_nanos().max(1) as u64);
                        for k in &group[1..] {
                            acc = acc.wrapping_add(f(black_box(k)));
                        }
                    }
                }
            }
            n += chunk.len() as u64;
            if stop.0.load(Ordering::Relaxed) {
                break 'run;
            }
        }
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_since(cpu0);
    black_box(acc);
    ReaderFig {
        lookups: n,
        wall_s,
        cpu_s,
        hist,
    }
}

/// One reader thread of `sys` (the engine's with its own `Mgm::reader`).
fn read_for(
    t: &Tables,
    sys: Sys,
    offset: usize,
    sampled: bool,
    stop: &Flag,
    go: &Barrier,
) -> ReaderFig {
    let ks = &t.keys;
    match sys {
        Sys::Engine => {
            let mut r = t.engine.mgm.reader().unwrap();
            spin(ks, offset, sampled, stop, go, |k| {
                consume(r.lookup(k.0, k.1, k.2, 1200))
            })
        }
        Sys::Rwlock => spin(ks, offset, sampled, stop, go, |k| t.rw.lookup(k)),
        Sys::Dash => spin(ks, offset, sampled, stop, go, |k| t.dash.lookup(k)),
        Sys::Limit => spin(ks, offset, sampled, stop, go, |k| t.limit.lookup(k)),
    }
}

/// The churn writer of (c) until `stop`; returns its achieved ops per second. Leaves every
/// table as it found it.
fn churn_for(t: &Tables, sys: Sys, stop: &Flag, go: &Barrier) -> f64 {
    let oif = IfKey::new(CHURN_IF);
    let (mgm, pim) = (&t.engine.mgm, t.engine.pim);
    let nth = |j: usize| &t.keys[(j * STRIDE) % t.keys.len()];
    let op = |k: &Key, add: bool| match sys {
        Sys::Engine => {
            let sel = Selector::Source {
                source: k.1,
                group: k.2,
            };
            if add {
                mgm.add_membership(pim, sel, oif, JOIN).unwrap();
            } else {
                mgm.delete_membership(pim, sel, oif, JOIN).unwrap();
            }
        }
        Sys::Rwlock => t.rw.churn(k, oif, add),
        Sys::Dash => t.dash.churn(k, oif, add),
        Sys::Limit => unreachable!("(c) churns only SYSTEMS; limit's map is immutable"),
    };
    go.wait();
    let t0 = Instant::now();
    let (mut ops, mut j) = (0u64, 0usize);
    while !stop.0.load(Ordering::Relaxed) {
        for _ in 0..CHURN_BATCH {
            op(nth(j), true);
            ops += 1;
            if j >= WINDOW {
                op(nth(j - WINDOW), false);
                ops += 1;
            }
            j += 1;
        }
        // Sleep until the pace says the next batch is due (no drift: from the total so far).
        let due = Duration::from_secs_f64(ops as f64 / CHURN_RATE);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let rate = ops as f64 / t0.elapsed().as_secs_f64();
    for back in 1..=WINDOW.min(j) {
        op(nth(j - back), false);
    }
    rate
}

/// What a run of two readers measured.
struct PairRun {
    /// Per reader.
    rate: Rate,
    /// The two readers' samples, with `sampled`.
    hist: Option<Histogram<u64>>,
    /// With `churn`.
    writer_ops_per_s: Option<f64>,
}

/// Two reader threads of `sys` for `dur`, starting at opposite offsets of the keys, and with
/// `churn` a writer thread.
fn run_pair(t: &Tables, sys: Sys, dur: Duration, sampled: bool, churn: bool) -> PairRun {
    let stop = Flag(AtomicBool::new(false));
    let go = Barrier::new(READERS + 1 + usize::from(churn));
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (stop, go) = (&stop, &go);
                let offset = r * t.keys.len() / READERS;
                s.spawn(move || read_for(t, sys, offset, sampled, stop, go))
            })
            .collect();
        let writer = churn.then(|| s.spawn(|| churn_for(t, sys, &stop, &go)));
        go.wait();
        std::thread::sleep(dur);
        stop.0.store(true, Ordering::Relaxed);
        let (mut lookups, mut wall, mut cpu) = (0u64, 0.0, Some(0.0));
        let mut hist: Option<Histogram<u64>> = None;
        for r in readers {
            let fig = r.join().unwrap();
            lookups += fig.lookups;
            wall += fig.wall_s;
            cpu = cpu.zip(fig.cpu_s).map(|(a, b)| a + b);
            if let Some(h) = fig.hist {
                match hist.as_mut() {
                    Some(all) => all.add(&h).unwrap(),
                    None => hist = Some(h),
                }
            }
        }
        PairRun {
            rate: Rate::of(lookups, wall, cpu),
            hist,
            writer_ops_per_s: writer.map(|w| w.join().unwrap()),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Machine facts

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// (level, type, size) of cpu0's caches, in index order.
fn caches() -> Vec<(String, String, String)> {
    let dir = "/sys/devices/system/cpu/cpu0/cache";
    let mut idx: Vec<u32> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("index")?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    idx.sort_unstable();
    idx.into_iter()
        .filter_map(|i| {
            let f = |name: &str| read_trimmed(&format!("{dir}/index{i}/{name}"));
            Some((f("level")?, f("type")?, f("size")?))
        })
        .collect()
}

/// Bytes of a sysfs cache size such as `32K` or `105M`.
fn cache_bytes(size: &str) -> Option<usize> {
    let (num, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit())?);
    let mult = match unit.trim() {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    Some(num.parse::<usize>().ok()? * mult)
}

/// (`Anonymous`, `AnonHugePages`) kB of this process, from `smaps_rollup` or else summed over
/// `smaps`.
fn anon_memory_kb() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .or_else(|_| std::fs::read_to_string("/proc/self/smaps"))
        .ok()?;
    let sum = |field: &str| -> Option<u64> {
        let mut found = false;
        let mut kb = 0;
        for l in text.lines() {
            if let Some(v) = l.strip_prefix(field) {
                found = true;
                kb += v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()?;
            }
        }
        found.then_some(kb)
    };
    Some((sum("Anonymous:")?, sum("AnonHugePages:")?))
}

/// The machine facts known before any table is built, printed.
fn machine_facts(p: &Params) -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .filter(|l| l.starts_with("model name"))
            .find_map(|l| Some(l.split_once(':')?.1.trim().to_string()))
    });
    let caches = caches();
    let thp = read_trimmed("/sys/kernel/mm/transparent_hugepage/enabled");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("  cpu: {}, {cores} cores", cpu.as_deref().unwrap_or("?"));
    println!(
        "  caches (cpu0): {}",
        caches
            .iter()
            .map(|(l, t, s)| format!("L{l} {t} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  transparent huge pages: {}",
        thp.as_deref().unwrap_or("?")
    );
    json!({
        "cpu": cpu,
        "cores": cores,
        "caches": caches
            .iter()
            .map(|(l, t, s)| json!({"level": l.parse::<u32>().ok(), "type": t, "size": s}))
            .collect::<Vec<_>>(),
        "thp_enabled": thp,
        "anon_kb": null,
        "anon_huge_pages_kb": null,
        "mode": match (p.quick, p.custom) {
            (_, true) => "sizes",
            (true, false) => "quick",
            (false, false) => "full",
        },
        "sizes": p.sizes,
        "big": p.big(),
    })
}

// ---------------------------------------------------------------------------------------------
// Report

struct Report {
    rows: Vec<serde_json::Value>,
    /// Figures that are no target but say what one means (the ceiling of (b)).
    context: Vec<serde_json::Value>,
}

impl Report {
    fn context(&mut self, metric: &str, value: f64) {
        println!("  {metric:<68} {value:>10.2}");
        self.context
            .push(json!({"metric": metric, "value": round(value)}));
    }

    fn add(
        &mut self,
        metric: &str,
        engine: f64,
        baseline: Option<f64>,
        ratio: Option<f64>,
        target: &str,
        met: bool,
    ) {
        println!(
            "  {:<68} engine {:>10.2}  baseline {:>10}  ratio {:>6}  target {:<14} {}",
            metric,
            engine,
            baseline.map_or("-".into(), |b| format!("{b:.2}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}")),
            target,
            if met { "MET" } else { "MISSED" }
        );
        self.rows.push(json!({
            "metric": metric,
            "engine": round(engine),
            "baseline": baseline.map(round),
            "ratio": ratio.map(round),
            "target": target,
            "met": met,
        }));
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Prints the wall-clock figures beside a row decided on CPU-seconds.
fn wall_note(engine: f64, baseline: f64) {
    println!(
        "  {:<68} wall   {engine:>10.2}  wall     {baseline:>10.2}  ratio {:>6.2}  (wall-clock)",
        "",
        engine / baseline
    );
}

// ---------------------------------------------------------------------------------------------

struct Params {
    quick: bool,
    /// Ascending; the last is "big" (1M, 100k with `--quick`, or the last of `--sizes`).
    sizes: Vec<u32>,
    /// Rounds of (a), (h), (i).
    rounds: usize,
    /// Lookups per system and round in (a) and (i).
    lookups: usize,
    /// Rounds of (b) and (c).
    pair_rounds: usize,
    /// Per run of (b).
    pair_dur: Duration,
    /// Per run of (c), idle and churn alike.
    churn_dur: Duration,
    op_pairs: u32,
    release_samples: (usize, usize),
    stale_iters: u32,
    /// The sizes came from `--sizes`.
    custom: bool,
}

/// The sizes of `--sizes`: MFE counts separated by commas, ascending, each from 1,000 to
/// 4,000,000.
fn parse_sizes(arg: Option<&str>) -> Result<Vec<u32>, String> {
    let arg = arg.ok_or("expected a list such as 10000,25000,50000")?;
    let mut v = Vec::new();
    for part in arg.split(',') {
        let n: u32 = part
            .trim()
            .parse()
            .map_err(|_| format!("{part:?} is not a count of MFEs"))?;
        if !(1_000..=4_000_000).contains(&n) {
            return Err(format!("{n} is outside 1000..=4000000"));
        }
        if let Some(&last) = v.last().filter(|&&last| last >= n) {
            return Err(format!("{n} does not come after {last}: sizes go up"));
        }
        v.push(n);
    }
    Ok(v)
}

impl Params {
    fn small(&self) -> u32 {
        self.sizes[0]
    }
    fn big(&self) -> u32 {
        self.sizes[self.sizes.len() - 1]
    }
    /// `--quick` without `--sizes`: the big-size rows are 100k, not 1M.
    fn scaled_down(&self) -> bool {
        self.quick && !self.custom
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only abcdefghi`: run only these workloads (for profiling); the JSON then has their rows.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let want = |w: char| only.as_ref().is_none_or(|o| o.contains(w));
    // `--sizes 10000,25000,50000`: the tables are built at these sizes instead (for a sweep;
    // the targets are then named by these sizes, and "big" is the last).
    let sizes = match args.iter().position(|a| a == "--sizes") {
        None => None,
        Some(i) => match parse_sizes(args.get(i + 1).map(String::as_str)) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("compare: --sizes: {e}");
                std::process::exit(2);
            }
        },
    };
    let mut p = if quick {
        Params {
            quick,
            sizes: vec![10_000, 100_000],
            rounds: 3,
            lookups: 1_000_000,
            pair_rounds: 2,
            pair_dur: Duration::from_millis(200),
            churn_dur: Duration::from_millis(300),
            op_pairs: 50_000,
            release_samples: (11, 3),
            stale_iters: 2_000_000,
            custom: false,
        }
    } else {
        Params {
            quick,
            sizes: vec![10_000, 100_000, 1_000_000],
            rounds: 5,
            lookups: 2_000_000,
            pair_rounds: 5,
            pair_dur: Duration::from_millis(300),
            churn_dur: Duration::from_millis(450),
            op_pairs: 200_000,
            release_samples: (31, 5),
            stale_iters: 20_000_000,
            custom: false,
        }
    };
    if let Some(v) = sizes {
        p.sizes = v;
        p.custom = true;
    }
    let t_all = Instant::now();
    println!(
        "mgm compare ({}{}): sizes {}{}",
        if quick { "--quick" } else { "full" },
        if p.custom { ", --sizes" } else { "" },
        p.sizes
            .iter()
            .map(|n| label(*n))
            .collect::<Vec<_>>()
            .join(", "),
        if p.scaled_down() {
            " (1M scaled down to 100k for --quick: the big-size rows below are 100k)"
        } else {
            ""
        }
    );
    let mut machine = machine_facts(&p);
    let mut report = Report {
        rows: Vec::new(),
        context: Vec::new(),
    };
    let big = label(p.big());
    let small = label(p.small());

    // The tables, built once: the big size first, while the allocator counts (g).
    let mut tables: Vec<Tables> = Vec::new();
    if "abcdghi".chars().any(want) {
        println!("\n(g) memory at {big} MFEs with 4 OIFs");
        let (engine_big, mem_total, mem_data) = measure_memory(p.big());
        let n = p.big();
        let oifs = oif_keys(4);
        let (limit, limit_b) = counted(n, || Limit::new(n, &oifs));
        let (rw, rw_b) = counted(n, || Rw::new(n, &oifs));
        let (dash, dash_b) = counted(n, || Dash::new(n, &oifs));
        let (naive, naive_b) = counted(n, || Naive::new(n, &oifs));
        println!(
            "  bytes/MFE: engine total {mem_total:.1}, engine data plane {mem_data:.1}, limit {limit_b:.1}, rwlock {rw_b:.1}, dashmap {dash_b:.1}, naive {naive_b:.1}"
        );
        if want('g') {
            report.add(
                &format!("memory bytes/MFE at {big}, 4 OIFs, whole engine (vs naive)"),
                mem_total,
                Some(naive_b),
                Some(mem_total / naive_b),
                "<= 256 B",
                mem_total <= 256.0,
            );
            report.add(
                &format!("memory bytes/MFE at {big}, 4 OIFs, data plane (vs limit)"),
                mem_data,
                Some(limit_b),
                Some(mem_data / limit_b),
                "<= 160 B",
                mem_data <= 160.0,
            );
        }
        tables.push(Tables {
            n,
            engine: engine_big,
            limit,
            rw,
            dash,
            naive: Some(naive),
            keys: keys(n, 0x5eed),
        });
        for &n in p.sizes.iter().rev().skip(1) {
            tables.push(build_tables(filled(n, 4), n == p.small()));
        }
        tables.reverse();
        for t in &tables {
            check_tables(t);
        }
        let anon = anon_memory_kb();
        if let Some((anon_kb, huge_kb)) = anon {
            machine["anon_kb"] = json!(anon_kb);
            machine["anon_huge_pages_kb"] = json!(huge_kb);
        }
        println!(
            "  built the tables of {} ({:.1} s so far); anonymous memory {}, of it in transparent huge pages {}",
            p.sizes.iter().map(|n| label(*n)).collect::<Vec<_>>().join(", "),
            t_all.elapsed().as_secs_f64(),
            anon.map_or("?".into(), |a| format!("{} MiB", a.0 >> 10)),
            anon.map_or("?".into(), |a| format!("{} MiB", a.1 >> 10)),
        );
    }
    let t_small = tables.first();
    let t_big = tables.last();

    // (a) one reader.
    if want('a') {
        println!(
            "\n(a) one reader, M lookups per CPU-s (per wall-clock s) and wall ns/lookup; median of {} round(s) of ~{}M lookups per system",
            p.rounds,
            p.lookups / 1_000_000
        );
        let mut hits = Vec::new();
        for t in &tables {
            let passes = (p.lookups / t.n as usize).max(1);
            let ks = &t.keys;
            let mut reader = t.engine.mgm.reader().unwrap();
            let steal0 = cpu_jiffies();
            let mut r: [Vec<Rate>; 4] = Default::default();
            for _ in 0..p.rounds {
                r[0].push(time_rate(ks, passes, |k| {
                    consume(reader.lookup(k.0, k.1, k.2, 1200))
                }));
                r[1].push(time_rate(ks, passes, |k| t.limit.lookup(k)));
                r[2].push(time_rate(ks, passes, |k| t.rw.lookup(k)));
                r[3].push(time_rate(ks, passes, |k| t.dash.lookup(k)));
            }
            let [e, l, rw, d] = r.map(|v| Rate::median(&v));
            let show = |r: Rate| format!("{:>6.2} ({:>6.2}) {:>6.1} ns", r.cpu, r.wall, r.ns());
            println!(
                "  {:>5}: engine {}  limit {}  rwlock {}  dashmap {}  steal {}",
                label(t.n),
                show(e),
                show(l),
                show(rw),
                show(d),
                steal_since(steal0)
            );
            hits.push((t.n, e, l, rw, d));
        }
        for &(n, e, _, rw, d) in &hits {
            for (name, b) in [("rwlock", rw), ("dashmap", d)] {
                let ratio = e.cpu / b.cpu;
                report.add(
                    &format!("one reader, Mlookups/CPU-s at {} (vs {name})", label(n)),
                    e.cpu,
                    Some(b.cpu),
                    Some(ratio),
                    "ratio >= 1.5",
                    ratio >= 1.5,
                );
                wall_note(e.wall, b.wall);
            }
        }
        for &(n, e, l, _, _) in &hits {
            if n == p.small() || n == p.big() {
                let ratio = e.ns() / l.ns();
                report.add(
                    &format!("hit lookup ns at {} (vs limit)", label(n)),
                    e.ns(),
                    Some(l.ns()),
                    Some(ratio),
                    "ratio <= 1.2",
                    ratio <= 1.2,
                );
            }
        }
    }

    // (b) two readers, no writer.
    if want('b') {
        println!(
            "\n(b) two readers, no writer: per reader M lookups per CPU-s (per wall-clock s); median of {} round(s) of {:.2} s",
            p.pair_rounds,
            p.pair_dur.as_secs_f64()
        );
        for t in &tables {
            let steal0 = cpu_jiffies();
            let mut runs: [Vec<Rate>; 4] = Default::default();
            for _ in 0..p.pair_rounds {
                for (i, sys) in SYSTEMS.into_iter().chain([Sys::Limit]).enumerate() {
                    runs[i].push(run_pair(t, sys, p.pair_dur, false, false).rate);
                }
            }
            let [e, rw, d, lim] = runs.map(|v| Rate::median(&v));
            println!(
                "  {:>5}: engine {:>6.2} ({:>6.2})  rwlock {:>6.2} ({:>6.2})  dashmap {:>6.2} ({:>6.2})  limit {:>6.2} ({:>6.2})  steal {}",
                label(t.n),
                e.cpu,
                e.wall,
                rw.cpu,
                rw.wall,
                d.cpu,
                d.wall,
                lim.cpu,
                lim.wall,
                steal_since(steal0)
            );
            for (name, b) in [("rwlock", rw), ("dashmap", d)] {
                let ratio = e.cpu / b.cpu;
                report.add(
                    &format!(
                        "two readers, Mlookups/CPU-s per reader at {} (vs {name})",
                        label(t.n)
                    ),
                    e.cpu,
                    Some(b.cpu),
                    Some(ratio),
                    "ratio >= 3",
                    ratio >= 3.0,
                );
                wall_note(e.wall, b.wall);
            }
            // The bar against the ceiling: 3 x the better baseline over what two readers of
            // a plain map with no counters reach. Above 1, no lookup that counts can meet it.
            report.context(
                &format!(
                    "two readers at {}: limit per reader, M lookups/CPU-s",
                    label(t.n)
                ),
                lim.cpu,
            );
            report.context(
                &format!(
                    "two readers at {}: 3 x max(rwlock, dashmap) / limit",
                    label(t.n)
                ),
                3.0 * rw.cpu.max(d.cpu) / lim.cpu,
            );
        }
    }

    // (c) two readers, idle and under churn.
    if want('c') {
        println!(
            "\n(c) two readers idle, then with a writer paced at {CHURN_RATE:.0} ops/s (sleeping between batches of {}); every {SAMPLE_EVERY}th lookup timed; {} round(s) of {:.2} s each",
            2 * CHURN_BATCH,
            p.pair_rounds,
            p.churn_dur.as_secs_f64()
        );
        println!("  per reader M lookups per CPU-s (per wall-clock s), p50 / p99 ns");
        for t in &tables {
            let mut idle: Vec<Vec<PairRun>> = SYSTEMS.iter().map(|_| Vec::new()).collect();
            let mut busy: Vec<Vec<PairRun>> = SYSTEMS.iter().map(|_| Vec::new()).collect();
            let steal0 = cpu_jiffies();
            for _ in 0..p.pair_rounds {
                for (i, sys) in SYSTEMS.into_iter().enumerate() {
                    idle[i].push(run_pair(t, sys, p.churn_dur, true, false));
                    busy[i].push(run_pair(t, sys, p.churn_dur, true, true));
                }
            }
            // (rate, p50, p99, slowest writer)
            let sum = |runs: &[PairRun]| {
                let rate = Rate::median(&runs.iter().map(|r| r.rate).collect::<Vec<_>>());
                let mut h = new_hist();
                for r in runs {
                    h.add(r.hist.as_ref().unwrap()).unwrap();
                }
                let writer = runs
                    .iter()
                    .filter_map(|r| r.writer_ops_per_s)
                    .reduce(f64::min);
                (
                    rate,
                    h.value_at_quantile(0.5),
                    h.value_at_quantile(0.99),
                    writer,
                )
            };
            println!(
                "  {:>5}: steal {} during these runs",
                label(t.n),
                steal_since(steal0)
            );
            let mut engine = None;
            for (i, sys) in SYSTEMS.into_iter().enumerate() {
                let (ir, i50, i99, _) = sum(&idle[i]);
                let (br, b50, b99, w) = sum(&busy[i]);
                let w = w.unwrap_or(0.0);
                println!(
                    "  {:>5} {:<8} idle {:>6.2} ({:>6.2}) {:>4} / {:>5} | churn {:>6.2} ({:>6.2}) {:>4} / {:>5}, writer {:>7.0} ops/s{}",
                    label(t.n),
                    sys.name(),
                    ir.cpu,
                    ir.wall,
                    i50,
                    i99,
                    br.cpu,
                    br.wall,
                    b50,
                    b99,
                    w,
                    if w < CHURN_FLOOR { " (short of 100k)" } else { "" }
                );
                if sys == Sys::Engine {
                    engine = Some((ir, i99, br, b99, w));
                }
            }
            let (ir, i99, br, b99, w) = engine.unwrap();
            let writer_ok = w >= CHURN_FLOOR;
            let n = label(t.n);
            let ratio = br.cpu / ir.cpu;
            report.add(
                &format!("two readers under churn, Mlookups/CPU-s per reader at {n} (vs idle)"),
                br.cpu,
                Some(ir.cpu),
                Some(ratio),
                "ratio >= 0.9",
                ratio >= 0.9 && writer_ok,
            );
            wall_note(br.wall, ir.wall);
            let ratio = b99 as f64 / i99 as f64;
            report.add(
                &format!("two readers under churn, p99 ns at {n} (vs idle p99)"),
                b99 as f64,
                Some(i99 as f64),
                Some(ratio),
                "ratio <= 2",
                ratio <= 2.0 && writer_ok,
            );
            if !writer_ok {
                println!(
                    "  note: the engine's writer fell short of 100k ops/s: its rows count as missed"
                );
            }
        }
    }

    // (h) burst lookups at the big size.
    if let (true, Some(t)) = (want('h'), t_big) {
        println!(
            "\n(h) burst lookups at {big}, ns/key (median of {} round(s))",
            p.rounds
        );
        let ks = &t.keys;
        let pk: Vec<PacketKey<A>> = ks
            .iter()
            .map(|k| PacketKey {
                arrival: k.0,
                source: k.1,
                group: k.2,
                bytes: 1200,
            })
            .collect();
        let mut reader = t.engine.mgm.reader().unwrap();
        let (mut e, mut l) = (vec![], vec![]);
        for _ in 0..p.rounds {
            let start = Instant::now();
            let mut acc = 0u32;
            for burst in pk.chunks_exact(MAX_BURST) {
                let mut v = [Verdict::Miss; MAX_BURST];
                let done = reader.lookup_burst(black_box(burst), &mut v).unwrap();
                acc = acc.wrapping_add(v[..done].iter().map(|v| consume(*v)).sum::<u32>());
            }
            black_box(acc);
            e.push(start.elapsed().as_nanos() as f64 / (pk.len() / MAX_BURST * MAX_BURST) as f64);
            l.push(time_lookups(ks, 1, |k| t.limit.lookup(k)));
        }
        let (e, l) = (median(e), median(l));
        println!("  engine burst {e:.1}  limit one-by-one {l:.1}");
        report.add(
            &format!("burst256 lookup ns/key at {big} (vs limit)"),
            e,
            Some(l),
            Some(e / l),
            "ratio < 1.0",
            e / l < 1.0,
        );
    }

    // (i) miss and wrong-interface verdicts at the small size.
    if let (true, Some(t)) = (want('i'), t_small) {
        println!(
            "\n(i) miss and wrong-interface lookups at {small}, ns/lookup (median of {} round(s))",
            p.rounds
        );
        let order = shuffled(t.n, 0x0dd);
        let hit: Vec<Key> = order
            .iter()
            .map(|&i| (iif(i), source(i), group(i)))
            .collect();
        let miss: Vec<Key> = order
            .iter()
            .map(|&i| (iif(i), source(i), unused_group(i)))
            .collect();
        let wrong: Vec<Key> = order
            .iter()
            .map(|&i| (other_iif(i), source(i), group(i)))
            .collect();
        let passes = (p.lookups / t.n as usize).max(1);
        let mut reader = t.engine.mgm.reader().unwrap();
        let mut r: [Vec<f64>; 3] = Default::default();
        // The verdicts are checked once, outside the timing.
        let kinds = [
            (&hit, "forward"),
            (&miss, "miss"),
            (&wrong, "wrong interface"),
        ];
        for (ks, what) in kinds {
            let k = ks[0];
            let v = reader.lookup(k.0, k.1, k.2, 1200);
            let ok = match what {
                "forward" => matches!(v, Verdict::Forward(_)),
                "miss" => matches!(v, Verdict::Miss),
                _ => matches!(v, Verdict::WrongInterface { .. }),
            };
            assert!(ok, "expected a {what} verdict, got {v:?}");
        }
        for _ in 0..p.rounds {
            for (i, (ks, _)) in kinds.iter().enumerate() {
                r[i].push(time_lookups(ks, passes, |k| {
                    consume(reader.lookup(k.0, k.1, k.2, 1200))
                }));
            }
        }
        let [h, m, w] = r.map(median);
        println!("  engine hit {h:.1}  miss {m:.1}  wrong interface {w:.1}");
        for (name, x) in [("miss", m), ("wrong-interface", w)] {
            report.add(
                &format!("{name} lookup ns at {small} (vs hit)"),
                x,
                Some(h),
                Some(x / h),
                "ratio <= 2",
                x / h <= 2.0,
            );
        }
    }

    // (d) membership op cost.
    if let (true, Some(ts), Some(tb)) = (want('d'), t_small, t_big) {
        println!("\n(d) membership ops touching one MFE, one thread, ns/op");
        let mut op_ns = Vec::new();
        for t in [ts, tb] {
            let ks = keys(t.n, 0xd00d);
            let naive = t.naive.as_ref().unwrap();
            let k = IfKey::new(CHURN_IF);
            let (mgm, pim) = (&t.engine.mgm, t.engine.pim);
            let mut e = Vec::new();
            let mut nv = Vec::new();
            for _ in 0..p.rounds.min(3) {
                let start = Instant::now();
                for j in 0..p.op_pairs as usize {
                    let key = &ks[(j * STRIDE) % ks.len()];
                    let sel = Selector::Source {
                        source: key.1,
                        group: key.2,
                    };
                    mgm.add_membership(pim, sel, k, JOIN).unwrap();
                    mgm.delete_membership(pim, sel, k, JOIN).unwrap();
                }
                e.push(start.elapsed().as_nanos() as f64 / (2 * p.op_pairs) as f64);
                let start = Instant::now();
                for j in 0..p.op_pairs as usize {
                    let key = &ks[(j * STRIDE) % ks.len()];
                    naive.add(k, key.1, key.2);
                    naive.delete(k, key.1, key.2);
                }
                nv.push(start.elapsed().as_nanos() as f64 / (2 * p.op_pairs) as f64);
            }
            let (e, nv) = (median(e), median(nv));
            println!(
                "  {:>5}: engine {e:.0} ns/op ({:.2} M ops/s)  naive {nv:.0} ns/op",
                label(t.n),
                1e3 / e
            );
            op_ns.push((e, nv));
        }
        let (e10k, nv10k) = op_ns[0];
        let (e_big, _) = op_ns[1];
        let ops = 1e9 / e10k;
        report.add(
            &format!("membership ops/s, one thread, touching 1 MFE, at {small} (vs naive)"),
            ops,
            Some(1e9 / nv10k),
            Some(nv10k / e10k),
            ">= 1e6 ops/s",
            ops >= 1e6,
        );
        report.add(
            &format!("membership op ns at {big} (vs at {small})"),
            e_big,
            Some(e10k),
            Some(e_big / e10k),
            "ratio <= 1.5",
            e_big / e10k <= 1.5,
        );
    }

    // The tables are not needed any more: (e) builds its own engines, on a quiet heap.
    drop(tables);

    // (e) release.
    if want('e') {
        println!("\n(e) release of the incoming interface of N MFEs, median µs");
        let evict_bytes = evict_bytes();
        let (vis1k, call1k, after1k) = measure_release(1_000, p.release_samples.0, evict_bytes);
        let (vis100k, call100k, after100k) =
            measure_release(100_000, p.release_samples.1, evict_bytes);
        println!(
            "  1k: reader-visible {vis1k:.1} µs, whole call {call1k:.1} µs, swap seen -> call returns {after1k:.1} µs"
        );
        println!(
            "  100k: reader-visible {vis100k:.1} µs, whole call {call100k:.1} µs, swap seen -> call returns {after100k:.1} µs"
        );
        report.add(
            "release reader-visible µs at 100k (vs at 1k)",
            vis100k,
            Some(vis1k),
            Some(vis100k / vis1k),
            "ratio <= 2",
            vis100k / vis1k <= 2.0,
        );
        println!(
            "  (for reference: whole-call ratio 100k/1k = {:.1})",
            call100k / call1k
        );
    }

    // (f) stale handle.
    if want('f') {
        println!("\n(f) stale-handle rejection");
        let stale = measure_stale(p.stale_iters);
        println!("  take_interface(stale) {stale:.2} ns/call");
        report.add(
            "stale handle rejection ns (absolute)",
            stale,
            None,
            None,
            "<= 5 ns",
            stale <= 5.0,
        );
    }

    let met = report.rows.iter().filter(|r| r["met"] == true).count();
    println!("\n  targets met: {met} of {}", report.rows.len());
    let path = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from("target"), Into::into)
        .join("compare.json");
    let json = serde_json::to_string_pretty(&json!({
        "machine": machine,
        "targets": report.rows,
        "context": report.context,
    }))
    .unwrap();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, json).unwrap();
    println!(
        "wrote {} ({:.1} s in all{})",
        path.display(),
        t_all.elapsed().as_secs_f64(),
        if p.scaled_down() {
            "; --quick: the big size is 100k, not 1M"
        } else {
            ""
        }
    );
}

/// Builds a baseline of `n` entries with the allocator counting; returns it with its bytes
/// per entry (live bytes after minus before).
fn counted<T>(n: u32, build: impl FnOnce() -> T) -> (T, f64) {
    let live0 = LIVE.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let b = build();
    COUNTING.store(false, Ordering::SeqCst);
    let bytes = (LIVE.load(Ordering::Relaxed) - live0) as f64 / f64::from(n);
    (b, bytes)
}

/// Frees what the epoch collector holds, as far as a pinned flush can.
fn flush_epochs() {
    for _ in 0..256 {
        crossbeam::epoch::pin().flush();
    }
}

/// Builds the engine with `n` MFEs while counting; returns it with (total, data-plane) bytes
/// per MFE.
fn measure_memory(n: u32) -> (Filled, f64, f64) {
    let mut f = empty(4);
    flush_epochs();
    let before = classes();
    let live0 = LIVE.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let start = Instant::now();
    grow(&mut f, n);
    flush_epochs();
    COUNTING.store(false, Ordering::SeqCst);
    let built = start.elapsed();
    let total = (LIVE.load(Ordering::Relaxed) - live0) as f64 / f64::from(n);
    let before: FxHashMap<u64, (i64, i64)> =
        before.into_iter().map(|(k, c, b)| (k, (c, b))).collect();
    let mut grown: Vec<(usize, usize, i64, i64)> = classes()
        .into_iter()
        .map(|(k, c, b)| {
            let (c0, b0) = before.get(&k).copied().unwrap_or((0, 0));
            let k = k - 1;
            ((k >> 8) as usize, 1usize << (k & 0xff), c - c0, b - b0)
        })
        .filter(|c| c.3 > 0)
        .collect();
    grown.sort_by_key(|c| -c.3);
    println!(
        "  built {} MFEs in {:.2} s ({:.2} µs per new_packet, counting allocator on)",
        label(n),
        built.as_secs_f64(),
        built.as_secs_f64() * 1e6 / f64::from(n)
    );
    println!("  live allocations grown by the build (size, align: count, bytes/MFE):");
    let mut data = 0i64;
    let mut seen = HashSet::new();
    for &(size, align, count, bytes) in grown.iter().take(12) {
        // Data plane: the shard tables (tag words, a copy of the slots per worker: one 64-byte or
        // 2 MiB aligned block each), and the writers' books (8-aligned vectors of LARGE and
        // up; the control plane's hash table is as large but 16-aligned, and its other
        // allocations are small: boxed records, OIF vectors, key-index nodes).
        let is_data = align >= 32 || (size >= LARGE && align == 8);
        if is_data && seen.insert((size, align)) {
            data += bytes;
        }
        println!(
            "    {:>8}{} B, align {:>2}: {:>9} allocations, {:>7.1} B/MFE{}",
            size,
            if size >= LARGE { "+" } else { "" },
            align,
            count,
            bytes as f64 / f64::from(n),
            if is_data { "  [data plane]" } else { "" }
        );
    }
    (f, total, data as f64 / f64::from(n))
}

/// Bytes walked by [`evict_caches`]: at least 128 MiB, and twice the largest cache of cpu0
/// (the last-level cache of this project's machines ranges from 32 MiB to 260 MB).
fn evict_bytes() -> usize {
    let largest = caches()
        .iter()
        .filter_map(|c| cache_bytes(&c.2))
        .max()
        .unwrap_or(0);
    (128 << 20).max(2 * largest)
}

/// Reads one byte per cache line of `buf`, so the caches (and, with 4 KiB pages, the TLB)
/// hold this buffer and nothing of the engine.
fn evict_caches(buf: &[u8]) {
    let mut sum = 0u64;
    for i in (0..buf.len()).step_by(64) {
        sum = sum.wrapping_add(u64::from(buf[i]));
    }
    black_box(sum);
}

/// Involuntary context switches of the calling thread so far, if the kernel says.
fn preemptions() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// (reader-visible µs, whole call µs, µs from the reader seeing the shard gone until the call
/// returned), medians of `samples` releases of an interface with `n` MFEs.
///
/// Two conditions make a sample measure the engine and nothing else:
/// * The same cache state at every `n`: building `n` MFEs right before the call leaves the
///   release path's code and data in the caches at 1k and evicts them at 100k, so the two
///   sizes would compare a warm call with a cold one. The caches are evicted before each
///   release at every size: the call starts cold, as a control-plane call does on a router
///   whose caches hold the packet path.
/// * The reader spinning through the whole window: on a shared machine a reader preempted
///   at the wrong moment sees the change a time slice (milliseconds) late, which measures
///   the scheduler. The reader counts its involuntary context switches from arming until it
///   saw the MFE gone; a sample where it was preempted is redone (at most `9 * samples`
///   times, then kept; both counts are printed). Blocking in the engine would show as a
///   voluntary switch or as a longer spin, neither of which is filtered.
fn measure_release(n: u32, samples: usize, evict_bytes: usize) -> (f64, f64, f64) {
    let f = empty(4);
    let k = IfKey::new(50);
    f.mgm
        .add_route(Route::new(Ipv4Addr::new(11, 0, 0, 0), 8, k))
        .unwrap();
    let src = |i: u32| Ipv4Addr::from(0x0B00_0000 | (i.wrapping_mul(0x9E37_79B1) & 0x00FF_FFFF));
    let (s0, g0) = (src(0), group(0));
    // 0 idle, 1 spin until the MFE is gone, 2 exit. The reader publishes when it saw the MFE
    // (armed), when it saw it gone (ns since `epoch`) and whether it was preempted meanwhile.
    let state = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicBool::new(false));
    let seen_ns = Arc::new(AtomicU64::new(0));
    let last_fwd_ns = Arc::new(AtomicU64::new(0));
    let preempted = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let reader = {
        let (mgm, state, armed, seen_ns, last_fwd_ns, preempted) = (
            f.mgm.clone(),
            state.clone(),
            armed.clone(),
            seen_ns.clone(),
            last_fwd_ns.clone(),
            preempted.clone(),
        );
        std::thread::spawn(move || {
            let mut r = mgm.reader().unwrap();
            let mut switches = None;
            loop {
                match state.load(Ordering::Acquire) {
                    2 => break,
                    1 => {
                        if switches.is_none() {
                            switches = Some(preemptions());
                        }
                        let before = epoch.elapsed().as_nanos() as u64;
                        let forward = matches!(r.lookup(k, s0, g0, 100), Verdict::Forward(_));
                        if forward {
                            last_fwd_ns.store(before, Ordering::Relaxed);
                            armed.store(true, Ordering::Release);
                        } else if armed.load(Ordering::Relaxed) {
                            seen_ns.store(epoch.elapsed().as_nanos() as u64, Ordering::Release);
                            let from = switches.take().flatten();
                            preempted
                                .store(from.is_some() && preemptions() != from, Ordering::Relaxed);
                            armed.store(false, Ordering::Relaxed);
                            state.store(0, Ordering::Release);
                        }
                    }
                    _ => {
                        r.quiesce();
                        std::thread::yield_now();
                    }
                }
            }
        })
    };
    let evict = vec![1u8; evict_bytes];
    let (mut vis, mut call, mut after, mut lower) = (vec![], vec![], vec![], vec![]);
    let (mut redone, mut kept_preempted) = (0, 0);
    while vis.len() < samples {
        f.mgm.take_interface(f.pim, k).unwrap();
        for i in 0..n {
            f.mgm.new_packet(k, src(i), group(i)).unwrap();
        }
        flush_epochs();
        evict_caches(&evict);
        state.store(1, Ordering::Release);
        while !armed.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let t0 = epoch.elapsed().as_nanos() as u64;
        f.mgm.release_interface(f.pim, k).unwrap();
        let t1 = epoch.elapsed().as_nanos() as u64;
        // Yield, not spin: two cores are shared by this thread, the reader and other load.
        while state.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        if preempted.load(Ordering::Relaxed) {
            if redone < 9 * samples {
                redone += 1;
                continue;
            }
            kept_preempted += 1;
        }
        let seen = seen_ns.load(Ordering::Acquire);
        let last_fwd = last_fwd_ns.load(Ordering::Relaxed);
        vis.push(seen.saturating_sub(t0) as f64 / 1e3);
        lower.push(last_fwd.saturating_sub(t0) as f64 / 1e3);
        call.push((t1 - t0) as f64 / 1e3);
        after.push(t1.saturating_sub(seen) as f64 / 1e3);
    }
    state.store(2, Ordering::Release);
    reader.join().unwrap();
    println!(
        "  {}: the swap fell between {:.1} µs (start of the last lookup still forwarding) and {:.1} µs (first lookup that missed) after the call began (medians of {}; reader preempted: {redone} redone, {kept_preempted} kept)",
        label(n),
        median(lower.clone()),
        median(vis.clone()),
        vis.len()
    );
    (median(vis), median(call), median(after))
}

fn measure_stale(iters: u32) -> f64 {
    let mgm = Mgm::<A>::default();
    let (h, _) = mgm.register(PIM_ID, 1, Arc::new(DefaultHooks)).unwrap();
    mgm.deregister(h).unwrap();
    let h: ProtocolHandle = h;
    let k = IfKey::new(1);
    let mut v = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut refused = 0u32;
        for _ in 0..iters / 5 {
            refused += u32::from(mgm.take_interface(black_box(h), k).is_err());
        }
        black_box(refused);
        v.push(start.elapsed().as_nanos() as f64 / f64::from(iters / 5));
    }
    median(v)
}
