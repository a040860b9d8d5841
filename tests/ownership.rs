//! Spec 6.6 (take), 6.7 (release), 6.8 (IGMP beside a routing protocol); G-3, G-7, G-8, G-9,
//! G-29.
use mgm_model::common::*;

fn iface<A: Family>(n: u32, owner: Option<u32>, igmp: Option<u32>) -> InterfaceInfo<A> {
    InterfaceInfo {
        interface: k(n),
        owner: owner.map(|o| (o, 1)),
        igmp: igmp.map(|o| (o, 1)),
    }
}

/// 6.6 step 3, no IGMP: the routing protocol becomes owner; nobody hears anything.
fn take_free_interface<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let other = reg(&mgm, DVMRP);
    mgm.take_interface(pim.h, k(1)).unwrap();
    assert_eq!(mgm.interfaces(), vec![iface(1, Some(PIM), None)]);
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (PIM, 1));
    assert_eq!(pim.drain(), vec![]);
    assert_eq!(other.drain(), vec![]);
}

/// G-7 and 6.6 step 3: another owner, the same owner twice, a second IGMP: ALREADY_EXISTS with
/// the current owner's id, and nothing changes.
fn take_conflicts<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let dvmrp = reg(&mgm, DVMRP);
    let igmp = reg(&mgm, IGMP);
    let igmp2 = {
        let hooks = std::sync::Arc::new(TestHooks::default());
        mgm.register(protocol_id(1, 0x2a, 10), 7, hooks).unwrap()
    };
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(igmp.h, k(1)).unwrap();
    let before = state(&mgm);
    let taken = |owner| Error::InterfaceTaken {
        interface: k::<A>(1).id(),
        owner,
    };
    let e = mgm.take_interface(dvmrp.h, k(1)).unwrap_err();
    assert_eq!(e, taken(PIM));
    assert_eq!(e.win32_code(), 183);
    assert_eq!(mgm.take_interface(pim.h, k(1)).unwrap_err(), taken(PIM));
    assert_eq!(mgm.take_interface(igmp.h, k(1)).unwrap_err(), taken(IGMP));
    assert_eq!(
        mgm.take_interface(igmp2.0, k(1)).unwrap_err(),
        taken(IGMP),
        "G-3: at most one IGMP per interface, whatever its vendor"
    );
    assert_eq!(state(&mgm), before);
    for p in [&pim, &dvmrp, &igmp] {
        assert_eq!(p.drain(), vec![]);
    }
    assert_eq!(igmp2.1.drain(), vec![]);
}

/// 6.6 step 4 and G-3: IGMP (of any vendor) joins an owned interface without a bracket.
fn igmp_joins_an_owned_interface<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let other_vendor_igmp = protocol_id(1, 0x2a, 10);
    let igmp = reg(&mgm, other_vendor_igmp);
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(igmp.h, k(1)).unwrap();
    assert_eq!(
        mgm.interfaces(),
        vec![iface(1, Some(PIM), Some(other_vendor_igmp))]
    );
    assert_eq!(pim.drain(), vec![]);
    assert_eq!(igmp.drain(), vec![]);
    // G-9: the routing protocol wins.
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (PIM, 1));
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(
        pim.drain(),
        vec![lj(group(1), k(1)), ja(group(1), true)],
        "local join first, then the first-client join alert (G-28)"
    );
}

/// 6.6 step 3 with IGMP present: disable, change, enable; IGMP's memberships (every shape)
/// stay and the new owner hears each as a local join; no entry changes; a replay of IGMP's
/// memberships after the enable is silent (G-11).
fn take_igmp_interface_keeps_memberships<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    let sg_sel = source(A::far(1), A::grp(2));
    let sels = [Selector::AllGroups, group(1), sg_sel];
    for s in sels {
        mgm.add_membership(igmp.h, s, k(1), JOIN).unwrap();
    }
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    assert_eq!(oifs(&mgm, A::far(1), A::grp(1)), vec![k(1)]);
    for p in [&igmp, &pim, &mospf] {
        p.drain();
    }
    let changes = mgm.subscribe();
    let members_before = mgm.memberships();

    mgm.take_interface(pim.h, k(1)).unwrap();
    assert_eq!(
        igmp.drain(),
        vec![
            Event::DisableIgmp { interface: k(1) },
            Event::EnableIgmp { interface: k(1) }
        ]
    );
    assert_eq!(
        pim.drain(),
        vec![
            lj(Selector::AllGroups, k(1)),
            lj(group(1), k(1)),
            lj(sg_sel, k(1))
        ]
    );
    assert_eq!(mospf.drain(), vec![]);
    assert_eq!(mgm.memberships(), members_before);
    assert_eq!(oifs(&mgm, A::far(1), A::grp(1)), vec![k(1)]);
    assert_eq!(changes.drain(), vec![]);

    // IGMP replays after the enable: duplicates, nothing happens.
    for s in sels {
        mgm.add_membership(igmp.h, s, k(1), JOIN).unwrap();
    }
    assert_eq!(mgm.memberships(), members_before);
    for p in [&igmp, &pim, &mospf] {
        assert_eq!(p.drain(), vec![]);
    }
    assert_eq!(changes.drain(), vec![]);
}

