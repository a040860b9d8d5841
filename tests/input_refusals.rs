//! What is not a source, a next hop or a route is refused at every entry point, with a typed
//! error that names the address; nothing changes. External counters saturate.
use mgm_model::common::*;

use mgm::{ExternalCounters, Result};
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses that can never be the source of multicast traffic, per family.
fn not_sources<A: Addrs>() -> Vec<A> {
    let v: Vec<IpAddr> = if A::BITS == 32 {
        [
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(127, 255, 255, 254),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(240, 0, 0, 1),
            Ipv4Addr::new(254, 1, 2, 3),
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(239, 255, 255, 255),
        ]
        .map(IpAddr::V4)
        .to_vec()
    } else {
        [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0, 9),
        ]
        .map(IpAddr::V6)
        .to_vec()
    };
    v.into_iter().map(|ip| A::from_bits(bits(ip))).collect()
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// An engine with IGMP on k1, PIM on k2 (toward net A), and one entry (far(1), grp(1)).
struct Fx<A: Addrs> {
    mgm: Mgm<A>,
    igmp: Proto<A>,
    pim: Proto<A>,
    changes: mgm::Batches<MfeChange<A>>,
}

fn fx<A: Addrs>() -> Fx<A> {
    let (mgm, _) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.add_route(route_a(k(2))).unwrap();
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    igmp.drain();
    pim.drain();
    let changes = mgm.subscribe();
    Fx {
        mgm,
        igmp,
        pim,
        changes,
    }
}

type Snap<A> = (State<A>, Vec<Route<A>>, Vec<(Sg<A>, u64)>);

impl<A: Addrs> Fx<A> {
    fn snap(&self) -> Snap<A> {
        let stats = self.mgm.mfe_stats_page(None, 100).unwrap().items;
        let counts = stats.iter().map(|s| (s.mfe.sg(), s.in_packets)).collect();
        (state(&self.mgm), self.mgm.routes(), counts)
    }

    /// `r` is `want` (Win32 87, a message naming `addr`) and nothing changed.
    #[track_caller]
    fn refused<T: Debug>(&self, before: &Snap<A>, r: Result<T>, want: Error, addr: A) {
        let e = r.unwrap_err();
        assert_eq!(e, want);
        assert_eq!(e.win32_code(), 87);
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
        assert_eq!(&self.snap(), before);
        assert_eq!(self.igmp.drain(), vec![]);
        assert_eq!(self.pim.drain(), vec![]);
        assert_eq!(self.changes.drain(), vec![]);
    }
}

/// Every call that takes a source refuses each kind of non-source.
fn every_entry_point_refuses_non_sources<A: Addrs>() {
    let f = fx::<A>();
    let before = f.snap();
    let g = A::grp(1);
    let ext = ExternalCounters {
        packets: 1,
        bytes: 1,
        wrong_if: 0,
    };
    for bad in not_sources::<A>() {
        let want = Error::InvalidSource { source: bad.into() };
        let sel = Selector::Source {
            source: bad,
            group: g,
        };
        let m = &f.mgm;
        assert_eq!(sel.validate(), Err(want.clone()));
        f.refused(&before, m.new_packet(k(2), bad, g), want.clone(), bad);
        f.refused(
            &before,
            m.add_membership(f.igmp.h, sel, k(1), JOIN),
            want.clone(),
            bad,
        );
        f.refused(
            &before,
            m.add_membership(f.pim.h, sel, k(2), FORWARD),
            want.clone(),
            bad,
        );
        f.refused(
            &before,
            m.delete_membership(f.igmp.h, sel, k(1), JOIN),
            want.clone(),
            bad,
        );
        f.refused(
            &before,
            m.set_external_counters(bad, g, ext),
            want.clone(),
            bad,
        );
        f.refused(&before, m.mfe(bad, g), want.clone(), bad);
        f.refused(&before, m.mfe_stats(bad, g), want.clone(), bad);
        f.refused(
            &before,
            m.report_wrong_interface(k(2), bad, g),
            want.clone(),
            bad,
        );
        f.refused(
            &before,
            m.set_mfe(f.pim.h, bad, g, A::UNSPECIFIED),
            want,
            bad,
        );
    }
    // The same calls with a real source go through.
    let s = Selector::Source {
        source: A::far(1),
        group: g,
    };
    f.mgm.add_membership(f.igmp.h, s, k(1), JOIN).unwrap();
    f.mgm.set_external_counters(A::far(1), g, ext).unwrap();
}

/// Addresses that cannot be a neighbour: every non-source but the unspecified address, which
/// means "no next hop".
fn not_next_hops<A: Addrs>() -> Vec<A> {
    not_sources::<A>()
        .into_iter()
        .filter(|a| *a != A::UNSPECIFIED)
        .collect()
}

