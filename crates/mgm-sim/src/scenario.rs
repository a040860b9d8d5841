//! The simulated router: its interfaces, its address plan, the flows its sources send, and a
//! small deterministic random number generator.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use mgm::{Family, IfKey, Route};

/// What the simulator needs of an address family beyond [`Family`]: where sources and groups
/// live. Only documentation ranges are used.
pub trait SimFamily: Family {
    /// "IPv4" or "IPv6".
    const NAME: &'static str;
    /// The hosts' group membership protocol, as the output names it: "IGMP" or "MLD" (both
    /// register with the engine as `MS_IP_IGMP`).
    const MEMBERSHIP: &'static str;
    /// The two source prefixes, reached through `if1` and `if2`.
    fn source_prefixes() -> [(Self, u8); 2];
    /// The `i`-th group, from 0.
    fn group(i: u32) -> Self;
}

impl SimFamily for Ipv4Addr {
    const NAME: &'static str = "IPv4";
    const MEMBERSHIP: &'static str = "IGMP";
    fn source_prefixes() -> [(Self, u8); 2] {
        [
            (Ipv4Addr::new(198, 51, 100, 0), 24),
            (Ipv4Addr::new(203, 0, 113, 0), 24),
        ]
    }
    fn group(i: u32) -> Self {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 1, 0, 0)) + i + 1)
    }
}

impl SimFamily for Ipv6Addr {
    const NAME: &'static str = "IPv6";
    const MEMBERSHIP: &'static str = "MLD";
    fn source_prefixes() -> [(Self, u8); 2] {
        [
            (Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 48),
            (Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 0), 48),
        ]
    }
    fn group(i: u32) -> Self {
        Ipv6Addr::from(u128::from(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 1, 0, 0)) + u128::from(i) + 1)
    }
}

/// The host number of the upstream neighbour inside each source prefix.
const UPSTREAM_HOST: u128 = 254;

/// What an interface is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Toward the sources of one prefix (index into [`SimFamily::source_prefixes`]).
    Upstream(usize),
    /// A LAN with hosts: IGMP is present.
    Hosts,
    /// A link to downstream PIM neighbours: no hosts, no IGMP.
    Transit,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Upstream(_) => f.write_str("upstream"),
            Role::Hosts => f.write_str("host LAN"),
            Role::Transit => f.write_str("PIM transit"),
        }
    }
}

/// One interface of the router.
#[derive(Clone, Copy, Debug)]
pub struct Iface<A> {
    /// Its key.
    pub key: IfKey<A>,
    /// Its role.
    pub role: Role,
}

/// One source sending to one group, arriving on the interface toward the source.
#[derive(Clone, Copy, Debug)]
pub struct Flow<A> {
    /// The source.
    pub source: A,
    /// The group.
    pub group: A,
    /// The interface its packets normally arrive on.
    pub iif: IfKey<A>,
}

/// The router being simulated.
pub struct Scenario<A: SimFamily> {
    /// Interfaces: `if1`, `if2` upstream, then host LANs, the last a transit link when there
    /// are at least four.
    pub ifaces: Vec<Iface<A>>,
    /// Sources, alternating between the two prefixes.
    pub sources: Vec<A>,
    /// Groups.
    pub groups: Vec<A>,
    /// The RIB routes toward the source prefixes.
    pub routes: Vec<Route<A>>,
    /// Every (source, group) flow, source-major: activating the first `k` sources activates the
    /// first `k * groups` flows.
    pub flows: Vec<Flow<A>>,
}

impl<A: SimFamily> Scenario<A> {
    /// Builds the router: `interfaces` >= 3, `sources` <= 500.
    pub fn new(interfaces: u32, sources: u32, groups: u32, routing_protocol: u32) -> Self {
        let ifaces: Vec<Iface<A>> = (1..=interfaces)
            .map(|i| Iface {
                key: IfKey::new(i),
                role: match i {
                    1 | 2 => Role::Upstream(i as usize - 1),
                    _ if i == interfaces && interfaces >= 4 => Role::Transit,
                    _ => Role::Hosts,
                },
            })
            .collect();
        let prefixes = A::source_prefixes();
        let routes = prefixes
            .iter()
            .enumerate()
            .map(|(p, &(prefix, len))| Route {
                upstream: A::from_bits(prefix.to_bits() + UPSTREAM_HOST),
                protocol: routing_protocol,
                ..Route::new(prefix, len, ifaces[p].key)
            })
            .collect::<Vec<_>>();
        let sources: Vec<A> = (0..sources)
            .map(|j| {
                let (prefix, _) = prefixes[j as usize % 2];
                A::from_bits(prefix.to_bits() + u128::from(j / 2) + 1)
            })
            .collect();
        let groups: Vec<A> = (0..groups).map(A::group).collect();
        let flows = sources
            .iter()
            .enumerate()
            .flat_map(|(j, &source)| {
                let iif = routes[j % 2].iif;
                groups.iter().map(move |&group| Flow { source, group, iif })
            })
            .collect();
        Scenario {
            ifaces,
            sources,
            groups,
            routes,
            flows,
        }
    }

    /// The keys of the interfaces with the given role test.
    pub fn keys(&self, f: impl Fn(Role) -> bool) -> Vec<IfKey<A>> {
        self.ifaces
            .iter()
            .filter(|i| f(i.role))
            .map(|i| i.key)
            .collect()
    }

    /// The host LANs, where IGMP is present.
    pub fn host_ifaces(&self) -> Vec<IfKey<A>> {
        self.keys(|r| r == Role::Hosts)
    }

    /// The transit link, if the router has one.
    pub fn transit(&self) -> Option<IfKey<A>> {
        self.keys(|r| r == Role::Transit).first().copied()
    }

    /// Every interface key.
    pub fn all_ifaces(&self) -> Vec<IfKey<A>> {
        self.keys(|_| true)
    }
}

/// xorshift64: small, fast, deterministic; good enough to pick flows and churn.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` and `stream` (a worker number, say), so streams differ.
    pub fn new(seed: u64, stream: u64) -> Self {
        // splitmix64 of the inputs, so that small seeds start well mixed (and never at 0).
        let mut z = seed
            .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// True once in `n` times on average.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_valid_in_both_families() {
        let v4 = Scenario::<Ipv4Addr>::new(6, 500, 4096, 0);
        let v6 = Scenario::<Ipv6Addr>::new(6, 500, 4096, 0);
        assert!(v4.sources.iter().all(|s| s.is_source()));
        assert!(v4.groups.iter().all(|g| g.is_group()));
        assert!(v6.sources.iter().all(|s| s.is_source()));
        assert!(v6.groups.iter().all(|g| g.is_group()));
        for (j, s) in v4.sources.iter().enumerate() {
            assert!(v4.routes[j % 2].contains(*s), "{s}");
        }
        assert_eq!(v4.host_ifaces().len(), 3);
        assert_eq!(v4.transit(), Some(IfKey::new(6)));
    }

    #[test]
    fn xorshift_is_deterministic_and_bounded() {
        let (mut a, mut b) = (XorShift::new(7, 0), XorShift::new(7, 0));
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        assert_ne!(
            XorShift::new(7, 1).next_u64(),
            XorShift::new(7, 0).next_u64()
        );
    }
}
