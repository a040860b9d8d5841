//! What the three targets share: the input shape, the run against the reference model, and
//! the probes of the engine's input checks, counters and queues.
//! The model and its harness are the test suite's own (the `mgm-model` crate): one copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;

use mgm::{
    Batches, Config, DefaultHooks, Error, Event, ExternalCounters, Family, IfKey, MfeChange, Mgm,
    PacketKey, ProtocolHandle, Reader, Route, Selector, Sg, Verdict, FORWARD, JOIN, MAX_BURST,
    MS_IP_IGMP,
};
use mgm_model::harness::{CaseSeed, Harness};
use mgm_model::ops::Op;

/// Longest operation sequence one input runs (keeps executions fast).
const MAX_OPS: usize = 400;
/// Longest probe sequence one input runs.
const MAX_PROBES: usize = 200;

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub ipv6: bool,
    pub seed: CaseSeed,
    pub probes: Probes,
    pub ops: Vec<Op>,
}

/// Runs the operations `keep` accepts against the engine and the model, then the probes;
/// any difference, any broken rule, and any panic of the engine, is a finding.
pub fn run(input: Input, keep: impl Fn(&Op) -> bool) {
    let ops: Vec<Op> = input
        .ops
        .into_iter()
        .filter(|op| keep(op))
        .take(MAX_OPS)
        .collect();
    let result = if input.ipv6 {
        Harness::<std::net::Ipv6Addr>::new(input.seed).run(&ops)
    } else {
        Harness::<std::net::Ipv4Addr>::new(input.seed).run(&ops)
    };
    if let Err(e) = result {
        panic!("{e}");
    }
    if input.ipv6 {
        input.probes.run::<std::net::Ipv6Addr>();
    } else {
        input.probes.run::<std::net::Ipv4Addr>();
    }
}

/// A counter value, biased toward the edges.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Extreme {
    Zero,
    One,
    Max,
    BelowMax(u8),
    Any(u64),
}

impl Extreme {
    fn value(self) -> u64 {
        match self {
            Extreme::Zero => 0,
            Extreme::One => 1,
            Extreme::Max => u64::MAX,
            Extreme::BelowMax(d) => u64::MAX - u64::from(d),
            Extreme::Any(v) => v,
        }
    }
}

/// One probe of the engine, with indexes into the pools below.
#[derive(Arbitrary, Debug)]
pub enum Probe {
    Take {
        proto: u8,
        iface: u8,
    },
    Member {
        proto: u8,
        iface: u8,
        source: u8,
        group: u8,
        join: bool,
        forward: bool,
    },
    Packet {
        iface: u8,
        source: u8,
        group: u8,
    },
    Route {
        prefix: u8,
        len: u8,
        iface: u8,
        upstream: u8,
        remove: bool,
    },
    Burst {
        len: u16,
        first: u8,
        stride: u8,
    },
    Counters {
        source: u8,
        group: u8,
        packets: Extreme,
        bytes: Extreme,
        wrong_if: Extreme,
        twice: bool,
    },
    Wrong {
        iface: u8,
        source: u8,
        group: u8,
    },
    SetMfe {
        source: u8,
        group: u8,
        upstream: u8,
    },
}

/// Probes run on an engine of their own, whose queues hold `queue % 16 + 1` batches.
#[derive(Arbitrary, Debug)]
pub struct Probes {
    pub queue: u8,
    pub steps: Vec<Probe>,
}

/// Pools: 24 sources and the non-sources (loopback, unspecified, broadcast, class E,
/// multicast); 16 groups and two non-groups; 32 interfaces and point-to-multipoint links.
struct Pools;

