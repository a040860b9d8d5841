//! The comparison harness of engine.md section 7 (issue #4): the engine against the baselines
//! *limit*, *naive* and *dashmap*, built in this binary and measured in the same run, so every
//! figure is a ratio from one run on one (noisy, shared, 2-core) machine.
//!
//! Run: `cargo bench --bench compare` (full, under 5 minutes on 2 cores) or
//! `cargo bench --bench compare -- --quick` (under a minute; the 1M-MFE workloads are scaled
//! down to 100k and the output says so). Prints a table and writes `compare.json` (a list of
//! `{"metric","engine","baseline","ratio","target","met"}`, one per target) into
//! `$CARGO_TARGET_DIR`, else `target/`.
//!
//! Dimensions (IPv4; the engine is filled through its public API as `benches/common/mod.rs`
//! describes: 8 upstream interfaces = 8 shards, 4 OIFs per MFE from `(*,*)` memberships,
//! MFEs created by `Mgm::new_packet`; default config, so one counter slot per core):
//!
//! * (a) hit lookups at 10k and 1M MFEs, keys in a shuffled deterministic order (a cache miss
//!   per lookup at 1M), each system reading the OIF count and first OIF of the verdict;
//!   `rounds` interleaved rounds, median ns per lookup.
//! * (b) one reader thread (lookups, every 16th one timed into an HDR histogram, so p50/p99
//!   include the ~20-30 ns of two `Instant::now` calls) alone, then with one writer thread
//!   churning (S,G) JOIN memberships on interface 200 (add one, delete the one added 256 adds
//!   earlier; each touches one MFE) paced at `CHURN_RATE` ops/s, for the engine, *naive* and
//!   *dashmap*, at 10k and 1M MFEs. 1 reader + 1 writer: the machine has 2 cores. Throughput
//!   is counted per second of the reader thread's own CPU time (`/proc/thread-self/schedstat`)
//!   so that the scheduler's sharing of two cores with the writer and with other processes is
//!   not counted as interference; wall-clock figures are printed beside.
//! * (c) `lookup_burst` of 256 keys at 1M against *limit*'s one-by-one lookups.
//! * (d) single-thread membership add/delete of (S,G) selectors touching one MFE each, at 10k
//!   and 1M MFEs (engine; *naive* for reference).
//! * (e) release of an interface that is the incoming interface of 1k and 100k MFEs: the
//!   whole call, and the reader-visible time = from the start of the call until a reader
//!   spinning on a lookup of one of those MFEs first sees it gone. Each call starts with the
//!   caches evicted, at both sizes; a sample in which the reader was preempted is redone
//!   (see `measure_release`).
//! * (f) `take_interface` with a deregistered handle, ns per rejected call.
//! * (g) bytes per MFE at 1M MFEs with 4 OIFs, counters included (one 32-byte record per
//!   worker slot), from the counting global allocator below: live bytes after minus before
//!   building, over the number of MFEs, once for the whole engine (control plane maps
//!   included) and once for the data plane alone (allocations identified by their layout:
//!   shard slot arrays, counter chunks and the table writers' books).
//!
//! Baselines: *limit* = single-threaded `FxHashMap<(iif, S, G), [OIF; 4]>`; *naive* = the
//! same MGM semantics for these workloads (memberships and entries in `FxHashMap`s, packet
//! and byte counters per entry) behind one global `RwLock`; *dashmap* = the entries in one
//! `DashMap` (FxHash), memberships on the writer's side.
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hdrhistogram::Histogram;
use mgm::{DefaultHooks, IfKey, Mgm, PacketKey, ProtocolHandle, Route, Verdict, JOIN, MAX_BURST};
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

/// *dashmap*: the entries in one `DashMap`; memberships on the (single) writer's side.
struct Dash {
    entries: DashMap<(A, A), BEntry, FxBuildHasher>,
    members: Mutex<Members>,
}

