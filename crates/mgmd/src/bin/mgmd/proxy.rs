//! Proxy mode (RFC 4605, IGMP/MLD-based forwarding): on the one upstream interface of a
//! family (`upstream = true`) mgmd is a host, with [`mgm_igmp::ProxyHost`]; on every other
//! interface it is the router, as without a proxy.
//!
//! * The upstream membership follows the downstream routers' memberships: each
//!   [`mgm_igmp::Action::Join`] and [`mgm_igmp::Action::Leave`] gives the host side that
//!   group's memberships on that interface again, and the host side reports what changed
//!   upstream at once (a state-change report, then its retransmissions).
//! * Traffic arrives on the upstream: the family's default route goes through it
//!   ([`mgmd::plan::Origin::Proxy`]), so the engine's entries have it as their incoming
//!   interface and the downstream members as their outgoing ones.
//! * The upstream querier's queries are answered; the host speaks the querier's version.
//! * While the upstream is detached (its link down or absent) or has no address of the
//!   family, nothing is sent; the membership is kept, and reported again in full when it
//!   comes back ([`mgm_igmp::ProxyHost::resend`]).
//! * At shutdown every group is left upstream, so the upstream router stops forwarding at
//!   once instead of after its membership timeout.

use mgm_igmp::{HostAction, ProxyConfig, ProxyHost};
use tracing::{debug, info, warn};

use super::family::Fam;
use super::Daemon;

/// The host side of the proxy on its upstream interface.
pub(super) struct Upstream<A: Fam> {
    /// The upstream interface's name.
    pub(super) name: String,
    /// The host state machine: its membership is the union of the downstream interfaces'.
    pub(super) host: ProxyHost<A::Proto>,
    /// What the host side sends goes out: the upstream is attached and has an address.
    pub(super) live: bool,
    /// Messages sent upstream.
    pub(super) sent: u64,
    /// Messages that could not be sent (the socket's error), or were not sent because the
    /// upstream was not live.
    pub(super) unsent: u64,
}

impl<A: Fam> Upstream<A> {
    /// The host side on the interface `name`, not yet attached.
    pub(super) fn new(name: String, config: ProxyConfig) -> Self {
        Upstream {
            name,
            host: ProxyHost::new(config, 0, A::UNSPECIFIED),
            live: false,
            sent: 0,
            unsent: 0,
        }
    }
}

impl<A: Fam> Daemon<A> {
    /// True when `ifindex` is the proxy's upstream interface.
    pub(super) fn is_upstream(&self, ifindex: u32) -> bool {
        self.proxy
            .as_ref()
            .is_some_and(|p| p.live && p.host.upstream_ifindex() == ifindex)
    }

    /// Sends what the host side asked for out of the upstream interface.
    pub(super) fn proxy_send(&mut self, acts: Vec<HostAction<A>>) {
        let Some(p) = &mut self.proxy else {
            return;
        };
        for a in acts {
            if !p.live {
                p.unsent += 1;
                continue;
            }
            debug!(
                "{} to {} on {} (proxy upstream): {:?}",
                A::PROTOCOL,
                a.destination,
                p.name,
                a.message
            );
            match A::send(self.fwd.kernel(), a.ifindex, a.destination, &a.payload) {
                Ok(()) => p.sent += 1,
                Err(e) => {
                    p.unsent += 1;
                    warn!("sending {} report upstream on {}: {e}", A::PROTOCOL, p.name);
                }
            }
        }
    }

    /// A downstream router's membership of `group` on `ifindex` changed: the host side is
    /// given that group's memberships there now.
    pub(super) fn proxy_follow(&mut self, ifindex: u32, group: A) {
        let Some(p) = &mut self.proxy else {
            return;
        };
        let selectors = self.igmp.router().group_memberships(ifindex, group);
        let now = self.start.elapsed();
        let acts = p
            .host
            .set_downstream_group_selectors(ifindex, group, &selectors, now);
        self.proxy_send(acts);
    }

    /// Every membership of the downstream interface `ifindex` is taken again from its
    /// router (`ifindex` renumbered from `old`, or 0 for none): the host side drops what
    /// it held for `old` after it has the new ones, so that nothing is left upstream in
    /// between.
    pub(super) fn proxy_refresh(&mut self, ifindex: u32, old: u32) {
        let Some(p) = &mut self.proxy else {
            return;
        };
        let now = self.start.elapsed();
        let mut acts = Vec::new();
        if ifindex != 0 {
            let selectors = self.igmp.router().memberships(ifindex);
            acts.extend(p.host.set_downstream_selectors(ifindex, &selectors, now));
        }
        if old != 0 && old != ifindex {
            acts.extend(p.host.remove_downstream(old, now));
        }
        self.proxy_send(acts);
    }

    /// Interface `i` was attached, or its address changed: when it is the upstream, the host
    /// side goes out of it from its address, and reports its whole membership again.
    pub(super) fn proxy_upstream_check(&mut self, i: usize) {
        let (name, ifindex, attached) = (
            self.ifaces[i].name.clone(),
            self.ifaces[i].ifindex,
            self.ifaces[i].attached,
        );
        let address = A::router_address(&self.links, ifindex);
        let Some(p) = &mut self.proxy else {
            return;
        };
        if p.name != name {
            return;
        }
        let was = (p.live, p.host.upstream_ifindex(), p.host.address());
        match address.filter(|_| attached) {
            Some(a) => {
                p.host.set_upstream_ifindex(ifindex);
                p.host.set_address(a);
                p.live = true;
            }
            None => p.live = false,
        }
        let now = (p.live, p.host.upstream_ifindex(), p.host.address());
        if was == now {
            return;
        }
        if p.live {
            info!(interface = %name, ifindex, address = %p.host.address(), groups = p.host.membership().len(),
                "{} proxy upstream: reporting the downstream memberships", A::PROTOCOL);
            let acts = p.host.resend(self.start.elapsed());
            self.proxy_send(acts);
        } else if attached {
            warn!(interface = %name, "{} proxy upstream has no {} address: nothing is reported until it has one", A::PROTOCOL, A::NAME);
        } else {
            info!(interface = %name, "{} proxy upstream detached: its membership is kept and reported again when it is back", A::PROTOCOL);
        }
    }

    /// The host side's timers: retransmissions, answers to queries, the older querier's
    /// mode ending.
    pub(super) fn proxy_tick(&mut self) {
        let now = self.start.elapsed();
        let Some(p) = &mut self.proxy else {
            return;
        };
        let acts = p.host.tick(now);
        self.proxy_send(acts);
    }

    /// At shutdown: every group is left upstream at once (one report; the retransmissions
    /// would come after mgmd is gone).
    pub(super) fn proxy_leave_all(&mut self) {
        let now = self.start.elapsed();
        let ifindexes: Vec<u32> = self.ifaces.iter().map(|i| i.ifindex).collect();
        let Some(p) = &mut self.proxy else {
            return;
        };
        let mut acts = Vec::new();
        for ifindex in ifindexes {
            if p.host.downstream(ifindex).is_some() {
                acts.extend(p.host.remove_downstream(ifindex, now));
            }
        }
        let groups = acts.len();
        self.proxy_send(acts);
        if groups > 0 {
            info!("{} proxy: left every group upstream", A::PROTOCOL);
        }
    }
}
