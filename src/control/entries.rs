//! Forwarding entries on the control side: OIF bookkeeping (G-21), creation, deletion, timers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::reads::no_such;
use super::{Control, Members, Outbox, SmallVec, TimeoutAnswer, TimeoutAsk};
use crate::addr::{Family, IfKey, Selector, Sg};
use crate::error::{Error, Result};
use crate::mfe::{ExternalCounters, Mfe, MfeChange};
use crate::protocol::{CreationEntry, DeleteReason, Event, Hooks};
use crate::rib::Route;

/// Per-OIF state that memberships alone do not give: forward-state adds/deletes and
/// creation-alert vetoes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Override {
    pub(crate) forward: Option<bool>,
    pub(crate) vetoed: bool,
}

/// Outgoing interfaces kept inside an entry's record; longer lists go to the heap. Each
/// membership change reads and edits the list once: inline, it shares the record's cache
/// lines.
const INLINE_OIFS: usize = 5;

/// An entry's outgoing list, sorted.
pub(crate) type Oifs<A> = SmallVec<[IfKey<A>; INLINE_OIFS]>;

/// A forwarding entry as the control plane keeps it.
#[derive(Clone, Debug)]
pub(crate) struct MfeRec<A> {
    pub(crate) iif: IfKey<A>,
    pub(crate) upstream: A,
    pub(crate) route: Option<Route<A>>,
    pub(crate) created_ms: u64,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) deadline: Option<u64>,
    pub(crate) overrides: Vec<(IfKey<A>, Override)>,
    /// The published outgoing list, sorted.
    pub(crate) oifs: Oifs<A>,
    pub(crate) last_packets: u64,
    pub(crate) uninit: u64,
    /// Unique per creation, so a late answer cannot touch a newer entry with the same key.
    pub(crate) stamp: u64,
    /// The latest counters an external forwarder reported for the entry.
    pub(crate) external: ExternalCounters,
}

impl<A: Family> MfeRec<A> {
    fn override_for(&self, k: IfKey<A>) -> Option<Override> {
        self.overrides
            .iter()
            .find(|(o, _)| *o == k)
            .map(|(_, v)| *v)
    }

    pub(crate) fn override_mut(&mut self, k: IfKey<A>) -> &mut Override {
        let i = match self.overrides.iter().position(|(o, _)| *o == k) {
            Some(i) => i,
            None => {
                self.overrides.push((k, Override::default()));
                self.overrides.len() - 1
            }
        };
        &mut self.overrides[i].1
    }
}

/// One protocol's share of a creation alert: its slot, its hooks, and its candidate
/// interfaces with the IGMP-present flag.
pub(crate) type AlertShare<A> = (u32, Arc<dyn Hooks<A>>, Vec<(IfKey<A>, bool)>);

/// A committed change to one entry (see [`Control::publish`]).
enum Change<A> {
    Installed,
    OifsChanged,
    /// `in_table` is false when the entry's shard has left the table already.
    Deleted {
        iif: IfKey<A>,
        reason: DeleteReason,
        in_table: bool,
    },
}

/// Interfaces a new entry would forward on, grouped by who is asked about them.
pub(crate) struct Candidates<A: Family> {
    /// In registration order.
    by_protocol: Vec<AlertShare<A>>,
}

impl<A: Family> Candidates<A> {
    /// Sends each protocol its creation alert for `sg` arriving on `iif` (user code: call it
    /// with the control lock released); returns the interfaces they disabled.
    pub(crate) fn ask(self, sg: Sg<A>, iif: IfKey<A>) -> Vec<IfKey<A>> {
        let mut vetoed = Vec::new();
        for (_, hooks, ifs) in self.by_protocol {
            let mut entries: Vec<CreationEntry<A>> = ifs
                .iter()
                .map(|(k, igmp)| CreationEntry {
                    interface: *k,
                    igmp: *igmp,
                    enabled: true,
                })
                .collect();
            hooks.creation_alert(sg, iif, &mut entries);
            vetoed.extend(entries.iter().filter(|e| !e.enabled).map(|e| e.interface));
        }
        vetoed
    }
}

impl<A: Family> Control<A> {
    pub(crate) fn now_ms(now: Duration) -> u64 {
        u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
    }

    /// Interfaces with a membership selecting `sg`.
    pub(crate) fn member_interfaces(&self, sg: Sg<A>) -> BTreeSet<IfKey<A>> {
        [
            Selector::sg(sg),
            Selector::Group(sg.group),
            Selector::AllGroups,
        ]
        .iter()
        .filter_map(|sel| self.members.get(sel))
        .flat_map(|m| m.interfaces())
        .collect()
    }

