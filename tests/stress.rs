//! Concurrency stress tests, ignored by default; CI runs them with
//! `cargo test --release --test stress -- --ignored`. Each runs for `MGM_STRESS_SECS` seconds
//! (default 3).
//!
//! Readers are created on their own threads (`Reader` is not `Send`) and look up without
//! pause while writers churn memberships and take and release interfaces. They check that:
//! * every OIF list a reader sees is one a committed state had, and no older than the last
//!   state committed before the lookup began (the writer's step counters bracket the lookup);
//! * once a release has returned (an atomic phase set after the call), no reader sees the
//!   released interface on any list, nor an entry whose incoming interface it was, from that
//!   interface or from another (a wrong-interface verdict), while entries of other interfaces
//!   are wrong-interface verdicts from it throughout;
//! * every protocol's events come in a consistent order: a TRUE join and its prune alternate
//!   per selector, FALSE joins and prunes alternate per entry, IGMP's disable and enable
//!   alternate per interface.
use mgm_model::common::*;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

fn run_for() -> Duration {
    let secs = std::env::var("MGM_STRESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn config() -> Config {
    Config {
        max_workers: 8,
        ..Config::default()
    }
}

/// The writer's cycle of (*,G) memberships on k2..k5: each step adds or deletes one, and the
/// lists it goes through hold at most two neighbours, so a list such as {k2, k4} or three
/// interfaces was never committed.
const CYCLE: [(bool, u32); 8] = [
    (true, 2),
    (true, 3),
    (false, 2),
    (true, 4),
    (false, 3),
    (true, 5),
    (false, 4),
    (false, 5),
];

/// The OIF list (k2..k5 part) committed after `step` steps of the cycle.
fn committed<A: Family>(step: u64) -> Vec<IfKey<A>> {
    let mut on = std::collections::BTreeSet::new();
    // The cycle returns to empty every 8 steps.
    for (add, i) in CYCLE.iter().take((step % 8) as usize) {
        if *add {
            on.insert(*i);
        } else {
            on.remove(i);
        }
    }
    on.into_iter().map(k).collect()
}

/// Checks that a protocol's events alternate as they must.
#[derive(Default)]
struct Order {
    last: BTreeMap<String, bool>,
    seen: u64,
}

impl Order {
    fn on<A: Family>(&mut self, e: &Event<A>) {
        self.seen += 1;
        let (key, up) = match e {
            Event::JoinAlert {
                selector,
                member_update,
            } => (format!("{member_update} {selector:?}"), true),
            Event::PruneAlert {
                selector,
                member_delete,
                ..
            } => (format!("{member_delete} {selector:?}"), false),
            Event::DisableIgmp { interface } => (format!("igmp {interface:?}"), true),
            Event::EnableIgmp { interface } => (format!("igmp {interface:?}"), false),
            Event::MfeDeleted { sg, .. } => {
                // A new entry with the same key starts its own FALSE join/prune history.
                self.last.remove(&format!("false {:?}", Selector::sg(*sg)));
                return;
            }
            _ => return,
        };
        if let Some(prev) = self.last.insert(key.clone(), up) {
            assert_ne!(
                prev,
                up,
                "two {} in a row for {key}",
                if up { "ups" } else { "downs" }
            );
        } else if key.starts_with("igmp") {
            assert!(up, "enable before any disable for {key}");
        }
    }
}

fn readers_see_only_committed_lists<A: Addrs>() {
    let (mgm, _) = (Mgm::<A>::new(config()), ());
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    let igmp = reg(&mgm, IGMP);
    let dvmrp = reg(&mgm, DVMRP);
    for i in 1..=5 {
        mgm.take_interface(pim.h, k(i)).unwrap();
    }
    // IGMP is present on k6 (so MOSPF's take and release are bracketed) but has no member
    // there: once MOSPF has released k6, nothing justifies k6 on any list.
    mgm.take_interface(igmp.h, k(6)).unwrap();
    mgm.add_route(route_a(k(1))).unwrap();
    mgm.add_route(route_b(k(6))).unwrap();
    let sources: Vec<A> = (1..=4).map(A::src).collect();
    for s in &sources {
        created(mgm.new_packet(k(1), *s, A::grp(1)).unwrap());
    }
    for p in [&pim, &mospf, &igmp, &dvmrp] {
        p.drain();
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Writer 1: steps started / committed.
    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    // Writer 2: even = k6 owned by MOSPF (or being taken), odd = released and returned.
    let phase = Arc::new(AtomicU64::new(1));
    let lookups = Arc::new(AtomicU64::new(0));
    let readers = 2;
    let barrier = Arc::new(Barrier::new(readers + 3));
    let mut threads = Vec::new();

    for _ in 0..readers {
        let (mgm, stop, started, done, phase, lookups, barrier, sources) = (
            mgm.clone(),
            stop.clone(),
            started.clone(),
            done.clone(),
            phase.clone(),
            lookups.clone(),
            barrier.clone(),
            sources.clone(),
        );
        threads.push(thread::spawn(move || {
            let mut r = mgm.reader().unwrap();
            barrier.wait();
            let mut n = 0u64;
            while !stop.load(SeqCst) {
                for s in &sources {
                    let (lo, p1) = (done.load(SeqCst), phase.load(SeqCst));
                    let seen = look(&mut r, k(1), *s, A::grp(1), 100);
                    let (hi, p2) = (started.load(SeqCst), phase.load(SeqCst));
                    let oifs = match seen {
                        Seen::Forward(o) => o,
                        Seen::Negative => Vec::new(),
                        other => panic!("({s}, G1) on k1: {other:?}"),
                    };
                    let mut sorted = oifs.clone();
                    sorted.sort();
                    sorted.dedup();
                    assert_eq!(sorted, oifs, "a list out of order or with duplicates");
                    assert!(
                        !oifs.contains(&k(1)),
                        "the incoming interface on its own list"
                    );
                    let stable_released = p1 == p2 && p1 % 2 == 1;
                    if stable_released {
                        assert!(
                            !oifs.contains(&k(6)),
                            "k6 on a list after its release returned (phase {p1}): {oifs:?}"
                        );
                    }
                    // The entry of k6 is looked up in a window of its own: between the reads
                    // above and this lookup, writer 2 may have taken k6 again.
                    let p3 = phase.load(SeqCst);
                    let far = look(&mut r, k(6), A::far(1), A::grp(1), 100);
                    if p3 == phase.load(SeqCst) && p3 % 2 == 1 {
                        assert_eq!(far, Seen::Miss, "an entry of k6 after its release");
                    }
                    // The same two entries from the wrong interface, through the incoming-
                    // interface index while k6's shard (and its index entries) come and go:
                    // the entries of k1 never move, the one of k6 is there or gone.
                    assert_eq!(
                        look(&mut r, k(6), *s, A::grp(1), 100),
                        Seen::WrongInterface(k(1)),
                        "({s}, G1) arriving on k6"
                    );
                    let p4 = phase.load(SeqCst);
                    let far = look(&mut r, k(1), A::far(1), A::grp(1), 100);
                    let released = p4 == phase.load(SeqCst) && p4 % 2 == 1;
                    assert!(
                        far == Seen::Miss || (!released && far == Seen::WrongInterface(k(6))),
                        "the entry of k6 arriving on k1 (phase {p4}): {far:?}"
                    );
                    let part: Vec<IfKey<A>> =
                        oifs.iter().copied().filter(|o| o.index <= 5).collect();
                    assert!(
                        (lo..=hi).any(|step| committed::<A>(step) == part),
                        "list {part:?} was never committed in steps {lo}..={hi}"
                    );
                    n += 1;
                }
            }
            lookups.fetch_add(n, SeqCst);
        }));
    }

    // Writer 1: PIM walks the membership cycle on k2..k5.
    {
        let (mgm, stop, started, done, barrier, h) = (
            mgm.clone(),
            stop.clone(),
            started.clone(),
            done.clone(),
            barrier.clone(),
            pim.h,
        );
        threads.push(thread::spawn(move || {
            barrier.wait();
            let mut step = 0u64;
            while !stop.load(SeqCst) {
                let (add, i) = CYCLE[(step % 8) as usize];
                started.store(step + 1, SeqCst);
                if add {
                    mgm.add_membership(h, group(1), k(i), JOIN).unwrap();
                } else {
                    mgm.delete_membership(h, group(1), k(i), JOIN).unwrap();
                }
                step += 1;
                done.store(step, SeqCst);
            }
        }));
    }

    // Writer 2: MOSPF takes k6 (where IGMP is), joins there, creates an entry with k6 as its
    // incoming interface, and releases it.
    {
        let (mgm, stop, phase, barrier, h) = (
            mgm.clone(),
            stop.clone(),
            phase.clone(),
            barrier.clone(),
            mospf.h,
        );
        threads.push(thread::spawn(move || {
            barrier.wait();
            while !stop.load(SeqCst) {
                phase.fetch_add(1, SeqCst); // even: about to take
                mgm.take_interface(h, k(6)).unwrap();
                mgm.add_membership(h, group(1), k(6), JOIN).unwrap();
                mgm.new_packet(k(6), A::far(1), A::grp(1)).unwrap();
                mgm.release_interface(h, k(6)).unwrap();
                phase.fetch_add(1, SeqCst); // odd: released and returned
                thread::yield_now();
            }
        }));
    }

    // The event consumer: drains every protocol concurrently and checks the order.
    let (stop2, barrier2) = (stop.clone(), barrier.clone());
    let consumer = thread::spawn(move || {
        let mut orders: Vec<Order> = (0..4).map(|_| Order::default()).collect();
        barrier2.wait();
        loop {
            let last = stop2.load(SeqCst);
            for (o, p) in orders.iter_mut().zip([&pim, &mospf, &igmp, &dvmrp]) {
                for e in p.drain() {
                    o.on(&e);
                }
            }
            if last {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        orders.iter().map(|o| o.seen).collect::<Vec<_>>()
    });

    thread::sleep(run_for());
    stop.store(true, SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let seen = consumer.join().unwrap();
    let n = lookups.load(SeqCst);
    assert!(n > 1000, "readers barely ran: {n} lookups");
    assert!(done.load(SeqCst) > 100, "writer barely ran");
    assert!(seen.iter().all(|s| *s > 0), "events per protocol: {seen:?}");
    let c = mgm.counters();
    assert_eq!((c.pending, c.published), (0, c.mfes));
}

/// Many threads miss on the same keys at once: each key is created once per lifetime (G-19),
/// with the misses in between counted, and every reader sees the same entry.
fn concurrent_misses_create_once<A: Addrs>() {
    let mgm = Mgm::<A>::new(config());
    let pim = reg(&mgm, PIM);
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.add_route(route_a(k(1))).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    let deadline = Instant::now() + run_for();
    let rounds = AtomicU64::new(0);
    while Instant::now() < deadline {
        let round = rounds.fetch_add(1, SeqCst);
        let s = A::src((round % 100) as u8 + 1);
        let barrier = Barrier::new(4);
        let made = AtomicU64::new(0);
        thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    let mut r = mgm.reader().unwrap();
                    barrier.wait();
                    let m = match mgm.new_packet(k(1), s, A::grp(1)).unwrap() {
                        MissOutcome::Created(m) => {
                            made.fetch_add(1, SeqCst);
                            Some(m)
                        }
                        MissOutcome::Exists(m) => Some(m),
                        MissOutcome::Pending => None,
                        other => panic!("unexpected outcome {other:?}"),
                    };
                    if let Some(m) = m {
                        assert_eq!(m.oifs, vec![k(2)]);
                        // Installed before the call returned: every reader sees it.
                        let seen = look(&mut r, k(1), s, A::grp(1), 1);
                        assert_eq!(seen, Seen::Forward(vec![k(2)]));
                    }
                });
            }
        });
        assert_eq!(
            made.load(SeqCst),
            1,
            "{s}: created {} times",
            made.load(SeqCst)
        );
        mgm.remove_route(A::net_a().0, A::net_a().1).unwrap();
        mgm.add_route(route_a(k(1))).unwrap();
    }
    assert!(rounds.load(SeqCst) > 10);
}