impl Pools {
    fn source<A: Family>(i: u8) -> A {
        let v4 = A::BITS == 32;
        let n = u128::from(i % 40);
        let bits = match n {
            0..=11 if v4 => 0xc633_6400 | (n + 1),       // 198.51.100.x
            12..=23 if v4 => 0xcb00_7100 | (n + 1),      // 203.0.113.x
            0..=23 => (0x2001_0db8u128 << 96) | (n + 1), // 2001:db8::x
            24 | 25 if v4 => 0x7f00_0001 + (n - 24) * 0x00ff_fffd, // 127.0.0.1, 127.255.255.254
            26 if v4 => 0,
            27 if v4 => 0xffff_ffff, // broadcast
            28 | 29 if v4 => 0xf000_0001 + (n - 28) * 0x0e00_0000, // class E
            30..=32 if v4 => 0xe000_0001 + (n - 30) * 0x0700_0000, // multicast
            24 => 1,                 // ::1
            25 | 26 => 0,            // ::
            27..=32 => (0xff00u128 + (n - 27)) << 112 | 1, // ff0x::1
            _ if v4 => 0xc633_6401,
            _ => (0x2001_0db8u128 << 96) | 1,
        };
        A::from_bits(bits)
    }

    fn group<A: Family>(i: u8) -> A {
        let n = u128::from(i % 18);
        match (A::BITS == 32, n) {
            (true, 0..=15) => A::from_bits(0xef01_0200 | (n + 1)),
            (false, 0..=15) => A::from_bits((0xff0eu128 << 112) | (1 << 16) | (n + 1)),
            (_, 16) => Self::source(0),
            _ => A::UNSPECIFIED,
        }
    }

    fn iface<A: Family>(i: u8) -> IfKey<A> {
        match i % 40 {
            n @ 0..=31 => IfKey::new(u32::from(n) + 1),
            n => IfKey::p2mp(33, Self::source(n * 5)),
        }
    }

    /// A next hop: unspecified, a neighbour, or a non-source.
    fn next_hop<A: Family>(i: u8) -> A {
        if i % 4 == 0 {
            A::UNSPECIFIED
        } else {
            Self::source(i)
        }
    }

    fn prefix<A: Family>(i: u8, len: u8) -> (A, u8) {
        let v4 = A::BITS == 32;
        match (v4, i % 12) {
            (true, 0) => (A::from_bits(0xc633_6400), 24),
            (true, 1) => (A::from_bits(0xcb00_7100), 24),
            (true, 2) => (A::from_bits(0xe000_0000), 4),
            (true, 3) => (A::from_bits(0xe000_0000), 3),
            (true, 4) => (A::from_bits(0xef00_0000), 8),
            (true, 5) => (A::from_bits(0xc000_0000), 2),
            (true, 6) => (A::from_bits(0xf000_0000), 4),
            (false, 0) => (A::from_bits(0x2001_0db8u128 << 96), 32),
            (false, 1) => (A::from_bits(0x2001_0db8_0000_0001u128 << 64), 64),
            (false, 2) => (A::from_bits(0xff00u128 << 112), 8),
            (false, 3) => (A::from_bits(0xff02u128 << 112), 16),
            (false, 4) => (A::from_bits(0xfe00u128 << 112), 7),
            (false, 5) => (A::from_bits(0xfc00u128 << 112), 6),
            (_, 7) => (A::UNSPECIFIED, 0),
            (_, 8) => (Self::source(len), A::BITS as u8),
            (_, 9) => (Self::group(len), A::BITS as u8),
            // Any prefix length at a source or group address: often host bits set.
            (_, 10) => (Self::source(len), len),
            _ => (Self::group(len), len),
        }
    }
}

/// The rules, stated here on their own: what a source is, what is multicast space.
fn is_source<A: Family>(a: A) -> bool {
    let b = a.to_bits();
    if A::BITS == 32 {
        let first = b >> 24;
        b != 0 && first != 127 && first < 224
    } else {
        b != 0 && b != 1 && b >> 120 != 0xff
    }
}

fn in_multicast_space<A: Family>(prefix: A, len: u8) -> bool {
    let b = prefix.to_bits();
    if A::BITS == 32 {
        (len >= 4 && b >> 28 == 0xe) || (len == 3 && b >> 29 == 0b111)
    } else {
        len >= 8 && b >> 120 == 0xff
    }
}

