//! The operations the harness applies, as small numbers decoded into small address pools so
//! that operations collide: 6 interface keys (two of them links of one point-to-multipoint
//! interface), 5 sources (+ an invalid one), 3 groups (+ an invalid one), 6 routes (one with
//! host bits set). `arbitrary` builds them for the fuzz targets; the proptest builds each one
//! from a fixed-size chunk of random bytes, so shrinking removes whole operations.

use arbitrary::{Arbitrary, Unstructured};
use std::time::Duration;

use super::common::{protocol_id, Addrs, IfKey, Route, Selector, DVMRP, IGMP, MOSPF, PIM};

/// A protocol handle to pass: a registration made earlier (live or dead), a forged value, or
/// an enumeration handle passed as a protocol handle.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct HRef(pub u8, pub u16);

/// An enumeration handle to pass: an enumeration opened earlier (open or not), a forged
/// value, or a protocol handle passed as an enumeration handle.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct ERef(pub u8, pub u16);

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SelSeed {
    All,
    Group(u8),
    Source(u8, u8),
}

/// How a protocol's hooks answer: interfaces its creation alerts disable (bit mask over the
/// key pool), its RPF answer, its lifetime answer.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct HookSeed {
    pub veto: u8,
    pub rpf: u8,
    pub timeout: u8,
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Register {
        proto: u8,
        component: u8,
        hooks: HookSeed,
    },
    Deregister {
        p: HRef,
    },
    Take {
        p: HRef,
        k: u8,
    },
    Release {
        p: HRef,
        k: u8,
    },
    ProtocolOn {
        k: u8,
    },
    Add {
        p: HRef,
        sel: SelSeed,
        k: u8,
        flags: u8,
    },
    Delete {
        p: HRef,
        sel: SelSeed,
        k: u8,
        flags: u8,
    },
    NewPacket {
        k: u8,
        s: u8,
        g: u8,
    },
    Lookup {
        k: u8,
        s: u8,
        g: u8,
        bytes: u16,
    },
    Burst {
        keys: [(u8, u8, u8); 3],
    },
    WrongIf {
        k: u8,
        s: u8,
        g: u8,
    },
    AddRoute {
        r: u8,
        k: u8,
        up: u8,
    },
    RemoveRoute {
        r: u8,
    },
    Advance {
        t: u8,
    },
    RunTimers,
    /// `run_timers_some` with a budget of `max` (0 is refused), called until it says no
    /// more is due: the same entries expire as with one `run_timers`.
    RunTimersSome {
        max: u8,
    },
    SetMfe {
        p: HRef,
        s: u8,
        g: u8,
        up: u8,
    },
    Get {
        s: u8,
        g: u8,
        stats: bool,
    },
    Walk {
        after: Option<(u8, u8)>,
        max: u8,
        stats: bool,
    },
    EnumStart {
        p: HRef,
        any: bool,
    },
    EnumNext {
        e: ERef,
        max: u8,
    },
    EnumEnd {
        e: ERef,
    },
    SetHooks {
        p: u8,
        hooks: HookSeed,
    },
    /// Stops the engine only when `confirm` is 0xA5, so that most sequences keep going.
    Stop {
        confirm: u8,
    },
}

/// Bytes per operation in the proptest's encoding.
pub const OP_BYTES: usize = 12;

impl Op {
    /// One operation from a chunk of bytes (missing bytes read as zeros).
    pub fn from_bytes(b: &[u8]) -> Op {
        let mut u = Unstructured::new(b);
        Op::arbitrary(&mut u).unwrap_or(Op::RunTimers)
    }

    /// Relative weights of the variants, in [`Op::pick`]'s order: memberships, ownership and
    /// packets dominate, so that the state grows and operations collide.
    const WEIGHTS: [u8; 24] = [
        4, 2, 8, 3, 1, 14, 7, 10, 8, 3, 3, 4, 2, 4, 3, 2, 2, 2, 2, 3, 1, 2, 2, 1,
    ];

