//! IGMP's group memberships in the engine, held to the engine's `DisableIgmp` / `EnableIgmp`
//! bracket and replayed after it. Generic over the address family: MLD on an IPv6 engine
//! follows the same rule.

use std::collections::{BTreeMap, BTreeSet};

use mgm::{Event, Family, IfKey, Mgm, ProtocolHandle, Selector, JOIN};

/// IGMP's group membership entries (MLD's on an IPv6 engine): what its hosts report on each
/// interface, kept in the engine across the ownership changes of that interface.
///
/// # What the engine requires
///
/// When a routing protocol takes or releases an interface where IGMP is present, the engine
/// sends IGMP [`Event::DisableIgmp`] before the change and [`Event::EnableIgmp`] after it
/// (MGM's `pfnDisableIgmpCallback` and `pfnEnableIgmpCallback`). Between the two, IGMP must
/// add and delete no membership on that interface; after the enable it must replay (re-add)
/// the memberships its hosts still report there. The engine keeps IGMP's memberships through
/// the change and ignores the re-add of one it holds (G-11), so the replay changes nothing
/// unless the hosts changed their reports meanwhile.
///
/// # What this type does
///
/// It is that rule, once, for one IGMP (or MLD) registration. It has no socket and no thread:
/// the caller feeds it the hosts' reports and IGMP's events.
///
/// * [`IgmpMemberships::add_membership`] and [`IgmpMemberships::delete_membership`] record
///   what the hosts report and, on an enabled interface, apply it to the engine at once
///   ([`Change::Applied`]); on a disabled one they only record it ([`Change::Deferred`]).
/// * [`IgmpMemberships::on_event`] (or [`IgmpMemberships::disable_igmp`] and
///   [`IgmpMemberships::enable_igmp`]) opens and closes the bracket. The enable replays the
///   interface ([`IgmpMemberships::replay`]): the memberships that left while it was disabled
///   are deleted, then every membership still reported is re-added.
/// * A replay returns what it did ([`Replay`]); the totals over all replays are
///   [`IgmpMemberships::replayed`] and [`IgmpMemberships::refused`].
///
/// # Example
///
/// ```
/// use mgm::{DefaultHooks, Event, IfKey, Mgm, Selector, MS_IP_IGMP};
/// use mgm_igmp_client::{BracketStep, Change, IgmpMemberships};
/// use std::{net::Ipv4Addr, sync::Arc};
///
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (igmp, igmp_events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
/// let pim_id = mgm::protocol_id(1, 0x137, 0x21);
/// let (pim, _) = mgm.register(pim_id, 1, Arc::new(DefaultHooks)).unwrap();
/// let lan = IfKey::new(3);
/// mgm.take_interface(igmp, lan).unwrap();
/// let mut members = IgmpMemberships::new(mgm.clone(), igmp);
/// let (g1, g2) = (Ipv4Addr::new(239, 1, 1, 1), Ipv4Addr::new(239, 2, 2, 2));
/// assert_eq!(members.add_membership(lan, Selector::Group(g1)), Ok(Change::Applied));
///
/// // PIM takes the LAN: IGMP is told DisableIgmp, then EnableIgmp.
/// mgm.take_interface(pim, lan).unwrap();
/// let events = igmp_events.drain();
/// assert_eq!(events, [Event::DisableIgmp { interface: lan }, Event::EnableIgmp { interface: lan }]);
/// assert_eq!(members.on_event(&events[0]), Some(BracketStep::Disabled(lan)));
///
/// // Before IGMP reads the enable, a host joins g2: recorded, not applied yet.
/// assert_eq!(members.add_membership(lan, Selector::Group(g2)), Ok(Change::Deferred));
/// assert_eq!(mgm.memberships().len(), 1);
///
/// // The enable replays both memberships; the engine now has g2 too.
/// let Some(BracketStep::Enabled(replay)) = members.on_event(&events[1]) else { panic!() };
/// assert_eq!((replay.replayed, replay.refused.len()), (2, 0));
/// let mut have: Vec<_> = mgm.memberships().into_iter().map(|m| m.selector).collect();
/// have.sort();
/// assert_eq!(have, [Selector::Group(g1), Selector::Group(g2)]);
/// ```
pub struct IgmpMemberships<A: Family> {
    mgm: Mgm<A>,
    handle: ProtocolHandle,
    lans: BTreeMap<IfKey<A>, Lan<A>>,
    replayed: u64,
    refused: u64,
}

/// One interface's record.
struct Lan<A> {
    /// What the hosts report there now.
    reported: BTreeSet<Selector<A>>,
    /// Between `DisableIgmp` and `EnableIgmp`.
    disabled: bool,
    /// Reported while disabled, and not before: the engine has not been told.
    joins_due: BTreeSet<Selector<A>>,
    /// Gone while disabled, and reported before: the engine still holds them.
    leaves_due: BTreeSet<Selector<A>>,
}

impl<A> Default for Lan<A> {
    fn default() -> Self {
        Lan {
            reported: BTreeSet::new(),
            disabled: false,
            joins_due: BTreeSet::new(),
            leaves_due: BTreeSet::new(),
        }
    }
}

/// What became of one membership change reported by the hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing to do: the hosts already reported it (add), or did not (delete).
    Unchanged,
    /// Recorded and applied to the engine now.
    Applied,
    /// Recorded only: the interface is disabled; the replay at `EnableIgmp` applies it.
    Deferred,
}

