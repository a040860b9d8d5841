//! No engine lock is held while protocol code runs (engine.md section 5): hooks that call back
//! into the engine from `rpf`, `creation_alert` and `mfe_timeout` complete, and an IGMP client
//! that replays its memberships on `EnableIgmp` works.
use mgm_model::common::*;

use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

/// Runs `f` on its own thread and fails (instead of hanging) if it does not finish: a deadlock
/// shows as a failure.
fn within_deadline(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        tx.send(()).unwrap();
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlock: the call never returned"),
    }
}

/// A protocol whose every hook calls into the engine.
struct Nosy<A: Family> {
    mgm: OnceLock<Mgm<A>>,
    me: OnceLock<ProtocolHandle>,
    seen: Mutex<Vec<String>>,
}

impl<A: Addrs> Hooks<A> for Nosy<A> {
    fn rpf(&self, q: &RpfQuery<A>) -> RpfDecision<A> {
        let mgm = self.mgm.get().unwrap();
        // Read the entry being created and add a receiver on our own k2.
        let e = mgm.mfe(q.sg.source, q.sg.group).unwrap_err();
        self.seen
            .lock()
            .unwrap()
            .push(format!("rpf mfe: {}", e.win32_code()));
        mgm.add_membership(
            *self.me.get().unwrap(),
            Selector::Group(q.sg.group),
            k(2),
            JOIN,
        )
        .unwrap();
        RpfDecision {
            iif: q.iif,
            upstream: A::far(254),
        }
    }

    fn creation_alert(&self, sg: Sg<A>, _iif: IfKey<A>, oifs: &mut [CreationEntry<A>]) {
        let mgm = self.mgm.get().unwrap();
        let walk = mgm.mfes(None, 10).unwrap();
        self.seen.lock().unwrap().push(format!(
            "creation: {} entries, {} oifs, pending {}",
            walk.items.len(),
            oifs.len(),
            mgm.counters().pending
        ));
        assert!(mgm.mfe(sg.source, sg.group).is_err());
        mgm.add_membership(
            *self.me.get().unwrap(),
            Selector::Group(A::grp(9)),
            k(2),
            JOIN,
        )
        .unwrap();
    }

    fn mfe_timeout(
        &self,
        sg: Sg<A>,
        _iif: IfKey<A>,
        proposed: Option<Duration>,
    ) -> Option<Duration> {
        let mgm = self.mgm.get().unwrap();
        let m = mgm.mfe(sg.source, sg.group).unwrap();
        self.seen.lock().unwrap().push(format!(
            "timeout: {} oifs, proposed {proposed:?}",
            m.oifs.len()
        ));
        mgm.set_mfe(*self.me.get().unwrap(), sg.source, sg.group, A::far(77))
            .unwrap();
        Some(secs(42))
    }
}

fn hooks_call_back_into_the_engine<A: Addrs>() {
    within_deadline(|| {
        let (mgm, _c) = engine::<A>();
        let hooks = Arc::new(Nosy::<A> {
            mgm: OnceLock::new(),
            me: OnceLock::new(),
            seen: Mutex::new(Vec::new()),
        });
        let (h, ev) = mgm.register(PIM, 1, hooks.clone()).unwrap();
        hooks.mgm.set(mgm.clone()).ok().unwrap();
        hooks.me.set(h).unwrap();
        mgm.take_interface(h, k(2)).unwrap();
        mgm.take_interface(h, k(3)).unwrap();
        mgm.add_route(route_b(k(3))).unwrap();
        let (s, g) = (A::far(1), A::grp(1));
        let m = created(mgm.new_packet(k(3), s, g).unwrap());
        assert_eq!(
            (m.iif, m.upstream, m.oifs.clone()),
            (k(3), A::far(254), vec![k(2)]),
            "the membership added inside rpf counts for the new entry"
        );
        assert_eq!(
            *hooks.seen.lock().unwrap(),
            vec![
                "rpf mfe: 1168".to_string(),
                "creation: 0 entries, 1 oifs, pending 1".to_string()
            ]
        );
        assert_eq!(ev.drain(), vec![ja(Selector::sg(Sg::new(s, g)), false)]);
        // The membership goes: a FALSE prune, whose lifetime hook reads the entry and changes
        // its upstream neighbour.
        mgm.delete_membership(h, group(1), k(2), JOIN).unwrap();
        let m = mgm.mfe(s, g).unwrap();
        assert_eq!(
            (m.oifs.clone(), m.upstream, m.timeout),
            (vec![], A::far(77), Some(secs(42)))
        );
        assert_eq!(
            hooks.seen.lock().unwrap().last().unwrap(),
            "timeout: 0 oifs, proposed Some(900s)"
        );
        assert_eq!(
            mgm.memberships(),
            vec![MembershipInfo {
                protocol: (PIM, 1),
                selector: group(9),
                interface: k(2)
            }]
        );
    });
}

