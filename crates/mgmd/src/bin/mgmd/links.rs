//! The configured interfaces followed live: mgmd's reaction to the kernel's link and
//! address announcements ([`mgm_linux::link::LinkMonitor`]).
//!
//! Each configured interface is *absent* (no link of that name), *down* (a link, but not
//! administratively up or without its carrier) or *up*. Only an up interface is *attached*:
//! it has a VIF, the static routing client owns it, the RPF routes toward it, the static
//! routing client's memberships on it (mroutes' `to` and `mgmctl join`s) and the overrides
//! of the mroutes from it are in the engine, and IGMP runs there (with an IPv4 address).
//! What is in force for an interface is the static state applied ([`mgmd::plan::Wanted`]:
//! the configuration's, with the control requests' changes); a change that names a detached
//! interface is recorded and reaches the engine when the interface is attached.
//!
//! * An interface absent at start, or added by a reload while absent or down, is attached
//!   when its link appears and comes up.
//! * One that goes down or is deleted is detached: IGMP leaves it in the engine (the state
//!   machine keeps its hosts' reports and timers, and sends no query there), the routing
//!   client releases it (the engine drops it from every outgoing list and deletes the
//!   entries arriving on it), its routes go, its VIF is deleted. When it is up again it is
//!   attached again, and IGMP's reports come back into the engine at once.
//! * A link of the same name with a new ifindex (deleted and created again) is followed: the
//!   IGMP state moves to the new ifindex, and the interface is attached there.
//! * An address change reaches IGMP: the querier's own address (the link's first IPv4
//!   address) and the subnets of the off-subnet checks. IGMP starts on a link that gets its
//!   first address.
//! * An interface a reload removes is detached and no longer followed.
//!
//! A `[[mroute]]` whose `from` interface is detached has no RPF override meanwhile: the
//! engine's routes decide for it.

use std::net::IpAddr;

use mgm::{IfKey, Route, JOIN};
use mgm_linux::link::{Batch, LinkEvent, LinkMonitor};
use tracing::{info, warn};

use super::family::Fam;
use super::Daemon;

/// Datagrams of the rtnetlink socket read per turn of the main loop.
const DATAGRAMS_PER_TURN: usize = 16;

pub use mgmd::reply::LinkState;

/// The rtnetlink monitor, with the kernel's links and addresses.
pub struct Links {
    /// The kernel's links and addresses.
    pub monitor: LinkMonitor,
}

impl Links {
    /// The monitor, open and with its first dump taken.
    ///
    /// # Errors
    /// The rtnetlink socket's.
    pub fn open() -> Result<(Self, Batch), String> {
        let (monitor, batch) = LinkMonitor::open()
            .map_err(|e| format!("rtnetlink (link and address monitor): {e}"))?;
        Ok((Links { monitor }, batch))
    }

    /// The state and ifindex (0: none) of the link named `name` now.
    pub fn state_of(&self, name: &str) -> (LinkState, u32) {
        match self.monitor.table().by_name(name) {
            None => (LinkState::Absent, 0),
            Some(l) if l.is_up() => (LinkState::Up, l.ifindex),
            Some(l) => (LinkState::Down, l.ifindex),
        }
    }

    /// The addresses of `ifindex`, both families, in the kernel's order.
    pub fn addresses(&self, ifindex: u32) -> impl Iterator<Item = IpAddr> + '_ {
        self.monitor.table().addresses(ifindex).map(|a| a.address)
    }
}

impl<A: Fam> Daemon<A> {
    /// The position of the interface named `name` among those mgmd follows.
    pub(super) fn iface_named(&self, name: &str) -> Option<usize> {
        self.ifaces.iter().position(|i| i.name == name)
    }

    /// Makes the RPF overrides the hooks read those of the applied mroutes whose `from` is
    /// attached.
    pub(super) fn rebuild_rules(&mut self) {
        let rules: Vec<_> = self
            .applied
            .rules
            .iter()
            .filter_map(|(sel, from)| Some((*sel, self.attached_ifindex(from)?)))
            .collect();
        *self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rules;
    }

    /// Attaches interface `i` (up, on its current ifindex). On an error, what was done is
    /// undone.
    ///
    /// # Errors
    /// The VIF's, the engine's or IGMP's, naming the interface.
    pub(super) fn attach(&mut self, i: usize) -> Result<(), String> {
        let r = self.try_attach(i);
        if r.is_err() {
            self.detach(i, false);
        }
        r
    }