/// What one replay did on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay<A> {
    /// The interface replayed.
    pub interface: IfKey<A>,
    /// Memberships still reported, re-added (the engine accepted each).
    pub replayed: usize,
    /// Memberships that left while the interface was disabled, deleted now.
    pub deleted: usize,
    /// The engine's refusals, one per add or delete it refused.
    pub refused: Vec<mgm::Error>,
}

/// An IGMP event as the bracket saw it (see [`IgmpMemberships::on_event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BracketStep<A> {
    /// `DisableIgmp`: the interface is disabled.
    Disabled(IfKey<A>),
    /// `EnableIgmp`: the interface is enabled again and was replayed.
    Enabled(Replay<A>),
}

impl<A: Family> IgmpMemberships<A> {
    /// An empty record for the IGMP (or MLD) registered as `handle` on `mgm`.
    pub fn new(mgm: Mgm<A>, handle: ProtocolHandle) -> Self {
        IgmpMemberships {
            mgm,
            handle,
            lans: BTreeMap::new(),
            replayed: 0,
            refused: 0,
        }
    }

    /// The hosts on `interface` report `selector`: recorded, and added to the engine unless
    /// the interface is disabled.
    ///
    /// # Errors
    /// As [`Mgm::add_membership`], when applied now. The report stays recorded: the next
    /// replay adds it again.
    pub fn add_membership(
        &mut self,
        interface: IfKey<A>,
        selector: Selector<A>,
    ) -> mgm::Result<Change> {
        self.report(interface, selector, true)
    }

    /// The hosts on `interface` no longer report `selector`: recorded, and deleted from the
    /// engine unless the interface is disabled.
    ///
    /// # Errors
    /// As [`Mgm::delete_membership`], when applied now.
    pub fn delete_membership(
        &mut self,
        interface: IfKey<A>,
        selector: Selector<A>,
    ) -> mgm::Result<Change> {
        self.report(interface, selector, false)
    }

    /// A join (`join: true`) or leave reported by the hosts.
    fn report(
        &mut self,
        interface: IfKey<A>,
        selector: Selector<A>,
        join: bool,
    ) -> mgm::Result<Change> {
        let lan = self.lans.entry(interface).or_default();
        let changed = if join {
            lan.reported.insert(selector)
        } else {
            lan.reported.remove(&selector)
        };
        if !changed {
            return Ok(Change::Unchanged);
        }
        if lan.disabled {
            // A change that undoes one still due cancels it: a join back before the enable
            // (the engine never lost it), a leave of a join made inside the bracket (the
            // engine never had it).
            let (due, undone) = if join {
                (&mut lan.joins_due, &mut lan.leaves_due)
            } else {
                (&mut lan.leaves_due, &mut lan.joins_due)
            };
            if !undone.remove(&selector) {
                due.insert(selector);
            }
            return Ok(Change::Deferred);
        }
        self.tell_engine(interface, selector, join)
            .map(|()| Change::Applied)
    }