/// An IGMP client on its own thread: frozen between DisableIgmp and EnableIgmp, it replays all
/// its memberships on the interface after the enable (as MGM asks), from outside the engine's
/// call. The replay is silent (G-11), and the owner heard each membership once, as a local
/// join inside the bracket.
fn igmp_replays_on_enable<A: Addrs>() {
    within_deadline(|| {
        let (mgm, _c) = engine::<A>();
        let igmp = reg(&mgm, IGMP);
        let pim = reg(&mgm, PIM);
        mgm.take_interface(igmp.h, k(1)).unwrap();
        let mine = vec![group(1), group(2), source(A::src(1), A::grp(3))];
        for sel in &mine {
            mgm.add_membership(igmp.h, *sel, k(1), JOIN).unwrap();
        }
        pim.drain();
        let before = mgm.memberships();
        let (done_tx, done_rx) = mpsc::channel();
        let worker = {
            let mgm = mgm.clone();
            let h = igmp.h;
            let ev = igmp.ev;
            let mine = mine.clone();
            std::thread::spawn(move || {
                let mut log = Vec::new();
                for _ in 0..2 {
                    let mut frozen = false;
                    loop {
                        let batch = ev.recv_batch().unwrap();
                        let mut enabled = false;
                        for e in batch {
                            log.push(e);
                            match e {
                                Event::DisableIgmp { .. } => frozen = true,
                                Event::EnableIgmp { interface } => {
                                    assert!(frozen);
                                    for sel in &mine {
                                        mgm.add_membership(h, *sel, interface, JOIN).unwrap();
                                    }
                                    enabled = true;
                                }
                                _ => {}
                            }
                        }
                        if enabled {
                            break;
                        }
                    }
                    done_tx.send(()).unwrap();
                }
                log
            })
        };
        mgm.take_interface(pim.h, k(1)).unwrap();
        done_rx.recv().unwrap();
        assert_eq!(mgm.memberships(), before);
        assert_eq!(
            pim.drain(),
            mine.iter().map(|s| lj(*s, k(1))).collect::<Vec<_>>()
        );
        mgm.release_interface(pim.h, k(1)).unwrap();
        done_rx.recv().unwrap();
        assert_eq!(mgm.memberships(), before);
        assert_eq!(pim.drain(), vec![], "released: nothing more for PIM");
        assert_eq!(
            worker.join().unwrap(),
            vec![
                Event::DisableIgmp { interface: k(1) },
                Event::EnableIgmp { interface: k(1) },
                Event::DisableIgmp { interface: k(1) },
                Event::EnableIgmp { interface: k(1) },
            ]
        );
    });
}

/// A hook may even drive a nested miss and a membership change on another protocol while the
/// outer creation is running.
fn nested_creation_from_a_hook<A: Addrs>() {
    struct Chain<A: Family> {
        mgm: OnceLock<Mgm<A>>,
        nested: Mutex<Option<MissOutcome<A>>>,
    }
    impl<A: Addrs> Hooks<A> for Chain<A> {
        fn rpf(&self, q: &RpfQuery<A>) -> RpfDecision<A> {
            if q.sg.group == A::grp(1) {
                let o = self
                    .mgm
                    .get()
                    .unwrap()
                    .new_packet(q.arrival, q.sg.source, A::grp(2))
                    .unwrap();
                *self.nested.lock().unwrap() = Some(o);
            }
            RpfDecision {
                iif: q.iif,
                upstream: q.upstream,
            }
        }
    }
    within_deadline(|| {
        let (mgm, _c) = engine::<A>();
        let hooks = Arc::new(Chain {
            mgm: OnceLock::new(),
            nested: Mutex::new(None),
        });
        let (h, _ev) = mgm.register(MOSPF, 1, hooks.clone()).unwrap();
        hooks.mgm.set(mgm.clone()).ok().unwrap();
        mgm.take_interface(h, k(3)).unwrap();
        mgm.add_route(route_b(k(3))).unwrap();
        created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
        let nested = hooks.nested.lock().unwrap().clone().unwrap();
        assert_eq!(created(nested).sg(), Sg::new(A::far(1), A::grp(2)));
        assert_eq!(mgm.counters().mfes, 2);
    });
}

both_families!(
    hooks_call_back_into_the_engine,
    igmp_replays_on_enable,
    nested_creation_from_a_hook,
);
