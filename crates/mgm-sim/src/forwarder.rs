//! Forwarding workers: each owns a [`Reader`] made on its own thread, looks packets up in
//! bursts and one by one, and reports misses and wrong-interface arrivals to the engine.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mgm::{Error, IfKey, Mgm, MissOutcome, PacketKey, Reader, Verdict, MAX_BURST};

use crate::scenario::{Flow, SimFamily, XorShift};

/// One packet in this many arrives on another interface than its flow's.
const WRONG_IF_ONE_IN: usize = 4096;
/// One batch in this many is looked up packet by packet instead of as a burst.
const SINGLE_ONE_IN: u64 = 8;

/// What the workers and the control thread share.
pub struct Traffic<A> {
    /// Every flow, source-major.
    pub flows: Vec<Flow<A>>,
    /// Interfaces a misdirected packet may arrive on.
    pub ifaces: Vec<IfKey<A>>,
    /// How many of the first flows are sending now.
    pub active: AtomicUsize,
    /// Set to end the traffic phase.
    pub stop: AtomicBool,
    /// Lookups done so far, per worker (for the progress bar).
    pub lookups: Vec<AtomicU64>,
}

impl<A> Traffic<A> {
    /// Shared state for `workers` workers, no flow active yet.
    pub fn new(flows: Vec<Flow<A>>, ifaces: Vec<IfKey<A>>, workers: usize) -> Self {
        Traffic {
            flows,
            ifaces,
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            lookups: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Lookups done so far by all workers.
    pub fn total_lookups(&self) -> u64 {
        self.lookups.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// What one worker did.
#[derive(Clone, Debug, Default)]
pub struct WorkerReport {
    /// The worker's number.
    pub id: usize,
    /// Packets looked up in all.
    pub lookups: u64,
    /// Of which through `lookup_burst`.
    pub burst_lookups: u64,
    /// Bursts looked up.
    pub bursts: u64,
    /// Verdicts: forwarded, dropped on a negative entry, missed, wrong interface.
    pub forwarded: u64,
    /// Copies sent (sum of the outgoing lists of forwarded packets).
    pub copies: u64,
    /// Dropped by a negative entry.
    pub negative: u64,
    /// No entry.
    pub misses: u64,
    /// Arrived on another interface than the entry's incoming one.
    pub wrong_if: u64,
    /// Entries this worker's miss reports created.
    pub created: u64,
    /// Wrong-interface reports the engine passed on to a protocol.
    pub wrong_if_passed: u64,
    /// Miss reports refused (table full or other errors).
    pub refused: u64,
    /// How long the worker ran.
    pub elapsed: Duration,
}

impl WorkerReport {
    /// Lookups per second.
    pub fn rate(&self) -> f64 {
        self.lookups as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn verdict<A>(&mut self, k: &PacketKey<A>, v: &Verdict<'_, A>, todo: &mut Todo<A>)
    where
        A: SimFamily,
    {
        match v {
            Verdict::Forward(oifs) => {
                self.forwarded += 1;
                self.copies += oifs.len() as u64;
            }
            Verdict::Negative => self.negative += 1,
            Verdict::Miss => {
                self.misses += 1;
                todo.push_miss(k);
            }
            Verdict::WrongInterface { .. } => {
                self.wrong_if += 1;
                todo.push_wrong_if(k);
            }
        }
    }
}

/// Reports to make once a batch's verdicts (which borrow the reader) are gone, deduplicated.
struct Todo<A> {
    misses: Vec<(IfKey<A>, A, A)>,
    wrong_if: Vec<(IfKey<A>, A, A)>,
}

impl<A: SimFamily> Todo<A> {
    fn push_miss(&mut self, k: &PacketKey<A>) {
        let t = (k.arrival, k.source, k.group);
        if !self.misses.contains(&t) {
            self.misses.push(t);
        }
    }
    fn push_wrong_if(&mut self, k: &PacketKey<A>) {
        let t = (k.arrival, k.source, k.group);
        if !self.wrong_if.contains(&t) {
            self.wrong_if.push(t);
        }
    }
}

/// Starts worker `id`; it runs until `traffic.stop` is set.
pub fn spawn<A: SimFamily>(
    id: usize,
    mgm: Mgm<A>,
    traffic: Arc<Traffic<A>>,
    seed: u64,
) -> JoinHandle<mgm::Result<WorkerReport>> {
    thread::Builder::new()
        .name(format!("forwarder-{id}"))
        .spawn(move || {
            // The reader is made here, on the worker's own thread: it need not be Send.
            let reader = mgm.reader()?;
            Ok(run(id, &mgm, reader, &traffic, seed))
        })
        .expect("spawn a forwarding worker")
}

fn run<A: SimFamily>(
    id: usize,
    mgm: &Mgm<A>,
    mut reader: Reader<A>,
    traffic: &Traffic<A>,
    seed: u64,
) -> WorkerReport {
    let mut rng = XorShift::new(seed, 1 + id as u64);
    let mut rep = WorkerReport {
        id,
        ..WorkerReport::default()
    };
    let mut todo = Todo {
        misses: Vec::new(),
        wrong_if: Vec::new(),
    };
    let mut keys: Vec<PacketKey<A>> = Vec::with_capacity(MAX_BURST);
    let start = Instant::now();
    let mut round = 0u64;
    while !traffic.stop.load(Ordering::Relaxed) {
        let active = traffic
            .active
            .load(Ordering::Acquire)
            .min(traffic.flows.len());
        if active == 0 {
            thread::sleep(Duration::from_micros(100));
            continue;
        }
        fill_batch(
            &mut keys,
            &traffic.flows[..active],
            &traffic.ifaces,
            &mut rng,
        );
        round += 1;
        if round % SINGLE_ONE_IN == 0 {
            for k in &keys {
                let v = reader.lookup(k.arrival, k.source, k.group, k.bytes);
                rep.verdict(k, &v, &mut todo);
            }
        } else {
            burst(&mut reader, &keys, &mut rep, &mut todo);
        }
        rep.lookups += keys.len() as u64;
        traffic.lookups[id].fetch_add(keys.len() as u64, Ordering::Relaxed);
        report(mgm, &mut todo, &mut rep);
    }
    rep.elapsed = start.elapsed();
    rep
}

/// Up to [`MAX_BURST`] packets of random active flows, a few of them on the wrong interface.
fn fill_batch<A: SimFamily>(
    keys: &mut Vec<PacketKey<A>>,
    flows: &[Flow<A>],
    ifaces: &[IfKey<A>],
    rng: &mut XorShift,
) {
    keys.clear();
    let len = MAX_BURST - rng.below(MAX_BURST / 4);
    for _ in 0..len {
        let f = flows[rng.below(flows.len())];
        let arrival = if rng.one_in(WRONG_IF_ONE_IN) {
            ifaces[rng.below(ifaces.len())]
        } else {
            f.iif
        };
        keys.push(PacketKey {
            arrival,
            source: f.source,
            group: f.group,
            bytes: 64 + rng.below(1437) as u32,
        });
    }
}

/// Looks a batch up with `lookup_burst`; packets it leaves without a verdict (it returns how
/// many it wrote) go through `lookup`.
fn burst<A: SimFamily>(
    reader: &mut Reader<A>,
    keys: &[PacketKey<A>],
    rep: &mut WorkerReport,
    todo: &mut Todo<A>,
) {
    let done = {
        let mut verdicts = [Verdict::Miss; MAX_BURST];
        let done = reader
            .lookup_burst(keys, &mut verdicts[..keys.len()])
            .unwrap_or(0)
            .min(keys.len());
        for (k, v) in keys.iter().zip(&verdicts[..done]) {
            rep.verdict(k, v, todo);
        }
        done
    };
    rep.bursts += 1;
    rep.burst_lookups += done as u64;
    for k in &keys[done..] {
        let v = reader.lookup(k.arrival, k.source, k.group, k.bytes);
        rep.verdict(k, &v, todo);
    }
}

/// Reports the batch's misses (`new_packet`) and wrong-interface arrivals.
fn report<A: SimFamily>(mgm: &Mgm<A>, todo: &mut Todo<A>, rep: &mut WorkerReport) {
    for (arrival, source, group) in todo.misses.drain(..) {
        match mgm.new_packet(arrival, source, group) {
            Ok(MissOutcome::Created(_)) => rep.created += 1,
            // Exists, Pending: another miss built it, or is building it.
            Ok(_) => {}
            Err(Error::Stopped) => return,
            Err(_) => rep.refused += 1,
        }
    }
    for (arrival, source, group) in todo.wrong_if.drain(..) {
        if let Ok(true) = mgm.report_wrong_interface(arrival, source, group) {
            rep.wrong_if_passed += 1;
        }
    }
}
