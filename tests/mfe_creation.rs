//! Spec 6.11 (a miss creates an entry), 6.12 (entries follow memberships); G-19, G-21, G-22,
//! G-24, G-36; the RPF hook moving the iif; creation-alert vetoes.
use mgm_model::common::*;

struct Net<A: Addrs> {
    mgm: Mgm<A>,
    igmp: Proto<A>,
    pim: Proto<A>,
    dvmrp: Proto<A>,
    mospf: Proto<A>,
}

/// IGMP alone on k1; PIM owns k2 and k6; DVMRP k4; MOSPF k3 and k5 (toward net B).
fn net<A: Addrs>() -> Net<A> {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let dvmrp = reg(&mgm, DVMRP);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(6)).unwrap();
    mgm.take_interface(dvmrp.h, k(4)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.take_interface(mospf.h, k(5)).unwrap();
    Net {
        mgm,
        igmp,
        pim,
        dvmrp,
        mospf,
    }
}

impl<A: Addrs> Net<A> {
    fn quiet(&self) {
        for p in [&self.igmp, &self.pim, &self.dvmrp, &self.mospf] {
            p.drain();
            p.hooks.take_calls();
        }
    }
    fn join(&self, p: &Proto<A>, sel: Selector<A>, n: u32) {
        self.mgm.add_membership(p.h, sel, k(n), JOIN).unwrap();
    }
}

fn b_route<A: Addrs>() -> Route<A> {
    Route {
        upstream: A::far(254),
        protocol: 13,
        ..route_b(k(3))
    }
}

/// 6.11 steps 1-5 and 7: RPF to the owner of the interface toward S (not the arrival one),
/// creation alerts per owning protocol in registration order with only its interfaces, the
/// entry's fields, and the FALSE join to the iif owner.
fn miss_runs_the_creation_path<A: Addrs>() {
    let n = net::<A>();
    let route = b_route::<A>();
    n.mgm.add_route(route).unwrap();
    n.join(&n.igmp, group(1), 1);
    n.join(&n.dvmrp, group(1), 4);
    n.join(&n.pim, Selector::AllGroups, 2);
    n.join(&n.pim, source(A::far(1), A::grp(1)), 6);
    n.join(&n.pim, group(2), 6);
    n.quiet();
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    let m = created(n.mgm.new_packet(k(2), s, g).unwrap());
    assert_eq!(
        n.mospf.hooks.take_calls(),
        vec![Call::Rpf(RpfQuery {
            sg,
            arrival: k(2),
            iif: k(3),
            upstream: A::far(254),
            route
        })]
    );
    assert_eq!(
        n.igmp.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(3),
            entries: vec![entry(k(1), true)]
        }],
        "G-36: IGMP is asked about the interface only it is on"
    );
    assert_eq!(
        n.pim.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(3),
            entries: vec![entry(k(2), false), entry(k(6), false)]
        }]
    );
    assert_eq!(
        n.dvmrp.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(3),
            entries: vec![entry(k(4), false)]
        }]
    );
    let want = Mfe {
        source: s,
        group: g,
        upstream: A::far(254),
        iif: k(3),
        iif_protocol: Some((MOSPF, 1)),
        route: Some(route),
        up_time: secs(0),
        expiry: Some(secs(900)),
        timeout: Some(secs(900)),
        oifs: vec![k(1), k(2), k(4), k(6)],
    };
    assert_eq!(m, want);
    assert_eq!(n.mgm.mfe(s, g).unwrap(), want);
    assert_eq!(n.mospf.drain(), vec![ja(Selector::sg(sg), false)]);
    for p in [&n.igmp, &n.pim, &n.dvmrp] {
        assert_eq!(p.drain(), vec![]);
    }
    assert_eq!(
        n.mospf.hooks.take_calls(),
        vec![],
        "a non-empty entry's lifetime is not asked"
    );
    // The next miss finds it.
    assert_eq!(
        n.mgm.new_packet(k(3), s, g).unwrap(),
        MissOutcome::Exists(want)
    );
    assert_eq!(n.mgm.counters().created, 1);
}