    fn full_oifs(&self, rec: &MfeRec<A>, sg: Sg<A>) -> Oifs<A> {
        let mut keys = self.member_interfaces(sg);
        keys.extend(rec.overrides.iter().map(|(k, _)| *k));
        keys.into_iter()
            .filter(|k| wants_oif(&self.members, rec, sg, *k))
            .collect()
    }

    /// Recomputes whether `k` is an OIF of `sg` and publishes a change, with the FALSE alerts
    /// of an empty/non-empty transition (G-22).
    pub(crate) fn refresh_oif(&mut self, sg: Sg<A>, k: IfKey<A>, out: &mut Outbox<A>) {
        let Control { mfes, members, .. } = self;
        let Some(rec) = mfes.get_mut(&sg) else {
            return;
        };
        let want = wants_oif(members, rec, sg, k);
        let was_empty = rec.oifs.is_empty();
        match (want, rec.oifs.binary_search(&k)) {
            (true, Err(i)) => rec.oifs.insert(i, k),
            (false, Ok(i)) => {
                rec.oifs.remove(i);
            }
            _ => return,
        }
        let now_empty = rec.oifs.is_empty();
        self.publish(sg, Change::OifsChanged, out);
        if was_empty != now_empty {
            self.alert_iif_owner(sg, now_empty, out);
        }
    }

    /// The FALSE join (list non-empty) or FALSE prune (list empty) alert to the owner of the
    /// entry's incoming interface; a prune also asks the owner for the entry's lifetime.
    pub(crate) fn alert_iif_owner(&mut self, sg: Sg<A>, empty: bool, out: &mut Outbox<A>) {
        let Some(rec) = self.mfes.get(&sg) else {
            return;
        };
        let Some(owner) = self.owner_of(rec.iif) else {
            return;
        };
        let selector = Selector::sg(sg);
        if empty {
            out.event(
                owner,
                Event::PruneAlert {
                    selector,
                    interface: rec.iif,
                    member_delete: false,
                },
            );
            out.asks.push(TimeoutAsk {
                sg,
                iif: rec.iif,
                stamp: rec.stamp,
                proposed: rec.timeout_ms.map(Duration::from_millis),
                hooks: self.proto(owner).hooks.clone(),
            });
        } else {
            out.event(
                owner,
                Event::JoinAlert {
                    selector,
                    member_update: false,
                },
            );
        }
    }

    /// Interfaces a new entry with incoming interface `iif` would forward on, grouped by the
    /// protocol asked in the creation alert: the routing owner, else IGMP (G-36).
    pub(crate) fn candidates(&self, sg: Sg<A>, iif: IfKey<A>) -> Candidates<A> {
        let mut by_protocol: Vec<AlertShare<A>> = Vec::new();
        for k in self.member_interfaces(sg) {
            if k == iif {
                continue;
            }
            let rec = self.ifaces.get(&k).copied().unwrap_or_default();
            let Some(asked) = rec.owner.or(rec.igmp) else {
                continue;
            };
            let entry = (k, rec.igmp.is_some());
            match by_protocol.iter_mut().find(|(s, _, _)| *s == asked) {
                Some((_, _, v)) => v.push(entry),
                None => by_protocol.push((asked, self.proto(asked).hooks.clone(), vec![entry])),
            }
        }
        by_protocol.sort_by_key(|(s, _, _)| self.proto(*s).seq);
        Candidates { by_protocol }
    }

