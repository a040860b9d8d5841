//! Spec 6.9 (add), 6.10 (delete), the matrix 6.17 row by row; G-11, G-12, G-13, G-21, G-22,
//! G-23, G-30, G-31, G-32.
use mgm_model::common::*;

const P4: u32 = 0x4137_0017;

/// Four routing protocols, each owning interface kN (p1 also k5); net A routed via k4, net B
/// via k3.
struct Four<A: Addrs> {
    mgm: Mgm<A>,
    p: [Proto<A>; 4],
}

impl<A: Addrs> Four<A> {
    fn new() -> Self {
        let (mgm, _c) = engine::<A>();
        let p = [PIM, DVMRP, MOSPF, P4].map(|id| reg(&mgm, id));
        for (i, proto) in p.iter().enumerate() {
            mgm.take_interface(proto.h, k(i as u32 + 1)).unwrap();
        }
        mgm.take_interface(p[0].h, k(5)).unwrap();
        mgm.add_route(route_a(k(4))).unwrap();
        mgm.add_route(route_b(k(3))).unwrap();
        Four { mgm, p }
    }
    /// Every protocol's events, drained.
    fn events(&self) -> [Vec<Event<A>>; 4] {
        [0, 1, 2, 3].map(|i| self.p[i].drain())
    }
    fn add(&self, i: usize, sel: Selector<A>, n: u32) {
        self.mgm
            .add_membership(self.p[i].h, sel, k(n), JOIN)
            .unwrap();
    }
    fn del(&self, i: usize, sel: Selector<A>, n: u32) {
        self.mgm
            .delete_membership(self.p[i].h, sel, k(n), JOIN)
            .unwrap();
    }
}

/// 6.17 rows 1-3: first (*,G) client alerts every other registered client; the second alerts
/// the first only; the third, and a client's further interfaces, alert nobody.
fn wildcard_join_counting<A: Addrs>() {
    let f = Four::<A>::new();
    let g = group::<A>(1);
    f.add(0, g, 1);
    let j = ja(g, true);
    assert_eq!(f.events(), [vec![], vec![j], vec![j], vec![j]]);
    f.add(1, g, 2);
    assert_eq!(f.events(), [vec![j], vec![], vec![], vec![]]);
    f.add(2, g, 3);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    f.add(0, g, 5);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
}

/// 6.17 rows 5-6 and G-23: 3 -> 2 alerts nobody; a client losing one of two interfaces alerts
/// nobody; 2 -> 1 alerts the remaining client; 1 -> 0 alerts every other client; the prune names
/// the interface whose membership went.
fn wildcard_prune_counting<A: Addrs>() {
    let f = Four::<A>::new();
    let g = group::<A>(1);
    f.add(0, g, 1);
    f.add(0, g, 5);
    f.add(1, g, 2);
    f.add(2, g, 3);
    f.events();
    f.del(2, g, 3);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    f.del(0, g, 5);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    f.del(0, g, 1);
    assert_eq!(
        f.events(),
        [vec![], vec![pa(g, k(1), true)], vec![], vec![]]
    );
    f.del(1, g, 2);
    let p = pa(g, k(2), true);
    assert_eq!(f.events(), [vec![p], vec![], vec![p], vec![p]]);
}

/// G-30: "the first client" is whoever held the membership just before N went 1 -> 2.
fn first_client_after_churn<A: Addrs>() {
    let f = Four::<A>::new();
    let g = group::<A>(1);
    f.add(0, g, 1);
    f.add(1, g, 2);
    f.del(0, g, 1);
    f.events();
    f.add(2, g, 3);
    assert_eq!(
        f.events(),
        [vec![], vec![ja(g, true)], vec![], vec![]],
        "p2 held it alone before p3 joined"
    );
}

/// 6.17 rows 4 and 7, G-31: (S,G) alerts go only to the owner of the iif toward S, on the
/// first add and the last delete across all clients, never to the client itself, and not at
/// all without a route or without an owner.
fn source_specific_alerts<A: Addrs>() {
    let f = Four::<A>::new();
    let (s, g) = (A::src(1), A::grp(1));
    let sel = source(s, g);
    f.add(0, sel, 1);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![ja(sel, true)]]);
    f.add(1, sel, 2);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    f.del(0, sel, 1);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    f.del(1, sel, 2);
    assert_eq!(
        f.events(),
        [vec![], vec![], vec![], vec![pa(sel, k(2), true)]]
    );
    // The iif owner itself joins: no self-alert.
    f.add(3, sel, 4);
    f.del(3, sel, 4);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    // No route to the source.
    let (p, l) = A::net_a();
    let unrouted = source(A::grp(9), g);
    assert!(f
        .mgm
        .add_membership(f.p[0].h, unrouted, k(1), JOIN)
        .is_err());
    f.mgm.remove_route(p, l).unwrap();
    f.add(0, sel, 1);
    f.del(0, sel, 1);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    // A route whose interface nobody owns.
    f.mgm.add_route(route_a(k(9))).unwrap();
    f.add(0, sel, 1);
    f.del(0, sel, 1);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
}

