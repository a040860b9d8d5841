//! Event and southbound queues are bounded: a receiver that never drains costs a bounded
//! amount of memory, loses whole batches that are counted exactly, then gets the overflow
//! marker once it drains; after re-reading the engine its mirror is the engine's state.
use mgm_model::common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Bytes allocated and not yet freed, by the whole test binary.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is the system allocator's, with the same arguments; the count on the
// side touches no memory the allocator hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests of this binary share the allocation count: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const CAP: usize = 8;

fn small_queues<A: Family>() -> Mgm<A> {
    engine_with::<A>(Config {
        queue_capacity: CAP,
        ..Config::default()
    })
    .0
}

/// One create/delete cycle: a negative entry for (far(1), g), then a route that re-routes it
/// (deleted), then the route goes again. Southbound: `Installed`, `Deleted`.
fn cycle<A: Addrs>(mgm: &Mgm<A>, g: A) {
    created(mgm.new_packet(k(3), A::far(1), g).unwrap());
    mgm.add_route(route_b(k(3))).unwrap();
    let (p, l) = A::net_b();
    mgm.remove_route(p, l).unwrap();
}

/// (S,G) -> incoming interface and outgoing list.
type Table<A> = BTreeMap<Sg<A>, (IfKey<A>, Vec<IfKey<A>>)>;

/// A mirror of the forwarding table fed by the southbound stream.
struct Mirror<A: Family> {
    table: Table<A>,
    markers: Vec<u64>,
}

impl<A: Family> Mirror<A> {
    fn apply(&mut self, mgm: &Mgm<A>, changes: Vec<MfeChange<A>>) {
        for c in changes {
            match c {
                MfeChange::Installed(m) | MfeChange::OifsChanged(m) => {
                    self.table.insert(m.sg(), (m.iif, m.oifs));
                }
                MfeChange::Deleted { sg, .. } => {
                    self.table.remove(&sg);
                }
                MfeChange::Resync { lost } => {
                    self.markers.push(lost);
                    self.table = engine_table(mgm);
                }
                other => panic!("a change this mirror does not know: {other:?}"),
            }
        }
    }
}

fn engine_table<A: Family>(mgm: &Mgm<A>) -> Table<A> {
    let page = mgm.mfes(None, usize::MAX).unwrap();
    assert!(!page.more);
    page.items
        .into_iter()
        .map(|m| (m.sg(), (m.iif, m.oifs)))
        .collect()
}

/// A subscriber that never drains: the queue stays at its bound, memory does not grow with
/// the cycles, the count of lost changes is exact, the marker comes once it drains, and the
/// mirror equals the engine after the resync.
fn a_stalled_subscriber_is_bounded_and_resynced<A: Addrs>() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mgm = small_queues::<A>();
    let changes = mgm.subscribe();
    let mut mirror = Mirror {
        table: BTreeMap::new(),
        markers: Vec::new(),
    };
    let warm = 200;
    for _ in 0..warm {
        cycle(&mgm, A::grp(1));
    }
    let live_before = LIVE.load(Ordering::Relaxed);
    let more = 20_000;
    for _ in 0..more {
        cycle(&mgm, A::grp(1));
        assert!(changes.receiver().len() <= CAP);
    }
    let grown = LIVE.load(Ordering::Relaxed) - live_before;
    // An unbounded queue would hold 40 000 more batches here (megabytes).
    assert!(grown < 64 * 1024, "memory grew by {grown} bytes");
    // The last state is not empty: an entry the subscriber has not heard of.
    created(mgm.new_packet(k(4), A::far(2), A::grp(2)).unwrap());
    let produced = 2 * (warm + more) as u64 + 1;
    let lost = produced - CAP as u64;
    assert_eq!(changes.lost(), lost);
    assert_eq!(mgm.counters().dropped, lost);
    // Drained: the queued batches, then the marker with the exact count.
    let got = changes.drain();
    assert_eq!(got.len(), CAP + 1);
    assert_eq!(got[CAP], MfeChange::Resync { lost });
    mirror.apply(&mgm, got);
    assert_eq!(mirror.markers, vec![lost]);
    assert_eq!(mirror.table, engine_table(&mgm));
    assert_eq!(mirror.table.len(), 1);
    // After the marker nothing more is lost, and no second marker comes.
    cycle(&mgm, A::grp(3));
    mirror.apply(&mgm, changes.drain());
    assert_eq!(mirror.markers, vec![lost]);
    assert_eq!(mirror.table, engine_table(&mgm));
    assert_eq!(changes.lost(), lost);
}

