//! The engine's multicast RIB: longest-prefix routes to sources, used for RPF (spec 1.1, 6.16).

use std::collections::{BTreeMap, HashMap};

use crate::addr::{check_next_hop, Family, IfKey};
use crate::error::Error;

/// A route toward sources: the prefix, the interface traffic from it must arrive on, the
/// upstream neighbour, and the protocol that contributed the route.
///
/// ```
/// use mgm::{IfKey, Route};
/// use std::net::Ipv4Addr;
/// let r = Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1));
/// assert!(r.contains(Ipv4Addr::new(198, 51, 100, 7)));
/// assert!(!r.contains(Ipv4Addr::new(203, 0, 113, 7)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Route<A> {
    /// The destination prefix (host bits zero).
    pub prefix: A,
    /// The prefix length in bits.
    pub len: u8,
    /// The interface toward the prefix: the incoming interface of traffic from it.
    pub iif: IfKey<A>,
    /// The upstream neighbour toward the prefix (unspecified when directly connected).
    pub upstream: A,
    /// The protocol id of the route's origin (`dwRouteProtocol`).
    pub protocol: u32,
}

impl<A: Family> Route<A> {
    /// A route with no upstream neighbour and protocol 0 (static).
    pub fn new(prefix: A, len: u8, iif: IfKey<A>) -> Self {
        Route {
            prefix,
            len,
            iif,
            upstream: A::UNSPECIFIED,
            protocol: 0,
        }
    }

    /// True when `addr` falls within the prefix.
    pub fn contains(&self, addr: A) -> bool {
        mask(addr.to_bits(), self.len, A::BITS) == self.prefix.to_bits()
    }
}

fn mask(bits: u128, len: u8, width: u32) -> u128 {
    if len == 0 {
        return 0;
    }
    let keep = u128::MAX << (128 - u32::from(len));
    ((bits << (128 - width)) & keep) >> (128 - width)
}

/// Routes by prefix length (longest first), each length a hash of masked prefixes.
pub(crate) struct Rib<A> {
    by_len: BTreeMap<std::cmp::Reverse<u8>, HashMap<u128, Route<A>>>,
    /// Bumped on every change, so a creation that raced a change can notice.
    pub(crate) version: u64,
}

impl<A: Family> Rib<A> {
    pub(crate) fn new() -> Self {
        Rib {
            by_len: BTreeMap::new(),
            version: 0,
        }
    }

    pub(crate) fn validate(prefix: A, len: u8) -> Result<(), Error> {
        let ok =
            u32::from(len) <= A::BITS && mask(prefix.to_bits(), len, A::BITS) == prefix.to_bits();
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidPrefix {
                prefix: prefix.into(),
                len,
            })
        }
    }

    /// Adds or replaces the route for its prefix; returns the replaced route.
    pub(crate) fn add(&mut self, route: Route<A>) -> Result<Option<Route<A>>, Error> {
        Self::validate(route.prefix, route.len)?;
        if route.prefix.is_multicast_prefix(route.len) {
            return Err(Error::MulticastRoute {
                prefix: route.prefix.into(),
                len: route.len,
            });
        }
        check_next_hop(route.upstream)?;
        check_next_hop(route.iif.next_hop)?;
        self.version += 1;
        Ok(self
            .by_len
            .entry(std::cmp::Reverse(route.len))
            .or_default()
            .insert(route.prefix.to_bits(), route))
    }

    /// Removes the route for a prefix.
    pub(crate) fn remove(&mut self, prefix: A, len: u8) -> Result<Route<A>, Error> {
        Self::validate(prefix, len)?;
        let key = std::cmp::Reverse(len);
        let table = self.by_len.get_mut(&key);
        let route = table
            .and_then(|t| t.remove(&prefix.to_bits()))
            .ok_or(Error::NoSuchRoute {
                prefix: prefix.into(),
                len,
            })?;
        if self.by_len.get(&key).is_some_and(HashMap::is_empty) {
            self.by_len.remove(&key);
        }
        self.version += 1;
        Ok(route)
    }

    /// The most specific route covering `addr`.
    pub(crate) fn lookup(&self, addr: A) -> Option<&Route<A>> {
        let bits = addr.to_bits();
        self.by_len
            .iter()
            .find_map(|(len, t)| t.get(&mask(bits, len.0, A::BITS)))
    }

    /// Every route, longest prefixes first.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route<A>> {
        self.by_len.values().flat_map(|t| t.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn longest_prefix_wins() {
        let mut rib = Rib::<Ipv4Addr>::new();
        rib.add(Route::new(Ipv4Addr::new(0, 0, 0, 0), 0, IfKey::new(9)))
            .unwrap();
        rib.add(Route::new(Ipv4Addr::new(198, 51, 0, 0), 16, IfKey::new(1)))
            .unwrap();
        rib.add(Route::new(
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            IfKey::new(2),
        ))
        .unwrap();
        assert_eq!(
            rib.lookup(Ipv4Addr::new(198, 51, 100, 5))
                .unwrap()
                .iif
                .index,
            2
        );
        assert_eq!(
            rib.lookup(Ipv4Addr::new(198, 51, 7, 5)).unwrap().iif.index,
            1
        );
        assert_eq!(
            rib.lookup(Ipv4Addr::new(203, 0, 113, 1)).unwrap().iif.index,
            9
        );
        rib.remove(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap();
        assert_eq!(
            rib.lookup(Ipv4Addr::new(198, 51, 100, 5))
                .unwrap()
                .iif
                .index,
            1
        );
        assert!(rib.remove(Ipv4Addr::new(198, 51, 100, 0), 24).is_err());
    }

    #[test]
    fn prefixes_are_checked() {
        let mut rib = Rib::<Ipv6Addr>::new();
        let p: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(
            rib.add(Route::new(p, 32, IfKey::new(1))).is_err(),
            "host bits set"
        );
        assert!(
            rib.add(Route::new(p, 129, IfKey::new(1))).is_err(),
            "too long"
        );
        rib.add(Route::new(p, 128, IfKey::new(1))).unwrap();
        rib.add(Route::new("2001:db8::".parse().unwrap(), 32, IfKey::new(2)))
            .unwrap();
        assert_eq!(rib.lookup(p).unwrap().iif.index, 1);
        assert_eq!(
            rib.lookup("2001:db8::2".parse().unwrap())
                .unwrap()
                .iif
                .index,
            2
        );
        assert!(rib.lookup("2001:db9::2".parse().unwrap()).is_none());
    }
}