    fn pick(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
        let total: u32 = Self::WEIGHTS.iter().map(|w| u32::from(*w)).sum();
        let mut x = u32::from(u.arbitrary::<u8>()?) * total / 256;
        let mut i = 0;
        while x >= u32::from(Self::WEIGHTS[i]) {
            x -= u32::from(Self::WEIGHTS[i]);
            i += 1;
        }
        Ok(match i {
            0 => Op::Register {
                proto: u.arbitrary()?,
                component: u.arbitrary()?,
                hooks: u.arbitrary()?,
            },
            1 => Op::Deregister { p: u.arbitrary()? },
            2 => Op::Take {
                p: u.arbitrary()?,
                k: u.arbitrary()?,
            },
            3 => Op::Release {
                p: u.arbitrary()?,
                k: u.arbitrary()?,
            },
            4 => Op::ProtocolOn { k: u.arbitrary()? },
            5 => Op::Add {
                p: u.arbitrary()?,
                sel: u.arbitrary()?,
                k: u.arbitrary()?,
                flags: u.arbitrary()?,
            },
            6 => Op::Delete {
                p: u.arbitrary()?,
                sel: u.arbitrary()?,
                k: u.arbitrary()?,
                flags: u.arbitrary()?,
            },
            7 => Op::NewPacket {
                k: u.arbitrary()?,
                s: u.arbitrary()?,
                g: u.arbitrary()?,
            },
            8 => Op::Lookup {
                k: u.arbitrary()?,
                s: u.arbitrary()?,
                g: u.arbitrary()?,
                bytes: u.arbitrary()?,
            },
            9 => Op::Burst {
                keys: u.arbitrary()?,
            },
            10 => Op::WrongIf {
                k: u.arbitrary()?,
                s: u.arbitrary()?,
                g: u.arbitrary()?,
            },
            11 => Op::AddRoute {
                r: u.arbitrary()?,
                k: u.arbitrary()?,
                up: u.arbitrary()?,
            },
            12 => Op::RemoveRoute { r: u.arbitrary()? },
            13 => Op::Advance { t: u.arbitrary()? },
            14 => Op::RunTimers,
            15 => Op::SetMfe {
                p: u.arbitrary()?,
                s: u.arbitrary()?,
                g: u.arbitrary()?,
                up: u.arbitrary()?,
            },
            16 => Op::Get {
                s: u.arbitrary()?,
                g: u.arbitrary()?,
                stats: u.arbitrary()?,
            },
            17 => Op::Walk {
                after: u.arbitrary()?,
                max: u.arbitrary()?,
                stats: u.arbitrary()?,
            },
            18 => Op::EnumStart {
                p: u.arbitrary()?,
                any: u.arbitrary()?,
            },
            19 => Op::EnumNext {
                e: u.arbitrary()?,
                max: u.arbitrary()?,
            },
            20 => Op::EnumEnd { e: u.arbitrary()? },
            21 => Op::SetHooks {
                p: u.arbitrary()?,
                hooks: u.arbitrary()?,
            },
            22 => Op::RunTimersSome {
                max: u.arbitrary()?,
            },
            _ => Op::Stop {
                confirm: u.arbitrary()?,
            },
        })
    }

    /// A short name of the variant (for the fuzz targets' filters).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Register { .. } => "register",
            Op::Deregister { .. } => "deregister",
            Op::Take { .. } => "take",
            Op::Release { .. } => "release",
            Op::ProtocolOn { .. } => "protocol_on",
            Op::Add { .. } => "add",
            Op::Delete { .. } => "delete",
            Op::NewPacket { .. } => "new_packet",
            Op::Lookup { .. } => "lookup",
            Op::Burst { .. } => "burst",
            Op::WrongIf { .. } => "wrong_if",
            Op::AddRoute { .. } => "add_route",
            Op::RemoveRoute { .. } => "remove_route",
            Op::Advance { .. } => "advance",
            Op::RunTimers => "run_timers",
            Op::RunTimersSome { .. } => "run_timers_some",
            Op::SetMfe { .. } => "set_mfe",
            Op::Get { .. } => "get",
            Op::Walk { .. } => "walk",
            Op::EnumStart { .. } => "enum_start",
            Op::EnumNext { .. } => "enum_next",
            Op::EnumEnd { .. } => "enum_end",
            Op::SetHooks { .. } => "set_hooks",
            Op::Stop { .. } => "stop",
        }
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Op::pick(u)
    }
}

