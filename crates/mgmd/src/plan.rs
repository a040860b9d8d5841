//! What mgmd's static state should be, and what changes from one such state to another.
//!
//! A [`Wanted`] is derived from a checked [`Config`] and the static memberships added with
//! `mgmctl join`: the interfaces with their IGMP settings, the RPF routes (the configured
//! ones and the host route of each (S,G) mroute with a `from`), the static routing client's
//! memberships (every mroute's `to`, and the joins), the RPF overrides of the mroutes' `from`,
//! and the static (S,G)s, whose entries never expire. [`diff`] says what turns one into
//! another; mgmd applies a difference step by step, so a reload or a control request
//! touches only what it changes, and a flow it does not touch loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{host_len, Config};
use crate::control::JoinSpec;
use crate::reply::AddressFamily;

/// An address family mgmd runs: the engine's [`mgm::Family`], with which of the
/// configuration's addresses are of it. mgmd's static state is kept per family: a
/// [`Wanted`] holds one family's share of the configuration.
pub trait Af: mgm::Family {
    /// `ipv4` or `ipv6`.
    const FAMILY: AddressFamily;
    /// `a` when it is of this family.
    fn of(a: IpAddr) -> Option<Self>;
}

impl Af for Ipv4Addr {
    const FAMILY: AddressFamily = AddressFamily::Ipv4;
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }
    }
}

impl Af for Ipv6Addr {
    const FAMILY: AddressFamily = AddressFamily::Ipv6;
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        }
    }
}

/// (source, group): `None` for a (*,G).
pub type Sel<A = Ipv4Addr> = (Option<A>, A);

/// The (S,G) or (*,G) of `sel`, as messages write it.
pub fn show_sel<A: fmt::Display>(sel: &(Option<A>, A)) -> String {
    match &sel.0 {
        Some(s) => format!("({s}, {})", sel.1),
        None => format!("(*, {})", sel.1),
    }
}

/// One interface's settings in one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfaceWanted {
    /// The family's group membership protocol runs there: IGMP, or MLD for IPv6.
    pub igmp: bool,
    /// Its input checks.
    pub input: mgm_igmp::InputPolicy,
}

/// Where a route comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A `[[route]]` (or `mgmctl route add`).
    Route,
    /// The host route of an (S,G) `[[mroute]]` with a `from`.
    Mroute,
    /// The default route through a proxy's upstream interface.
    Proxy,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Route => "route",
            Origin::Mroute => "mroute",
            Origin::Proxy => "proxy",
        })
    }
}

/// One RPF route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteWanted<A = Ipv4Addr> {
    /// The interface toward the prefix.
    pub interface: String,
    /// The upstream neighbour.
    pub upstream: Option<A>,
    /// Where it comes from.
    pub origin: Origin,
}

/// mgmd's static state in one family.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted<A = Ipv4Addr> {
    /// The interfaces, by name.
    pub interfaces: BTreeMap<String, IfaceWanted>,
    /// The RPF routes, by prefix.
    pub routes: BTreeMap<(A, u8), RouteWanted<A>>,
    /// The static routing client's memberships: (selector, interface).
    pub members: BTreeSet<(Sel<A>, String)>,
    /// The RPF overrides: traffic of (S,G) or (*,G) comes in on the interface.
    pub rules: Vec<(Sel<A>, String)>,
    /// The static (S,G)s, with the `from` of their rule (installed ahead of traffic when
    /// there is one).
    pub pinned: BTreeMap<(A, A), Option<String>>,
    /// The IGMP (or MLD) settings (`None` in the empty state).
    pub igmp: Option<mgm_igmp::IgmpConfig>,
    /// Proxy mode: the upstream interface, where the host side runs instead of the router.
    pub upstream: Option<String>,
}

impl<A> Default for Wanted<A> {
    fn default() -> Self {
        Wanted {
            interfaces: BTreeMap::new(),
            routes: BTreeMap::new(),
            members: BTreeSet::new(),
            rules: Vec::new(),
            pinned: BTreeMap::new(),
            igmp: None,
            upstream: None,
        }
    }
}

