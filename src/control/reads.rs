//! What the engine answers about its entries and routes (`MgmGetMfe`, `MgmGetMfeStats`,
//! `MgmGetFirstMfe` / `MgmGetNextMfe` and their stats forms), and the two per-entry settings a
//! protocol or a forwarder may change (`MgmSetMfe`, external counters).

use super::Control;
use crate::addr::{Family, Sg};
use crate::error::{Error, Result};
use crate::forward::EntryCounters;
use crate::mfe::{ExternalCounters, Mfe, MfeStats, OifStats, Page};
use crate::rib::Route;

/// The error for an (S,G) with no entry.
pub(crate) fn no_such<A: Family>(sg: Sg<A>) -> Error {
    Error::NoSuchMfe {
        source: sg.source.into(),
        group: sg.group.into(),
    }
}

impl<A: Family> Control<A> {
    /// `MgmGetMfe`: the entry `sg` as of `now`.
    pub(crate) fn mfe(&self, sg: Sg<A>, now: u64) -> Result<Mfe<A>> {
        if !self.mfes.contains_key(&sg) {
            return Err(no_such(sg));
        }
        Ok(self.snapshot(sg, Some(now)))
    }

    /// `MgmGetMfeStats`: the entry `sg` with its counters, as of `now`.
    pub(crate) fn mfe_stats(&self, sg: Sg<A>, now: u64) -> Result<MfeStats<A>> {
        if !self.mfes.contains_key(&sg) {
            return Err(no_such(sg));
        }
        Ok(self.stats(sg, now))
    }

    /// The next at most `max` (at least 1) entries after `after`, in (group, source) order,
    /// each as `f` makes it.
    pub(crate) fn page<T>(
        &self,
        after: Option<Sg<A>>,
        max: usize,
        mut f: impl FnMut(&Self, Sg<A>) -> T,
    ) -> Page<T> {
        let mut keys = self.mfes.keys_after(after);
        let items: Vec<T> = keys.by_ref().take(max).map(|sg| f(self, sg)).collect();
        let more = keys.next().is_some();
        Page { items, more }
    }

    /// The counters of entry `sg`, which exists: the data plane's, plus what an external
    /// forwarder reported (saturating: a forwarder's figures are outside input).
    pub(crate) fn stats(&self, sg: Sg<A>, now: u64) -> MfeStats<A> {
        let mfe = self.snapshot(sg, Some(now));
        let counters = self.store.counters(sg, mfe.iif).unwrap_or(EntryCounters {
            packets: 0,
            bytes: 0,
            wrong_if: 0,
            negative: 0,
            oifs: Vec::new(),
        });
        let oifs: Vec<OifStats<A>> = mfe
            .oifs
            .iter()
            .map(|k| OifStats {
                interface: *k,
                out_packets: counters
                    .oifs
                    .iter()
                    .find(|(o, _)| o == k)
                    .map_or(0, |(_, n)| *n),
            })
            .collect();
        let rec = &self.mfes[&sg];
        let ext = rec.external;
        MfeStats {
            in_packets: counters.packets.saturating_add(ext.packets),
            in_octets: counters.bytes.saturating_add(ext.bytes),
            different_if: counters.wrong_if.saturating_add(ext.wrong_if),
            negative: counters.negative,
            external: ext,
            uninit: rec.uninit,
            total_out_packets: oifs
                .iter()
                .fold(0u64, |s, o| s.saturating_add(o.out_packets)),
            oifs,
            mfe,
        }
    }

    /// Records what an external forwarder counted for entry `sg`.
    pub(crate) fn set_external_counters(
        &mut self,
        sg: Sg<A>,
        counters: ExternalCounters,
    ) -> Result<()> {
        self.mfes.get_mut(&sg).ok_or_else(|| no_such(sg))?.external = counters;
        Ok(())
    }

    /// `MgmSetMfe`: protocol `slot`, the owner of entry `sg`'s incoming interface, sets its
    /// upstream neighbour.
    pub(crate) fn set_upstream(&mut self, slot: u32, sg: Sg<A>, upstream: A) -> Result<()> {
        self.check_iif_owner(slot, sg)?;
        if let Some(rec) = self.mfes.get_mut(&sg) {
            rec.upstream = upstream;
        }
        Ok(())
    }

    /// The RIB's routes.
    pub(crate) fn routes(&self) -> Vec<Route<A>> {
        self.rib.routes().copied().collect()
    }
}
