//! Spec 6.1 (starting a routing protocol) and 6.4 (shutting it down), row by row.
use mgm_model::common::*;

/// 6.1 rows 1-4: register, ask who is on the interfaces, take them (IGMP bracket where IGMP
/// holds one), then learn the memberships already there by a group enumeration.
fn startup_rows_in_order<A: Addrs>() {
    let (mgm, _clock) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(igmp.h, group(2), k(1), JOIN).unwrap();
    assert_eq!(igmp.drain(), vec![], "IGMP alone: nobody else to alert");

    // Row 1: register.
    let pim = reg(&mgm, PIM);
    assert_eq!(pim.drain(), vec![], "a late registrant hears no past joins");

    // Row 2: who is on the interfaces of interest.
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (IGMP, 1));
    let e = mgm.protocol_on_interface(k(2)).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownInterface {
            interface: k::<A>(2).id()
        }
    );
    assert_eq!(e.win32_code(), 1168);

    // Row 3: take every interface; the IGMP one is bracketed.
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    assert_eq!(
        igmp.drain(),
        vec![
            Event::DisableIgmp { interface: k(1) },
            Event::EnableIgmp { interface: k(1) }
        ]
    );
    assert_eq!(
        pim.drain(),
        vec![lj(group(1), k(1)), lj(group(2), k(1))],
        "IGMP's memberships are told to the new owner as local joins"
    );
    assert_eq!(mgm.protocol_on_interface(k(1)).unwrap(), (PIM, 1));
    assert_eq!(mgm.protocol_on_interface(k(2)).unwrap(), (PIM, 1));
    assert_eq!(
        mgm.interfaces(),
        vec![
            InterfaceInfo {
                interface: k(1),
                owner: Some((PIM, 1)),
                igmp: Some((IGMP, 1))
            },
            InterfaceInfo {
                interface: k(2),
                owner: Some((PIM, 1)),
                igmp: None
            },
        ]
    );

    // Row 4: learn the existing memberships.
    let en = mgm
        .group_enumeration_start(pim.h, EnumKind::AllSources)
        .unwrap();
    let page = mgm.group_enumeration_next(en, 10).unwrap();
    assert_eq!(page.items, vec![group(1), group(2)]);
    assert!(!page.more);
    assert_eq!(page.win32_status(), 259);
    mgm.group_enumeration_end(en).unwrap();
    assert_eq!(igmp.drain(), vec![]);
    assert_eq!(pim.drain(), vec![]);
}

/// The router used by the shutdown rows: IGMP and PIM on k1, PIM on k2, MOSPF on k3; net A
/// routed via k2 (PIM), net B via k3 (MOSPF); IGMP and PIM hold (*,G1) on k1 and k2.
struct Router<A: Addrs> {
    mgm: Mgm<A>,
    igmp: Proto<A>,
    pim: Proto<A>,
    mospf: Proto<A>,
    changes: mgm::Batches<MfeChange<A>>,
}

fn router<A: Addrs>() -> Router<A> {
    let (mgm, _clock) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_a(k(2))).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    // (S1,G1): iif k2 (PIM), OIF k1. (F1,G1): iif k3 (MOSPF), OIFs k1, k2.
    created(mgm.new_packet(k(2), A::src(1), A::grp(1)).unwrap());
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    assert_eq!(oifs(&mgm, A::src(1), A::grp(1)), vec![k(1)]);
    assert_eq!(oifs(&mgm, A::far(1), A::grp(1)), vec![k(1), k(2)]);
    for p in [&igmp, &pim, &mospf] {
        p.drain();
        p.hooks.take_calls();
    }
    let changes = mgm.subscribe();
    Router {
        mgm,
        igmp,
        pim,
        mospf,
        changes,
    }
}

/// 6.4 row 1, an interface without IGMP: entries whose iif it is go (MfeDeleted to the owner),
/// the owner's memberships there are deleted with their prune alerts, and the interface leaves
/// the other entries' OIF lists without deleting them (G-8 as engine.md decides).
fn shutdown_row1_release_plain_interface<A: Addrs>() {
    let r = router::<A>();
    let (s1, f1, g1) = (A::src(1), A::far(1), A::grp(1));
    r.mgm.release_interface(r.pim.h, k(2)).unwrap();
    assert_eq!(
        r.pim.drain(),
        vec![deleted(
            Sg::new(s1, g1),
            k(2),
            DeleteReason::InterfaceReleased
        )]
    );
    assert_eq!(
        r.igmp.drain(),
        vec![pa(group(1), k(2), true)],
        "(*,G1) clients 2 -> 1: the remaining client hears the prune"
    );
    assert_eq!(r.mospf.drain(), vec![], "(F1,G1) keeps k1: no FALSE alert");
    assert!(r.mgm.mfe(s1, g1).is_err());
    assert_eq!(oifs(&r.mgm, f1, g1), vec![k(1)]);
    let after = r.mgm.mfe(f1, g1).unwrap();
    assert_eq!(
        r.changes.drain(),
        vec![
            MfeChange::Deleted {
                sg: Sg::new(s1, g1),
                iif: k(2),
                reason: DeleteReason::InterfaceReleased
            },
            MfeChange::OifsChanged(Mfe {
                up_time: secs(0),
                expiry: after.expiry,
                ..after
            }),
        ]
    );
    assert_eq!(
        r.mgm.memberships(),
        vec![MembershipInfo {
            protocol: (IGMP, 1),
            selector: group(1),
            interface: k(1)
        }]
    );
    assert_eq!(
        r.mgm.protocol_on_interface(k(2)).unwrap_err(),
        Error::UnknownInterface {
            interface: k::<A>(2).id()
        },
        "nobody left on k2: forgotten"
    );
}