/// G-13: (*,*) is counted on its own with the (*,G) rules; a (*,*) holder does not count
/// toward any group's N.
fn all_groups_counting<A: Addrs>() {
    let f = Four::<A>::new();
    let all = Selector::AllGroups;
    let g = group::<A>(1);
    f.add(0, all, 1);
    let j = ja(all, true);
    assert_eq!(f.events(), [vec![], vec![j], vec![j], vec![j]]);
    f.add(0, g, 1);
    let jg = ja(g, true);
    assert_eq!(
        f.events(),
        [vec![], vec![jg], vec![jg], vec![jg]],
        "p1's (*,*) does not make its (*,G1) a second membership"
    );
    f.add(1, all, 2);
    assert_eq!(f.events(), [vec![j], vec![], vec![], vec![]]);
    f.add(1, g, 2);
    assert_eq!(f.events(), [vec![jg], vec![], vec![], vec![]]);
    f.del(1, all, 2);
    assert_eq!(
        f.events(),
        [vec![pa(all, k(2), true)], vec![], vec![], vec![]]
    );
    f.del(0, all, 1);
    let p = pa(all, k(1), true);
    assert_eq!(f.events(), [vec![], vec![p], vec![p], vec![p]]);
}

/// 6.17 row 8, G-22: FALSE alerts go to the iif owner at creation and on empty <-> non-empty
/// transitions only, after the membership alerts of the same operation (G-28); a FALSE prune
/// asks for the lifetime.
fn false_alerts_on_emptiness_transitions<A: Addrs>() {
    let f = Four::<A>::new();
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    let me = Selector::sg(sg);
    let m = created(f.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!((m.iif, m.oifs.clone()), (k(3), vec![]));
    assert_eq!(
        f.events(),
        [vec![], vec![], vec![pa(me, k(3), false)], vec![]]
    );
    let timeout = Call::Timeout {
        sg,
        iif: k(3),
        proposed: Some(secs(900)),
    };
    let rpf_and_timeout = f.p[2].hooks.take_calls();
    assert_eq!(rpf_and_timeout.last(), Some(&timeout));
    let gs = group::<A>(1);
    f.add(0, gs, 1);
    let j = ja(gs, true);
    assert_eq!(
        f.events(),
        [vec![], vec![j], vec![j, ja(me, false)], vec![j]]
    );
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1)]);
    f.add(1, gs, 2);
    assert_eq!(f.events(), [vec![j], vec![], vec![], vec![]]);
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1), k(2)]);
    f.del(0, gs, 1);
    assert_eq!(
        f.events(),
        [vec![], vec![pa(gs, k(1), true)], vec![], vec![]]
    );
    f.del(1, gs, 2);
    let p = pa(gs, k(2), true);
    assert_eq!(
        f.events(),
        [vec![p], vec![], vec![p, pa(me, k(3), false)], vec![p]]
    );
    assert_eq!(f.p[2].hooks.take_calls(), vec![timeout]);
    assert_eq!(oifs(&f.mgm, s, g), vec![]);
}