    /// Adds (`join: true`) or deletes IGMP's membership in the engine.
    fn tell_engine(
        &self,
        interface: IfKey<A>,
        selector: Selector<A>,
        join: bool,
    ) -> mgm::Result<()> {
        if join {
            self.mgm
                .add_membership(self.handle, selector, interface, JOIN)
        } else {
            self.mgm
                .delete_membership(self.handle, selector, interface, JOIN)
        }
    }

    /// Handles `DisableIgmp` and `EnableIgmp` (other events are not the bracket's: `None`).
    pub fn on_event(&mut self, event: &Event<A>) -> Option<BracketStep<A>> {
        match *event {
            Event::DisableIgmp { interface } => {
                self.disable_igmp(interface);
                Some(BracketStep::Disabled(interface))
            }
            Event::EnableIgmp { interface } => {
                Some(BracketStep::Enabled(self.enable_igmp(interface)))
            }
            Event::Overflow { .. } => {
                self.resync();
                None
            }
            _ => None,
        }
    }

    /// After the engine dropped events of IGMP's full queue ([`Event::Overflow`]): no bracket
    /// is open in the engine any more (a bracket is one operation's batch, lost or delivered
    /// whole), so every interface is enabled and replayed, which makes the engine's
    /// memberships the hosts' reports again, whatever enable was lost. The refusals are
    /// counted in [`IgmpMemberships::refused`].
    pub fn resync(&mut self) -> Vec<Replay<A>> {
        let lans: Vec<IfKey<A>> = self.lans.keys().copied().collect();
        lans.into_iter()
            .map(|k| {
                if let Some(lan) = self.lans.get_mut(&k) {
                    lan.disabled = false;
                }
                self.replay_enabled(k)
            })
            .collect()
    }

    /// `DisableIgmp` on `interface`: from now on changes there are only recorded.
    pub fn disable_igmp(&mut self, interface: IfKey<A>) {
        self.lans.entry(interface).or_default().disabled = true;
    }

    /// `EnableIgmp` on `interface`: it is enabled again and replayed.
    pub fn enable_igmp(&mut self, interface: IfKey<A>) -> Replay<A> {
        if let Some(lan) = self.lans.get_mut(&interface) {
            lan.disabled = false;
        }
        self.replay_enabled(interface)
    }

    /// Replays an enabled interface, as `EnableIgmp` does: deletes from the engine the
    /// memberships that left while it was disabled, then re-adds every membership its hosts
    /// report. `None` while the interface is disabled: nothing may change there before the
    /// enable.
    pub fn replay(&mut self, interface: IfKey<A>) -> Option<Replay<A>> {
        (!self.is_disabled(interface)).then(|| self.replay_enabled(interface))
    }

    /// The replay of an interface known to be enabled, counted in the totals.
    fn replay_enabled(&mut self, interface: IfKey<A>) -> Replay<A> {
        let mut replay = Replay {
            interface,
            replayed: 0,
            deleted: 0,
            refused: Vec::new(),
        };
        let Some(lan) = self.lans.get_mut(&interface) else {
            return replay;
        };
        // The deletes first, then the re-adds (every report: the joins due among them).
        lan.joins_due.clear();
        let leaves = std::mem::take(&mut lan.leaves_due)
            .into_iter()
            .map(|s| (s, false));
        let joins: Vec<(Selector<A>, bool)> = lan.reported.iter().map(|&s| (s, true)).collect();
        for (selector, join) in leaves.chain(joins) {
            match self.tell_engine(interface, selector, join) {
                Ok(()) if join => replay.replayed += 1,
                Ok(()) => replay.deleted += 1,
                Err(e) => replay.refused.push(e),
            }
        }
        self.replayed += replay.replayed as u64;
        self.refused += replay.refused.len() as u64;
        replay
    }

