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
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mgm::Selector;
use mgm_igmp::{
    encode_v2, encode_v3_report, is_valid_source, GroupRecord, Heard, IgmpAction, IgmpConfig,
    IgmpLimits, IgmpRouter, InputPolicy, Query, Subnet,
};

/// Longest step sequence one input runs.
const MAX_STEPS: usize = 300;
/// The interfaces IGMP runs on, with the router's address on each; 9 is not one of them.
const IFACES: [(u32, Ipv4Addr); 3] = [
    (1, Ipv4Addr::new(203, 0, 113, 1)),
    (2, Ipv4Addr::new(198, 51, 100, 1)),
    (3, Ipv4Addr::new(192, 0, 2, 129)),
];

/// An address drawn from a small pool, so that steps meet the same groups and sources.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Addr(u8);

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
enum Msg {
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

impl Msg {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Msg::Raw(b) => b.clone(),
            Msg::V1V2 { kind, group } => {
                encode_v2([0x12, 0x16, 0x17][usize::from(*kind % 3)], group.group())
            }
            Msg::V3 { records } => encode_v3_report(
                &records
                    .iter()
                    .map(|(kind, g, s)| GroupRecord {
                        kind: kind % 8,
                        group: g.group(),
                        sources: s.iter().map(|a| a.source()).collect(),
                    })
                    .collect::<Vec<_>>(),
            ),
            Msg::Query {
                group,
                sources,
                s_flag,
                max_response_ds,
            } => Query {
                group: if group.0 % 2 == 0 {
                    Ipv4Addr::UNSPECIFIED
                } else {
                    group.group()
                },
                sources: sources.iter().map(|a| a.source()).collect(),
                max_response: Duration::from_millis(u64::from(*max_response_ds) * 100),
                s_flag: *s_flag,
                qrv: 2,
                qqi: Duration::from_secs(125),
                version: 3,
            }
            .encode(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    Packet {
        iface: u8,
        source: Addr,
        ttl: u8,
        router_alert: bool,
        msg: Msg,
        after_ms: u16,
    },
    Tick {
        after_ms: u32,
    },
    Subnets {
        iface: u8,
        prefix_len: u8,
    },
    Policy {
        iface: u8,
        ttl: bool,
        router_alert: bool,
    },
    Restart {
        iface: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    fast_leave: bool,
    groups: u8,
    sources: u8,
    per_host: u8,
    steps: Vec<Step>,
}

fn iface(i: u8) -> u32 {
    match i % 4 {
        3 => 9,
        n => IFACES[usize::from(n)].0,
    }
}

/// The joins and leaves seen, per interface.
type Joined = BTreeMap<u32, BTreeSet<Selector<Ipv4Addr>>>;

fn follow(joined: &mut Joined, acts: &[IgmpAction]) {
    for a in acts {
        match *a {
            IgmpAction::Join { ifindex, selector } => {
                if let Selector::Source { source, .. } = selector {
                    assert!(is_valid_source(source), "join of {selector:?}");
                }
                assert!(
                    joined.entry(ifindex).or_default().insert(selector),
                    "{selector:?} joined twice on {ifindex}"
                );
            }
            IgmpAction::Leave { ifindex, selector } => assert!(
                joined.entry(ifindex).or_default().remove(&selector),
                "{selector:?} left on {ifindex} without a join"
            ),
            IgmpAction::Send { .. } => {}
        }
    }
}

fn check(r: &IgmpRouter, joined: &Joined) {
    if let Err(e) = r.check_invariants() {
        panic!("{e}");
    }
    for (i, _) in IFACES {
        let model: Vec<_> = joined
            .get(&i)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let mut have = r.memberships(i);
        have.sort();
        assert_eq!(have, model, "memberships of {i}");
    }
}

fuzz_target!(|input: Input| {
    let cfg = IgmpConfig {
        fast_leave: input.fast_leave,
        limits: IgmpLimits {
            groups_per_interface: usize::from(input.groups % 8),
            sources_per_group: usize::from(input.sources % 6),
            memberships_per_host: usize::from(input.per_host % 12),
            hosts_per_interface: usize::from(input.per_host / 12 % 6),
        },
        ..IgmpConfig::default()
    };
    let mut r = IgmpRouter::new(cfg);
    let mut joined = Joined::new();
    let mut now = Duration::ZERO;
    for (i, a) in IFACES {
        let acts = r.add_interface(i, a, now);
        follow(&mut joined, &acts);
    }
    for step in input.steps.into_iter().take(MAX_STEPS) {
        match step {
            Step::Packet {
                iface: n,
                source,
                ttl,
                router_alert,
                msg,
                after_ms,
            } => {
                now += Duration::from_millis(u64::from(after_ms));
                let i = iface(n);
                let bytes = msg.bytes();
                let _ = mgm_igmp::parse(&bytes);
                let before = r.counters(i).map(|c| c.received);
                let unknown = r.unknown_interface();
                let heard = Heard {
                    source: source.host(),
                    ttl,
                    router_alert,
                };
                let acts = r.receive_packet(i, &heard, &bytes, now);
                follow(&mut joined, &acts);
                match before {
                    Some(b) => assert_eq!(r.counters(i).map(|c| c.received), Some(b + 1)),
                    None => {
                        assert!(acts.is_empty());
                        assert_eq!(r.unknown_interface(), unknown + 1);
                    }
                }
            }
            Step::Tick { after_ms } => {
                now += Duration::from_millis(u64::from(after_ms % 400_000));
                let acts = r.tick(now);
                follow(&mut joined, &acts);
                if let Some(d) = r.next_deadline() {
                    assert!(d > now, "{d:?} still due at {now:?} after a tick");
                }
            }
            Step::Subnets {
                iface: n,
                prefix_len,
            } => {
                let i = iface(n);
                let mine = IFACES.iter().find(|(x, _)| *x == i).map(|(_, a)| *a);
                let set = mine.map(|a| Subnet::new(a, prefix_len % 33));
                assert_eq!(r.set_subnets(i, set.as_slice()), mine.is_some());
            }
            Step::Policy {
                iface: n,
                ttl,
                router_alert,
            } => {
                let p = InputPolicy {
                    require_ttl_one: ttl,
                    require_router_alert: router_alert,
                };
                r.set_input_policy(iface(n), p);
            }
            Step::Restart { iface: n } => {
                let (i, a) = IFACES[usize::from(n % 3)];
                let acts = r.remove_interface(i);
                follow(&mut joined, &acts);
                assert!(
                    joined.get(&i).is_none_or(|s| s.is_empty()),
                    "leaves of {i} incomplete"
                );
                let acts = r.add_interface(i, a, now);
                follow(&mut joined, &acts);
            }
        }
        check(&r, &joined);
    }
});