/// A route's upstream neighbour, the link of its incoming interface, and an entry's upstream
/// neighbour must each be unspecified or a unicast neighbour.
fn next_hops_are_neighbours<A: Addrs>() {
    let f = fx::<A>();
    let before = f.snap();
    let (p, l) = A::net_b();
    for bad in not_next_hops::<A>() {
        let want = Error::InvalidNextHop {
            next_hop: bad.into(),
        };
        let mut r = Route::new(p, l, k(2));
        r.upstream = bad;
        f.refused(&before, f.mgm.add_route(r), want.clone(), bad);
        let r = Route::new(p, l, IfKey::p2mp(2, bad));
        f.refused(&before, f.mgm.add_route(r), want.clone(), bad);
        f.refused(
            &before,
            f.mgm.set_mfe(f.pim.h, A::far(1), A::grp(1), bad),
            want,
            bad,
        );
    }
    // Unspecified and unicast next hops are taken.
    let mut r = Route::new(p, l, IfKey::p2mp(2, A::src(9)));
    r.upstream = A::src(254);
    f.mgm.add_route(r).unwrap();
}

/// Routes to prefixes in multicast space are refused; a route covering unicast space with
/// multicast space is not.
fn routes_to_multicast_space_are_refused<A: Addrs>() {
    let f = fx::<A>();
    let before = f.snap();
    let refused: Vec<(A, u8)> = if A::BITS == 32 {
        [
            (0xe000_0000, 4),
            (0xe000_0000, 3),
            (0xef00_0000, 8),
            (0xe800_0000, 5),
            (0xef01_0203, 32),
        ]
        .iter()
        .map(|&(b, l)| (A::from_bits(b), l))
        .collect()
    } else {
        [
            (0xff00u128 << 112, 8),
            (0xff02u128 << 112, 16),
            ((0xff0eu128 << 112) | 1, 128),
        ]
        .iter()
        .map(|&(b, l)| (A::from_bits(b), l))
        .collect()
    };
    for (prefix, len) in refused {
        let want = Error::MulticastRoute {
            prefix: prefix.into(),
            len,
        };
        f.refused(
            &before,
            f.mgm.add_route(Route::new(prefix, len, k(2))),
            want,
            prefix,
        );
    }
    let covering: Vec<(A, u8)> = if A::BITS == 32 {
        vec![
            (A::UNSPECIFIED, 0),
            (A::from_bits(0x8000_0000), 1),
            (A::from_bits(0xc000_0000), 2),
        ]
    } else {
        vec![(A::UNSPECIFIED, 0), (A::from_bits(0xfe00u128 << 112), 7)]
    };
    for (prefix, len) in covering {
        f.mgm.add_route(Route::new(prefix, len, k(2))).unwrap();
    }
}

/// A route through an interface nobody owns is taken (the RIB is not ownership); a miss from
/// behind it builds the entry with that interface as incoming one and no owner to ask.
fn a_route_through_an_unowned_interface_is_taken<A: Addrs>() {
    let f = fx::<A>();
    f.mgm.add_route(route_b(k(9))).unwrap();
    assert!(f.mgm.protocol_on_interface(k(9)).is_err(), "nobody owns k9");
    for p in [&f.igmp, &f.pim] {
        p.hooks.take_calls();
    }
    let m = created(f.mgm.new_packet(k(9), A::far(7), A::grp(2)).unwrap());
    assert_eq!((m.iif, m.iif_protocol), (k(9), None));
    for p in [&f.igmp, &f.pim] {
        let calls = p.hooks.take_calls();
        assert!(
            !calls.iter().any(|c| matches!(c, Call::Rpf(_))),
            "no RPF question to anyone: {calls:?}"
        );
    }
}

/// External counters at their maximum, reported twice and added to the readers' own counts:
/// the statistics saturate, they neither panic nor wrap.
fn external_counters_saturate<A: Addrs>() {
    let f = fx::<A>();
    let (s, g) = (A::src(5), A::grp(1));
    f.mgm
        .add_membership(f.igmp.h, group(1), k(1), JOIN)
        .unwrap();
    created(f.mgm.new_packet(k(2), s, g).unwrap());
    let mut r = f.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(2), s, g, 100), Seen::Forward(vec![k(1)]));
    assert_eq!(
        f.mgm.mfe_stats(s, g).unwrap().in_packets,
        1,
        "the reader's own count"
    );
    let max = ExternalCounters {
        packets: u64::MAX,
        bytes: u64::MAX,
        wrong_if: u64::MAX,
    };
    f.mgm.set_external_counters(s, g, max).unwrap();
    f.mgm.set_external_counters(s, g, max).unwrap();
    let st = f.mgm.mfe_stats(s, g).unwrap();
    assert_eq!(
        (st.in_packets, st.in_octets, st.different_if),
        (u64::MAX, u64::MAX, u64::MAX)
    );
    assert_eq!(st.external, max);
    let page = f.mgm.mfe_stats_page(None, 10).unwrap();
    let entry = page
        .items
        .iter()
        .find(|x| x.mfe.sg() == Sg::new(s, g))
        .unwrap();
    assert_eq!(entry.in_packets, u64::MAX);
}

both_families!(
    every_entry_point_refuses_non_sources,
    next_hops_are_neighbours,
    routes_to_multicast_space_are_refused,
    a_route_through_an_unowned_interface_is_taken,
    external_counters_saturate,
);