/// A receiver that reads the raw crossbeam receiver gets the marker from the engine itself,
/// with the engine's next batch, before it.
fn the_engine_sends_the_marker_with_its_next_batch<A: Addrs>() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mgm = small_queues::<A>();
    let changes = mgm.subscribe();
    for g in 1..=(CAP as u8 + 3) {
        created(mgm.new_packet(k(3), A::far(1), A::grp(g)).unwrap());
    }
    let raw: Vec<Vec<MfeChange<A>>> = changes.receiver().try_iter().collect();
    assert_eq!(raw.len(), CAP, "the raw receiver has no marker of its own");
    created(mgm.new_packet(k(3), A::far(1), A::grp(200)).unwrap());
    let next: Vec<Vec<MfeChange<A>>> = changes.receiver().try_iter().collect();
    assert_eq!(next.len(), 2);
    assert_eq!(next[0], vec![MfeChange::Resync { lost: 3 }]);
    assert!(matches!(&next[1][..], [MfeChange::Installed(m)] if m.group == A::grp(200)));
    assert_eq!(changes.drain(), vec![], "announced once");
}

/// A protocol that never drains loses its own events only: another protocol hears
/// everything. Once it drains it gets the marker, re-reads the memberships, and its mirror of
/// IGMP's memberships on its interface is the engine's.
fn a_stalled_protocol_loses_only_its_own_events<A: Addrs>() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mgm = small_queues::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM); // owns k1, where IGMP is: hears local joins and leaves
    let dvmrp = reg(&mgm, DVMRP); // hears the (*,G) join and prune alerts
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(dvmrp.h, k(2)).unwrap();
    for p in [&igmp, &pim, &dvmrp] {
        p.drain();
    }
    let mut dvmrp_heard = 0;
    let rounds = 500u64;
    for i in 0..rounds {
        let sel = group(1 + (i % 50) as u8);
        mgm.add_membership(igmp.h, sel, k(1), JOIN).unwrap();
        mgm.delete_membership(igmp.h, sel, k(1), JOIN).unwrap();
        dvmrp_heard += dvmrp.drain().len();
        assert!(pim.ev.receiver().len() <= CAP);
    }
    for g in [7, 9] {
        mgm.add_membership(igmp.h, group(g), k(1), JOIN).unwrap();
    }
    dvmrp_heard += dvmrp.drain().len();
    assert_eq!(
        dvmrp_heard as u64,
        2 * rounds + 2,
        "a join or prune alert per change"
    );
    assert_eq!(dvmrp.ev.lost(), 0);
    // PIM: a local join or leave and a join or prune alert per change, one batch per change;
    // CAP batches kept.
    let per_change = 2;
    let lost = per_change * (2 * rounds + 2 - CAP as u64);
    assert_eq!(pim.ev.lost(), lost);
    assert_eq!(mgm.counters().dropped, lost);
    let got = pim.drain();
    assert_eq!(got.len() as u64, per_change * CAP as u64 + 1);
    assert_eq!(got.last(), Some(&Event::Overflow { lost }));
    // PIM's mirror: replay the kept events, then re-read at the marker.
    let mut mirror = std::collections::BTreeSet::new();
    for e in got {
        match e {
            Event::LocalJoin { selector, .. } => {
                mirror.insert(selector);
            }
            Event::LocalLeave { selector, .. } => {
                mirror.remove(&selector);
            }
            Event::JoinAlert { .. } | Event::PruneAlert { .. } => {}
            Event::Overflow { .. } => {
                mirror = mgm
                    .memberships()
                    .into_iter()
                    .filter(|m| m.interface == k(1) && m.protocol == igmp.id)
                    .map(|m| m.selector)
                    .collect();
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(mirror, [group(7), group(9)].into_iter().collect());
}

both_families!(
    a_stalled_subscriber_is_bounded_and_resynced,
    the_engine_sends_the_marker_with_its_next_batch,
    a_stalled_protocol_loses_only_its_own_events,
);