impl<A: Af> Wanted<A> {
    /// The state of a checked configuration and the joins in family `A`, for a family that
    /// runs ([`Config::families`] says which do at start): every interface (IGMP on it as
    /// its `igmp` says, MLD unless `mld = false`), and the routes, mroutes and joins whose
    /// addresses are of the family.
    ///
    /// ```
    /// use mgmd::{config::Config, plan::Wanted};
    /// use std::net::{Ipv4Addr, Ipv6Addr};
    /// let c = Config::parse(
    ///     "[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\n\
    ///      [[mroute]]\ngroup = \"239.1.2.3\"\nto = [\"b\"]\n[[mroute]]\ngroup = \"ff0e::1\"\nto = [\"b\"]\n",
    /// ).unwrap();
    /// let (v4, v6) = (Wanted::<Ipv4Addr>::of(&c, &[]).unwrap(), Wanted::<Ipv6Addr>::of(&c, &[]).unwrap());
    /// assert_eq!((v4.members.len(), v6.members.len()), (1, 1));
    /// assert!(v6.interfaces["a"].igmp, "MLD runs on the interfaces where IPv6 does");
    /// ```
    ///
    /// # Errors
    /// Only for a configuration that [`Config::check`] refuses (a bad prefix or IGMP
    /// value): the first such problem.
    pub fn of(config: &Config, joins: &[JoinSpec]) -> Result<Wanted<A>, String> {
        let v6 = A::FAMILY == AddressFamily::Ipv6;
        let igmp = if v6 {
            config.mld.to_config_of("mld")?
        } else {
            config.igmp.to_config()?
        };
        let mut w = Wanted {
            igmp: Some(igmp),
            ..Wanted::default()
        };
        for i in &config.interfaces {
            // The IPv6 state is asked for only where IPv6 runs: MLD runs on every interface
            // there but those that say `mld = false`.
            let runs = if v6 { i.mld != Some(false) } else { i.igmp };
            if runs && i.upstream {
                w.upstream = Some(i.name.clone());
            }
            w.interfaces.insert(
                i.name.clone(),
                IfaceWanted {
                    // The host side runs on the upstream, not the router.
                    igmp: runs && !i.upstream,
                    input: i.input_policy(igmp.input),
                },
            );
        }
        for r in &config.routes {
            let (prefix, len) = r.parse()?;
            let Some(prefix) = A::of(prefix) else {
                continue;
            };
            w.routes.insert(
                (prefix, len),
                RouteWanted {
                    interface: r.interface.clone(),
                    upstream: r.upstream.and_then(A::of).filter(|u| *u != A::UNSPECIFIED),
                    origin: Origin::Route,
                },
            );
        }
        for m in &config.mroutes {
            let Some(group) = A::of(m.group) else {
                continue;
            };
            let source = match m.source {
                Some(s) => Some(A::of(s).ok_or_else(|| {
                    format!("mroute ({s}, {group}): source and group of different families")
                })?),
                None => None,
            };
            let sel = (source, group);
            for to in &m.to {
                w.members.insert((sel, to.clone()));
            }
            if let Some(from) = &m.from {
                if !w.rules.contains(&(sel, from.clone())) {
                    w.rules.push((sel, from.clone()));
                }
            }
            if let Some(s) = source {
                // The check refuses a configured host route that contradicts the rule.
                if let Some(from) = &m.from {
                    let host = host_len(s.into());
                    w.routes.entry((s, host)).or_insert(RouteWanted {
                        interface: from.clone(),
                        upstream: None,
                        origin: Origin::Mroute,
                    });
                }
                let pinned = w.pinned.entry((s, group)).or_insert(None);
                if pinned.is_none() {
                    pinned.clone_from(&m.from);
                }
            }
        }
        if let Some(up) = &w.upstream {
            w.routes
                .entry((A::UNSPECIFIED, 0))
                .or_insert_with(|| RouteWanted {
                    interface: up.clone(),
                    upstream: None,
                    origin: Origin::Proxy,
                });
        }
        for j in joins {
            let Some(group) = A::of(j.group) else {
                continue;
            };
            let source = j.source.and_then(A::of);
            if j.source.is_some() && source.is_none() {
                continue;
            }
            w.members.insert(((source, group), j.interface.clone()));
        }
        Ok(w)
    }
}

/// What turns one [`Wanted`] into another, in the order mgmd applies it: interfaces added
/// first (the only steps the machine can refuse), interfaces removed last.
#[derive(Clone, Debug, PartialEq)]
pub struct Diff<A = Ipv4Addr> {
    /// Interfaces to add.
    pub add_interfaces: Vec<String>,
    /// Interfaces where IGMP starts.
    pub igmp_on: Vec<String>,
    /// Interfaces where IGMP stops.
    pub igmp_off: Vec<String>,
    /// Interfaces whose IGMP input checks change.
    pub policies: Vec<String>,
    /// The IGMP settings change.
    pub igmp_config: bool,
    /// The RPF overrides change.
    pub rules: bool,
    /// The (S,G)s and (*,G)s whose override changes: their dynamic entries are deleted, to
    /// be rebuilt by the next packet with the new incoming interface.
    pub regroup: Vec<Sel<A>>,
    /// Routes to remove (and to add again, when their interface or neighbour changes).
    pub remove_routes: Vec<(A, u8)>,
    /// Routes to add.
    pub add_routes: Vec<(A, u8)>,
    /// Memberships to add.
    pub join: Vec<(Sel<A>, String)>,
    /// Memberships to remove.
    pub leave: Vec<(Sel<A>, String)>,
    /// (S,G)s that stop being static (their entries are deleted, to be rebuilt as dynamic
    /// ones).
    pub unpin: Vec<(A, A)>,
    /// (S,G)s that become static, or whose `from` changes.
    pub pin: Vec<(A, A)>,
    /// Interfaces to remove.
    pub remove_interfaces: Vec<String>,
}