impl Dash {
    fn new(n: u32, oifs: &[K]) -> Self {
        let mut members = Members::default();
        for k in oifs {
            members.add(*k, Sel::All);
        }
        let entries = DashMap::with_hasher(FxBuildHasher);
        for i in 0..n {
            let e = BEntry {
                iif: iif(i),
                oifs: members.oifs_for(iif(i)),
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            };
            entries.insert((source(i), group(i)), e);
        }
        Dash {
            entries,
            members: Mutex::new(members),
        }
    }
    #[inline]
    fn lookup(&self, k: &Key) -> u32 {
        match self.entries.get(&(k.1, k.2)) {
            Some(e) => e.verdict(k.0, 1200),
            None => 2,
        }
    }
    fn add(&self, k: K, s: A, g: A) {
        if self.members.lock().unwrap().add(k, Sel::Source(s, g)) {
            if let Some(mut e) = self.entries.get_mut(&(s, g)) {
                apply_add(&mut e, k);
            }
        }
    }
    fn delete(&self, k: K, s: A, g: A) {
        let mut m = self.members.lock().unwrap();
        if m.delete(k, Sel::Source(s, g)) && !m.wants(k, s, g) {
            drop(m);
            if let Some(mut e) = self.entries.get_mut(&(s, g)) {
                apply_delete(&mut e, k);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workload helpers

/// (arrival, source, group) of one packet.
type Key = (K, A, A);

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

/// The systems of the concurrent workloads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sys {
    Engine,
    Naive,
    Dash,
}

impl Sys {
    fn name(self) -> &'static str {
        match self {
            Sys::Engine => "engine",
            Sys::Naive => "naive",
            Sys::Dash => "dashmap",
        }
    }
}

/// The tables of one size.
struct Tables {
    n: u32,
    engine: Filled,
    limit: Limit,
    naive: Arc<Naive>,
    dash: Arc<Dash>,
}

fn oif_keys(n: u32) -> Vec<K> {
    (0..n).map(|d| IfKey::new(101 + d)).collect()
}

/// What one reader run measured.
struct ReaderRun {
    /// Per second of wall-clock time.
    wall_mlookups_per_s: f64,
    /// Per second the reader thread was on a CPU (`/proc/thread-self/schedstat`): on a shared
    /// 2-core machine the wall figure also measures how much CPU the scheduler gave the
    /// reader, which the writer thread (and other people's builds) take away.
    mlookups_per_s: f64,
    p50: u64,
    p99: u64,
    writer_ops_per_s: f64,
}

/// The churn writer's op `j`: add the (S,G) membership of the `j`-th key, and delete the one
/// added `WINDOW` adds earlier.
const WINDOW: usize = 256;
/// Writer pace, membership ops per second.
const CHURN_RATE: f64 = 150_000.0;

fn run_reader(t: &Tables, sys: Sys, keys: Arc<Vec<Key>>, dur: Duration, churn: bool) -> ReaderRun {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(if churn { 2 } else { 1 }));
    let writer = churn.then(|| {
        let (stop, start, keys) = (stop.clone(), start.clone(), keys.clone());
        let (mgm, pim) = (t.engine.mgm.clone(), t.engine.pim);
        let (naive, dash) = (t.naive.clone(), t.dash.clone());
        std::thread::spawn(move || {
            let k = IfKey::new(CHURN_IF);
            let op = |add: bool, key: &Key| match (sys, add) {
                (Sys::Engine, true) => {
                    let sel = mgm::Selector::Source {
                        source: key.1,
                        group: key.2,
                    };
                    mgm.add_membership(pim, sel, k, JOIN).unwrap()
                }
                (Sys::Engine, false) => {
                    let sel = mgm::Selector::Source {
                        source: key.1,
                        group: key.2,
                    };
                    mgm.delete_membership(pim, sel, k, JOIN).unwrap()
                }
                (Sys::Naive, true) => naive.add(k, key.1, key.2),
                (Sys::Naive, false) => naive.delete(k, key.1, key.2),
                (Sys::Dash, true) => dash.add(k, key.1, key.2),
                (Sys::Dash, false) => dash.delete(k, key.1, key.2),
            };
            start.wait();
            let t0 = Instant::now();
            let mut ops = 0u64;
            let mut j = 0usize;
            let n = keys.len();
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..16 {
                    op(true, &keys[(j * 7919) % n]);
                    if j >= WINDOW {
                        op(false, &keys[((j - WINDOW) * 7919) % n]);
                        ops += 1;
                    }
                    ops += 1;
                    j += 1;
                }
                let due = Duration::from_secs_f64(ops as f64 / CHURN_RATE);
                while t0.elapsed() < due && !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
            // Leave no churn membership behind.
            for back in 1..=WINDOW.min(j) {
                op(false, &keys[((j - back) * 7919) % n]);
            }
            ops as f64 / t0.elapsed().as_secs_f64()
        })
    });
    let (mgm, naive, dash) = (t.engine.mgm.clone(), t.naive.clone(), t.dash.clone());
    let (stop2, start2) = (stop.clone(), start.clone());
    let reader = std::thread::spawn(move || {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 100_000_000, 3).unwrap();
        let mut engine_reader = (sys == Sys::Engine).then(|| mgm.reader().unwrap());
        let mut lookup = |k: &Key| -> u32 {
            match sys {
                Sys::Engine => consume(engine_reader.as_mut().unwrap().lookup(k.0, k.1, k.2, 1200)),
                Sys::Naive => naive.lookup(k),
                Sys::Dash => dash.lookup(k),
            }
        };
        start2.wait();
        let cpu0 = thread_cpu_ns();
        let t0 = Instant::now();
        let mut n = 0u64;
        let mut acc = 0u32;
        'outer: loop {
            for chunk in keys.chunks(1024) {
                for (i, k) in chunk.iter().enumerate() {
                    if i % 16 == 0 {
                        let s = Instant::now();
                        acc = acc.wrapping_add(lookup(black_box(k)));
                        let _ = hist.record(s.elapsed().as_nanos().max(1) as u64);
                    } else {
                        acc = acc.wrapping_add(lookup(black_box(k)));
                    }
                }
                n += chunk.len() as u64;
                if t0.elapsed() >= dur {
                    break 'outer;
                }
            }
        }
        let t = t0.elapsed();
        let cpu = thread_cpu_ns().zip(cpu0).map(|(b, a)| (b - a) as f64 / 1e9);
        stop2.store(true, Ordering::Relaxed);
        black_box(acc);
        let wall = n as f64 / t.as_secs_f64() / 1e6;
        (
            wall,
            cpu.map_or(wall, |c| n as f64 / c / 1e6),
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
        )
    });
    let (wall_mlookups_per_s, mlookups_per_s, p50, p99) = reader.join().unwrap();
    let writer_ops_per_s = writer.map_or(0.0, |w| w.join().unwrap());
    ReaderRun {
        wall_mlookups_per_s,
        mlookups_per_s,
        p50,
        p99,
        writer_ops_per_s,
    }
}

