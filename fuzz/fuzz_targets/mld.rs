//! The MLD router state machine (`mgm-igmp`'s `MldRouter`) under arbitrary packets: any bytes
//! or built MLDv1/MLDv2 messages, any hop limit, Router Alert or not, link-local, global and
//! unspecified sources, link-scope and unroutable groups, invalid record sources, three
//! interfaces and one MLD does not run on, input policies changed on the way, and time moving
//! in arbitrary steps. After every step:
//!
//! * nothing panicked (the codec included, on the raw bytes: an error, never a panic);
//! * `MldRouter::check_invariants`: no limit exceeded, only routable groups and valid
//!   sources in the state, counters that add up, the timer index in step with the groups;
//! * each message for a known interface is counted exactly once;
//! * joins and leaves form a consistent stream (no join of what is joined, no leave of what
//!   is not), whose sum is `memberships()`, every selector with a valid source;
//! * after a tick, nothing is due any more (`next_deadline` is later than now).
//!
//! The steps and checks are `router_driver`'s, shared with the `igmp` target; MLD has no
//! subnets (its sources must be link-local), so the subnet step only checks that.
#![no_main]

mod router_driver;

use std::net::Ipv6Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mgm_igmp::mld::{self, encode_v1, encode_v2_report};
use mgm_igmp::{Mld, MldRouter};
use router_driver::{Addr, Input, Link};

/// The interfaces MLD runs on, with the router's link-local address on each; 9 is not one.
const IFACES: [(u32, Ipv6Addr); 3] = [(1, ll(0x10)), (2, ll(0x20)), (3, ll(1))];

const fn ll(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
}
const fn global(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n)
}

impl Addr {
    fn host(self) -> Ipv6Addr {
        match self.0 % 16 {
            0 => Ipv6Addr::UNSPECIFIED,
            1 => global(1),
            2 => global(0x99),
            3 => IFACES[0].1,
            // Both sides of the routers' addresses, so elections go either way.
            n => ll(u16::from(n) * 3),
        }
    }
    fn group(self) -> Ipv6Addr {
        match self.0 % 16 {
            0 => mld::ALL_NODES,
            1 => global(7),
            2 => Ipv6Addr::UNSPECIFIED,
            3 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2),
            4 => Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0, 0, 5),
            n if n < 10 => Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, u16::from(n)),
            n => Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0x8000, u16::from(n)),
        }
    }
    fn source(self) -> Ipv6Addr {
        match self.0 % 16 {
            0 => Ipv6Addr::UNSPECIFIED,
            1 => Ipv6Addr::LOCALHOST,
            2 => ll(9),
            3 => Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 9),
            n => global(u16::from(n)),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Msg {
    Raw(Vec<u8>),
    V1 {
        done: bool,
        group: Addr,
    },
    V2 {
        records: Vec<(u8, Addr, Vec<Addr>)>,
    },
    Query {
        group: Addr,
        sources: Vec<Addr>,
        s_flag: bool,
        max_response_ms: u16,
        v1: bool,
    },
}

impl Link for Mld {
    type Msg = Msg;
    const IFACES: [(u32, Ipv6Addr); 3] = IFACES;
    fn host(a: Addr) -> Ipv6Addr {
        a.host()
    }
    fn group(a: Addr) -> Ipv6Addr {
        a.group()
    }
    fn source(a: Addr) -> Ipv6Addr {
        a.source()
    }
    fn parse(bytes: &[u8]) {
        // An answer, never a panic; an error always says something.
        if let Err(e) = mld::parse(bytes) {
            assert!(!e.to_string().is_empty());
        }
    }
    fn set_subnets(r: &mut MldRouter, ifindex: u32, _mine: Option<Ipv6Addr>, _prefix_len: u8) {
        // No subnets in MLD: the interface's state stays without any.
        assert!(r
            .interfaces()
            .get(&ifindex)
            .is_none_or(|st| st.subnets.is_empty()));
    }
    fn bytes(msg: &Msg) -> Vec<u8> {
        match msg {
            Msg::Raw(b) => b.clone(),
            Msg::V1 { done, group } => encode_v1(
                if *done { mld::V1_DONE } else { mld::V1_REPORT },
                group.group(),
            ),
            Msg::V2 { records } => encode_v2_report(&router_driver::records::<Mld>(records)),
            Msg::Query {
                group,
                sources,
                s_flag,
                max_response_ms,
                v1,
            } => router_driver::query::<Mld>(
                *group,
                sources,
                *s_flag,
                Duration::from_millis(u64::from(*max_response_ms) * 10),
                if *v1 { 1 } else { 2 },
            )
            .encode(),
        }
    }
}

fuzz_target!(|input: Input<Msg>| router_driver::run::<Mld>(input));