    fn try_attach(&mut self, i: usize) -> Result<(), String> {
        let (name, ifindex) = (self.ifaces[i].name.clone(), self.ifaces[i].ifindex);
        let vif = self
            .fwd
            .add_interface(ifindex)
            .map_err(|e| format!("interface {name}: {e}"))?;
        self.mgm
            .take_interface(self.routing, IfKey::new(ifindex))
            .map_err(|e| format!("take {name}: {e}"))?;
        self.ifaces[i].attached = true;
        info!(interface = %name, ifindex, vif, "interface owned by the static routing client ({} {vif})", A::VIF);
        // The routes toward it: `[[route]]`s and the host routes of the (S,G) mroutes from it.
        let routes: Vec<_> = self
            .applied
            .routes
            .iter()
            .filter(|(_, r)| r.interface == name)
            .map(|(k, r)| (*k, r.upstream))
            .collect();
        for ((prefix, len), upstream) in routes {
            let mut route = Route::new(prefix, len, IfKey::new(ifindex));
            if let Some(u) = upstream {
                route.upstream = u;
            }
            self.mgm
                .add_route(route)
                .map_err(|e| format!("route {prefix}/{len} on {name}: {e}"))?;
            info!(prefix = %format!("{prefix}/{len}"), interface = %name, "route");
        }
        let members: Vec<_> = self
            .applied
            .members
            .iter()
            .filter(|(_, on)| *on == name)
            .map(|(sel, _)| Self::selector(sel))
            .collect();
        for sel in members {
            self.mgm
                .add_membership(self.routing, sel, IfKey::new(ifindex), JOIN)
                .map_err(|e| format!("{sel} to {name}: {e}"))?;
        }
        self.rebuild_rules();
        self.start_igmp(i)?;
        self.proxy_upstream_check(i);
        // The static (S,G)s from it, installed ahead of traffic.
        self.ensure_pinned();
        self.housekeeping();
        Ok(())
    }

    /// IGMP (MLD) on attached interface `i`, if configured: resumed where its state was
    /// kept, started where the link has an address of the family (for MLD, a link-local
    /// one); the router groups joined. On an error, IGMP or MLD does not run there.
    pub(super) fn start_igmp(&mut self, i: usize) -> Result<(), String> {
        let (name, ifindex) = (self.ifaces[i].name.clone(), self.ifaces[i].ifindex);
        if !self.ifaces[i].igmp {
            return Ok(());
        }
        let address = A::router_address(&self.links, ifindex);
        self.ifaces[i].address = address;
        let resumed = self.igmp.is_suspended(ifindex);
        let Some(addr) = address else {
            warn!(interface = %name, "no {} address{}: {} not started there (it starts with the first address)",
                A::NAME,
                if A::PROTOCOL == "MLD" { " (link-local)" } else { "" },
                A::PROTOCOL);
            return Ok(());
        };
        let router_groups = A::ROUTER_GROUPS;
        self.groups.join(ifindex, &router_groups).map_err(|e| {
            format!(
                "join {} and {} on {name}: {e}",
                router_groups[0], router_groups[1]
            )
        })?;
        if resumed {
            if let Err(e) = self.igmp.resume_interface(ifindex) {
                self.groups.leave(ifindex);
                return Err(format!("{} on {name}: {e}", A::PROTOCOL));
            }
            self.igmp.set_address(ifindex, addr);
            info!(interface = %name, ifindex, address = %addr, "{} resumed, with the reports its hosts made", A::PROTOCOL);
        } else {
            let now = self.now();
            let acts = match self.igmp.add_interface(ifindex, addr, now) {
                Ok(a) => a,
                Err(e) => {
                    self.groups.leave(ifindex);
                    return Err(format!("{} on {name}: {e}", A::PROTOCOL));
                }
            };
            let input = self.ifaces[i].input;
            self.igmp.set_input_policy(ifindex, input);
            info!(
                interface = %name,
                address = %addr,
                require_ttl_one = input.require_ttl_one,
                require_router_alert = input.require_router_alert,
                "{} querier started",
                A::PROTOCOL
            );
            self.igmp_actions(acts);
        }
        self.refresh_subnets();
        Ok(())
    }

    /// Detaches interface `i` (its link down or gone: `gone` when the kernel deleted it,
    /// and with it the VIF). Each step is done where it applies, so a half-attached
    /// interface is undone too.
    pub(super) fn detach(&mut self, i: usize, gone: bool) {
        let (name, ifindex) = (self.ifaces[i].name.clone(), self.ifaces[i].ifindex);
        // A link going away is told down first; by then the kernel may have deleted it (the
        // table already took the whole datagram).
        let gone = gone || self.links.monitor.table().link(ifindex).is_none();
        if let Err(e) = self.igmp.suspend_interface(ifindex) {
            warn!("IGMP leaving {name}: {e}");
        }
        self.groups.leave(ifindex);
        if self.ifaces[i].attached {
            // The routes toward it (its memberships go with the release).
            let routes: Vec<_> = self
                .applied
                .routes
                .iter()
                .filter(|(_, r)| r.interface == name)
                .map(|(k, _)| *k)
                .collect();
            for (prefix, len) in routes {
                let _ = self.mgm.remove_route(prefix, len);
            }
            if let Err(e) = self
                .mgm
                .release_interface(self.routing, IfKey::new(ifindex))
            {
                warn!("release {name}: {e}");
            }
            self.ifaces[i].attached = false;
            self.rebuild_rules();
        }
        // The engine's changes reach the kernel before the VIF goes.
        self.housekeeping();
        if let Err(e) = self.fwd.remove_interface(ifindex) {
            if !gone {
                warn!("{e}");
            }
        }
        info!(interface = %name, ifindex, state = self.ifaces[i].link.as_str(), "interface detached: out of every outgoing list");
        self.proxy_upstream_check(i);
    }