/// 6.9 B.2 / 6.10 B.2 and G-21: a membership adds its interface to every matching entry except
/// where it is the iif; a delete removes it only where no other membership on it (any client,
/// any shape) still selects the entry.
fn oif_justification<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    let g = A::grp(1);
    let (s1, s2) = (A::far(1), A::far(2));
    created(mgm.new_packet(k(3), s1, g).unwrap());
    created(mgm.new_packet(k(3), s2, g).unwrap());
    created(mgm.new_packet(k(3), s1, A::grp(2)).unwrap());
    // A membership on the iif itself never makes it an OIF.
    mgm.add_membership(mospf.h, group(1), k(3), JOIN).unwrap();
    assert_eq!(oifs(&mgm, s1, g), vec![]);
    // (*,G1) by both PIM and IGMP on k1, (S1,G1) by PIM on k1.
    mgm.add_membership(pim.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(pim.h, source(s1, g), k(1), JOIN)
        .unwrap();
    assert_eq!(oifs(&mgm, s1, g), vec![k(1)]);
    assert_eq!(oifs(&mgm, s2, g), vec![k(1)]);
    assert_eq!(
        oifs(&mgm, s1, A::grp(2)),
        vec![],
        "(*,G1) does not select G2"
    );
    mgm.delete_membership(pim.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(oifs(&mgm, s2, g), vec![k(1)], "IGMP's (*,G1) still there");
    mgm.delete_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(oifs(&mgm, s2, g), vec![]);
    assert_eq!(
        oifs(&mgm, s1, g),
        vec![k(1)],
        "(S1,G1) still selects it (G-32 union)"
    );
    mgm.delete_membership(pim.h, source(s1, g), k(1), JOIN)
        .unwrap();
    assert_eq!(oifs(&mgm, s1, g), vec![]);
    // (*,*) selects every entry.
    mgm.add_membership(pim.h, Selector::AllGroups, k(1), JOIN)
        .unwrap();
    for (s, g) in [(s1, g), (s2, g), (s1, A::grp(2))] {
        assert_eq!(oifs(&mgm, s, g), vec![k(1)]);
    }
}

/// 6.9 C / 6.10 C, G-12, G-21: forward state edits one entry, outranks join state, raises only
/// FALSE alerts; FORWARD on an (S,G) without an entry does nothing.
fn forward_state<A: Addrs>() {
    let f = Four::<A>::new();
    let (s, g) = (A::far(1), A::grp(1));
    let (s2, me) = (A::far(2), Selector::sg(Sg::new(s, g)));
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    created(f.mgm.new_packet(k(3), s2, g).unwrap());
    f.events();
    f.p[2].hooks.take_calls();
    // FORWARD add on an empty entry: FALSE join only.
    f.mgm.add_membership(f.p[0].h, me, k(1), FORWARD).unwrap();
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1)]);
    assert_eq!(oifs(&f.mgm, s2, g), vec![], "one entry only");
    assert_eq!(f.events(), [vec![], vec![], vec![ja(me, false)], vec![]]);
    assert_eq!(f.mgm.memberships(), vec![], "no membership recorded");
    // A join-state delete does not undo forward state.
    f.add(0, group(1), 1);
    f.del(0, group(1), 1);
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1)]);
    assert_eq!(oifs(&f.mgm, s2, g), vec![]);
    f.events();
    // FORWARD delete: off the list although a membership selects it, and it stays off.
    f.add(0, group(1), 1);
    assert_eq!(oifs(&f.mgm, s2, g), vec![k(1)]);
    f.events();
    f.mgm
        .delete_membership(f.p[0].h, me, k(1), FORWARD)
        .unwrap();
    assert_eq!(oifs(&f.mgm, s, g), vec![]);
    assert_eq!(oifs(&f.mgm, s2, g), vec![k(1)]);
    assert_eq!(
        f.events(),
        [vec![], vec![], vec![pa(me, k(3), false)], vec![]]
    );
    f.add(0, Selector::AllGroups, 1);
    f.events();
    assert_eq!(
        oifs(&f.mgm, s, g),
        vec![],
        "forward state wins for the entry's lifetime"
    );
    // FORWARD on an (S,G) without an entry: no error, no effect.
    let none = source(A::far(9), g);
    let before = state(&f.mgm);
    f.mgm.add_membership(f.p[1].h, none, k(2), FORWARD).unwrap();
    assert_eq!(state(&f.mgm), before);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
}

/// G-12: both bits run JOIN then FORWARD; with a wildcard the FORWARD part is skipped; FORWARD
/// alone with a wildcard, 0 and unknown bits are refused.
fn flag_combinations<A: Addrs>() {
    let f = Four::<A>::new();
    let (s, g) = (A::far(1), A::grp(1));
    let me = source(s, g);
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    f.events();
    f.mgm
        .add_membership(f.p[0].h, me, k(1), JOIN | FORWARD)
        .unwrap();
    assert_eq!(
        f.mgm.memberships(),
        vec![MembershipInfo {
            protocol: (PIM, 1),
            selector: me,
            interface: k(1)
        }]
    );
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1)]);
    assert_eq!(
        f.events(),
        [vec![], vec![], vec![ja(me, true), ja(me, false)], vec![]]
    );
    f.del(0, me, 1);
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1)], "forward state keeps it");
    f.mgm
        .add_membership(f.p[1].h, group(1), k(2), JOIN | FORWARD)
        .unwrap();
    assert_eq!(oifs(&f.mgm, s, g), vec![k(1), k(2)]);
    let before = state(&f.mgm);
    let e = f
        .mgm
        .add_membership(f.p[1].h, group(2), k(2), FORWARD)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFlags { bits: 2, .. }), "{e:?}");
    assert_eq!(e.win32_code(), 87);
    let e = f
        .mgm
        .delete_membership(f.p[1].h, Selector::AllGroups, k(2), FORWARD)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFlags { bits: 2, .. }), "{e:?}");
    assert_eq!(state(&f.mgm), before);
    for bits in [0, 4, 5, 0x8000_0000] {
        let e = mgm::MembershipFlags::from_bits(bits).unwrap_err();
        assert!(matches!(e, Error::InvalidFlags { bits: b, .. } if b == bits));
        assert_eq!(e.win32_code(), 87);
    }
    assert_eq!(mgm::MembershipFlags::from_bits(3).unwrap(), JOIN | FORWARD);
}