    /// IGMP left `interface` (the engine deleted its memberships there): its record and its
    /// bracket go.
    pub fn forget_interface(&mut self, interface: IfKey<A>) {
        self.lans.remove(&interface);
    }

    /// True between `DisableIgmp` and `EnableIgmp` on `interface`.
    pub fn is_disabled(&self, interface: IfKey<A>) -> bool {
        self.lans.get(&interface).is_some_and(|l| l.disabled)
    }

    /// True when the hosts on `interface` report `selector`.
    pub fn is_reported(&self, interface: IfKey<A>, selector: Selector<A>) -> bool {
        self.lans
            .get(&interface)
            .is_some_and(|l| l.reported.contains(&selector))
    }

    /// What the hosts on `interface` report, in order.
    pub fn reported(&self, interface: IfKey<A>) -> Vec<Selector<A>> {
        self.lans
            .get(&interface)
            .map_or(Vec::new(), |l| l.reported.iter().copied().collect())
    }

    /// How many memberships the hosts report, on every interface.
    pub fn reported_count(&self) -> usize {
        self.lans.values().map(|l| l.reported.len()).sum()
    }

    /// Memberships re-added by every replay so far (the engine accepted each).
    pub fn replayed(&self) -> u64 {
        self.replayed
    }

    /// The engine's refusals in every replay so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    use mgm::{DefaultHooks, EventReceiver, MS_IP_IGMP};

    use super::*;

    /// Three groups and a unicast address (a group the engine refuses) of one family.
    struct Addrs<A> {
        groups: [A; 3],
        unicast: A,
    }

    fn v4() -> Addrs<Ipv4Addr> {
        Addrs {
            groups: [1, 2, 3].map(|i| Ipv4Addr::new(239, 1, 1, i)),
            unicast: Ipv4Addr::new(198, 51, 100, 7),
        }
    }