/// 6.8: IGMP's add and delete on an owned interface give the owner a local join / leave; on
/// an IGMP-only interface nobody hears one.
fn local_join_and_leave<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(igmp.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(1)).unwrap();
    igmp.drain();
    pim.drain();
    mgm.add_membership(igmp.h, group(1), k(2), JOIN).unwrap();
    assert_eq!(
        pim.drain(),
        vec![ja(group(1), true)],
        "IGMP-only k2: no local join"
    );
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(
        pim.drain(),
        vec![lj(group(1), k(1))],
        "IGMP already a (*,G1) client: no new alert"
    );
    mgm.delete_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    assert_eq!(pim.drain(), vec![ll(group(1), k(1))]);
    mgm.delete_membership(igmp.h, group(1), k(2), JOIN).unwrap();
    assert_eq!(pim.drain(), vec![pa(group(1), k(2), true)]);
    assert_eq!(igmp.drain(), vec![]);
}

/// 6.8: the owner's creation alert lists IGMP's interface with `igmp: true`; a veto keeps the
/// entry off it.
fn creation_alert_flags_igmp_interfaces<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    pim.hooks.veto.lock().unwrap().push(k(1));
    let m = created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    assert_eq!(m.oifs, vec![k(2)]);
    let sg = Sg::new(A::far(1), A::grp(1));
    assert_eq!(
        pim.hooks.take_calls(),
        vec![Call::Creation {
            sg,
            iif: k(3),
            entries: vec![entry(k(1), true), entry(k(2), false)]
        }]
    );
    assert_eq!(
        igmp.hooks.take_calls(),
        vec![],
        "IGMP is not asked about owned interfaces"
    );
}

/// 6.7 step 3: IGMP releasing an owned interface deletes its memberships there: local leaves
/// to the owner, then the prune consequences.
fn igmp_release_leaves_locally<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(igmp.h, group(2), k(1), JOIN).unwrap();
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    for p in [&igmp, &pim, &mospf] {
        p.drain();
    }
    mgm.release_interface(igmp.h, k(1)).unwrap();
    assert_eq!(
        pim.drain(),
        vec![
            ll(group(1), k(1)),
            pa(group(1), k(1), true),
            ll(group(2), k(1)),
            pa(group(2), k(1), true)
        ]
    );
    let sg = Sg::new(A::far(1), A::grp(1));
    assert_eq!(
        mospf.drain(),
        vec![
            pa(group(1), k(1), true),
            pa(Selector::sg(sg), k(3), false),
            pa(group(2), k(1), true)
        ]
    );
    assert_eq!(igmp.drain(), vec![]);
    assert_eq!(mgm.memberships(), vec![]);
    assert_eq!(oifs(&mgm, sg.source, sg.group), vec![]);
    assert_eq!(
        mgm.interfaces(),
        vec![iface(1, Some(PIM), None), iface(3, Some(MOSPF), None)]
    );
}

/// 6.7 step 1: releasing an unknown interface, or someone else's, is refused.
fn release_refusals<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let dvmrp = reg(&mgm, DVMRP);
    let igmp = reg(&mgm, IGMP);
    mgm.take_interface(pim.h, k(1)).unwrap();
    let before = state(&mgm);
    for (h, n) in [(pim.h, 2), (dvmrp.h, 1), (igmp.h, 1)] {
        let e = mgm.release_interface(h, k(n)).unwrap_err();
        assert!(
            matches!(e, Error::NotOwner { interface, .. } if interface == k::<A>(n).id()),
            "{e:?}"
        );
        assert_eq!(e.win32_code(), 87);
    }
    assert_eq!(state(&mgm), before);
}

/// G-8 (c): forward state the owner put on other entries goes with the release; the entries
/// stay, and readers see the change as soon as the call returns.
fn release_removes_forward_state_oifs<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(4)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    created(mgm.new_packet(k(3), s, g).unwrap());
    mgm.add_membership(pim.h, source(s, g), k(2), FORWARD)
        .unwrap();
    mgm.add_membership(pim.h, source(s, g), k(4), FORWARD)
        .unwrap();
    assert_eq!(oifs(&mgm, s, g), vec![k(2), k(4)]);
    let mut reader = mgm.reader().unwrap();
    assert_eq!(
        look(&mut reader, k(3), s, g, 10),
        Seen::Forward(vec![k(2), k(4)])
    );
    mospf.drain();
    mgm.release_interface(pim.h, k(2)).unwrap();
    assert_eq!(oifs(&mgm, s, g), vec![k(4)]);
    assert_eq!(look(&mut reader, k(3), s, g, 10), Seen::Forward(vec![k(4)]));
    assert_eq!(mospf.drain(), vec![]);
    mgm.release_interface(pim.h, k(4)).unwrap();
    assert_eq!(oifs(&mgm, s, g), vec![]);
    assert_eq!(look(&mut reader, k(3), s, g, 10), Seen::Negative);
    assert_eq!(
        mospf.drain(),
        vec![pa(Selector::sg(Sg::new(s, g)), k(3), false)]
    );
    assert_eq!(mgm.counters().mfes, 1, "the entry itself stays");
}

