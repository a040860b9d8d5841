//! The IGMP router as a client of the engine: registration as [`MS_IP_IGMP`], interface
//! presence, memberships, and the disable/enable bracket of ownership changes.
//!
//! The bracket and its replay are [`IgmpMemberships`], generic over the address family (IGMP
//! on IPv4, MLD on IPv6). [`RouterClient`] is the router of either protocol with it:
//! [`IgmpClient`] (IPv4) and [`MldClient`] (IPv6), the routers of `mgmd`; any other IGMP or
//! MLD client of the engine can use the bracket alone.

mod memberships;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mgm::{DefaultHooks, Event, EventReceiver, IfKey, Mgm, ProtocolHandle, MS_IP_IGMP};
use mgm_igmp::{
    Action, AddressError, Heard, Igmp, IgmpConfig, InputPolicy, Mld, Protocol, Router, Subnet,
};

pub use memberships::{BracketStep, Change, IgmpMemberships, Replay};

/// Why [`RouterClient::add_interface`] did not start the router on an interface.
#[derive(Clone, Debug, PartialEq)]
pub enum AddError<A> {
    /// The router's address there cannot be one ([`Router::add_interface`]'s check: for
    /// MLD, one that is not link-local).
    Address(AddressError<A>),
    /// The engine refused the interface ([`Mgm::take_interface`]).
    Engine(mgm::Error),
}

impl<A: fmt::Display> fmt::Display for AddError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::Address(e) => e.fmt(f),
            AddError::Engine(e) => e.fmt(f),
        }
    }
}

impl<A: fmt::Debug + fmt::Display> std::error::Error for AddError<A> {}

impl<A> From<mgm::Error> for AddError<A> {
    fn from(e: mgm::Error) -> Self {
        AddError::Engine(e)
    }
}

/// The IGMP router (IPv4) registered with an engine.
pub type IgmpClient = RouterClient<Igmp>;
/// The MLD router (IPv6) registered with an engine: the same client as [`IgmpClient`] over
/// [`mgm_igmp::MldRouter`].
///
/// ```
/// use mgm_igmp::{mld, MldConfig};
/// use mgm_igmp_client::MldClient;
/// use mgm::{Mgm, Selector};
/// use std::{net::Ipv6Addr, time::Duration};
/// let mgm = Mgm::<Ipv6Addr>::default();
/// let mut c = MldClient::register(mgm.clone(), MldConfig::default()).unwrap();
/// let global: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
/// let e = c.add_interface(5, global, Duration::ZERO).unwrap_err();
/// assert!(e.to_string().contains("link-local"), "{e}");
/// assert!(mgm.interfaces().is_empty(), "the engine was not asked");
/// c.add_interface(5, "fe80::1".parse().unwrap(), Duration::ZERO).unwrap();
/// let g: Ipv6Addr = "ff0e::1".parse().unwrap();
/// c.receive(5, "fe80::2".parse().unwrap(), &mld::encode_v1(mld::V1_REPORT, g), Duration::from_secs(1));
/// assert_eq!(mgm.memberships()[0].selector, Selector::Group(g));
/// ```
pub type MldClient = RouterClient<Mld>;

/// The IGMP or MLD router registered with an engine of its family. Socket-free: the caller
/// feeds it packets and time, sends the queries it returns, and drains its events.
///
/// ```
/// use mgm_igmp::{self as igmp, IgmpConfig};
/// use mgm_igmp_client::IgmpClient;
/// use mgm::{IfKey, Mgm, Selector};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let mut c = IgmpClient::register(mgm.clone(), IgmpConfig::default()).unwrap();
/// let me = Ipv4Addr::new(203, 0, 113, 1);
/// let sends = c.add_interface(5, me, Duration::ZERO).unwrap();
/// assert_eq!(sends.len(), 1, "the first startup general query");
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let report = igmp::encode_v2(0x16, g);
/// c.receive(5, Ipv4Addr::new(203, 0, 113, 2), &report, Duration::from_secs(1));
/// assert_eq!(mgm.memberships()[0].selector, Selector::Group(g));
/// ```
pub struct RouterClient<P: Protocol> {
    mgm: Mgm<P::Addr>,
    handle: ProtocolHandle,
    events: EventReceiver<P::Addr>,
    router: Router<P>,
    /// The state machine's memberships in the engine, held to the bracket.
    memberships: IgmpMemberships<P::Addr>,
    errors: Vec<mgm::Error>,
    /// Interfaces whose link is down or gone: the state machine keeps its state there, the
    /// engine has neither IGMP nor its memberships, and no query is sent.
    suspended: BTreeSet<u32>,
}

