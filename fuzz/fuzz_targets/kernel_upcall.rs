//! The parsers of what the kernel's mroute sockets deliver (`mgm-linux`), under arbitrary
//! bytes and arbitrary arrival information: `struct mrt6msg` upcalls and MLD messages on the
//! IPv6 socket (`parse_upcall6`, `parse_received6`, `has_router_alert6`), `struct igmpmsg`
//! upcalls and IGMP packets on the IPv4 one (`parse_received4`, `has_router_alert`). Checked
//! for every input:
//!
//! * nothing panics;
//! * an IPv6 message is an upcall exactly when it has the 40 bytes of a `mrt6msg` and its
//!   `im6_mbz` is zero, and the upcall's fields are the bytes at the header's offsets (read
//!   here independently); bytes after the 40 change nothing;
//! * it is MLD exactly when its first byte is an MLD type, it has 8 bytes or more and the
//!   arrival (interface, source, destination, hop limit) is known; the payload is the bytes,
//!   and the router alert is `has_router_alert6` of the hop-by-hop header; anything else is
//!   junk;
//! * `has_router_alert6` reads nothing past the header's own length;
//! * an IPv4 message is an upcall exactly when it has 20 bytes and protocol byte 0, with the
//!   VIF of bytes 10 and 11 and the addresses of bytes 12..20; an IGMP payload is a slice of
//!   the bytes after the header, and comes only with a known interface.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mgm_linux::mroute::{
    has_router_alert, has_router_alert6, parse_received4, parse_received6, parse_upcall6, Arrival6,
    Received4, Received6, UpcallKind,
};

#[derive(Arbitrary, Debug)]
struct Input {
    bytes: Vec<u8>,
    ifindex: Option<u32>,
    source: Option<[u8; 16]>,
    destination: Option<[u8; 16]>,
    hop_limit: Option<u8>,
    hop_by_hop: Option<Vec<u8>>,
    extra: Vec<u8>,
}

fn kind(b: u8) -> UpcallKind {
    match b {
        1 => UpcallKind::NoCache,
        2 => UpcallKind::WrongVif,
        k => UpcallKind::Other(k),
    }
}

fn addr16(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes"))
}

fn check_upcall6(b: &[u8], extra: &[u8]) {
    let up = parse_upcall6(b);
    assert_eq!(up.is_some(), b.len() >= 40 && b[0] == 0, "{b:?}");
    if let Some(u) = up {
        assert_eq!(u.kind, kind(b[1]));
        assert_eq!(u.vif, u16::from_ne_bytes([b[2], b[3]]));
        assert_eq!(u.source, addr16(&b[8..24]));
        assert_eq!(u.group, addr16(&b[24..40]));
        let mut longer = b.to_vec();
        longer.extend_from_slice(extra);
        assert_eq!(
            parse_upcall6(&longer),
            up,
            "trailing bytes changed the upcall"
        );
    }
}

fn check_received6(b: &[u8], arrival: &Arrival6) {
    let r = parse_received6(b, arrival);
    let mld_type = matches!(b.first(), Some(130 | 131 | 132 | 143));
    let known = arrival.ifindex.is_some()
        && arrival.source.is_some()
        && arrival.destination.is_some()
        && arrival.hop_limit.is_some();
    match &r {
        Received6::Upcall(u) => assert_eq!(Some(*u), parse_upcall6(b)),
        Received6::Mld {
            ifindex,
            source,
            destination,
            hop_limit,
            router_alert,
            payload,
        } => {
            assert!(mld_type && b.len() >= 8 && known, "{b:?} {arrival:?}");
            assert_eq!(Some(*ifindex), arrival.ifindex);
            assert_eq!(Some(*source), arrival.source);
            assert_eq!(Some(*destination), arrival.destination);
            assert_eq!(Some(*hop_limit), arrival.hop_limit);
            let ra = arrival.hop_by_hop.as_deref().is_some_and(has_router_alert6);
            assert_eq!(*router_alert, ra);
            assert_eq!(payload.as_slice(), b);
        }
        Received6::Junk => {
            assert!(
                parse_upcall6(b).is_none(),
                "an upcall taken for junk: {b:?}"
            );
            assert!(
                !(mld_type && b.len() >= 8 && known),
                "MLD taken for junk: {b:?} {arrival:?}"
            );
        }
    }
}

fn check_router_alert6(hbh: &[u8], extra: &[u8]) {
    let ra = has_router_alert6(hbh);
    if let Some(&units) = hbh.get(1) {
        let own = (usize::from(units) + 1) * 8;
        if hbh.len() >= own {
            // Bytes past the header's length are not options of it.
            let mut longer = hbh[..own].to_vec();
            longer.extend_from_slice(extra);
            assert_eq!(has_router_alert6(&longer), ra, "{hbh:?} + {extra:?}");
            assert_eq!(has_router_alert6(&hbh[..own]), ra);
        }
    } else {
        assert!(!ra, "a router alert in {hbh:?}");
    }
}

fn check_received4(b: &[u8], ifindex: Option<u32>) {
    let _ = has_router_alert(b);
    match parse_received4(b, ifindex) {
        Received4::Upcall(u) => {
            assert!(b.len() >= 20 && b[9] == 0, "{b:?}");
            assert_eq!(u.kind, kind(b[8]));
            assert_eq!(u.vif, u16::from(b[10]) | u16::from(b[11]) << 8);
            assert_eq!(u.source, Ipv4Addr::new(b[12], b[13], b[14], b[15]));
            assert_eq!(u.group, Ipv4Addr::new(b[16], b[17], b[18], b[19]));
        }
        Received4::Igmp {
            ifindex: i,
            payload,
            ttl,
            ..
        } => {
            assert!(b.len() >= 20 && b[9] != 0, "{b:?}");
            assert_eq!(Some(i), ifindex);
            assert_eq!(ttl, b[8]);
            let ihl = usize::from(b[0] & 0x0f) * 4;
            assert!(ihl >= 20 && ihl + payload.len() <= b.len());
            assert_eq!(payload.as_slice(), &b[ihl..ihl + payload.len()]);
        }
        Received4::Junk => {
            assert!(b.len() < 20 || b[9] != 0, "an upcall taken for junk: {b:?}");
        }
    }
}

fuzz_target!(|input: Input| {
    let arrival = Arrival6 {
        ifindex: input.ifindex,
        source: input.source.map(Ipv6Addr::from),
        destination: input.destination.map(Ipv6Addr::from),
        hop_limit: input.hop_limit,
        hop_by_hop: input.hop_by_hop.clone(),
    };
    check_upcall6(&input.bytes, &input.extra);
    check_received6(&input.bytes, &arrival);
    check_router_alert6(
        input.hop_by_hop.as_deref().unwrap_or(&input.bytes),
        &input.extra,
    );
    check_received4(&input.bytes, input.ifindex);
});