/// G-11: a duplicate add and the delete of a missing membership succeed and do nothing.
fn idempotent_membership_calls<A: Addrs>() {
    let f = Four::<A>::new();
    let (s, g) = (A::far(1), A::grp(1));
    created(f.mgm.new_packet(k(3), s, g).unwrap());
    f.add(0, group(1), 1);
    f.add(1, source(A::src(1), g), 2);
    f.events();
    f.p[2].hooks.take_calls();
    let changes = f.mgm.subscribe();
    let before = state(&f.mgm);
    f.add(0, group(1), 1);
    f.add(1, source(A::src(1), g), 2);
    f.del(0, group(2), 1);
    f.del(0, Selector::AllGroups, 1);
    f.del(2, group(1), 3);
    f.del(1, source(A::src(2), g), 2);
    assert_eq!(state(&f.mgm), before);
    assert_eq!(f.events(), [vec![], vec![], vec![], vec![]]);
    assert_eq!(changes.drain(), vec![]);
    assert_eq!(f.p[2].hooks.take_calls(), vec![]);
}

/// 6.17 rows 9-14 in one place: local join / leave, RPF and creation alert on a miss, wrong
/// interface, and the IGMP bracket, each to its one recipient.
fn matrix_remaining_rows<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    // Row 14: PIM takes IGMP's k1.
    for p in [&igmp, &pim, &mospf] {
        p.drain();
    }
    mgm.take_interface(pim.h, k(1)).unwrap();
    assert_eq!(
        igmp.drain(),
        vec![
            Event::DisableIgmp { interface: k(1) },
            Event::EnableIgmp { interface: k(1) }
        ]
    );
    assert_eq!(pim.drain(), vec![]);
    assert_eq!(mospf.drain(), vec![]);
    // Rows 9-10.
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(pim.drain(), vec![lj(group(1), k(1)), ja(group(1), true)]);
    assert_eq!(mospf.drain(), vec![]);
    // Rows 11-12: RPF to MOSPF (owner toward the source), creation alert to PIM only.
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    created(mgm.new_packet(k(2), s, g).unwrap());
    let route = route_b(k(3));
    assert_eq!(
        mospf.hooks.take_calls(),
        vec![Call::Rpf(RpfQuery {
            sg,
            arrival: k(2),
            iif: k(3),
            upstream: A::UNSPECIFIED,
            route
        })]
    );
    assert_eq!(
        pim.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(3),
            entries: vec![entry(k(1), true), entry(k(2), false)]
        }]
    );
    assert_eq!(igmp.hooks.take_calls(), vec![]);
    assert_eq!(mospf.drain(), vec![ja(Selector::sg(sg), false)]);
    // Row 13: wrong interface to the owner of the arrival interface.
    assert!(mgm.report_wrong_interface(k(2), s, g).unwrap());
    assert_eq!(
        pim.drain(),
        vec![Event::WrongInterface {
            source: s,
            group: g,
            interface: k(2)
        }]
    );
    assert_eq!(mospf.drain(), vec![]);
    mgm.delete_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(
        pim.drain(),
        vec![ll(group(1), k(1)), pa(group(1), k(1), true)]
    );
    assert_eq!(igmp.drain(), vec![]);
}

both_families!(
    wildcard_join_counting,
    wildcard_prune_counting,
    first_client_after_churn,
    source_specific_alerts,
    all_groups_counting,
    false_alerts_on_emptiness_transitions,
    oif_justification,
    forward_state,
    flag_combinations,
    idempotent_membership_calls,
    matrix_remaining_rows,
);
