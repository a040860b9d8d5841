//! The forwarder's side: reader verdicts, counters through `mfe_stats`, wrong-interface reports
//! and their rate limit, and the southbound change stream.
use mgm_model::common::*;

struct Fwd<A: Addrs> {
    mgm: Mgm<A>,
    clock: ManualClock,
    pim: Proto<A>,
    mospf: Proto<A>,
}

/// PIM owns k2 and k4 (receivers on k2), MOSPF owns k3 (toward net B).
fn fwd<A: Addrs>(config: Config) -> Fwd<A> {
    let (mgm, clock) = engine_with::<A>(config);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(4)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    pim.drain();
    mospf.drain();
    Fwd {
        mgm,
        clock,
        pim,
        mospf,
    }
}

/// Forward on the iif, wrong interface elsewhere, negative for an empty list, miss for an
/// unknown (S,G); readers follow every change.
fn verdicts<A: Addrs>() {
    let f = fwd::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    let (s2, g2) = (A::far(2), A::grp(2));
    let mut r = f.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 10), Seen::Miss);
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    created(f.mgm.new_packet(k(3), s2, g2).unwrap());
    assert_eq!(look(&mut r, k(3), s, g, 10), Seen::Forward(vec![k(2)]));
    assert_eq!(look(&mut r, k(2), s, g, 10), Seen::WrongInterface(k(3)));
    assert_eq!(look(&mut r, k(9), s, g, 10), Seen::WrongInterface(k(3)));
    assert_eq!(look(&mut r, k(3), s2, g2, 10), Seen::Negative);
    assert_eq!(look(&mut r, k(3), A::far(3), g, 10), Seen::Miss);
    f.mgm.add_membership(f.pim.h, group(2), k(4), JOIN).unwrap();
    assert_eq!(look(&mut r, k(3), s2, g2, 10), Seen::Forward(vec![k(4)]));
    f.mgm.add_membership(f.pim.h, group(1), k(4), JOIN).unwrap();
    assert_eq!(
        look(&mut r, k(3), s, g, 10),
        Seen::Forward(vec![k(2), k(4)])
    );
    f.mgm
        .delete_membership(f.pim.h, group(1), k(2), JOIN)
        .unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 10), Seen::Forward(vec![k(4)]));
}

/// `mfe_stats`: packets and octets on the iif, wrong-interface arrivals, negative drops, copies
/// per OIF, summed over readers; an OIF added later starts from zero.
fn counters<A: Addrs>() {
    let f = fwd::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    let mut r1 = f.mgm.reader().unwrap();
    let mut r2 = f.mgm.reader().unwrap();
    look(&mut r1, k(3), s, g, 100);
    look(&mut r2, k(3), s, g, 200);
    look(&mut r2, k(2), s, g, 300);
    f.mgm.add_membership(f.pim.h, group(1), k(4), JOIN).unwrap();
    look(&mut r1, k(3), s, g, 50);
    let st = f.mgm.mfe_stats(s, g).unwrap();
    assert_eq!(
        (
            st.in_packets,
            st.in_octets,
            st.different_if,
            st.negative,
            st.uninit
        ),
        (3, 350, 1, 0, 0)
    );
    assert_eq!(
        st.oifs,
        vec![
            mgm::OifStats {
                interface: k(2),
                out_packets: 3
            },
            mgm::OifStats {
                interface: k(4),
                out_packets: 1
            }
        ]
    );
    assert_eq!(st.total_out_packets, 4);
    assert_eq!(st.mfe, f.mgm.mfe(s, g).unwrap());
    // Negative drops.
    f.mgm
        .delete_membership(f.pim.h, group(1), k(2), JOIN)
        .unwrap();
    f.mgm
        .delete_membership(f.pim.h, group(1), k(4), JOIN)
        .unwrap();
    look(&mut r1, k(3), s, g, 10);
    look(&mut r2, k(3), s, g, 10);
    let st = f.mgm.mfe_stats(s, g).unwrap();
    assert_eq!((st.in_packets, st.negative, st.oifs.len()), (5, 2, 0));
    let page = f.mgm.mfe_stats_page(None, 10).unwrap();
    assert_eq!(page.items, vec![st]);
}