/// Creation-alert vetoes drop exactly the vetoed interfaces of the asking protocol; a protocol
/// vetoing everything leaves a negative entry, announced by a FALSE prune with a lifetime ask.
fn creation_alert_vetoes<A: Addrs>() {
    let n = net::<A>();
    n.mgm.add_route(b_route()).unwrap();
    n.join(&n.pim, group(1), 2);
    n.join(&n.pim, group(1), 6);
    n.join(&n.dvmrp, group(1), 4);
    n.quiet();
    n.pim.hooks.veto.lock().unwrap().push(k(6));
    let (s, g) = (A::far(1), A::grp(1));
    let m = created(n.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(m.oifs, vec![k(2), k(4)]);
    // 6.12: no creation alert for later additions; the veto holds for the entry's life (G-21).
    n.join(&n.pim, source(s, g), 6);
    n.join(&n.pim, Selector::AllGroups, 6);
    assert_eq!(oifs(&n.mgm, s, g), vec![k(2), k(4)]);
    n.join(&n.dvmrp, Selector::AllGroups, 4);
    n.join(&n.pim, group(1), 2);
    assert_eq!(
        n.pim.hooks.take_calls().len(),
        1,
        "only the creation's alert"
    );
    // Forward state overrides the veto.
    n.mgm
        .add_membership(n.pim.h, source(s, g), k(6), FORWARD)
        .unwrap();
    assert_eq!(oifs(&n.mgm, s, g), vec![k(2), k(4), k(6)]);

    // Every candidate vetoed: negative entry.
    n.quiet();
    n.pim.hooks.veto.lock().unwrap().extend([k(2), k(6)]);
    n.dvmrp.hooks.veto.lock().unwrap().push(k(4));
    let g2 = A::grp(1);
    let s2 = A::far(2);
    let m = created(n.mgm.new_packet(k(3), s2, g2).unwrap());
    assert_eq!(m.oifs, vec![]);
    let sg = Sg::new(s2, g2);
    assert_eq!(n.mospf.drain(), vec![pa(Selector::sg(sg), k(3), false)]);
    assert_eq!(
        n.mospf.hooks.take_calls(),
        vec![
            Call::Rpf(RpfQuery {
                sg,
                arrival: k(3),
                iif: k(3),
                upstream: A::far(254),
                route: b_route()
            }),
            Call::Timeout {
                sg,
                iif: k(3),
                proposed: Some(secs(900))
            }
        ]
    );
}

/// G-36: IGMP's veto on an IGMP-only interface is honoured.
fn igmp_only_interface_veto<A: Addrs>() {
    let n = net::<A>();
    n.mgm.add_route(b_route()).unwrap();
    n.join(&n.igmp, group(1), 1);
    n.join(&n.pim, group(1), 2);
    n.igmp.hooks.veto.lock().unwrap().push(k(1));
    let m = created(n.mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    assert_eq!(m.oifs, vec![k(2)]);
}

/// The RPF hook moves the iif: the entry takes the hook's iif and upstream, the creation
/// alerts name it, it is excluded from the OIFs, the old RIB interface becomes a candidate, and
/// the FALSE alert goes to the new iif's owner.
fn rpf_hook_changes_the_iif<A: Addrs>() {
    let n = net::<A>();
    n.mgm.add_route(b_route()).unwrap();
    *n.mospf.hooks.rpf.lock().unwrap() = Some(RpfDecision {
        iif: k(6),
        upstream: A::far(253),
    });
    n.join(&n.pim, group(1), 6);
    n.join(&n.pim, group(1), 2);
    n.join(&n.mospf, group(1), 3);
    n.quiet();
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    let m = created(n.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!((m.iif, m.upstream), (k(6), A::far(253)));
    assert_eq!(m.iif_protocol, Some((PIM, 1)));
    assert_eq!(m.route, Some(b_route()));
    assert_eq!(m.oifs, vec![k(2), k(3)]);
    assert_eq!(
        n.pim.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(6),
            entries: vec![entry(k(2), false)]
        }]
    );
    assert!(matches!(
        &n.mospf.hooks.take_calls()[..],
        [Call::Rpf(_), Call::Creation { iif, entries, .. }] if *iif == k(6) && *entries == vec![entry(k(3), false)]
    ));
    assert_eq!(n.pim.drain(), vec![ja(Selector::sg(sg), false)]);
    assert_eq!(n.mospf.drain(), vec![]);
    let mut r = n.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(6), s, g, 1), Seen::Forward(vec![k(2), k(3)]));
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::WrongInterface(k(6)));
}

/// G-24: no route to the source: a negative entry on the arrival interface with the default
/// lifetime, and no hook or alert at all, even when receivers exist.
fn no_route_gives_a_silent_negative_entry<A: Addrs>() {
    let n = net::<A>();
    n.join(&n.pim, group(1), 2);
    n.join(&n.igmp, group(1), 1);
    n.quiet();
    let changes = n.mgm.subscribe();
    let (s, g) = (A::far(1), A::grp(1));
    let m = created(n.mgm.new_packet(k(3), s, g).unwrap());
    let want = Mfe {
        source: s,
        group: g,
        upstream: A::UNSPECIFIED,
        iif: k(3),
        iif_protocol: Some((MOSPF, 1)),
        route: None,
        up_time: secs(0),
        expiry: Some(secs(900)),
        timeout: Some(secs(900)),
        oifs: vec![],
    };
    assert_eq!(m, want);
    assert_eq!(changes.drain(), vec![MfeChange::Installed(want.clone())]);
    for p in [&n.igmp, &n.pim, &n.dvmrp, &n.mospf] {
        assert_eq!(p.drain(), vec![]);
        assert_eq!(p.hooks.take_calls(), vec![]);
    }
    // Later receivers do not make it forward either.
    n.join(&n.dvmrp, group(1), 4);
    n.join(&n.pim, Selector::AllGroups, 6);
    assert_eq!(oifs(&n.mgm, s, g), vec![]);
    let mut r = n.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Negative);
    assert_eq!(
        n.mospf.drain(),
        vec![ja(Selector::AllGroups, true)],
        "the membership alert only: no FALSE join for the entry"
    );
}