/// Nanoseconds the calling thread has run on a CPU, if the kernel says.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Report

struct Report {
    rows: Vec<serde_json::Value>,
}

impl Report {
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
            "  {:<58} engine {:>10.2}  baseline {:>10}  ratio {:>6}  target {:<22} {}",
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

// ---------------------------------------------------------------------------------------------

struct Params {
    quick: bool,
    big: u32,
    small: u32,
    rounds: usize,
    reader_dur: Duration,
    op_pairs: u32,
    release_samples: (usize, usize),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only abcdefg`: run only these workloads (for profiling); the JSON then has their rows.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let want = |w: char| only.as_ref().map_or(true, |o| o.contains(w));
    let p = if quick {
        Params {
            quick,
            big: 100_000,
            small: 10_000,
            rounds: 3,
            reader_dur: Duration::from_millis(400),
            op_pairs: 50_000,
            release_samples: (11, 3),
        }
    } else {
        Params {
            quick,
            big: 1_000_000,
            small: 10_000,
            rounds: 5,
            reader_dur: Duration::from_millis(1500),
            op_pairs: 200_000,
            release_samples: (31, 5),
        }
    };
    let t_all = Instant::now();
    println!(
        "mgm compare ({}): cores {}, big = {} MFEs{}",
        if quick { "--quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        label(p.big),
        if quick {
            " (1M scaled down to 100k for --quick: the \"1M\" rows below are 100k)"
        } else {
            ""
        }
    );
    let mut report = Report { rows: Vec::new() };
    let big = label(p.big);
    let small = label(p.small);

    // (g) memory, on the engine of the big size, built with the allocator counting.
    println!("\n(g) memory at {big} MFEs with 4 OIFs");
    let (engine_big, mem_total, mem_data) = measure_memory(p.big);
    let limit_bytes = measure_baseline_bytes(p.big, |n| Box::new(Limit::new(n, &oif_keys(4))));
    let naive_bytes = measure_baseline_bytes(p.big, |n| Box::new(Naive::new(n, &oif_keys(4))));
    println!(
        "  bytes/MFE: engine total {mem_total:.1}, engine data plane {mem_data:.1}, limit {limit_bytes:.1}, naive {naive_bytes:.1}"
    );
    report.add(
        &format!("memory bytes/MFE at {big}, 4 OIFs, whole engine (vs naive)"),
        mem_total,
        Some(naive_bytes),
        Some(mem_total / naive_bytes),
        "<= 256 B",
        mem_total <= 256.0,
    );
    report.add(
        &format!("memory bytes/MFE at {big}, 4 OIFs, data plane (vs limit)"),
        mem_data,
        Some(limit_bytes),
        Some(mem_data / limit_bytes),
        "<= 256 B",
        mem_data <= 256.0,
    );

    let t_small = build_tables(filled(p.small, 4), p.small);
    let t_big = build_tables(engine_big, p.big);
    println!(
        "  built tables ({:.1} s so far)",
        t_all.elapsed().as_secs_f64()
    );

    // (a) hit lookups.
    if want('a') {
        println!(
            "\n(a) hit lookups, ns/lookup (median of {} rounds)",
            p.rounds
        );
        let mut hit = Vec::new();
        for t in [&t_small, &t_big] {
            let ks = keys(t.n, 0x5eed);
            let passes = (2_000_000 / t.n as usize).max(1);
            let mut reader = t.engine.mgm.reader().unwrap();
            let (mut e, mut l, mut nv, mut d) = (vec![], vec![], vec![], vec![]);
            for _ in 0..p.rounds {
                e.push(time_lookups(&ks, passes, |k| {
                    consume(reader.lookup(k.0, k.1, k.2, 1200))
                }));
                l.push(time_lookups(&ks, passes, |k| t.limit.lookup(k)));
                nv.push(time_lookups(&ks, passes, |k| t.naive.lookup(k)));
                d.push(time_lookups(&ks, passes, |k| t.dash.lookup(k)));
            }
            let (e, l, nv, d) = (median(e), median(l), median(nv), median(d));
            println!(
                "  {:>5}: engine {e:.1}  limit {l:.1}  naive {nv:.1}  dashmap {d:.1}",
                label(t.n)
            );
            hit.push((t.n, e, l));
        }
        for (n, e, l) in hit {
            report.add(
                &format!("hit lookup ns at {} (vs limit)", label(n)),
                e,
                Some(l),
                Some(e / l),
                "ratio <= 1.2",
                e / l <= 1.2,
            );
        }
    }

    // (c) burst lookups at the big size.
    if want('c') {
        println!("\n(c) burst lookups at {big}, ns/key");
        {
            let t = &t_big;
            let ks = keys(t.n, 0xb0b);
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
                e.push(
                    start.elapsed().as_nanos() as f64 / (pk.len() / MAX_BURST * MAX_BURST) as f64,
                );
                l.push(time_lookups(&ks, 1, |k| t.limit.lookup(k)));
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
    }

    // (b) reader throughput idle and under churn.
    if want('b') {
        println!(
        "\n(b) 1 reader + 1 writer churning (S,G) JOINs at {CHURN_RATE:.0} ops/s target; {:.1} s per run",
        p.reader_dur.as_secs_f64()
    );
        for t in [&t_small, &t_big] {
            let ks = Arc::new(keys(t.n, 0xc0de));
            let mut res = Vec::new();
            for sys in [Sys::Engine, Sys::Naive, Sys::Dash] {
                let idle = run_reader(t, sys, ks.clone(), p.reader_dur, false);
                let busy = run_reader(t, sys, ks.clone(), p.reader_dur, true);
                println!(
                "  {:>5} {:<8} idle {:>6.2} M/cpu-s ({:>6.2} M/s wall) p50 {:>4} p99 {:>5} ns | churn {:>6.2} M/cpu-s ({:>6.2} M/s wall) p50 {:>4} p99 {:>5} ns, writer {:>7.0} ops/s",
                label(t.n),
                sys.name(),
                idle.mlookups_per_s,
                idle.wall_mlookups_per_s,
                idle.p50,
                idle.p99,
                busy.mlookups_per_s,
                busy.wall_mlookups_per_s,
                busy.p50,
                busy.p99,
                busy.writer_ops_per_s
            );
                res.push((sys, idle, busy));
            }
            let (_, e_idle, e_busy) = &res[0];
            println!(
            "  wall-clock ratios (CPU share included): engine churn/idle {:.2}, engine/naive {:.2}, engine/dashmap {:.2}",
            e_busy.wall_mlookups_per_s / e_idle.wall_mlookups_per_s,
            e_busy.wall_mlookups_per_s / res[1].2.wall_mlookups_per_s,
            e_busy.wall_mlookups_per_s / res[2].2.wall_mlookups_per_s
        );
            let writer_ok = res.iter().all(|r| r.2.writer_ops_per_s >= 100_000.0);
            let n = label(t.n);
            let r = e_busy.mlookups_per_s / e_idle.mlookups_per_s;
            report.add(
                &format!("reader Mlookups per CPU-s under churn at {n} (vs engine idle)"),
                e_busy.mlookups_per_s,
                Some(e_idle.mlookups_per_s),
                Some(r),
                "ratio >= 0.9",
                r >= 0.9 && writer_ok,
            );
            for (sys, _, busy) in &res[1..] {
                let r = e_busy.mlookups_per_s / busy.mlookups_per_s;
                report.add(
                    &format!(
                        "reader Mlookups per CPU-s under churn at {n} (vs {} under churn)",
                        sys.name()
                    ),
                    e_busy.mlookups_per_s,
                    Some(busy.mlookups_per_s),
                    Some(r),
                    "ratio >= 3",
                    r >= 3.0 && writer_ok,
                );
            }
            if !writer_ok {
                println!("  note: a writer fell short of 100k ops/s: its rows count as missed");
            }
        }
    }

    // (d) membership op cost.
    if want('d') {
        println!("\n(d) membership ops touching one MFE, one thread, ns/op");
        let mut op_ns = Vec::new();
        for t in [&t_small, &t_big] {
            let ks = keys(t.n, 0xd00d);
            let k = IfKey::new(CHURN_IF);
            let (mgm, pim) = (&t.engine.mgm, t.engine.pim);
            let mut e = Vec::new();
            let mut nv = Vec::new();
            for _ in 0..p.rounds.min(3) {
                let start = Instant::now();
                for j in 0..p.op_pairs as usize {
                    let key = &ks[(j * 7919) % ks.len()];
                    let sel = mgm::Selector::Source {
                        source: key.1,
                        group: key.2,
                    };
                    mgm.add_membership(pim, sel, k, JOIN).unwrap();
                    mgm.delete_membership(pim, sel, k, JOIN).unwrap();
                }
                e.push(start.elapsed().as_nanos() as f64 / (2 * p.op_pairs) as f64);
                let start = Instant::now();
                for j in 0..p.op_pairs as usize {
                    let key = &ks[(j * 7919) % ks.len()];
                    t.naive.add(k, key.1, key.2);
                    t.naive.delete(k, key.1, key.2);
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
        {
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
    }

    drop(t_small);
    drop(t_big);

    // (e) release.
    if want('e') {
        println!("\n(e) release of the incoming interface of N MFEs, median µs");
        let (vis1k, call1k, after1k) = measure_release(1_000, p.release_samples.0);
        let (vis100k, call100k, after100k) = measure_release(100_000, p.release_samples.1);
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
        let stale = measure_stale(if quick { 2_000_000 } else { 20_000_000 });
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

    let path = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from("target"), Into::into)
        .join("compare.json");
    let json = serde_json::to_string_pretty(&serde_json::Value::Array(report.rows)).unwrap();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, json).unwrap();
    println!(
        "\nwrote {} ({:.1} s in all{})",
        path.display(),
        t_all.elapsed().as_secs_f64(),
        if p.quick {
            "; --quick: the big size is 100k, not 1M"
        } else {
            ""
        }
    );
}

fn build_tables(engine: Filled, n: u32) -> Tables {
    let oifs = oif_keys(4);
    Tables {
        n,
        engine,
        limit: Limit::new(n, &oifs),
        naive: Arc::new(Naive::new(n, &oifs)),
        dash: Arc::new(Dash::new(n, &oifs)),
    }
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
        // Data plane: the shard slot arrays (64-byte aligned lines), the counter chunks
        // (32-byte aligned records), and the writers' books (8-aligned vectors of LARGE and
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

fn measure_baseline_bytes<T>(n: u32, build: impl FnOnce(u32) -> Box<T>) -> f64 {
    let live0 = LIVE.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let b = build(n);
    COUNTING.store(false, Ordering::SeqCst);
    let bytes = (LIVE.load(Ordering::Relaxed) - live0) as f64 / f64::from(n);
    drop(b);
    bytes
}

/// Bytes walked by [`evict_caches`]: above the last-level cache of the machines this runs on
/// (32 MiB here).
const EVICT_BYTES: usize = 128 << 20;

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
fn measure_release(n: u32, samples: usize) -> (f64, f64, f64) {
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
    let evict = vec![1u8; EVICT_BYTES];
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