/// The difference from `a` to `b`.
///
/// ```
/// use mgmd::{config::Config, plan::{diff, Wanted}};
/// let one = Config::parse("[[interface]]\nname = \"a\"\n").unwrap();
/// let two = Config::parse("[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\n").unwrap();
/// let w1 = Wanted::<std::net::Ipv4Addr>::of(&one, &[]).unwrap();
/// let w2 = Wanted::of(&two, &[]).unwrap();
/// assert!(diff(&w1, &w1).is_empty());
/// assert_eq!(diff(&w1, &w2).add_interfaces, vec!["b".to_string()]);
/// ```
pub fn diff<A: Af>(a: &Wanted<A>, b: &Wanted<A>) -> Diff<A> {
    let mut d = Diff::default();
    for (name, wb) in &b.interfaces {
        match a.interfaces.get(name) {
            None => d.add_interfaces.push(name.clone()),
            Some(wa) => {
                match (wa.igmp, wb.igmp) {
                    (false, true) => d.igmp_on.push(name.clone()),
                    (true, false) => d.igmp_off.push(name.clone()),
                    _ => {}
                }
                if wa.igmp && wb.igmp && wa.input != wb.input {
                    d.policies.push(name.clone());
                }
            }
        }
    }
    d.remove_interfaces = a
        .interfaces
        .keys()
        .filter(|n| !b.interfaces.contains_key(*n))
        .cloned()
        .collect();
    d.igmp_config = a.igmp.is_some() && a.igmp != b.igmp;
    d.rules = a.rules != b.rules;
    let changed = a
        .rules
        .iter()
        .filter(|r| !b.rules.contains(r))
        .chain(b.rules.iter().filter(|r| !a.rules.contains(r)));
    for (sel, _) in changed {
        if !d.regroup.contains(sel) {
            d.regroup.push(*sel);
        }
    }
    for (k, ra) in &a.routes {
        match b.routes.get(k) {
            Some(rb) if rb.interface == ra.interface && rb.upstream == ra.upstream => {}
            _ => d.remove_routes.push(*k),
        }
    }
    for (k, rb) in &b.routes {
        match a.routes.get(k) {
            Some(ra) if rb.interface == ra.interface && rb.upstream == ra.upstream => {}
            _ => d.add_routes.push(*k),
        }
    }
    d.join = b.members.difference(&a.members).cloned().collect();
    d.leave = a.members.difference(&b.members).cloned().collect();
    for (sg, from) in &a.pinned {
        match b.pinned.get(sg) {
            None => d.unpin.push(*sg),
            Some(f) if f != from => d.pin.push(*sg),
            Some(_) => {}
        }
    }
    d.pin
        .extend(b.pinned.keys().filter(|sg| !a.pinned.contains_key(*sg)));
    d.pin.sort();
    d
}

impl<A> Default for Diff<A> {
    fn default() -> Self {
        Diff {
            add_interfaces: Vec::new(),
            igmp_on: Vec::new(),
            igmp_off: Vec::new(),
            policies: Vec::new(),
            igmp_config: false,
            rules: false,
            regroup: Vec::new(),
            remove_routes: Vec::new(),
            add_routes: Vec::new(),
            join: Vec::new(),
            leave: Vec::new(),
            unpin: Vec::new(),
            pin: Vec::new(),
            remove_interfaces: Vec::new(),
        }
    }
}

impl<A: Af> Diff<A> {
    /// Nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [[interface]]
        name = "up"
        igmp = false
        [[interface]]
        name = "down1"
        [[interface]]
        name = "down2"
        [[route]]
        prefix = "198.51.100.0/24"
        interface = "up"
        [[mroute]]
        from = "up"
        source = "198.51.100.2"
        group = "239.1.2.3"
        to = ["down1"]
        [[mroute]]
        group = "239.1.2.4"
        to = ["down1", "down2"]
    "#;