/// 6.4 row 1, an interface IGMP shares: disable first, enable last, and IGMP's memberships
/// keep the interface on the outgoing lists they justify.
fn shutdown_row1_release_igmp_interface<A: Addrs>() {
    let r = router::<A>();
    let (s1, f1, g1) = (A::src(1), A::far(1), A::grp(1));
    r.mgm.release_interface(r.pim.h, k(1)).unwrap();
    assert_eq!(
        r.igmp.drain(),
        vec![
            Event::DisableIgmp { interface: k(1) },
            Event::EnableIgmp { interface: k(1) }
        ]
    );
    assert_eq!(r.pim.drain(), vec![]);
    assert_eq!(r.mospf.drain(), vec![]);
    assert_eq!(oifs(&r.mgm, s1, g1), vec![k(1)]);
    assert_eq!(oifs(&r.mgm, f1, g1), vec![k(1), k(2)]);
    assert_eq!(r.changes.drain(), vec![], "no reader-visible blip");
    assert_eq!(r.mgm.protocol_on_interface(k(1)).unwrap(), (IGMP, 1));
    assert_eq!(
        r.mgm.interfaces()[0],
        InterfaceInfo {
            interface: k(1),
            owner: None,
            igmp: Some((IGMP, 1))
        }
    );
}

/// 6.4 row 1 where the release empties an entry's list: the iif owner hears the membership
/// prune first, then the FALSE prune for the entry, and is asked for its lifetime.
fn shutdown_release_empties_an_entry<A: Addrs>() {
    let (mgm, _clock) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    pim.drain();
    mospf.drain();
    mospf.hooks.take_calls();
    mgm.release_interface(pim.h, k(2)).unwrap();
    let sg = Sg::new(A::far(1), A::grp(1));
    assert_eq!(pim.drain(), vec![]);
    assert_eq!(
        mospf.drain(),
        vec![pa(group(1), k(2), true), pa(Selector::sg(sg), k(3), false)]
    );
    assert_eq!(
        mospf.hooks.take_calls(),
        vec![Call::Timeout {
            sg,
            iif: k(3),
            proposed: Some(secs(900))
        }]
    );
    assert_eq!(oifs(&mgm, sg.source, sg.group), vec![]);
}

/// 6.4 row 2: deregistration is refused while interfaces are owned, then kills the handle and
/// disconnects the event channel; the ids can register again with a new handle.
fn shutdown_row2_deregister<A: Addrs>() {
    let r = router::<A>();
    let e = r.mgm.deregister(r.pim.h).unwrap_err();
    assert_eq!(e, Error::StillOwnsInterfaces { count: 2 });
    assert_eq!(e.win32_code(), 1003);
    r.mgm.release_interface(r.pim.h, k(1)).unwrap();
    r.mgm.release_interface(r.pim.h, k(2)).unwrap();
    r.pim.drain();
    r.igmp.drain();
    r.mgm.deregister(r.pim.h).unwrap();
    assert!(matches!(
        r.pim.ev.try_recv_batch(),
        Err(crossbeam::channel::TryRecvError::Disconnected)
    ));
    let dead = Error::InvalidHandle {
        kind: HandleKind::Protocol,
        raw: r.pim.h.raw(),
    };
    assert_eq!(r.mgm.deregister(r.pim.h).unwrap_err(), dead);
    assert_eq!(r.mgm.take_interface(r.pim.h, k(9)).unwrap_err(), dead);
    assert_eq!(
        r.mgm
            .add_membership(r.pim.h, group(1), k(1), JOIN)
            .unwrap_err(),
        dead
    );
    assert_eq!(
        r.mgm
            .group_enumeration_start(r.pim.h, EnumKind::AnySource)
            .unwrap_err(),
        dead
    );
    assert_eq!(dead.win32_code(), 87);
    // A deregistered protocol is no longer a registered client: the next first (*,G) join
    // alerts only the others.
    r.mgm
        .add_membership(r.mospf.h, group(5), k(3), JOIN)
        .unwrap();
    assert_eq!(r.igmp.drain(), vec![ja(group(5), true)]);
    assert_eq!(r.mospf.drain(), vec![]);
    let again = reg(&r.mgm, PIM);
    assert_ne!(again.h, r.pim.h);
    assert_eq!(r.mgm.take_interface(r.pim.h, k(9)).unwrap_err(), dead);
    r.mgm.take_interface(again.h, k(9)).unwrap();
}

both_families!(
    startup_rows_in_order,
    shutdown_row1_release_plain_interface,
    shutdown_row1_release_igmp_interface,
    shutdown_release_empties_an_entry,
    shutdown_row2_deregister,
);