fn prefix_ok<A: Family>(prefix: A, len: u8) -> bool {
    let (bits, len, b) = (A::BITS, u32::from(len), prefix.to_bits());
    match len {
        0 => b == 0,
        l if l > bits => false,
        l if l == bits => true,
        l => b & ((1u128 << (bits - l)) - 1) == 0,
    }
}

/// A verdict without the reader's borrow.
#[derive(Debug, PartialEq, Eq)]
enum Seen<A> {
    Forward(Vec<IfKey<A>>),
    Wrong(IfKey<A>),
    Negative,
    Miss,
}

fn seen<A: Family>(v: &Verdict<'_, A>) -> Seen<A> {
    match v {
        Verdict::Forward(o) => Seen::Forward(o.to_vec()),
        Verdict::WrongInterface { iif } => Seen::Wrong(*iif),
        Verdict::Negative => Seen::Negative,
        Verdict::Miss => Seen::Miss,
    }
}

/// The engine of the probes, its protocols, and the receivers it follows.
struct Probed<A: Family> {
    mgm: Mgm<A>,
    cap: usize,
    protos: Vec<ProtocolHandle>,
    reader: Reader<A>,
    /// Drained after every step; a count of what it received.
    follower: Batches<MfeChange<A>>,
    followed: u64,
    /// Never drained until the end.
    stalled: Batches<MfeChange<A>>,
    stalled_proto: mgm::EventReceiver<A>,
}

impl Probes {
    fn run<A: Family>(self) {
        let cap = usize::from(self.queue % 16) + 1;
        let mgm = Mgm::<A>::new(Config {
            queue_capacity: cap,
            max_workers: 2,
            ..Config::default()
        });
        let mut protos = Vec::new();
        for id in [
            mgm::protocol_id(1, 0x137, 0x21),
            mgm::protocol_id(1, 0x137, 0x22),
            MS_IP_IGMP,
        ] {
            let (h, _events) = mgm
                .register(id, 1, Arc::new(DefaultHooks))
                .expect("register");
            protos.push(h);
        }
        // Hears the join and prune alerts of everyone's memberships; never reads them.
        let (_h, stalled_proto) = mgm
            .register(mgm::protocol_id(1, 0x137, 0x23), 1, Arc::new(DefaultHooks))
            .expect("register");
        let follower = mgm.subscribe();
        let stalled = mgm.subscribe();
        let reader = mgm.reader().expect("a reader");
        let mut p = Probed {
            mgm,
            cap,
            protos,
            reader,
            follower,
            followed: 0,
            stalled,
            stalled_proto,
        };
        for step in self.steps.iter().take(MAX_PROBES) {
            p.step(step);
            p.follow();
        }
        p.finish();
    }
}