impl<P: Protocol> RouterClient<P> {
    /// Registers with the engine as `MS_IP_IGMP`, component 1 (the engine's group
    /// membership protocol, in either family).
    ///
    /// # Errors
    /// As [`Mgm::register`].
    pub fn register(mgm: Mgm<P::Addr>, config: IgmpConfig) -> mgm::Result<Self> {
        let (handle, events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks))?;
        Ok(RouterClient {
            memberships: IgmpMemberships::new(mgm.clone(), handle),
            mgm,
            handle,
            events,
            router: Router::new(config),
            errors: Vec::new(),
            suspended: BTreeSet::new(),
        })
    }

    /// The state machine (for display).
    pub fn router(&self) -> &Router<P> {
        &self.router
    }

    /// Replaces the state machine's configuration ([`Router::set_config`]).
    pub fn set_config(&mut self, config: IgmpConfig) {
        self.router.set_config(config);
    }

    /// The engine handle.
    pub fn handle(&self) -> ProtocolHandle {
        self.handle
    }

    /// Engine errors met while applying memberships, since the last call.
    pub fn take_errors(&mut self) -> Vec<mgm::Error> {
        std::mem::take(&mut self.errors)
    }

    /// Becomes present on the interface and starts querying there with `address` as its
    /// own; returns the queries to send now.
    ///
    /// # Errors
    /// An address the router cannot have there (for MLD: not link-local), before the
    /// engine is asked; otherwise as [`Mgm::take_interface`]. Nothing changes on an error.
    pub fn add_interface(
        &mut self,
        ifindex: u32,
        address: P::Addr,
        now: Duration,
    ) -> Result<Vec<Action<P::Addr>>, AddError<P::Addr>> {
        if let Some(why) = P::address_problem(address) {
            return Err(AddError::Address(AddressError {
                ifindex,
                address,
                why,
            }));
        }
        self.mgm.take_interface(self.handle, IfKey::new(ifindex))?;
        let acts = self
            .router
            .add_interface(ifindex, address, now)
            .map_err(AddError::Address)?;
        Ok(self.apply(acts))
    }

    /// Stops IGMP on the interface and leaves it (the engine deletes its memberships there).
    ///
    /// # Errors
    /// As [`Mgm::release_interface`].
    pub fn remove_interface(&mut self, ifindex: u32) -> mgm::Result<()> {
        let _ = self.router.remove_interface(ifindex);
        self.memberships.forget_interface(IfKey::new(ifindex));
        if self.suspended.remove(&ifindex) {
            // The engine no longer has it.
            return Ok(());
        }
        self.mgm.release_interface(self.handle, IfKey::new(ifindex))
    }

    /// The link of `ifindex` is down or gone: IGMP leaves the interface in the engine (its
    /// memberships there go, and with them the interface from the outgoing lists they
    /// held), but the state machine keeps the hosts' reports and runs their timers, and
    /// sends no query there, until [`RouterClient::resume_interface`]. Nothing to do where
    /// IGMP does not run or is suspended already.
    ///
    /// ```
    /// use mgm_igmp::{self as igmp, IgmpConfig};
    /// use mgm_igmp_client::IgmpClient;
    /// use mgm::Mgm;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut c = IgmpClient::register(mgm.clone(), IgmpConfig::default()).unwrap();
    /// c.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// c.receive(3, Ipv4Addr::new(203, 0, 113, 2), &igmp::encode_v2(0x16, g), Duration::from_secs(1));
    /// c.suspend_interface(3).unwrap();
    /// assert!(mgm.memberships().is_empty() && c.is_suspended(3));
    /// assert!(c.tick(Duration::from_secs(200)).iter().all(|a| !matches!(a, igmp::IgmpAction::Send { .. })));
    /// // The same link comes back as ifindex 5: the report is there again, on 5.
    /// assert!(c.renumber_interface(3, 5));
    /// c.resume_interface(5).unwrap();
    /// assert_eq!(mgm.memberships()[0].interface.index, 5);
    /// ```
    ///
    /// # Errors
    /// As [`Mgm::release_interface`].
    pub fn suspend_interface(&mut self, ifindex: u32) -> mgm::Result<()> {
        if !self.router.interfaces().contains_key(&ifindex) || self.suspended.contains(&ifindex) {
            return Ok(());
        }
        self.memberships.forget_interface(IfKey::new(ifindex));
        self.suspended.insert(ifindex);
        self.mgm.release_interface(self.handle, IfKey::new(ifindex))
    }

    /// The link of a suspended interface is up again: IGMP takes it in the engine again
    /// and adds the memberships its hosts still report there (refusals are kept for
    /// [`RouterClient::take_errors`]). Nothing to do where it is not suspended.
    ///
    /// # Errors
    /// As [`Mgm::take_interface`] (the interface stays suspended).
    pub fn resume_interface(&mut self, ifindex: u32) -> mgm::Result<()> {
        if !self.suspended.contains(&ifindex) {
            return Ok(());
        }
        self.mgm.take_interface(self.handle, IfKey::new(ifindex))?;
        self.suspended.remove(&ifindex);
        for selector in self.router.memberships(ifindex) {
            if let Err(e) = self
                .memberships
                .add_membership(IfKey::new(ifindex), selector)
            {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    /// Moves a suspended interface's state to a new ifindex (the link deleted and created
    /// again under the same name); it stays suspended there. False, and nothing changed,
    /// unless `from` is suspended and IGMP does not run on `to`.
    pub fn renumber_interface(&mut self, from: u32, to: u32) -> bool {
        if !self.suspended.contains(&from) || !self.router.renumber(from, to) {
            return false;
        }
        self.suspended.remove(&from);
        self.suspended.insert(to);
        true
    }

    /// True while the interface is suspended ([`RouterClient::suspend_interface`]).
    pub fn is_suspended(&self, ifindex: u32) -> bool {
        self.suspended.contains(&ifindex)
    }

    /// Sets the router's address on an interface (see [`Router::set_address`]).
    pub fn set_address(&mut self, ifindex: u32, address: P::Addr) -> bool {
        self.router.set_address(ifindex, address)
    }

    /// Handles an IGMP or MLD message heard on `ifindex` from `source`; membership changes
    /// go to the engine; returns every action (the `Send`s are the caller's to do).
    pub fn receive(
        &mut self,
        ifindex: u32,
        source: P::Addr,
        payload: &[u8],
        now: Duration,
    ) -> Vec<Action<P::Addr>> {
        let acts = self.router.receive(ifindex, source, payload, now);
        self.apply(acts)
    }

    /// Handles an IGMP message with the IP header fields it arrived with (TTL, Router
    /// Alert), checked as [`Router::receive_packet`] does; as [`RouterClient::receive`].
    ///
    /// ```
    /// use mgm_igmp::{self as igmp, Heard, IgmpConfig};
    /// use mgm_igmp_client::IgmpClient;
    /// use mgm::Mgm;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut c = IgmpClient::register(mgm.clone(), IgmpConfig::default()).unwrap();
    /// c.add_interface(5, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let routed = Heard { ttl: 64, ..Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2)) };
    /// c.receive_packet(5, &routed, &igmp::encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1));
    /// assert!(mgm.memberships().is_empty(), "TTL 64: dropped");
    /// assert_eq!(c.router().counters(5).unwrap().bad_ttl, 1);
    /// ```
    pub fn receive_packet(
        &mut self,
        ifindex: u32,
        heard: &Heard<P::Addr>,
        payload: &[u8],
        now: Duration,
    ) -> Vec<Action<P::Addr>> {
        let acts = self.router.receive_packet(ifindex, heard, payload, now);
        self.apply(acts)
    }

    /// Sets the IP header checks of an interface (see [`Router::set_input_policy`]).
    pub fn set_input_policy(&mut self, ifindex: u32, policy: InputPolicy) -> bool {
        self.router.set_input_policy(ifindex, policy)
    }

    /// Runs the timers; as [`RouterClient::receive`].
    pub fn tick(&mut self, now: Duration) -> Vec<Action<P::Addr>> {
        let acts = self.router.tick(now);
        self.apply(acts)
    }

    /// When the next timer is due.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.router.next_deadline()
    }

    fn apply(&mut self, mut acts: Vec<Action<P::Addr>>) -> Vec<Action<P::Addr>> {
        // A suspended link gets no query; its reports change the engine at the resume.
        acts.retain(
            |a| !matches!(a, Action::Send { ifindex, .. } if self.suspended.contains(ifindex)),
        );
        for a in &acts {
            let r = match *a {
                Action::Join { ifindex, .. } | Action::Leave { ifindex, .. }
                    if self.suspended.contains(&ifindex) =>
                {
                    continue
                }
                Action::Join { ifindex, selector } => self
                    .memberships
                    .add_membership(IfKey::new(ifindex), selector),
                Action::Leave { ifindex, selector } => self
                    .memberships
                    .delete_membership(IfKey::new(ifindex), selector),
                Action::Send { .. } => continue,
            };
            if let Err(e) = r {
                self.errors.push(e);
            }
        }
        acts
    }

    /// Drains the engine's events for IGMP: between `DisableIgmp` and `EnableIgmp` on an
    /// interface nothing is added or deleted there; at `EnableIgmp` the interface is replayed
    /// (see [`IgmpMemberships`]), its refusals kept for [`RouterClient::take_errors`]. Returns
    /// the events, for logging.
    pub fn handle_events(&mut self) -> Vec<Event<P::Addr>> {
        let events = self.events.drain();
        for e in &events {
            if let Some(BracketStep::Enabled(replay)) = self.memberships.on_event(e) {
                self.errors.extend(replay.refused);
            }
        }
        events
    }

    /// Replays the state machine's memberships on `ifindex` to the engine, as `EnableIgmp`
    /// does: those that left while it was disabled are deleted, every one the state machine
    /// has is re-added. Does nothing while the interface is disabled.
    pub fn replay(&mut self, ifindex: u32) {
        if let Some(replay) = self.memberships.replay(IfKey::new(ifindex)) {
            self.errors.extend(replay.refused);
        }
    }

    /// Releases every interface and deregisters.
    ///
    /// # Errors
    /// As [`Mgm::deregister`].
    pub fn shutdown(mut self) -> mgm::Result<()> {
        let ids: Vec<u32> = self.router.interfaces().keys().copied().collect();
        for i in ids {
            if let Err(e) = self.remove_interface(i) {
                self.errors.push(e);
            }
        }
        self.mgm.deregister(self.handle)
    }
}

impl RouterClient<Igmp> {
    /// Sets the subnets of an interface's link (see [`Router::set_subnets`]).
    pub fn set_subnets(&mut self, ifindex: u32, subnets: &[Subnet]) -> bool {
        self.router.set_subnets(ifindex, subnets)
    }
}