    fn v6() -> Addrs<Ipv6Addr> {
        Addrs {
            groups: [1, 2, 3].map(|i| Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 1, i)),
            unicast: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7),
        }
    }

    /// An engine where IGMP (MLD on IPv6) is present on one LAN, and a PIM-like routing
    /// protocol that takes it when a test says so.
    struct Lab<A: Family> {
        mgm: Mgm<A>,
        igmp_events: EventReceiver<A>,
        pim: ProtocolHandle,
        pim_events: EventReceiver<A>,
        lan: IfKey<A>,
        members: IgmpMemberships<A>,
    }

    impl<A: Family> Lab<A> {
        fn new() -> Self {
            let mgm = Mgm::<A>::default();
            let (igmp, igmp_events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
            let pim_id = mgm::protocol_id(1, 0x137, 0x21);
            let (pim, pim_events) = mgm.register(pim_id, 1, Arc::new(DefaultHooks)).unwrap();
            let lan = IfKey::new(3);
            mgm.take_interface(igmp, lan).unwrap();
            Lab {
                members: IgmpMemberships::new(mgm.clone(), igmp),
                mgm,
                igmp_events,
                pim,
                pim_events,
                lan,
            }
        }

        /// PIM takes the LAN; returns the bracket IGMP was sent (checked to be exactly a
        /// disable then an enable). What PIM heard during the take is dropped.
        fn pim_takes_lan(&self) -> (Event<A>, Event<A>) {
            self.mgm.take_interface(self.pim, self.lan).unwrap();
            let bracket: Vec<Event<A>> = self
                .igmp_events
                .drain()
                .into_iter()
                .filter(|e| matches!(e, Event::DisableIgmp { .. } | Event::EnableIgmp { .. }))
                .collect();
            let lan = self.lan;
            assert_eq!(
                bracket,
                [
                    Event::DisableIgmp { interface: lan },
                    Event::EnableIgmp { interface: lan }
                ]
            );
            self.pim_events.drain();
            (bracket[0], bracket[1])
        }

        /// IGMP's memberships on the LAN as the engine holds them, in order.
        fn engine_has(&self) -> Vec<Selector<A>> {
            let mut have: Vec<Selector<A>> = self
                .mgm
                .memberships()
                .into_iter()
                .filter(|m| m.interface == self.lan && m.protocol == (MS_IP_IGMP, 1))
                .map(|m| m.selector)
                .collect();
            have.sort();
            have
        }

        /// The local joins and leaves PIM heard since the last call.
        fn heard_by_pim(&self) -> Vec<Event<A>> {
            self.pim_events
                .drain()
                .into_iter()
                .filter(|e| matches!(e, Event::LocalJoin { .. } | Event::LocalLeave { .. }))
                .collect()
        }

        fn enable(&mut self, enable: &Event<A>) -> Replay<A> {
            match self.members.on_event(enable) {
                Some(BracketStep::Enabled(replay)) => replay,
                other => panic!("{enable:?} gave {other:?}"),
            }
        }
    }

    fn change_while_disabled_waits_for_enable<A: Family>(a: Addrs<A>) {
        let mut lab = Lab::<A>::new();
        let (lan, g) = (lab.lan, Selector::Group(a.groups[0]));
        let (disable, enable) = lab.pim_takes_lan();
        assert_eq!(
            lab.members.on_event(&disable),
            Some(BracketStep::Disabled(lan))
        );
        assert!(lab.members.is_disabled(lan));

        assert_eq!(lab.members.add_membership(lan, g), Ok(Change::Deferred));
        assert!(lab.members.is_reported(lan, g));
        assert!(lab.engine_has().is_empty(), "not applied while disabled");
        assert!(lab.heard_by_pim().is_empty());
        assert_eq!(lab.members.replay(lan), None, "no replay before the enable");
        assert!(lab.engine_has().is_empty());

        let replay = lab.enable(&enable);
        assert_eq!(
            replay,
            Replay {
                interface: lan,
                replayed: 1,
                deleted: 0,
                refused: Vec::new()
            }
        );
        assert!(!lab.members.is_disabled(lan));
        assert_eq!(lab.engine_has(), [g]);
        assert_eq!(
            lab.heard_by_pim(),
            [Event::LocalJoin {
                selector: g,
                interface: lan
            }]
        );

        // Enabled again: a change applies at once.
        assert_eq!(lab.members.delete_membership(lan, g), Ok(Change::Applied));
        assert!(lab.engine_has().is_empty());
    }

    fn enable_replays_what_is_still_reported<A: Family>(a: Addrs<A>) {
        let mut lab = Lab::<A>::new();
        let lan = lab.lan;
        let [g1, g2, g3] = a.groups.map(Selector::Group);
        assert_eq!(lab.members.add_membership(lan, g1), Ok(Change::Applied));
        assert_eq!(lab.members.add_membership(lan, g2), Ok(Change::Applied));
        assert_eq!(lab.members.add_membership(lan, g2), Ok(Change::Unchanged));
        let (disable, enable) = lab.pim_takes_lan();
        lab.members.on_event(&disable);

        // g1 leaves; g2 leaves and comes back; g3 comes and goes: all inside the bracket.
        assert_eq!(lab.members.delete_membership(lan, g1), Ok(Change::Deferred));
        assert_eq!(lab.members.delete_membership(lan, g2), Ok(Change::Deferred));
        assert_eq!(lab.members.add_membership(lan, g2), Ok(Change::Deferred));
        assert_eq!(lab.members.add_membership(lan, g3), Ok(Change::Deferred));
        assert_eq!(lab.members.delete_membership(lan, g3), Ok(Change::Deferred));
        assert_eq!(
            lab.members.delete_membership(lan, g3),
            Ok(Change::Unchanged)
        );
        assert_eq!(lab.engine_has(), [g1, g2], "the engine still has both");
        assert_eq!(lab.members.reported(lan), [g2]);

        let replay = lab.enable(&enable);
        assert_eq!((replay.replayed, replay.deleted), (1, 1));
        assert!(replay.refused.is_empty());
        assert_eq!(lab.engine_has(), [g2]);
        assert_eq!(
            lab.heard_by_pim(),
            [Event::LocalLeave {
                selector: g1,
                interface: lan
            }],
            "g2's re-add changes nothing, g3 never reached the engine"
        );
        assert_eq!((lab.members.replayed(), lab.members.refused()), (1, 0));
        assert_eq!(lab.members.reported_count(), 1);
    }

    fn refusal_is_counted<A: Family>(a: Addrs<A>) {
        let mut lab = Lab::<A>::new();
        let lan = lab.lan;
        let (g, bad) = (Selector::Group(a.groups[0]), Selector::Group(a.unicast));
        let refusal = mgm::Error::InvalidGroup {
            group: a.unicast.into(),
        };
        // Outside the bracket the engine refuses at once.
        assert_eq!(lab.members.add_membership(lan, bad), Err(refusal.clone()));
        assert_eq!(
            lab.members.delete_membership(lan, bad),
            Err(refusal.clone())
        );

        let (disable, enable) = lab.pim_takes_lan();
        lab.members.on_event(&disable);
        assert_eq!(lab.members.add_membership(lan, bad), Ok(Change::Deferred));
        assert_eq!(lab.members.add_membership(lan, g), Ok(Change::Deferred));
        let replay = lab.enable(&enable);
        assert_eq!(replay.replayed, 1);
        assert_eq!(replay.refused, std::slice::from_ref(&refusal));
        assert_eq!(lab.engine_has(), [g]);
        assert_eq!((lab.members.replayed(), lab.members.refused()), (1, 1));

        // The refused report stays recorded: the next replay meets the same refusal.
        let again = lab.members.replay(lan).unwrap();
        assert_eq!((again.replayed, again.refused), (1, vec![refusal]));
        assert_eq!((lab.members.replayed(), lab.members.refused()), (2, 2));
    }

    /// Runs each generic body as two tests: IGMP on IPv4 and MLD on IPv6.
    macro_rules! on_both_families {
        ($($body:ident),*) => {$(
            mod $body {
                #[test]
                fn ipv4() {
                    super::$body(super::v4());
                }

                #[test]
                fn ipv6() {
                    super::$body(super::v6());
                }
            }
        )*};
    }

    on_both_families!(
        change_while_disabled_waits_for_enable,
        enable_replays_what_is_still_reported,
        refusal_is_counted
    );

    #[test]
    fn forget_drops_the_record_and_the_bracket() {
        let mut lab = Lab::<Ipv4Addr>::new();
        let (lan, g) = (lab.lan, Selector::Group(v4().groups[0]));
        assert_eq!(lab.members.add_membership(lan, g), Ok(Change::Applied));
        let (disable, _enable) = lab.pim_takes_lan();
        lab.members.on_event(&disable);
        lab.members.forget_interface(lan);
        assert!(!lab.members.is_disabled(lan));
        assert!(!lab.members.is_reported(lan, g));
        let replay = lab.members.replay(lan).expect("not disabled any more");
        assert_eq!((replay.replayed, replay.deleted), (0, 0));
        assert_eq!(lab.engine_has(), [g], "forgetting tells the engine nothing");
    }

    #[test]
    fn overflow_enables_and_replays_every_interface() {
        let mut lab = Lab::<Ipv4Addr>::new();
        let lan = lab.lan;
        let [g1, g2, g3] = v4().groups.map(Selector::Group);
        for g in [g1, g2] {
            assert_eq!(lab.members.add_membership(lan, g), Ok(Change::Applied));
        }
        let (disable, _enable) = lab.pim_takes_lan();
        // The disable was read; the enable after it is taken as lost with the overflow.
        lab.members.on_event(&disable);
        assert_eq!(lab.members.add_membership(lan, g3), Ok(Change::Deferred));
        assert_eq!(lab.members.delete_membership(lan, g1), Ok(Change::Deferred));
        let before = lab.members.replayed();
        assert_eq!(lab.members.on_event(&Event::Overflow { lost: 1 }), None);
        assert!(!lab.members.is_disabled(lan));
        assert_eq!(lab.members.replayed() - before, 2, "g2 and g3 re-added");
        assert_eq!(
            lab.engine_has(),
            [g2, g3],
            "the engine has the hosts' reports again"
        );
    }
}