impl<A: Family> Probed<A> {
    fn step(&mut self, step: &Probe) {
        let m = self.mgm.clone();
        match *step {
            Probe::Take { proto, iface } => {
                let h = self.protos[usize::from(proto) % self.protos.len()];
                let _ = m.take_interface(h, Pools::iface(iface));
            }
            Probe::Member {
                proto,
                iface,
                source,
                group,
                join,
                forward,
            } => {
                let h = self.protos[usize::from(proto) % self.protos.len()];
                let (s, g) = (Pools::source::<A>(source), Pools::group::<A>(group));
                let sel = Selector::Source {
                    source: s,
                    group: g,
                };
                let flags = if forward { FORWARD } else { JOIN };
                let k = Pools::iface(iface);
                let r = if join {
                    m.add_membership(h, sel, k, flags)
                } else {
                    m.delete_membership(h, sel, k, flags)
                };
                source_rule(s, g.is_group(), &r);
            }
            Probe::Packet {
                iface,
                source,
                group,
            } => {
                let (s, g) = (Pools::source::<A>(source), Pools::group::<A>(group));
                let r = m.new_packet(Pools::iface(iface), s, g);
                source_rule(s, true, &r);
            }
            Probe::Wrong {
                iface,
                source,
                group,
            } => {
                let (s, g) = (Pools::source::<A>(source), Pools::group::<A>(group));
                let r = m.report_wrong_interface(Pools::iface(iface), s, g);
                source_rule(s, true, &r);
            }
            Probe::Route {
                prefix,
                len,
                iface,
                upstream,
                remove,
            } => {
                let (p, l) = Pools::prefix::<A>(prefix, len);
                if remove {
                    let _ = m.remove_route(p, l);
                    return;
                }
                let mut route = Route::new(p, l, Pools::iface(iface));
                route.upstream = Pools::next_hop(upstream);
                let r = m.add_route(route);
                let hop_ok = |a: A| a == A::UNSPECIFIED || is_source(a);
                if !prefix_ok(p, l) {
                    assert!(
                        matches!(r, Err(Error::InvalidPrefix { .. })),
                        "{route:?}: {r:?}"
                    );
                } else if in_multicast_space(p, l) {
                    assert_eq!(
                        r,
                        Err(Error::MulticastRoute {
                            prefix: p.into(),
                            len: l
                        })
                    );
                } else if !hop_ok(route.upstream) || !hop_ok(route.iif.next_hop) {
                    assert!(
                        matches!(r, Err(Error::InvalidNextHop { .. })),
                        "{route:?}: {r:?}"
                    );
                } else {
                    assert_eq!(r, Ok(()), "{route:?}");
                }
            }
            Probe::SetMfe {
                source,
                group,
                upstream,
            } => {
                let (s, g) = (Pools::source::<A>(source), Pools::group::<A>(group));
                let up = Pools::next_hop::<A>(upstream);
                let r = m.set_mfe(self.protos[0], s, g, up);
                source_rule(s, true, &r);
                if is_source(s) && g.is_group() && up != A::UNSPECIFIED && !is_source(up) {
                    assert_eq!(
                        r,
                        Err(Error::InvalidNextHop {
                            next_hop: up.into()
                        })
                    );
                }
            }
            Probe::Counters {
                source,
                group,
                packets,
                bytes,
                wrong_if,
                twice,
            } => {
                self.counters(source, group, [packets, bytes, wrong_if], twice);
            }
            Probe::Burst { len, first, stride } => self.burst(len, first, stride),
        }
    }

    /// External counters, extreme ones included, on an entry made for them; the statistics
    /// saturate and keep what was reported.
    fn counters(&mut self, source: u8, group: u8, v: [Extreme; 3], twice: bool) {
        let (s, g) = (Pools::source::<A>(source), Pools::group::<A>(group % 16));
        let ext = ExternalCounters {
            packets: v[0].value(),
            bytes: v[1].value(),
            wrong_if: v[2].value(),
        };
        let r = self.mgm.set_external_counters(s, g, ext);
        if !is_source(s) {
            assert_eq!(r, Err(Error::InvalidSource { source: s.into() }));
            return;
        }
        if r.is_err() {
            if self.mgm.new_packet(IfKey::new(1), s, g).is_err() {
                return; // the table is full
            }
            self.mgm
                .set_external_counters(s, g, ext)
                .expect("the entry exists");
        }
        if twice {
            self.mgm
                .set_external_counters(s, g, ext)
                .expect("the entry exists");
        }
        let st = self.mgm.mfe_stats(s, g).expect("the entry exists");
        assert_eq!(st.external, ext);
        assert!(st.in_packets >= ext.packets && st.in_octets >= ext.bytes);
        assert!(st.different_if >= ext.wrong_if);
        let page = self.mgm.mfe_stats_page(None, 64).expect("a page");
        for e in page.items {
            assert!(e.in_packets >= e.external.packets);
        }
    }