    /// Installs a new entry and publishes it; returns its stamp.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn install_mfe(
        &mut self,
        sg: Sg<A>,
        iif: IfKey<A>,
        upstream: A,
        route: Option<Route<A>>,
        vetoed: &[IfKey<A>],
        uninit: u64,
        now_ms: u64,
        out: &mut Outbox<A>,
    ) -> u64 {
        // G-17: a configured lifetime of zero means "never age", as an answer of zero does.
        let timeout_ms = self
            .limits
            .default_timeout
            .filter(|d| !d.is_zero())
            .map(Self::now_ms);
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let mut rec = MfeRec {
            iif,
            upstream,
            route,
            created_ms: now_ms,
            timeout_ms,
            deadline: timeout_ms.map(|t| now_ms.saturating_add(t)),
            overrides: vetoed
                .iter()
                .map(|k| {
                    let o = Override {
                        forward: None,
                        vetoed: true,
                    };
                    (*k, o)
                })
                .collect(),
            oifs: SmallVec::new(),
            last_packets: 0,
            uninit,
            external: ExternalCounters::default(),
            stamp,
        };
        rec.oifs = self.full_oifs(&rec, sg);
        if let Some(d) = rec.deadline {
            self.timers.insert((d, sg));
        }
        let empty = rec.oifs.is_empty();
        self.mfes.insert(sg, rec);
        self.by_iif.entry(iif).or_default().insert(sg);
        self.created += 1;
        self.publish(sg, Change::Installed, out);
        if route.is_some() {
            self.alert_iif_owner(sg, empty, out);
        }
        stamp
    }

    /// Deletes an entry; `in_table` is false when its whole shard has left the table already.
    pub(crate) fn delete_mfe(
        &mut self,
        sg: Sg<A>,
        reason: DeleteReason,
        out: &mut Outbox<A>,
        in_table: bool,
    ) {
        let Some(rec) = self.mfes.remove(&sg) else {
            return;
        };
        if let Some(set) = self.by_iif.get_mut(&rec.iif) {
            set.remove(&sg);
            if set.is_empty() {
                self.by_iif.remove(&rec.iif);
            }
        }
        if let Some(d) = rec.deadline {
            self.timers.remove(&(d, sg));
        }
        self.deleted += 1;
        if let Some(owner) = self.owner_of(rec.iif) {
            out.event(
                owner,
                Event::MfeDeleted {
                    sg,
                    iif: rec.iif,
                    reason,
                },
            );
        }
        self.publish(
            sg,
            Change::Deleted {
                iif: rec.iif,
                reason,
                in_table,
            },
            out,
        );
    }

    /// Deletes every entry whose incoming interface is `k`: readers lose them all in one shard
    /// swap first, then each entry's bookkeeping and notices follow, in (group, source) order.
    pub(crate) fn delete_shard(&mut self, k: IfKey<A>, reason: DeleteReason, out: &mut Outbox<A>) {
        self.store.remove_shard(k);
        let entries: Vec<Sg<A>> = self
            .by_iif
            .get(&k)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for sg in entries {
            self.delete_mfe(sg, reason, out, false);
        }
    }

    /// The one path of a committed change to entry `sg`: to the in-process forwarding table
    /// (which readers see at once) and to the southbound stream (sent at commit).
    fn publish(&mut self, sg: Sg<A>, change: Change<A>, out: &mut Outbox<A>) {
        let south: fn(Mfe<A>) -> MfeChange<A> = match change {
            Change::Installed => MfeChange::Installed,
            Change::OifsChanged => MfeChange::OifsChanged,
            Change::Deleted {
                iif,
                reason,
                in_table,
            } => {
                if in_table {
                    self.store.remove(sg, iif);
                }
                if !self.subscribers.is_empty() {
                    out.south.push(MfeChange::Deleted { sg, iif, reason });
                }
                return;
            }
        };
        let Some(rec) = self.mfes.get(&sg) else {
            return;
        };
        self.store.install(sg, rec.iif, &rec.oifs);
        if !self.subscribers.is_empty() {
            out.south.push(south(self.snapshot(sg, None)));
        }
    }

    /// Sets an entry's lifetime and restarts its countdown (the answer to a FALSE prune); `None`
    /// or zero: the entry never ages.
    pub(crate) fn apply_timeout(&mut self, answer: TimeoutAnswer<A>, now_ms: u64) {
        let TimeoutAnswer {
            sg,
            stamp,
            timeout: t,
        } = answer;
        if self.mfes.get(&sg).is_some_and(|r| r.stamp == stamp) {
            self.restart_lifetime(sg, t, now_ms);
        }
    }

    /// Gives entry `sg` the lifetime `t` from `now_ms` on (`None` or zero: it never ages).
    fn restart_lifetime(&mut self, sg: Sg<A>, t: Option<Duration>, now_ms: u64) {
        let Some(rec) = self.mfes.get_mut(&sg) else {
            return;
        };
        // G-17: a lifetime of zero means "never age", as MGM's `*pdwTimeout = 0`.
        let t = t.filter(|d| !d.is_zero());
        if let Some(d) = rec.deadline {
            self.timers.remove(&(d, sg));
        }
        rec.timeout_ms = t.map(Self::now_ms);
        rec.deadline = rec.timeout_ms.map(|t| now_ms.saturating_add(t));
        if let Some(d) = rec.deadline {
            self.timers.insert((d, sg));
        }
    }

    /// The protocol in `slot` may change entry `sg`: it owns the entry's incoming interface.
    pub(super) fn check_iif_owner(&self, slot: u32, sg: Sg<A>) -> Result<()> {
        let iif = self.mfes.get(&sg).ok_or_else(|| no_such(sg))?.iif;
        if self.owner_of(iif) == Some(slot) {
            Ok(())
        } else {
            Err(Error::NotIifOwner {
                source: sg.source.into(),
                group: sg.group.into(),
            })
        }
    }

    /// Protocol `slot`, the owner of entry `sg`'s incoming interface, gives the entry the
    /// lifetime `t` from `now_ms` on (`None` or zero: it never ages).
    pub(crate) fn set_lifetime(
        &mut self,
        slot: u32,
        sg: Sg<A>,
        t: Option<Duration>,
        now_ms: u64,
    ) -> Result<()> {
        self.check_iif_owner(slot, sg)?;
        self.restart_lifetime(sg, t, now_ms);
        Ok(())
    }

    /// Protocol `slot`, the owner of entry `sg`'s incoming interface, deletes the entry.
    pub(crate) fn delete_owned(&mut self, slot: u32, sg: Sg<A>, out: &mut Outbox<A>) -> Result<()> {
        self.check_iif_owner(slot, sg)?;
        self.delete_mfe(sg, DeleteReason::Deleted, out, true);
        Ok(())
    }

    /// Deletes the entries whose lifetime ran out; with refresh on traffic, an entry that
    /// carried packets since the last look starts a new lifetime instead.
    pub(crate) fn run_timers(&mut self, now_ms: u64, out: &mut Outbox<A>) -> usize {
        self.run_timers_some(now_ms, usize::MAX, out).expired
    }

    /// As [`Control::run_timers`] for at most `max` due timers (each one a unit, whether its
    /// entry is deleted or starts a new lifetime). The timers left are the latest due, taken
    /// first by the next call.
    pub(crate) fn run_timers_some(
        &mut self,
        now_ms: u64,
        max: usize,
        out: &mut Outbox<A>,
    ) -> TimersDone {
        let mut expired = 0;
        let mut done = 0;
        while let Some(&(deadline, sg)) = self.timers.first() {
            if deadline > now_ms {
                break;
            }
            if done == max {
                return TimersDone {
                    expired,
                    units: done,
                    more: true,
                };
            }
            done += 1;
            self.timers.pop_first();
            let Some(rec) = self.mfes.get_mut(&sg) else {
                continue;
            };
            if self.limits.refresh_on_traffic {
                let packets = self.store.counters(sg, rec.iif).map_or(0, |c| c.packets);
                if packets > rec.last_packets {
                    rec.last_packets = packets;
                    let next = rec.timeout_ms.map(|t| now_ms.saturating_add(t));
                    rec.deadline = next;
                    if let Some(d) = next {
                        self.timers.insert((d, sg));
                    }
                    continue;
                }
            }
            rec.deadline = None;
            self.delete_mfe(sg, DeleteReason::Expired, out, true);
            expired += 1;
        }
        TimersDone {
            expired,
            units: done,
            more: false,
        }
    }

    /// The public record of an entry; `now_ms` None reports times as of creation bookkeeping
    /// only (southbound changes do not carry ages).
    pub(crate) fn snapshot(&self, sg: Sg<A>, now_ms: Option<u64>) -> Mfe<A> {
        let rec = &self.mfes[&sg];
        let now = now_ms.unwrap_or(rec.created_ms);
        let ms = Duration::from_millis;
        Mfe {
            source: sg.source,
            group: sg.group,
            upstream: rec.upstream,
            iif: rec.iif,
            iif_protocol: self.owner_of(rec.iif).map(|o| self.ids(o)),
            route: rec.route,
            up_time: ms(now.saturating_sub(rec.created_ms)),
            expiry: rec.deadline.map(|d| ms(d.saturating_sub(now))),
            timeout: rec.timeout_ms.map(ms),
            oifs: rec.oifs.to_vec(),
        }
    }
}