/// Wrong-interface reports go to the owner of the arrival interface, once per interval per
/// (entry, arrival interface); nothing for the iif itself, an unknown entry, an unowned arrival
/// interface, or when turned off.
fn wrong_interface_reports<A: Addrs>() {
    let f = fwd::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    f.mospf.drain();
    let wrong = |n| Event::WrongInterface {
        source: s,
        group: g,
        interface: k(n),
    };
    assert!(f.mgm.report_wrong_interface(k(2), s, g).unwrap());
    assert_eq!(f.pim.drain(), vec![wrong(2)]);
    f.clock.advance(secs(2));
    assert!(
        !f.mgm.report_wrong_interface(k(2), s, g).unwrap(),
        "rate-limited"
    );
    assert!(
        f.mgm.report_wrong_interface(k(4), s, g).unwrap(),
        "another interface"
    );
    assert_eq!(f.pim.drain(), vec![wrong(4)]);
    f.clock.advance(secs(1));
    assert!(
        f.mgm.report_wrong_interface(k(2), s, g).unwrap(),
        "3 s later"
    );
    assert_eq!(f.pim.drain(), vec![wrong(2)]);
    assert_eq!(f.mospf.drain(), vec![]);
    let c = f.mgm.counters();
    assert_eq!((c.wrong_if_notified, c.wrong_if_suppressed), (3, 1));
    // Not wrong, no entry, nobody to tell.
    f.clock.advance(secs(10));
    assert!(!f.mgm.report_wrong_interface(k(3), s, g).unwrap());
    assert!(!f.mgm.report_wrong_interface(k(2), A::far(9), g).unwrap());
    assert!(!f.mgm.report_wrong_interface(k(8), s, g).unwrap());
    assert_eq!(f.pim.drain(), vec![]);
    assert_eq!(f.mospf.drain(), vec![]);

    // Turned off.
    let off = fwd::<A>(Config {
        wrong_if_interval: None,
        ..Config::default()
    });
    created(off.mgm.new_packet(k(3), s, g).unwrap());
    assert!(!off.mgm.report_wrong_interface(k(2), s, g).unwrap());
    assert_eq!(off.pim.drain(), vec![]);
}

/// A report that reached nobody must not use up the interval of the (entry, interface) pair.
fn undelivered_report_does_not_consume_the_rate_limit<A: Addrs>() {
    let f = fwd::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    assert!(
        !f.mgm.report_wrong_interface(k(7), s, g).unwrap(),
        "k7 unowned"
    );
    f.mgm.take_interface(f.pim.h, k(7)).unwrap();
    assert!(f.mgm.report_wrong_interface(k(7), s, g).unwrap());
    assert_eq!(f.mgm.counters().wrong_if_suppressed, 0);
}

/// The southbound stream: every change in commit order, full state each time, one batch per
/// operation, nothing from before the subscription; every subscriber gets it all.
fn southbound_stream<A: Addrs>() {
    let f = fwd::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    let early = f.mgm.new_packet(k(3), A::far(5), A::grp(5)).unwrap();
    let sub = f.mgm.subscribe();
    let sub2 = f.mgm.subscribe();
    let base = created(f.mgm.new_packet(k(3), s, g).unwrap());
    f.mgm.add_membership(f.pim.h, group(1), k(4), JOIN).unwrap();
    f.mgm
        .add_membership(f.pim.h, Selector::AllGroups, k(4), JOIN)
        .unwrap();
    f.mgm.release_interface(f.pim.h, k(2)).unwrap();
    f.mgm.remove_route(A::net_b().0, A::net_b().1).unwrap();
    let e5 = match early {
        MissOutcome::Created(m) => m,
        o => panic!("{o:?}"),
    };
    let batches: Vec<_> = std::iter::from_fn(|| sub.try_recv_batch().ok()).collect();
    assert_eq!(
        batches,
        vec![
            vec![MfeChange::Installed(base.clone())],
            vec![MfeChange::OifsChanged(Mfe {
                oifs: vec![k(2), k(4)],
                ..base.clone()
            })],
            vec![MfeChange::OifsChanged(Mfe {
                oifs: vec![k(4)],
                ..e5.clone()
            })],
            vec![MfeChange::OifsChanged(Mfe {
                oifs: vec![k(4)],
                ..base.clone()
            })],
            vec![
                MfeChange::Deleted {
                    sg: Sg::new(s, g),
                    iif: k(3),
                    reason: DeleteReason::RouteChanged
                },
                MfeChange::Deleted {
                    sg: e5.sg(),
                    iif: k(3),
                    reason: DeleteReason::RouteChanged
                },
            ],
        ]
    );
    assert_eq!(sub2.drain(), batches.concat());
    drop(sub2);
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(sub.drain().len(), 1, "a dropped subscriber harms nobody");
}

both_families!(
    undelivered_report_does_not_consume_the_rate_limit,
    verdicts,
    counters,
    wrong_interface_reports,
    southbound_stream,
);
