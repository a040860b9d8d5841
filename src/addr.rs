//! Address families, interface keys and membership selectors.
//!
//! One engine instance serves one address family: [`std::net::Ipv4Addr`] or
//! [`std::net::Ipv6Addr`]. Everything address-shaped in the crate is generic over [`Family`].

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// An address family the engine can serve: IPv4 or IPv6.
///
/// The trait is sealed in spirit: it is implemented for [`Ipv4Addr`] and [`Ipv6Addr`] and the
/// engine is tested with both.
///
/// ```
/// use mgm::Family;
/// use std::net::Ipv4Addr;
/// assert!(Ipv4Addr::new(239, 1, 2, 3).is_group());
/// assert!(Ipv4Addr::new(198, 51, 100, 2).is_source());
/// assert!(!Ipv4Addr::UNSPECIFIED.is_source());
/// ```
pub trait Family:
    Copy + Eq + Ord + Hash + fmt::Debug + fmt::Display + Send + Sync + Into<IpAddr> + 'static
{
    /// The unspecified address (`0.0.0.0` or `::`), used as "no next hop" and as the wildcard.
    const UNSPECIFIED: Self;
    /// Address width in bits (32 or 128).
    const BITS: u32;
    /// True for a multicast address (224.0.0.0/4, ff00::/8): a valid group.
    fn is_group(&self) -> bool;
    /// True for an address that may send multicast: a unicast address that can arrive on an
    /// interface. Not multicast, not unspecified, not loopback (127.0.0.0/8, `::1`), not the
    /// IPv4 reserved class E (240.0.0.0/4, with the limited broadcast).
    fn is_source(&self) -> bool;
    /// True when the prefix of length `len` at `self` overlaps multicast space (224.0.0.0/4,
    /// ff00::/8) and holds no address that could be a source: no route may lead there, since
    /// routes lead toward sources. That is every prefix inside multicast space, and for IPv4
    /// also 224.0.0.0/3 (multicast and the reserved class E). A shorter prefix that covers
    /// multicast space together with unicast space (the default route, 128.0.0.0/1,
    /// 192.0.0.0/2; `::/0` … `fe00::/7`) stays a route: lookups only ever ask it for sources,
    /// which are unicast, so its multicast part is never used.
    fn is_multicast_prefix(&self, len: u8) -> bool;
    /// The address as an unsigned integer, most significant bit first.
    fn to_bits(self) -> u128;
    /// The address from an unsigned integer (the low [`Family::BITS`] bits are used).
    fn from_bits(bits: u128) -> Self;
}

impl Family for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    const BITS: u32 = 32;
    fn is_group(&self) -> bool {
        self.is_multicast()
    }
    fn is_source(&self) -> bool {
        let class_e = self.octets()[0] >= 240;
        !self.is_multicast() && !self.is_unspecified() && !self.is_loopback() && !class_e
    }
    fn is_multicast_prefix(&self, len: u8) -> bool {
        // 224.0.0.0/3 is 224.0.0.0/4 (multicast) and 240.0.0.0/4 (class E): no source in it.
        (len >= 4 && self.is_multicast()) || (len == 3 && self.octets()[0] == 224)
    }
    fn to_bits(self) -> u128 {
        u128::from(u32::from(self))
    }
    fn from_bits(bits: u128) -> Self {
        Ipv4Addr::from(bits as u32)
    }
}

impl Family for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    const BITS: u32 = 128;
    fn is_group(&self) -> bool {
        self.is_multicast()
    }
    fn is_source(&self) -> bool {
        !self.is_multicast() && !self.is_unspecified() && !self.is_loopback()
    }
    fn is_multicast_prefix(&self, len: u8) -> bool {
        len >= 8 && self.is_multicast()
    }
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
}

/// An interface key: the interface index and, for a link of a point-to-multipoint interface,
/// the next-hop address of that link (unspecified otherwise).
///
/// Ownership, memberships and outgoing interfaces are keyed by the exact pair (G-29).
///
/// ```
/// use mgm::IfKey;
/// use std::net::Ipv4Addr;
/// let lan = IfKey::<Ipv4Addr>::new(3);
/// let nbma = IfKey::p2mp(7, Ipv4Addr::new(198, 51, 100, 9));
/// assert_ne!(lan, nbma);
/// assert_eq!(lan.to_string(), "if3");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct IfKey<A> {
    /// The interface index.
    pub index: u32,
    /// The next hop of a point-to-multipoint link, or the unspecified address.
    pub next_hop: A,
}

