//! What the router checks before a message may change state (RFC 3376 sections 4 and 9,
//! RFC 2236 section 2), how much state one link and one host may create, and the counters
//! of everything refused.

use std::net::Ipv4Addr;

use mgm::Family;

/// How one IGMP or MLD message arrived: the IP header fields the checks need
/// (`Heard<Ipv4Addr>`, the default, for IGMP; `Heard<Ipv6Addr>` for MLD).
///
/// ```
/// use mgm_igmp::Heard;
/// use std::net::Ipv4Addr;
/// let h = Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2));
/// assert_eq!((h.ttl, h.router_alert), (1, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard<A = Ipv4Addr> {
    /// IP source.
    pub source: A,
    /// IPv4 time to live or IPv6 hop limit (every IGMP and MLD message is sent with 1).
    pub ttl: u8,
    /// The IP header carried the Router Alert option: the IPv4 option (RFC 2113) or the
    /// IPv6 hop-by-hop option with value 0, MLD (RFC 2711).
    pub router_alert: bool,
}

impl<A> Heard<A> {
    /// A message from `source` with TTL 1 and Router Alert, as every conforming host sends.
    pub fn well_formed(source: A) -> Self {
        Heard {
            source,
            ttl: 1,
            router_alert: true,
        }
    }
}

/// Which IP header fields a message must have to be heard on a link.
///
/// The defaults are RFC 3376 section 9.1's and RFC 3810 section 5's: TTL (hop limit) 1 and
/// Router Alert. Some IGMPv1 and early
/// IGMPv2 hosts send reports without Router Alert; on links with such hosts, turn
/// `require_router_alert` off (per router in [`crate::IgmpConfig::input`], per link with
/// [`crate::IgmpRouter::set_input_policy`]).
///
/// ```
/// use mgm_igmp::{Heard, InputPolicy};
/// use std::net::Ipv4Addr;
/// let old = Heard { router_alert: false, ..Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2)) };
/// assert!(!InputPolicy::default().admits(&old));
/// assert!(InputPolicy { require_router_alert: false, ..InputPolicy::default() }.admits(&old));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputPolicy {
    /// Drop messages whose TTL (IPv6: hop limit) is not 1 (default true).
    pub require_ttl_one: bool,
    /// Drop messages without the Router Alert option (default true).
    pub require_router_alert: bool,
}

impl Default for InputPolicy {
    fn default() -> Self {
        InputPolicy {
            require_ttl_one: true,
            require_router_alert: true,
        }
    }
}

impl InputPolicy {
    /// True when `h` passes both header checks.
    pub fn admits<A>(&self, h: &Heard<A>) -> bool {
        (!self.require_ttl_one || h.ttl == 1) && (!self.require_router_alert || h.router_alert)
    }
}

/// How much state IGMP keeps, at most.
///
/// The defaults are sized so that a home gateway (a few hosts, tens of groups) never meets
/// them and an IPTV head end (a thousand channels on one link, SSM with a handful of sources
/// per channel, set-top boxes joining a few channels each) does not either, while one host
/// sending reports for random groups and sources cannot grow the table past about
/// 2,048 groups × 128 sources on a link:
///
/// | limit | default |
/// |---|---|
/// | groups per interface | 2,048 |
/// | sources per group | 128 |
/// | memberships per host (one per group joined in EXCLUDE mode, one per source in INCLUDE mode) | 512 |
/// | hosts with memberships per interface | 4,096 |
///
/// ```
/// use mgm_igmp::IgmpLimits;
/// let l = IgmpLimits::default();
/// assert_eq!((l.groups_per_interface, l.sources_per_group, l.memberships_per_host), (2048, 128, 512));
/// assert_eq!(l.hosts_per_interface, 4096);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgmpLimits {
    /// Groups with state on one interface.
    pub groups_per_interface: usize,
    /// INCLUDE-mode sources of one group on one interface.
    pub sources_per_group: usize,
    /// Memberships one host address has reported on one interface and that have not
    /// expired (hosts reporting from 0.0.0.0 or `::` share one budget).
    pub memberships_per_host: usize,
    /// Host addresses with memberships on one interface: without it, a host that forges
    /// every address of its subnet would multiply the per-host budget by the subnet's size.
    /// A report from a host past it is refused and counted as `host_limit`.
    pub hosts_per_interface: usize,
}

impl Default for IgmpLimits {
    fn default() -> Self {
        IgmpLimits {
            groups_per_interface: 2048,
            sources_per_group: 128,
            memberships_per_host: 512,
            hosts_per_interface: 4096,
        }
    }
}