/// G-24: a route through an interface nobody owns (or only IGMP is on): no RPF hook, the RIB's
/// answer stands, OIFs are built normally, and there is no iif owner to alert.
fn unowned_rpf_interface<A: Addrs>() {
    let n = net::<A>();
    n.mgm.add_route(route_b(k(1))).unwrap();
    n.mgm.add_route(route_a(k(9))).unwrap();
    n.join(&n.pim, group(1), 2);
    n.join(&n.igmp, group(1), 1);
    n.quiet();
    let m = created(n.mgm.new_packet(k(1), A::far(1), A::grp(1)).unwrap());
    assert_eq!(
        (m.iif, m.iif_protocol, m.oifs.clone()),
        (k(1), None, vec![k(2)])
    );
    let m = created(n.mgm.new_packet(k(9), A::src(1), A::grp(1)).unwrap());
    assert_eq!(
        (m.iif, m.iif_protocol, m.oifs.clone()),
        (k(9), None, vec![k(1), k(2)])
    );
    for p in [&n.igmp, &n.pim, &n.dvmrp, &n.mospf] {
        assert_eq!(p.drain(), vec![]);
        assert!(p
            .hooks
            .take_calls()
            .iter()
            .all(|c| matches!(c, Call::Creation { .. })));
    }
}

/// G-19: a miss for an entry being created is counted, not re-run (a hook re-entering the
/// engine stands in for a second forwarding worker); the count shows as `uninit`.
fn concurrent_misses_create_once<A: Addrs>() {
    use std::sync::{Arc, Mutex, OnceLock};
    struct Again<A: Family> {
        mgm: OnceLock<Mgm<A>>,
        seen: Mutex<Vec<(MissOutcome<A>, usize)>>,
    }
    impl<A: Family> Hooks<A> for Again<A> {
        fn rpf(&self, q: &RpfQuery<A>) -> RpfDecision<A> {
            let mgm = self.mgm.get().unwrap();
            for _ in 0..3 {
                let o = mgm.new_packet(q.arrival, q.sg.source, q.sg.group).unwrap();
                self.seen.lock().unwrap().push((o, mgm.counters().pending));
            }
            RpfDecision {
                iif: q.iif,
                upstream: q.upstream,
            }
        }
    }
    let (mgm, _c) = engine::<A>();
    let hooks = Arc::new(Again {
        mgm: OnceLock::new(),
        seen: Mutex::new(Vec::new()),
    });
    let (h, _ev) = mgm.register(MOSPF, 1, hooks.clone()).unwrap();
    hooks.mgm.set(mgm.clone()).ok().unwrap();
    mgm.take_interface(h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    created(mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(
        *hooks.seen.lock().unwrap(),
        vec![(MissOutcome::Pending, 1); 3]
    );
    let c = mgm.counters();
    assert_eq!((c.created, c.pending, c.mfes), (1, 0, 1));
    assert_eq!(mgm.mfe_stats(s, g).unwrap().uninit, 3);
}

/// 6.11 step 8: packets on the iif follow the new entry; packets elsewhere are wrong-interface
/// drops, counted.
fn packets_after_creation<A: Addrs>() {
    let n = net::<A>();
    n.mgm.add_route(b_route()).unwrap();
    n.join(&n.pim, group(1), 2);
    let (s, g) = (A::far(1), A::grp(1));
    let mut r = n.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 100), Seen::Miss);
    created(n.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(look(&mut r, k(3), s, g, 100), Seen::Forward(vec![k(2)]));
    assert_eq!(look(&mut r, k(4), s, g, 100), Seen::WrongInterface(k(3)));
    let st = n.mgm.mfe_stats(s, g).unwrap();
    assert_eq!(
        (
            st.in_packets,
            st.in_octets,
            st.different_if,
            st.total_out_packets
        ),
        (1, 100, 1, 1)
    );
}

both_families!(
    miss_runs_the_creation_path,
    creation_alert_vetoes,
    igmp_only_interface_veto,
    rpf_hook_changes_the_iif,
    no_route_gives_a_silent_negative_entry,
    unowned_rpf_interface,
    concurrent_misses_create_once,
    packets_after_creation,
);