/// The pools.
pub struct Pools;

impl Pools {
    pub const KEYS: usize = 6;

    pub fn key<A: Addrs>(k: u8) -> IfKey<A> {
        match usize::from(k) % Self::KEYS {
            0 => IfKey::new(1),
            1 => IfKey::new(2),
            2 => IfKey::new(3),
            3 => IfKey::new(4),
            4 => IfKey::p2mp(5, A::src(250)),
            _ => IfKey::p2mp(5, A::src(251)),
        }
    }

    pub fn source<A: Addrs>(s: u8) -> A {
        match s % 11 {
            0 | 5 => A::src(1),
            1 | 6 => A::src(2),
            2 | 7 => A::src(200),
            3 | 8 => A::far(1),
            4 | 9 => A::far(2),
            _ => A::grp(1), // invalid: a group as source
        }
    }

    pub fn group<A: Addrs>(g: u8) -> A {
        match g % 7 {
            0 | 3 => A::grp(1),
            1 | 4 => A::grp(2),
            2 | 5 => A::grp(3),
            _ => A::src(1), // invalid: a unicast group
        }
    }

    pub fn upstream<A: Addrs>(u: u8) -> A {
        match u % 3 {
            0 => A::UNSPECIFIED,
            1 => A::src(254),
            _ => A::far(254),
        }
    }

    pub fn selector<A: Addrs>(s: SelSeed) -> Selector<A> {
        match s {
            SelSeed::All => Selector::AllGroups,
            SelSeed::Group(g) => Selector::Group(Self::group(g)),
            SelSeed::Source(s, g) => Selector::Source {
                source: Self::source(s),
                group: Self::group(g),
            },
        }
    }

    /// (prefix, length) of route `r`: net A, the /25 (/121) of net A, net B, the default
    /// route, a host route, and an invalid prefix (host bits set).
    pub fn prefix<A: Addrs>(r: u8) -> (A, u8) {
        match r % 6 {
            0 => A::net_a(),
            1 => A::net_a_specific(),
            2 => A::net_b(),
            3 => (A::UNSPECIFIED, 0),
            4 => (A::src(2), A::BITS as u8),
            _ => (A::src(1), A::net_a_specific().1),
        }
    }

    pub fn route<A: Addrs>(r: u8, k: u8, up: u8) -> Route<A> {
        let (prefix, len) = Self::prefix::<A>(r);
        Route {
            prefix,
            len,
            iif: Self::key(k),
            upstream: Self::upstream(up),
            protocol: u32::from(r / 6 % 2) * 7,
        }
    }

    /// Protocol ids: three routing protocols, Microsoft's IGMP and another vendor's IGMP.
    pub fn protocol(p: u8) -> u32 {
        match p % 5 {
            0 => PIM,
            1 => DVMRP,
            2 => MOSPF,
            3 => IGMP,
            _ => protocol_id(1, 0x2a, 10),
        }
    }

    pub fn advance(t: u8) -> Duration {
        match t % 8 {
            0 => Duration::from_millis(1),
            1 => Duration::from_millis(999),
            2 => Duration::from_secs(1),
            3 => Duration::from_secs(3),
            4 => Duration::from_secs(10),
            5 => Duration::from_secs(100),
            6 => Duration::from_secs(899),
            _ => Duration::from_secs(1000),
        }
    }

    /// The lifetime a protocol answers: the proposed one, never, zero, 10 s, 1000 s.
    pub fn timeout(t: u8) -> Option<Option<Duration>> {
        match t % 5 {
            0 => None,
            1 => Some(None),
            2 => Some(Some(Duration::ZERO)),
            3 => Some(Some(Duration::from_secs(10))),
            _ => Some(Some(Duration::from_secs(1000))),
        }
    }
}