/// One subnet of a link: an address of the router there and its prefix length (IGMP's
/// source check; MLD requires link-local sources instead).
///
/// ```
/// use mgm_igmp::Subnet;
/// use std::net::Ipv4Addr;
/// let s = Subnet::new(Ipv4Addr::new(203, 0, 113, 1), 24);
/// assert!(s.contains(Ipv4Addr::new(203, 0, 113, 200)));
/// assert!(!s.contains(Ipv4Addr::new(8, 8, 8, 8)));
/// assert!(Subnet::new(Ipv4Addr::new(10, 0, 0, 1), 0).contains(Ipv4Addr::new(8, 8, 8, 8)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet<A = Ipv4Addr> {
    /// An address in the subnet (the router's own).
    pub address: A,
    /// Prefix length, 0 to the address width (larger values count as the width).
    pub prefix_len: u8,
}

impl<A: Family> Subnet<A> {
    /// The subnet of `address`/`prefix_len`.
    pub fn new(address: A, prefix_len: u8) -> Self {
        Subnet {
            address,
            prefix_len,
        }
    }
    /// True when `a` is in the subnet.
    pub fn contains(&self, a: A) -> bool {
        let host_bits = A::BITS - u32::from(self.prefix_len).min(A::BITS);
        // Shifting out the host bits leaves the prefix bits (nothing when all are host bits).
        (a.to_bits() ^ self.address.to_bits())
            .checked_shr(host_bits)
            .unwrap_or(0)
            == 0
    }
}

/// True when `a` may be a multicast source: a unicast address that is not in 0.0.0.0/8
/// ("this network", with the unspecified address), 127.0.0.0/8 (loopback), 224.0.0.0/4
/// (multicast) or 240.0.0.0/4 (class E, with the limited broadcast address).
///
/// ```
/// use mgm_igmp::is_valid_source;
/// use std::net::Ipv4Addr;
/// assert!(is_valid_source(Ipv4Addr::new(198, 51, 100, 2)));
/// for bad in [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, Ipv4Addr::LOCALHOST, Ipv4Addr::new(239, 9, 9, 9), Ipv4Addr::new(240, 0, 0, 1)] {
///     assert!(!is_valid_source(bad), "{bad}");
/// }
/// ```
pub fn is_valid_source(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    first != 0 && first != 127 && first < 224
}

/// One interface's input counters: every message handed to the router for the interface is
/// counted once in `received`, and once more in `accepted` or in exactly one drop reason
/// (the first check it failed, in the order of the fields). Refusals of records and sources
/// inside accepted messages are counted apart.
///
/// ```
/// use mgm_igmp::{encode_v2, Heard, IgmpConfig, IgmpRouter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
/// let routed = Heard { ttl: 64, ..Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2)) };
/// r.receive_packet(3, &routed, &encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1));
/// let c = &r.interfaces()[&3].counters;
/// assert_eq!((c.received, c.bad_ttl, c.accepted), (1, 1, 0));
/// assert_eq!(c.received, c.accepted + c.dropped());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IgmpCounters {
    /// Messages handed in for this interface.
    pub received: u64,
    /// Messages that passed every check.
    pub accepted: u64,
    /// Dropped: sent by this router itself (looped back).
    pub own: u64,
    /// Dropped: too short, bad checksum (IGMP; MLD leaves it to the kernel, see
    /// [`crate::mld`]), or unknown type.
    pub malformed: u64,
    /// Dropped: IP TTL other than 1.
    pub bad_ttl: u64,
    /// Dropped: no Router Alert option.
    pub no_router_alert: u64,
    /// Dropped: a report or leave from a source outside the link's subnets (and not 0.0.0.0);
    /// MLD: from a source neither link-local nor `::`.
    pub off_subnet_report: u64,
    /// Dropped: a query from a source outside the link's subnets; MLD: from a source that
    /// is not link-local.
    pub off_subnet_query: u64,
    /// Records (or IGMPv1/v2 messages) ignored because their group is not a routable
    /// multicast group (outside 224.0.0.0/4, or link-local 224.0.0.0/24; MLD: outside
    /// ff00::/8, or of a scope no router forwards, see [`crate::mld::is_routable_group`]).
    pub invalid_groups: u64,
    /// Sources removed from records because they are not valid unicast sources
    /// ([`is_valid_source`], [`crate::mld::is_valid_source`]).
    pub invalid_sources: u64,
    /// Records refused because the interface had as many groups as allowed.
    pub group_limit: u64,
    /// Sources refused because their group had as many sources as allowed.
    pub source_limit: u64,
    /// Memberships refused because their host had as many as allowed.
    pub host_limit: u64,
}

impl IgmpCounters {
    /// The sum of the drop reasons; `received == accepted + dropped()` always.
    pub fn dropped(&self) -> u64 {
        self.own
            + self.malformed
            + self.bad_ttl
            + self.no_router_alert
            + self.off_subnet_report
            + self.off_subnet_query
    }
}