    /// A burst of any length up to the maximum (and one past it): each verdict is what a
    /// single lookup gives.
    fn burst(&mut self, len: u16, first: u8, stride: u8) {
        let n = usize::from(len) % (MAX_BURST + 2);
        let keys: Vec<PacketKey<A>> = (0..n)
            .map(|i| {
                let j = first.wrapping_add((i as u8).wrapping_mul(stride | 1));
                PacketKey {
                    arrival: Pools::iface(j),
                    source: Pools::source(j.rotate_left(3)),
                    group: Pools::group(j.rotate_left(5)),
                    bytes: u32::from(j) * 7,
                }
            })
            .collect();
        let mut verdicts = vec![Verdict::Miss; n];
        let r = self.reader.lookup_burst(&keys, &mut verdicts);
        if n > MAX_BURST {
            assert!(matches!(r, Err(Error::BurstTooLarge { .. })), "{r:?}");
            return;
        }
        assert_eq!(r, Ok(n));
        let got: Vec<Seen<A>> = verdicts.iter().map(seen).collect();
        drop(verdicts);
        for (k, want) in keys.iter().zip(got) {
            let one = seen(&self.reader.lookup(k.arrival, k.source, k.group, k.bytes));
            assert_eq!(one, want, "{k:?}");
        }
    }

    /// Reads the follower; the stalled receivers stay within their bound.
    fn follow(&mut self) {
        for c in self.follower.drain() {
            if !matches!(c, MfeChange::Resync { .. }) {
                self.followed += 1;
            }
        }
        assert!(self.stalled.receiver().len() <= self.cap);
        assert!(self.stalled_proto.receiver().len() <= self.cap);
    }

    /// Every change went to the follower or was counted lost by it; the stalled subscriber
    /// kept some, lost the rest, and once drained announces exactly what it lost, after which
    /// its mirror, rebuilt from a walk, is the engine's table.
    fn finish(self) {
        let produced = self.followed + self.follower.lost();
        let got = self.stalled.drain();
        let kept = got
            .iter()
            .filter(|c| !matches!(c, MfeChange::Resync { .. }))
            .count() as u64;
        assert_eq!(kept + self.stalled.lost(), produced);
        let markers: Vec<u64> = got
            .iter()
            .filter_map(|c| match c {
                MfeChange::Resync { lost } => Some(*lost),
                _ => None,
            })
            .collect();
        if self.stalled.lost() > 0 {
            assert_eq!(markers, vec![self.stalled.lost()]);
            assert!(matches!(got.last(), Some(MfeChange::Resync { .. })));
        } else {
            assert!(markers.is_empty());
        }
        let mut mirror: BTreeMap<Sg<A>, (IfKey<A>, Vec<IfKey<A>>)> = BTreeMap::new();
        for c in got {
            match c {
                MfeChange::Installed(x) | MfeChange::OifsChanged(x) => {
                    mirror.insert(x.sg(), (x.iif, x.oifs));
                }
                MfeChange::Deleted { sg, .. } => {
                    mirror.remove(&sg);
                }
                MfeChange::Resync { .. } => mirror = walk(&self.mgm),
                other => panic!("unknown change {other:?}"),
            }
        }
        assert_eq!(mirror, walk(&self.mgm));
        let events = self.stalled_proto.drain();
        let lost = self.stalled_proto.lost();
        if lost > 0 {
            assert_eq!(events.last(), Some(&Event::Overflow { lost }));
        }
        assert!(self.stalled.receiver().is_empty());
    }
}

fn walk<A: Family>(mgm: &Mgm<A>) -> BTreeMap<Sg<A>, (IfKey<A>, Vec<IfKey<A>>)> {
    let page = mgm.mfes(None, usize::MAX).expect("a walk");
    page.items
        .into_iter()
        .map(|x| (x.sg(), (x.iif, x.oifs)))
        .collect()
}

/// A call given a non-source (and a valid group) is refused as such; one given a source is
/// never refused for its source.
fn source_rule<A: Family, T: std::fmt::Debug>(s: A, group_ok: bool, r: &mgm::Result<T>) {
    let refused_source = matches!(r, Err(Error::InvalidSource { .. }));
    if is_source(s) {
        assert!(!refused_source, "{s} is a source: {r:?}");
    } else if group_ok {
        assert!(refused_source, "{s} is no source: {r:?}");
    }
}