    /// Reads the rtnetlink socket (a bounded number of datagrams) and reacts.
    pub(super) fn read_links(&mut self) {
        let t = self.watch.begin();
        match self.links.monitor.read(DATAGRAMS_PER_TURN) {
            Ok(batch) => self.take_link_batch(batch),
            Err(e) => warn!("rtnetlink: {e}"),
        }
        self.watch.end(t, "link events");
    }

    /// Reacts to what a read or the first dump brought.
    pub(super) fn take_link_batch(&mut self, batch: Batch) {
        if batch.resynced {
            warn!("rtnetlink announcements were lost: links and addresses dumped again");
        }
        for e in batch.errors {
            warn!("rtnetlink message left out: {e}");
        }
        for ev in batch.events {
            self.link_event(ev);
        }
    }

    fn link_event(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Added(l) | LinkEvent::Up(l) | LinkEvent::Down(l) => {
                self.link_now(&l.name, l.ifindex, l.is_up())
            }
            LinkEvent::Renamed { old, link } => {
                self.link_lost(&old, link.ifindex);
                self.link_now(&link.name, link.ifindex, link.is_up());
            }
            LinkEvent::Removed(l) => self.link_lost(&l.name, l.ifindex),
            LinkEvent::AddressAdded { name, address }
            | LinkEvent::AddressRemoved { name, address } => {
                if A::is_mine(address.address) {
                    self.address_changed(&name);
                }
            }
        }
    }

    /// The link named `name` is `ifindex`, up or not.
    fn link_now(&mut self, name: &str, ifindex: u32, up: bool) {
        let Some(i) = self.iface_named(name) else {
            return;
        };
        let old = self.ifaces[i].ifindex;
        if old != ifindex {
            if self.ifaces[i].attached {
                self.detach(i, true);
            }
            if old != 0 && self.igmp.renumber_interface(old, ifindex) {
                info!(interface = %name, from = old, to = ifindex, "IGMP state moved to the new ifindex");
                self.proxy_refresh(ifindex, old);
            }
            if old == 0 {
                info!(interface = %name, ifindex, "interface appeared");
            } else {
                info!(interface = %name, from = old, to = ifindex, "interface has a new ifindex");
            }
            self.ifaces[i].ifindex = ifindex;
        }
        let state = if up { LinkState::Up } else { LinkState::Down };
        let was = std::mem::replace(&mut self.ifaces[i].link, state);
        if was != state {
            info!(interface = %name, ifindex, "link {}", state.as_str());
            self.record(
                "link",
                format!("{name} (ifindex {ifindex}) {}", state.as_str()),
            );
        }
        match (up, self.ifaces[i].attached) {
            (true, false) => {
                if let Err(e) = self.attach(i) {
                    warn!("attaching {name}: {e}");
                    self.record("error", format!("attaching {name}: {e}"));
                }
            }
            (false, true) => self.detach(i, false),
            _ => {}
        }
    }

    /// The link `ifindex`, once named `name`, is gone (deleted, or renamed away).
    fn link_lost(&mut self, name: &str, ifindex: u32) {
        let Some(i) = self.iface_named(name) else {
            return;
        };
        if self.ifaces[i].ifindex != ifindex {
            return;
        }
        self.ifaces[i].link = LinkState::Absent;
        info!(interface = %name, ifindex, "link absent");
        self.record("link", format!("{name} (ifindex {ifindex}) absent"));
        if self.ifaces[i].attached {
            self.detach(i, true);
        }
    }

    /// An IPv4 address of the link named `name` came or went: IGMP's querier address and
    /// subnets follow; IGMP starts on a link that had none.
    fn address_changed(&mut self, name: &str) {
        let Some(i) = self.iface_named(name) else {
            return;
        };
        let ifindex = self.ifaces[i].ifindex;
        let address = A::router_address(&self.links, ifindex);
        let had = std::mem::replace(&mut self.ifaces[i].address, address);
        self.proxy_upstream_check(i);
        if !self.ifaces[i].attached || !self.ifaces[i].igmp {
            return;
        }
        let running = self.igmp.router().interfaces().contains_key(&ifindex);
        match address {
            Some(a) if running => {
                if had != Some(a) && self.igmp.set_address(ifindex, a) {
                    info!(interface = %name, address = %a, "{} querier address", A::PROTOCOL);
                }
            }
            Some(_) => {
                if let Err(e) = self.start_igmp(i) {
                    warn!("IGMP on {name}: {e}");
                }
            }
            None => {
                if running {
                    warn!(interface = %name, "no {} address left: {} queries cannot be sent there until one comes", A::NAME, A::PROTOCOL);
                }
            }
        }
        self.refresh_subnets();
    }
}
