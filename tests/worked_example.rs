//! Spec 6.18, step by step: DVMRP owns I1 (IGMP also there), PIM owns I2, MOSPF owns I3; the
//! source S is reached via I2. Every event of every protocol, every hook call and every
//! southbound change is checked exactly.
use mgm_model::common::*;

fn worked_example<A: Addrs>() {
    let (mgm, clock) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let dvmrp = reg(&mgm, DVMRP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    let (i1, i2, i3) = (k::<A>(1), k::<A>(2), k::<A>(3));
    mgm.take_interface(igmp.h, i1).unwrap();
    mgm.take_interface(dvmrp.h, i1).unwrap();
    mgm.take_interface(pim.h, i2).unwrap();
    mgm.take_interface(mospf.h, i3).unwrap();
    let route = route_a(i2);
    mgm.add_route(route).unwrap();
    assert_eq!(
        igmp.drain(),
        vec![
            Event::DisableIgmp { interface: i1 },
            Event::EnableIgmp { interface: i1 }
        ]
    );
    let all = [&igmp, &dvmrp, &pim, &mospf];
    let events = || all.map(|p| p.drain());
    let calls = || all.map(|p| p.hooks.take_calls());
    assert_eq!(events(), [vec![], vec![], vec![], vec![]]);
    let changes = mgm.subscribe();
    let (s, g) = (A::src(1), A::grp(1));
    let sg = Sg::new(s, g);
    let gsel = group::<A>(1);
    let me = Selector::sg(sg);

    // 1. A host on I1 joins G: local join to DVMRP; IGMP is the first (*,G) client, so every
    //    other registered client hears a TRUE join alert.
    mgm.add_membership(igmp.h, gsel, i1, JOIN).unwrap();
    assert_eq!(
        events(),
        [
            vec![],
            vec![lj(gsel, i1), ja(gsel, true)],
            vec![ja(gsel, true)],
            vec![ja(gsel, true)],
        ]
    );
    assert_eq!(calls(), [vec![], vec![], vec![], vec![]]);
    assert_eq!(changes.drain(), vec![]);

    // 2. S sends; the first packet arrives on I2: RPF to PIM, creation alert to DVMRP for I1
    //    (IGMP there), entry (S,G) iif I2 OIF {I1} 900 s, FALSE join to PIM.
    let m = created(mgm.new_packet(i2, s, g).unwrap());
    let want = Mfe {
        source: s,
        group: g,
        upstream: A::UNSPECIFIED,
        iif: i2,
        iif_protocol: Some((PIM, 1)),
        route: Some(route),
        up_time: secs(0),
        expiry: Some(secs(900)),
        timeout: Some(secs(900)),
        oifs: vec![i1],
    };
    assert_eq!(m, want);
    assert_eq!(
        calls(),
        [
            vec![],
            vec![Call::Creation {
                sg,
                iif: i2,
                entries: vec![entry(i1, true)]
            }],
            vec![Call::Rpf(RpfQuery {
                sg,
                arrival: i2,
                iif: i2,
                upstream: A::UNSPECIFIED,
                route
            })],
            vec![],
        ]
    );
    assert_eq!(events(), [vec![], vec![], vec![ja(me, false)], vec![]]);
    assert_eq!(changes.drain(), vec![MfeChange::Installed(want.clone())]);
    let mut reader = mgm.reader().unwrap();
    assert_eq!(look(&mut reader, i2, s, g, 64), Seen::Forward(vec![i1]));

    // 3. MOSPF's neighbour on I3 wants G: N 1 -> 2, a TRUE join alert to IGMP only; the entry
    //    gains I3 (no FALSE alert: the list was not empty).
    clock.advance(secs(10));
    mgm.add_membership(mospf.h, gsel, i3, JOIN).unwrap();
    assert_eq!(events(), [vec![ja(gsel, true)], vec![], vec![], vec![]]);
    assert_eq!(calls(), [vec![], vec![], vec![], vec![]]);
    let with_i3 = Mfe {
        oifs: vec![i1, i3],
        ..want.clone()
    };
    assert_eq!(
        changes.drain(),
        vec![MfeChange::OifsChanged(with_i3.clone())]
    );
    assert_eq!(
        mgm.mfe(s, g).unwrap(),
        Mfe {
            up_time: secs(10),
            expiry: Some(secs(890)),
            ..with_i3
        }
    );
    assert_eq!(look(&mut reader, i2, s, g, 64), Seen::Forward(vec![i1, i3]));

    // 4. The host on I1 leaves: local leave to DVMRP; N 2 -> 1, a TRUE prune to MOSPF; the
    //    entry drops I1 and keeps I3.
    mgm.delete_membership(igmp.h, gsel, i1, JOIN).unwrap();
    assert_eq!(
        events(),
        [vec![], vec![ll(gsel, i1)], vec![], vec![pa(gsel, i1, true)]]
    );
    assert_eq!(calls(), [vec![], vec![], vec![], vec![]]);
    assert_eq!(
        changes.drain(),
        vec![MfeChange::OifsChanged(Mfe {
            oifs: vec![i3],
            ..want.clone()
        })]
    );
    assert_eq!(look(&mut reader, i2, s, g, 64), Seen::Forward(vec![i3]));

    // 5. MOSPF deletes its I3 membership: N 1 -> 0, a TRUE prune to every other client; the
    //    list empties, so PIM also hears the FALSE prune on I2 and picks the lifetime.
    *pim.hooks.timeout.lock().unwrap() = Some(Some(secs(120)));
    mgm.delete_membership(mospf.h, gsel, i3, JOIN).unwrap();
    assert_eq!(
        events(),
        [
            vec![pa(gsel, i3, true)],
            vec![pa(gsel, i3, true)],
            vec![pa(gsel, i3, true), pa(me, i2, false)],
            vec![],
        ]
    );
    assert_eq!(
        calls(),
        [
            vec![],
            vec![],
            vec![Call::Timeout {
                sg,
                iif: i2,
                proposed: Some(secs(900))
            }],
            vec![],
        ]
    );
    assert_eq!(
        changes.drain(),
        vec![MfeChange::OifsChanged(Mfe {
            oifs: vec![],
            ..want.clone()
        })]
    );
    assert_eq!(look(&mut reader, i2, s, g, 64), Seen::Negative);
    let neg = mgm.mfe(s, g).unwrap();
    assert_eq!(
        (neg.up_time, neg.expiry, neg.timeout),
        (secs(10), Some(secs(120)), Some(secs(120)))
    );

    // ... and the negative entry expires later.
    clock.advance(secs(119));
    assert_eq!(mgm.run_timers().unwrap(), 0);
    clock.advance(secs(1));
    assert_eq!(mgm.run_timers().unwrap(), 1);
    assert_eq!(
        events(),
        [
            vec![],
            vec![],
            vec![deleted(sg, i2, DeleteReason::Expired)],
            vec![]
        ]
    );
    assert_eq!(
        changes.drain(),
        vec![MfeChange::Deleted {
            sg,
            iif: i2,
            reason: DeleteReason::Expired
        }]
    );
    assert_eq!(look(&mut reader, i2, s, g, 64), Seen::Miss);
    assert_eq!(mgm.memberships(), vec![]);
}

both_families!(worked_example);