/// Registrations churn while other threads use the dead handles: a dead handle is never
/// accepted, even once its slot is live again under a new generation.
fn dead_handles_stay_dead_under_churn<A: Addrs>() {
    let mgm = Mgm::<A>::new(Config {
        max_protocols: 2,
        ..config()
    });
    let dead: Arc<std::sync::Mutex<Vec<ProtocolHandle>>> = Arc::default();
    let stop = AtomicBool::new(false);
    let checks = AtomicU64::new(0);
    thread::scope(|sc| {
        sc.spawn(|| {
            let mut n = 0u32;
            while !stop.load(SeqCst) {
                n += 1;
                let (h, _ev) = mgm.register(PIM, n, Arc::new(DefaultHooks)).unwrap();
                mgm.take_interface(h, k(n % 3 + 1)).unwrap();
                mgm.release_interface(h, k(n % 3 + 1)).unwrap();
                mgm.deregister(h).unwrap();
                dead.lock().unwrap().push(h);
            }
        });
        for _ in 0..2 {
            sc.spawn(|| {
                while !stop.load(SeqCst) {
                    let hs: Vec<ProtocolHandle> = dead
                        .lock()
                        .unwrap()
                        .iter()
                        .rev()
                        .take(64)
                        .copied()
                        .collect();
                    for h in hs {
                        let e = mgm.take_interface(h, k(9)).unwrap_err();
                        assert!(matches!(e, Error::InvalidHandle { .. }), "{e:?}");
                        assert!(mgm.group_enumeration_start(h, EnumKind::AnySource).is_err());
                        checks.fetch_add(1, SeqCst);
                    }
                }
            });
        }
        thread::sleep(run_for());
        stop.store(true, SeqCst);
    });
    assert!(checks.load(SeqCst) > 100);
    assert!(mgm.interfaces().iter().all(|i| i.interface != k(9)));
}

mod v4 {
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn readers_see_only_committed_lists() {
        super::readers_see_only_committed_lists::<std::net::Ipv4Addr>()
    }
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn concurrent_misses_create_once() {
        super::concurrent_misses_create_once::<std::net::Ipv4Addr>()
    }
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn dead_handles_stay_dead_under_churn() {
        super::dead_handles_stay_dead_under_churn::<std::net::Ipv4Addr>()
    }
}

mod v6 {
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn readers_see_only_committed_lists() {
        super::readers_see_only_committed_lists::<std::net::Ipv6Addr>()
    }
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn concurrent_misses_create_once() {
        super::concurrent_misses_create_once::<std::net::Ipv6Addr>()
    }
    #[test]
    #[ignore = "stress: cargo test --release --test stress -- --ignored"]
    fn dead_handles_stay_dead_under_churn() {
        super::dead_handles_stay_dead_under_churn::<std::net::Ipv6Addr>()
    }
}