/// What one bounded timer run ([`Control::run_timers_some`]) did.
pub(crate) struct TimersDone {
    /// Entries deleted.
    pub(crate) expired: usize,
    /// Due timers taken: the deleted entries and those given a new lifetime.
    pub(crate) units: usize,
    /// Whether a timer is still due.
    pub(crate) more: bool,
}

/// True when some protocol's membership on `k` selects traffic of `sg`.
fn has_member<A: Family>(members: &Members<A>, k: IfKey<A>, sg: Sg<A>) -> bool {
    [
        Selector::sg(sg),
        Selector::Group(sg.group),
        Selector::AllGroups,
    ]
    .iter()
    .any(|sel| members.get(sel).is_some_and(|m| m.on(k)))
}

/// G-21: K is an OIF of the entry iff forward state says so, else iff a membership selects
/// it and no creation alert vetoed it; never the incoming interface itself. An entry built
/// without a route (G-24) is negative for its whole life: with no RPF check behind it, it
/// only absorbs the misses of an unroutable source, and a route appearing replaces it.
fn wants_oif<A: Family>(members: &Members<A>, rec: &MfeRec<A>, sg: Sg<A>, k: IfKey<A>) -> bool {
    if k == rec.iif || rec.route.is_none() {
        return false;
    }
    let o = rec.override_for(k).unwrap_or_default();
    o.forward
        .unwrap_or_else(|| !o.vetoed && has_member(members, k, sg))
}