impl<A: Family> IfKey<A> {
    /// A broadcast or point-to-point interface (next hop unspecified).
    pub fn new(index: u32) -> Self {
        IfKey {
            index,
            next_hop: A::UNSPECIFIED,
        }
    }
    /// One link of a point-to-multipoint interface.
    pub fn p2mp(index: u32, next_hop: A) -> Self {
        IfKey { index, next_hop }
    }
    /// The family-free form used in errors.
    pub fn id(&self) -> InterfaceId {
        InterfaceId {
            index: self.index,
            next_hop: self.next_hop.into(),
        }
    }
}

impl<A: Family> fmt::Display for IfKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.next_hop == A::UNSPECIFIED {
            write!(f, "if{}", self.index)
        } else {
            write!(f, "if{}/{}", self.index, self.next_hop)
        }
    }
}

/// An interface key without its address family, as errors carry it.
///
/// ```
/// use mgm::IfKey;
/// use std::net::Ipv6Addr;
/// assert_eq!(IfKey::<Ipv6Addr>::new(4).id().to_string(), "if4");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InterfaceId {
    /// The interface index.
    pub index: u32,
    /// The next hop of a point-to-multipoint link, or an unspecified address.
    pub next_hop: IpAddr,
}

impl fmt::Display for InterfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.next_hop.is_unspecified() {
            write!(f, "if{}", self.index)
        } else {
            write!(f, "if{}/{}", self.index, self.next_hop)
        }
    }
}

/// The key of a multicast forwarding entry: one source sending to one group.
///
/// Ordered by group, then source: the order of MFE walks (spec 1.6, G-4).
///
/// ```
/// use mgm::Sg;
/// use std::net::Ipv4Addr;
/// let a = Sg::new(Ipv4Addr::new(198, 51, 100, 9), Ipv4Addr::new(239, 0, 0, 1));
/// let b = Sg::new(Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(239, 0, 0, 2));
/// assert!(a < b, "group decides first");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Sg<A> {
    /// The source address.
    pub source: A,
    /// The group address.
    pub group: A,
}

impl<A> Sg<A> {
    /// The (source, group) pair.
    pub fn new(source: A, group: A) -> Self {
        Sg { source, group }
    }
}

impl<A: Ord> Ord for Sg<A> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.group, &self.source).cmp(&(&other.group, &other.source))
    }
}

impl<A: Ord> PartialOrd for Sg<A> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<A: Family> fmt::Display for Sg<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.source, self.group)
    }
}

/// What a membership selects: every group, one group from any source, or one source's traffic
/// to one group.
///
/// ```
/// use mgm::Selector;
/// use std::net::Ipv4Addr;
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let s = Ipv4Addr::new(198, 51, 100, 2);
/// assert!(Selector::Group(g).validate().is_ok());
/// assert!(Selector::Source { source: g, group: g }.validate().is_err());
/// assert!(Selector::Source { source: s, group: g }.matches(s, g));
/// assert_eq!(Selector::<Ipv4Addr>::AllGroups.to_string(), "(*,*)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Selector<A> {
    /// `(*,*)`: every source, every group.
    AllGroups,
    /// `(*,G)`: every source sending to the group.
    Group(A),
    /// `(S,G)`: only the source's traffic to the group.
    Source {
        /// The source.
        source: A,
        /// The group.
        group: A,
    },
}

impl<A: Family> Selector<A> {
    /// `(S,G)` for a forwarding-entry key.
    pub fn sg(sg: Sg<A>) -> Self {
        Selector::Source {
            source: sg.source,
            group: sg.group,
        }
    }

