//! The IGMP router state machine (`mgm-igmp`) under arbitrary packets: any bytes or built
//! messages, any TTL, Router Alert or not, sources on and off the link (and invalid ones),
//! three interfaces and one IGMP does not run on, subnets and input policies changed on the
//! way, and time moving in arbitrary steps. After every step:
//!
//! * nothing panicked (the codec included, on the raw bytes);
//! * `IgmpRouter::check_invariants`: no limit exceeded, only routable groups and valid
//!   sources in the state, counters that add up, the timer index in step with the groups;
//! * each message for a known interface is counted exactly once;
//! * joins and leaves form a consistent stream (no join of what is joined, no leave of what
//!   is not), whose sum is `memberships()`, every selector with a valid source;
//! * after a tick, nothing is due any more (`next_deadline` is later than now).
//!
//! The steps and checks are `router_driver`'s, shared with the `mld` target.
#![no_main]

mod router_driver;

use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mgm_igmp::{encode_v2, encode_v3_report, Igmp, IgmpRouter, Subnet};
use router_driver::{Addr, Input, Link};

/// The interfaces IGMP runs on, with the router's address on each; 9 is not one of them.
const IFACES: [(u32, Ipv4Addr); 3] = [
    (1, Ipv4Addr::new(203, 0, 113, 1)),
    (2, Ipv4Addr::new(198, 51, 100, 1)),
    (3, Ipv4Addr::new(192, 0, 2, 129)),
];

impl Addr {
    fn host(self) -> Ipv4Addr {
        match self.0 % 16 {
            0 => Ipv4Addr::UNSPECIFIED,
            1 => Ipv4Addr::new(8, 8, 8, 8),
            2 => Ipv4Addr::new(1, 2, 3, 4),
            3 => IFACES[0].1,
            4..=9 => Ipv4Addr::new(203, 0, 113, self.0 % 16 - 2),
            10..=12 => Ipv4Addr::new(198, 51, 100, self.0 % 16),
            _ => Ipv4Addr::new(192, 0, 2, 130 + self.0 % 4),
        }
    }
    fn group(self) -> Ipv4Addr {
        match self.0 % 16 {
            0 => Ipv4Addr::new(224, 0, 0, 22),
            1 => Ipv4Addr::new(10, 1, 2, 3),
            2 => Ipv4Addr::UNSPECIFIED,
            n => Ipv4Addr::new(239, 1, 0, n),
        }
    }
    fn source(self) -> Ipv4Addr {
        match self.0 % 16 {
            0 => Ipv4Addr::UNSPECIFIED,
            1 => Ipv4Addr::BROADCAST,
            2 => Ipv4Addr::LOCALHOST,
            3 => Ipv4Addr::new(239, 9, 9, 9),
            4 => Ipv4Addr::new(240, 0, 0, 1),
            5 => Ipv4Addr::new(0, 1, 2, 3),
            n => Ipv4Addr::new(198, 51, 100, n),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Msg {
    Raw(Vec<u8>),
    V1V2 {
        kind: u8,
        group: Addr,
    },
    V3 {
        records: Vec<(u8, Addr, Vec<Addr>)>,
    },
    Query {
        group: Addr,
        sources: Vec<Addr>,
        s_flag: bool,
        max_response_ds: u8,
    },
}

impl Link for Igmp {
    type Msg = Msg;
    const IFACES: [(u32, Ipv4Addr); 3] = IFACES;
    fn host(a: Addr) -> Ipv4Addr {
        a.host()
    }
    fn group(a: Addr) -> Ipv4Addr {
        a.group()
    }
    fn source(a: Addr) -> Ipv4Addr {
        a.source()
    }
    fn parse(bytes: &[u8]) {
        let _ = mgm_igmp::parse(bytes);
    }
    fn set_subnets(r: &mut IgmpRouter, ifindex: u32, mine: Option<Ipv4Addr>, prefix_len: u8) {
        let set = mine.map(|a| Subnet::new(a, prefix_len % 33));
        assert_eq!(r.set_subnets(ifindex, set.as_slice()), mine.is_some());
    }
    fn bytes(msg: &Msg) -> Vec<u8> {
        match msg {
            Msg::Raw(b) => b.clone(),
            Msg::V1V2 { kind, group } => {
                encode_v2([0x12, 0x16, 0x17][usize::from(*kind % 3)], group.group())
            }
            Msg::V3 { records } => encode_v3_report(&router_driver::records::<Igmp>(records)),
            Msg::Query {
                group,
                sources,
                s_flag,
                max_response_ds,
            } => router_driver::query::<Igmp>(
                *group,
                sources,
                *s_flag,
                Duration::from_millis(u64::from(*max_response_ds) * 100),
                3,
            )
            .encode(),
        }
    }
}

fuzz_target!(|input: Input<Msg>| router_driver::run::<Igmp>(input));
