//! The IGMP client (MLD on IPv6): present on the host LANs, it turns host reports into
//! memberships and replays them when an ownership change is over (spec 6.6-6.8). The bracket
//! and the replay are `mgm_igmp_client`'s [`IgmpMemberships`]; this client adds the thread
//! that drains the events and the log the checks read.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mgm::{DefaultHooks, Event, EventReceiver, IfKey, Mgm, ProtocolHandle, Selector, MS_IP_IGMP};
use mgm_igmp_client::{BracketStep, IgmpMemberships};

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

struct State<A: SimFamily> {
    /// What the hosts on each LAN report, held to the bracket: between `DisableIgmp` and
    /// `EnableIgmp` reports are only recorded, and the enable replays them.
    memberships: IgmpMemberships<A>,
    brackets: Vec<Bracket<A>>,
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
                memberships: IgmpMemberships::new(mgm.clone(), handle),
                brackets: Vec::new(),
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
        let logged = match st.memberships.on_event(&e) {
            Some(BracketStep::Disabled(k)) => Bracket::Disabled(k),
            Some(BracketStep::Enabled(replay)) => Bracket::Enabled(replay.interface),
            None => return,
        };
        st.brackets.push(logged);
    }

    /// Makes IGMP present on a host LAN.
    pub fn take(&self, k: IfKey<A>) -> mgm::Result<()> {
        self.mgm.take_interface(self.handle, k)
    }

    /// Stops IGMP on a LAN: its memberships there go.
    pub fn release(&self, k: IfKey<A>) -> mgm::Result<()> {
        self.mgm.release_interface(self.handle, k)?;
        self.state().memberships.forget_interface(k);
        Ok(())
    }

    /// A host on `k` reports (or stops reporting) `sel`: the membership changes unless the
    /// interface is frozen, in which case the enable's replay brings it in.
    pub fn host_report(&self, k: IfKey<A>, sel: Selector<A>, join: bool) -> mgm::Result<()> {
        let mut st = self.state();
        let change = if join {
            st.memberships.add_membership(k, sel)
        } else {
            st.memberships.delete_membership(k, sel)
        };
        change.map(|_| ())
    }

    /// True when hosts on `k` report `sel`.
    pub fn reported(&self, k: IfKey<A>, sel: Selector<A>) -> bool {
        self.state().memberships.is_reported(k, sel)
    }

    /// How many reports the hosts make in all.
    pub fn report_count(&self) -> usize {
        self.state().memberships.reported_count()
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
        (st.memberships.replayed(), st.memberships.refused())
    }
}
