//! What the `igmp` and `mld` targets share: the steps that drive one router state machine
//! (packets, ticks, subnets, input policies, restarts), the joins and leaves it reports
//! followed step by step, and the checks after every step. Each target gives its protocol's
//! addresses and messages ([`Link`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use arbitrary::Arbitrary;
use mgm::{Family, Selector};
use mgm_igmp::{
    Action, GroupRecord, Heard, IgmpConfig, IgmpLimits, InputPolicy, Protocol, Query, Router,
};

/// Longest step sequence one input runs.
const MAX_STEPS: usize = 300;

/// An address drawn from a small pool, so that steps meet the same groups and sources.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Addr(pub u8);

/// A protocol as a target drives it.
pub trait Link: Protocol {
    /// A message to build (or raw bytes).
    type Msg: for<'a> Arbitrary<'a> + Debug;
    /// The interfaces the router runs on, with its address on each; 9 is not one of them.
    const IFACES: [(u32, Self::Addr); 3];
    /// The message's bytes.
    fn bytes(msg: &Self::Msg) -> Vec<u8>;
    /// A message source from the pool.
    fn host(a: Addr) -> Self::Addr;
    /// A group from the pool.
    fn group(a: Addr) -> Self::Addr;
    /// A record or query source from the pool.
    fn source(a: Addr) -> Self::Addr;
    /// The codec alone on `bytes`: it must answer, never panic.
    fn parse(bytes: &[u8]);
    /// Gives the link of `ifindex` (with the router's address `mine`, if it runs there) the
    /// subnet `mine`/`prefix_len`, where the protocol has subnets.
    fn set_subnets(r: &mut Router<Self>, ifindex: u32, mine: Option<Self::Addr>, prefix_len: u8);
}

#[derive(Arbitrary, Debug)]
pub enum Step<M> {
    Packet {
        iface: u8,
        source: Addr,
        ttl: u8,
        router_alert: bool,
        msg: M,
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
pub struct Input<M> {
    fast_leave: bool,
    groups: u8,
    sources: u8,
    per_host: u8,
    steps: Vec<Step<M>>,
}

/// Records of any type (0 to 7: some unknown), of groups and sources from the pool.
pub fn records<P: Link>(records: &[(u8, Addr, Vec<Addr>)]) -> Vec<GroupRecord<P::Addr>> {
    records
        .iter()
        .map(|(kind, g, s)| GroupRecord {
            kind: kind % 8,
            group: P::group(*g),
            sources: s.iter().map(|a| P::source(*a)).collect(),
        })
        .collect()
}

/// A query of `version`: general for an even `group`, else for that group of the pool.
pub fn query<P: Link>(
    group: Addr,
    sources: &[Addr],
    s_flag: bool,
    max_response: Duration,
    version: u8,
) -> Query<P::Addr> {
    Query {
        group: if group.0 % 2 == 0 {
            P::Addr::UNSPECIFIED
        } else {
            P::group(group)
        },
        sources: sources.iter().map(|a| P::source(*a)).collect(),
        max_response,
        s_flag,
        qrv: 2,
        qqi: Duration::from_secs(125),
        version,
    }
}

fn iface<P: Link>(i: u8) -> u32 {
    match i % 4 {
        3 => 9,
        n => P::IFACES[usize::from(n)].0,
    }
}

/// The joins and leaves seen, per interface.
type Joined<A> = BTreeMap<u32, BTreeSet<Selector<A>>>;

fn follow<P: Link>(joined: &mut Joined<P::Addr>, acts: &[Action<P::Addr>]) {
    for a in acts {
        match *a {
            Action::Join { ifindex, selector } => {
                if let Selector::Source { source, .. } = selector {
                    assert!(P::valid_source(source), "join of {selector:?}");
                }
                assert!(
                    joined.entry(ifindex).or_default().insert(selector),
                    "{selector:?} joined twice on {ifindex}"
                );
            }
            Action::Leave { ifindex, selector } => assert!(
                joined.entry(ifindex).or_default().remove(&selector),
                "{selector:?} left on {ifindex} without a join"
            ),
            Action::Send { .. } => {}
        }
    }
}

fn check<P: Link>(r: &Router<P>, joined: &Joined<P::Addr>) {
    if let Err(e) = r.check_invariants() {
        panic!("{e}");
    }
    for (i, _) in P::IFACES {
        let model: Vec<_> = joined
            .get(&i)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let mut have = r.memberships(i);
        have.sort();
        assert_eq!(have, model, "memberships of {i}");
    }
}

/// Runs the input's steps on a router of protocol `P`, checking after every step.
pub fn run<P: Link>(input: Input<P::Msg>) {
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
    let mut r = Router::<P>::new(cfg);
    let mut joined = Joined::new();
    let mut now = Duration::ZERO;
    for (i, a) in P::IFACES {
        let acts = r.add_interface(i, a, now).expect("the driver's addresses are valid");
        follow::<P>(&mut joined, &acts);
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
                let i = iface::<P>(n);
                let bytes = P::bytes(&msg);
                P::parse(&bytes);
                let before = r.counters(i).map(|c| c.received);
                let unknown = r.unknown_interface();
                let heard = Heard {
                    source: P::host(source),
                    ttl,
                    router_alert,
                };
                let acts = r.receive_packet(i, &heard, &bytes, now);
                follow::<P>(&mut joined, &acts);
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
                follow::<P>(&mut joined, &acts);
                if let Some(d) = r.next_deadline() {
                    assert!(d > now, "{d:?} still due at {now:?} after a tick");
                }
            }
            Step::Subnets {
                iface: n,
                prefix_len,
            } => {
                let i = iface::<P>(n);
                let mine = P::IFACES.iter().find(|(x, _)| *x == i).map(|(_, a)| *a);
                P::set_subnets(&mut r, i, mine, prefix_len);
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
                r.set_input_policy(iface::<P>(n), p);
            }
            Step::Restart { iface: n } => {
                let (i, a) = P::IFACES[usize::from(n % 3)];
                let acts = r.remove_interface(i);
                follow::<P>(&mut joined, &acts);
                assert!(
                    joined.get(&i).is_none_or(|s| s.is_empty()),
                    "leaves of {i} incomplete"
                );
                let acts = r.add_interface(i, a, now).expect("the driver's addresses are valid");
                follow::<P>(&mut joined, &acts);
            }
        }
        check(&r, &joined);
    }
}