/// G-8 (b): every entry whose iif is released goes, readers miss them at once; entries with
/// another iif stay.
fn release_deletes_entries_of_the_iif<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_a(k(2))).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    for n in 1..=3 {
        created(mgm.new_packet(k(2), A::src(n), A::grp(n)).unwrap());
    }
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    pim.drain();
    let mut reader = mgm.reader().unwrap();
    assert_eq!(
        look(&mut reader, k(2), A::src(2), A::grp(2), 1),
        Seen::Negative
    );
    mgm.release_interface(pim.h, k(2)).unwrap();
    let expect: Vec<_> = (1..=3)
        .map(|n| {
            deleted(
                Sg::new(A::src(n), A::grp(n)),
                k(2),
                DeleteReason::InterfaceReleased,
            )
        })
        .collect();
    assert_eq!(pim.drain(), expect, "in (group, source) order");
    for n in 1..=3 {
        assert_eq!(look(&mut reader, k(2), A::src(n), A::grp(n), 1), Seen::Miss);
    }
    let left: Vec<_> = mgm
        .mfes(None, usize::MAX)
        .unwrap()
        .items
        .iter()
        .map(|m| m.sg())
        .collect();
    assert_eq!(left, vec![Sg::new(A::far(1), A::grp(1))]);
    assert_eq!(mgm.counters().deleted, 3);
}

/// G-9: routing protocol if present, else IGMP, else not found.
fn protocol_on_interface_precedence<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let igmp = reg(&mgm, IGMP);
    let nf = Error::UnknownInterface {
        interface: k::<A>(1).id(),
    };
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap_err(), nf);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (IGMP, 1));
    mgm.take_interface(pim.h, k(1)).unwrap();
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (PIM, 1));
    mgm.release_interface(pim.h, k(1)).unwrap();
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (IGMP, 1));
    mgm.release_interface(igmp.h, k(1)).unwrap();
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap_err(), nf);
    assert_eq!(mgm.interfaces(), vec![]);
}

/// G-29: point-to-multipoint keys are exact pairs: owning one link owns neither another link
/// nor the bare index; an entry may forward onto another link of its iif's index.
fn p2mp_keys_are_exact<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let dvmrp = reg(&mgm, DVMRP);
    let l1 = IfKey::p2mp(7, A::src(201));
    let l2 = IfKey::p2mp(7, A::src(202));
    mgm.take_interface(pim.h, l1).unwrap();
    mgm.take_interface(dvmrp.h, l2).unwrap();
    mgm.take_interface(pim.h, l2).unwrap_err();
    let e = mgm.add_membership(pim.h, group(1), k(7), JOIN).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownInterface {
            interface: k::<A>(7).id()
        }
    );
    let e = mgm.add_membership(pim.h, group(1), l2, JOIN).unwrap_err();
    assert!(
        matches!(e, Error::NotOwner { interface, .. } if interface == l2.id()),
        "{e:?}"
    );
    mgm.take_interface(pim.h, k(7)).unwrap();
    assert_eq!(mgm.protocol_on_interface(l2).unwrap(), (DVMRP, 1));
    assert_eq!(mgm.protocol_on_interface(k(7)).unwrap(), (PIM, 1));
    // Source reached over link l1; receivers on link l2 and on l1 itself.
    mgm.add_route(Route::new(A::net_a().0, A::net_a().1, l1))
        .unwrap();
    mgm.add_membership(dvmrp.h, group(1), l2, JOIN).unwrap();
    mgm.add_membership(pim.h, group(1), l1, JOIN).unwrap();
    let m = created(mgm.new_packet(l1, A::src(1), A::grp(1)).unwrap());
    assert_eq!(m.iif, l1);
    assert_eq!(
        m.oifs,
        vec![l2],
        "the exact iif key is never an OIF; its sibling link is"
    );
}

both_families!(
    take_free_interface,
    take_conflicts,
    igmp_joins_an_owned_interface,
    take_igmp_interface_keeps_memberships,
    local_join_and_leave,
    creation_alert_flags_igmp_interfaces,
    igmp_release_leaves_locally,
    release_refusals,
    release_removes_forward_state_oifs,
    release_deletes_entries_of_the_iif,
    protocol_on_interface_precedence,
    p2mp_keys_are_exact,
);
