//! The IGMP client (MLD on IPv6): present on the host LANs, it turns host reports into
//! memberships and replays them when an ownership change is over (spec 6.6-6.8).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mgm::{
    DefaultHooks, Event, EventReceiver, IfKey, Mgm, ProtocolHandle, Selector, JOIN, MS_IP_IGMP,
};

use crate::events::Tally;
use crate::scenario::SimFamily;

/// One half of an ownership-change bracket, as IGMP saw it. `Enabled` is logged once the
/// replay that follows the enable is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bracket<A> {
    /// `DisableIgmp` arrived: IGMP froze the interface.
    Disabled(IfKey<A>),
    /// `EnableIgmp` arrived and IGMP replayed its memberships there.
    Enabled(IfKey<A>),
}

#[derive(Default)]
struct State<A> {
    /// What the hosts on each LAN currently report.
    reports: BTreeMap<IfKey<A>, BTreeSet<Selector<A>>>,
    /// Interfaces between `DisableIgmp` and `EnableIgmp`: reports are only recorded.
    frozen: BTreeSet<IfKey<A>>,
    brackets: Vec<Bracket<A>>,
    replayed: u64,
    refused: u64,
    tally: Tally,
}

/// The IGMP client.
pub struct Igmp<A: SimFamily> {
    mgm: Mgm<A>,
    /// Its registration.
    pub handle: ProtocolHandle,
    state: Mutex<State<A>>,
}

impl<A: SimFamily> Igmp<A> {
    /// Registers IGMP and starts the thread that drains its events; the thread ends when IGMP
    /// deregisters.
    pub fn start(mgm: &Mgm<A>) -> mgm::Result<(Arc<Self>, JoinHandle<()>)> {
        let (handle, events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks))?;
        let igmp = Arc::new(Igmp {
            mgm: mgm.clone(),
            handle,
            state: Mutex::new(State {
                reports: BTreeMap::new(),
                frozen: BTreeSet::new(),
                brackets: Vec::new(),
                replayed: 0,
                refused: 0,
                tally: Tally::default(),
            }),
        });
        let me = igmp.clone();
        let thread = thread::Builder::new()
            .name("igmp-events".into())
            .spawn(move || me.drain(events))
            .expect("spawn the IGMP event thread");
        Ok((igmp, thread))
    }

    fn state(&self) -> MutexGuard<'_, State<A>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn drain(&self, events: EventReceiver<A>) {
        while let Ok(batch) = events.recv_batch() {
            for e in batch {
                self.on_event(e);
            }
        }
    }

    /// Handles one event, outside any engine callback.
    fn on_event(&self, e: Event<A>) {
        let mut st = self.state();
        st.tally.count(&e);
        match e {
            Event::DisableIgmp { interface } => {
                st.frozen.insert(interface);
                st.brackets.push(Bracket::Disabled(interface));
            }
            Event::EnableIgmp { interface } => {
                st.frozen.remove(&interface);
                let replay: Vec<Selector<A>> = st
                    .reports
                    .get(&interface)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                for sel in replay {
                    match self.mgm.add_membership(self.handle, sel, interface, JOIN) {
                        Ok(()) => st.replayed += 1,
                        Err(_) => st.refused += 1,
                    }
                }
                st.brackets.push(Bracket::Enabled(interface));
            }
            _ => {}
        }
    }

    /// Makes IGMP present on a host LAN.
    pub fn take(&self, k: IfKey<A>) -> mgm::Result<()> {
        self.mgm.take_interface(self.handle, k)?;
        self.state().reports.entry(k).or_default();
        Ok(())
    }

    /// Stops IGMP on a LAN: its memberships there go.
    pub fn release(&self, k: IfKey<A>) -> mgm::Result<()> {
        self.mgm.release_interface(self.handle, k)?;
        self.state().reports.remove(&k);
        Ok(())
    }

    /// A host on `k` reports (or stops reporting) `sel`: the membership changes unless the
    /// interface is frozen, in which case the enable's replay brings it in.
    pub fn host_report(&self, k: IfKey<A>, sel: Selector<A>, join: bool) -> mgm::Result<()> {
        let mut st = self.state();
        let set = st.reports.entry(k).or_default();
        let changed = if join {
            set.insert(sel)
        } else {
            set.remove(&sel)
        };
        if !changed || st.frozen.contains(&k) {
            return Ok(());
        }
        if join {
            self.mgm.add_membership(self.handle, sel, k, JOIN)
        } else {
            self.mgm.delete_membership(self.handle, sel, k, JOIN)
        }
    }

    /// True when hosts on `k` report `sel`.
    pub fn reported(&self, k: IfKey<A>, sel: Selector<A>) -> bool {
        self.state()
            .reports
            .get(&k)
            .is_some_and(|s| s.contains(&sel))
    }

    /// How many reports the hosts make in all.
    pub fn report_count(&self) -> usize {
        self.state().reports.values().map(BTreeSet::len).sum()
    }

    /// How many bracket halves have been logged so far.
    pub fn bracket_mark(&self) -> usize {
        self.state().brackets.len()
    }

    /// Waits (at most `timeout`) until the brackets logged after `mark` include an enable for
    /// `k`, and returns them.
    pub fn wait_brackets(&self, mark: usize, k: IfKey<A>, timeout: Duration) -> Vec<Bracket<A>> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen: Vec<Bracket<A>> = self.state().brackets[mark..].to_vec();
            if seen.contains(&Bracket::Enabled(k)) || Instant::now() >= deadline {
                return seen;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Events received so far.
    pub fn tally(&self) -> Tally {
        self.state().tally
    }

    /// (memberships replayed after an enable, replays refused).
    pub fn replays(&self) -> (u64, u64) {
        let st = self.state();
        (st.replayed, st.refused)
    }
}