    fn wanted(text: &str, joins: &[JoinSpec]) -> Wanted {
        Wanted::of(&Config::parse(text).unwrap(), joins).unwrap()
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn sel(s: Option<&str>, g: &str) -> Sel {
        (s.map(a), a(g))
    }

    #[test]
    fn the_state_of_a_configuration() {
        let w = wanted(BASE, &[]);
        assert_eq!(w.interfaces.len(), 3);
        assert!(!w.interfaces["up"].igmp && w.interfaces["down1"].igmp);
        // The configured route and the (S,G) rule's host route.
        let routes: Vec<_> = w
            .routes
            .iter()
            .map(|(k, r)| (*k, r.interface.as_str(), r.origin))
            .collect();
        assert_eq!(
            routes,
            vec![
                ((a("198.51.100.0"), 24), "up", Origin::Route),
                ((a("198.51.100.2"), 32), "up", Origin::Mroute)
            ]
        );
        let members: Vec<_> = w.members.iter().cloned().collect();
        assert_eq!(
            members,
            vec![
                (sel(None, "239.1.2.4"), "down1".to_string()),
                (sel(None, "239.1.2.4"), "down2".to_string()),
                (sel(Some("198.51.100.2"), "239.1.2.3"), "down1".to_string()),
            ]
        );
        assert_eq!(
            w.rules,
            vec![(sel(Some("198.51.100.2"), "239.1.2.3"), "up".to_string())]
        );
        assert_eq!(
            w.pinned.into_iter().collect::<Vec<_>>(),
            vec![((a("198.51.100.2"), a("239.1.2.3")), Some("up".to_string()))]
        );
    }

    #[test]
    fn an_unchanged_configuration_changes_nothing() {
        let w = wanted(BASE, &[]);
        assert!(diff(&w, &w).is_empty());
        // The same configuration written in another order of its keys and comments.
        let again = BASE.replace("igmp = false\n", "igmp = false # no hosts upstream\n");
        assert!(diff(&w, &wanted(&again, &[])).is_empty());
    }

    #[test]
    fn an_added_interface_and_its_mroute_target_are_all_that_change() {
        let more = format!(
            "{}\n[[interface]]\nname = \"down3\"\n",
            BASE.replace("to = [\"down1\"]", "to = [\"down1\", \"down3\"]")
        );
        let d = diff(&wanted(BASE, &[]), &wanted(&more, &[]));
        assert_eq!(d.add_interfaces, vec!["down3".to_string()]);
        assert_eq!(
            d.join,
            vec![(sel(Some("198.51.100.2"), "239.1.2.3"), "down3".to_string())]
        );
        let expected = Diff {
            add_interfaces: d.add_interfaces.clone(),
            join: d.join.clone(),
            ..Diff::default()
        };
        assert_eq!(d, expected, "nothing else: no route, pin or rule touched");
        // Back again: the interface goes, and with it the membership.
        let back = diff(&wanted(&more, &[]), &wanted(BASE, &[]));
        assert_eq!(
            (back.remove_interfaces, back.leave),
            (vec!["down3".to_string()], d.join)
        );
    }

    #[test]
    fn igmp_settings_and_input_checks_are_told_apart() {
        let w = wanted(BASE, &[]);
        let timers = format!("[igmp]\nquery_interval = 60.0\n{BASE}");
        let d = diff(&w, &wanted(&timers, &[]));
        assert!(d.igmp_config && d.policies.is_empty(), "{d:?}");
        let old_hosts = BASE.replace(
            "name = \"down2\"",
            "name = \"down2\"\nrequire_router_alert = false",
        );
        let d = diff(&w, &wanted(&old_hosts, &[]));
        assert_eq!(d.policies, vec!["down2".to_string()]);
        assert!(!d.igmp_config);
        let off = BASE.replace("name = \"down1\"", "name = \"down1\"\nigmp = false");
        let d = diff(&w, &wanted(&off, &[]));
        assert_eq!((d.igmp_off, d.igmp_on), (vec!["down1".to_string()], vec![]));
        let d = diff(&wanted(&off, &[]), &w);
        assert_eq!(d.igmp_on, vec!["down1".to_string()]);
    }

    #[test]
    fn a_changed_route_is_removed_and_added() {
        let moved = BASE.replace(
            "prefix = \"198.51.100.0/24\"\n        interface = \"up\"",
            "prefix = \"198.51.100.0/24\"\n        interface = \"up\"\n        upstream = \"198.51.100.254\"",
        );
        let d = diff(&wanted(BASE, &[]), &wanted(&moved, &[]));
        let key = (a("198.51.100.0"), 24);
        assert_eq!((d.remove_routes, d.add_routes), (vec![key], vec![key]));
        assert!(d.join.is_empty() && d.pin.is_empty());
    }

    #[test]
    fn an_sg_rule_from_another_interface_moves_its_host_route_and_its_entry() {
        let from_down2 = BASE.replace("from = \"up\"", "from = \"down2\"");
        let d = diff(&wanted(BASE, &[]), &wanted(&from_down2, &[]));
        let host = (a("198.51.100.2"), 32);
        let sg = sel(Some("198.51.100.2"), "239.1.2.3");
        assert_eq!((d.remove_routes, d.add_routes), (vec![host], vec![host]));
        assert!(d.rules);
        assert_eq!(d.regroup, vec![sg]);
        assert_eq!(d.pin, vec![(a("198.51.100.2"), a("239.1.2.3"))]);
        assert!(d.unpin.is_empty());
    }

    #[test]
    fn a_removed_sg_rule_is_unpinned_with_its_route_and_membership() {
        let without = BASE.replace(
            "from = \"up\"\n        source = \"198.51.100.2\"\n        group = \"239.1.2.3\"\n        to = [\"down1\"]",
            "group = \"239.1.2.4\"\n        to = [\"down1\"]",
        );
        let d = diff(&wanted(BASE, &[]), &wanted(&without, &[]));
        assert_eq!(d.unpin, vec![(a("198.51.100.2"), a("239.1.2.3"))]);
        assert_eq!(d.remove_routes, vec![(a("198.51.100.2"), 32)]);
        assert_eq!(
            d.leave,
            vec![(sel(Some("198.51.100.2"), "239.1.2.3"), "down1".to_string())]
        );
        assert!(d.rules && d.add_routes.is_empty() && d.join.is_empty());
    }

    #[test]
    fn joins_add_memberships_once() {
        let w = wanted(BASE, &[]);
        let join = |i: &str, g: &str| JoinSpec {
            interface: i.into(),
            group: a(g).into(),
            source: None,
        };
        // down1 already takes (*, 239.1.2.4) from an mroute: the join adds nothing more, and
        // leaving it later keeps the mroute's.
        let same = wanted(BASE, &[join("down1", "239.1.2.4")]);
        assert!(diff(&w, &same).is_empty());
        let d = diff(&w, &wanted(BASE, &[join("down2", "239.9.9.9")]));
        assert_eq!(d.join, vec![(sel(None, "239.9.9.9"), "down2".to_string())]);
        assert_eq!(d.leave, vec![]);
    }

    #[test]
    fn a_proxy_upstream_runs_no_router_and_takes_the_default_route() {
        let text = "[[interface]]\nname = \"up\"\nupstream = true\nmld = true\n[[interface]]\nname = \"down1\"\n";
        let c = Config::parse(text).unwrap();
        let w4: Wanted = Wanted::of(&c, &[]).unwrap();
        let w6: Wanted<std::net::Ipv6Addr> = Wanted::of(&c, &[]).unwrap();
        assert_eq!(w4.upstream.as_deref(), Some("up"));
        assert_eq!(w6.upstream.as_deref(), Some("up"));
        assert!(!w4.interfaces["up"].igmp && w4.interfaces["down1"].igmp);
        assert!(!w6.interfaces["up"].igmp && w6.interfaces["down1"].igmp);
        let r = &w4.routes[&(Ipv4Addr::UNSPECIFIED, 0)];
        assert_eq!((r.interface.as_str(), r.origin), ("up", Origin::Proxy));
        assert_eq!(
            w6.routes[&(std::net::Ipv6Addr::UNSPECIFIED, 0)].origin,
            Origin::Proxy
        );
        // A configured default route wins; an interface that is upstream in IPv4 only.
        let own = "[[interface]]\nname = \"up\"\nupstream = true\nmld = false\n[[interface]]\nname = \"down1\"\nmld = true\n[[route]]\nprefix = \"0.0.0.0/0\"\ninterface = \"down1\"\n";
        let c = Config::parse(own).unwrap();
        let w4: Wanted = Wanted::of(&c, &[]).unwrap();
        let w6: Wanted<std::net::Ipv6Addr> = Wanted::of(&c, &[]).unwrap();
        let r = &w4.routes[&(Ipv4Addr::UNSPECIFIED, 0)];
        assert_eq!((r.interface.as_str(), r.origin), ("down1", Origin::Route));
        assert_eq!(w6.upstream, None);
        assert!(w6.routes.is_empty());
        // No proxy: no upstream, no default route.
        assert_eq!(wanted(BASE, &[]).upstream, None);
    }
}