    /// Checks that a group is multicast and a source is unicast.
    ///
    /// # Errors
    /// [`Error::InvalidGroup`] or [`Error::InvalidSource`], naming the offending address.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Selector::AllGroups => Ok(()),
            Selector::Group(group) => check_group(group),
            Selector::Source { source, group } => {
                check_group(group)?;
                check_source(source)
            }
        }
    }

    /// True when traffic from `source` to `group` is selected.
    pub fn matches(&self, source: A, group: A) -> bool {
        match *self {
            Selector::AllGroups => true,
            Selector::Group(g) => g == group,
            Selector::Source {
                source: s,
                group: g,
            } => s == source && g == group,
        }
    }

    /// The source and group as MGM passes them: the unspecified address for a wildcard.
    pub fn source_group(&self) -> (A, A) {
        match *self {
            Selector::AllGroups => (A::UNSPECIFIED, A::UNSPECIFIED),
            Selector::Group(g) => (A::UNSPECIFIED, g),
            Selector::Source { source, group } => (source, group),
        }
    }

    /// True for `(*,G)` and `(*,*)`.
    pub fn is_wildcard(&self) -> bool {
        !matches!(self, Selector::Source { .. })
    }
}

impl<A: Family> fmt::Display for Selector<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::AllGroups => f.write_str("(*,*)"),
            Selector::Group(g) => write!(f, "(*,{g})"),
            Selector::Source { source, group } => write!(f, "({source},{group})"),
        }
    }
}

/// Checks that `group` is a multicast address.
pub(crate) fn check_group<A: Family>(group: A) -> Result<(), Error> {
    if group.is_group() {
        Ok(())
    } else {
        Err(Error::InvalidGroup {
            group: group.into(),
        })
    }
}

/// Checks that a next hop (a route's upstream neighbour or the link of its incoming
/// interface, an entry's upstream neighbour) is unspecified (none) or a unicast address that
/// can be on a link: the same addresses a source may have.
pub(crate) fn check_next_hop<A: Family>(next_hop: A) -> Result<(), Error> {
    if next_hop == A::UNSPECIFIED || next_hop.is_source() {
        Ok(())
    } else {
        Err(Error::InvalidNextHop {
            next_hop: next_hop.into(),
        })
    }
}

/// Checks that `source` may be a multicast source.
pub(crate) fn check_source<A: Family>(source: A) -> Result<(), Error> {
    if source.is_source() {
        Ok(())
    } else {
        Err(Error::InvalidSource {
            source: source.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_classify_addresses() {
        assert!(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 1).is_group());
        assert!(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).is_source());
        assert!(!Ipv4Addr::BROADCAST.is_source());
        for not_a_source in [[127, 0, 0, 1], [127, 9, 9, 9], [240, 0, 0, 1], [0, 0, 0, 0]] {
            assert!(
                !Ipv4Addr::from(not_a_source).is_source(),
                "{not_a_source:?}"
            );
        }
        assert!(Ipv4Addr::new(239, 255, 255, 255).is_group());
        assert!(Ipv4Addr::new(203, 0, 113, 9).is_source());
        assert!(Ipv4Addr::new(223, 255, 255, 255).is_source());
        assert!(!Ipv6Addr::LOCALHOST.is_source());
        // A prefix wholly in multicast space, and one that only covers part of it.
        assert!(Ipv4Addr::new(239, 0, 0, 0).is_multicast_prefix(8));
        assert!(Ipv4Addr::new(224, 0, 0, 0).is_multicast_prefix(4));
        assert!(!Ipv4Addr::new(192, 0, 0, 0).is_multicast_prefix(2));
        assert!(
            Ipv4Addr::new(224, 0, 0, 0).is_multicast_prefix(3),
            "multicast and class E"
        );
        assert!(
            !Ipv4Addr::new(240, 0, 0, 0).is_multicast_prefix(4),
            "class E only"
        );
        assert!(!Ipv4Addr::UNSPECIFIED.is_multicast_prefix(0));
        assert!(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 0).is_multicast_prefix(16));
        assert!(!Ipv6Addr::new(0xfe00, 0, 0, 0, 0, 0, 0, 0).is_multicast_prefix(7));
        assert_eq!(
            Ipv4Addr::from_bits(Ipv4Addr::new(1, 2, 3, 4).to_bits()),
            Ipv4Addr::new(1, 2, 3, 4)
        );
    }

    #[test]
    fn selector_validation_names_the_address() {
        let bad = Selector::Group(Ipv4Addr::new(10, 0, 0, 1));
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("10.0.0.1"), "{err}");
    }
}
