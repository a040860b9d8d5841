//! The adapter between the engine's southbound stream and a kernel multicast routing table.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use crate::mroute::{
    Kernel, KernelCounters, MrouteFamily, Upcall, UpcallKind, VifCounters, MAXVIFS,
};
use crate::sys;
use mgm::Batches;
use mgm::Mgm;
use mgm::{Family, IfKey, Sg};
use mgm::{Mfe, MfeChange, MfeStats, MissOutcome};
#[cfg(doc)]
use std::net::{Ipv4Addr, Ipv6Addr};

/// What went wrong in the Linux forwarder.
#[derive(Debug)]
pub enum LinuxError {
    /// The kernel has no free VIF or MIF (it has [`MAXVIFS`]): the interface cannot forward.
    TooManyVifs {
        /// The interface that got none.
        ifindex: u32,
        /// Its name, when it still exists.
        name: Option<String>,
        /// The kernel's limit.
        limit: usize,
        /// What the kernel calls them: "VIF" (IPv4) or "MIF" (IPv6).
        what: &'static str,
    },
    /// A kernel call failed.
    Kernel {
        /// The operation (`MRT_ADD_VIF`, `MRT6_ADD_MFC`, ...).
        op: &'static str,
        /// What it was applied to.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The engine refused a call.
    Engine(mgm::Error),
    /// An upcall named a VIF the adapter never added.
    UnknownVif {
        /// The VIF.
        vif: u16,
    },
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::TooManyVifs {
                ifindex,
                name,
                limit,
                what,
            } => write!(
                f,
                "interface {} (ifindex {ifindex}) gets no {what}: the kernel allows {limit} {what}s and all are in use",
                name.as_deref().unwrap_or("?")
            ),
            LinuxError::Kernel { op, what, source } => write!(f, "{op} {what}: {source}"),
            LinuxError::Engine(e) => write!(f, "engine: {e}"),
            LinuxError::UnknownVif { vif } => write!(f, "upcall from unknown VIF {vif}"),
        }
    }
}

impl std::error::Error for LinuxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinuxError::Kernel { source, .. } => Some(source),
            LinuxError::Engine(e) => Some(e),
            _ => None,
        }
    }
}

impl From<mgm::Error> for LinuxError {
    fn from(e: mgm::Error) -> Self {
        LinuxError::Engine(e)
    }
}

/// The VIF numbers in use: ifindex ↔ VIF, at most `capacity` (the kernel's [`MAXVIFS`]).
///
/// ```
/// use mgm_linux::VifTable;
/// let mut t = VifTable::new(2);
/// assert_eq!(t.allocate(7).unwrap(), 0);
/// assert_eq!(t.allocate(9).unwrap(), 1);
/// assert_eq!(t.allocate(7).unwrap(), 0, "same interface, same VIF");
/// assert!(t.allocate(11).is_none(), "full");
/// t.release(7);
/// assert_eq!(t.allocate(11).unwrap(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct VifTable {
    slots: Vec<Option<u32>>,
}

impl VifTable {
    /// An empty table of `capacity` VIFs.
    pub fn new(capacity: usize) -> Self {
        VifTable {
            slots: vec![None; capacity],
        }
    }
    /// The VIF of `ifindex`, allocating the lowest free one; `None` when full.
    pub fn allocate(&mut self, ifindex: u32) -> Option<u16> {
        if let Some(v) = self.vif_of(ifindex) {
            return Some(v);
        }
        let free = self.slots.iter().position(Option::is_none)?;
        self.slots[free] = Some(ifindex);
        Some(free as u16)
    }
    /// Frees the VIF of `ifindex`; returns it.
    pub fn release(&mut self, ifindex: u32) -> Option<u16> {
        let v = self.vif_of(ifindex)?;
        self.slots[usize::from(v)] = None;
        Some(v)
    }
    /// The VIF of an interface.
    pub fn vif_of(&self, ifindex: u32) -> Option<u16> {
        self.slots
            .iter()
            .position(|s| *s == Some(ifindex))
            .map(|p| p as u16)
    }
    /// The interface of a VIF.
    pub fn ifindex_of(&self, vif: u16) -> Option<u32> {
        self.slots.get(usize::from(vif)).copied().flatten()
    }
    /// (VIF, ifindex) of every VIF in use.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(v, s)| s.map(|i| (v as u16, i)))
    }
}

/// An entry as installed in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEntry {
    /// The incoming VIF.
    pub parent: u16,
    /// The outgoing VIFs.
    pub oifs: Vec<u16>,
}

/// What an upcall led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpcallOutcome<A> {
    /// A cache miss given to [`Mgm::new_packet`].
    Miss(MissOutcome<A>),
    /// A wrong-VIF arrival given to [`Mgm::report_wrong_interface`]; true when a protocol
    /// heard it.
    WrongInterface(bool),
    /// An upcall kind the adapter does not use.
    Ignored,
}

/// An engine entry with its counters and the kernel's counters for the same (S,G).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedStats<A> {
    /// The engine's record and counters.
    pub engine: MfeStats<A>,
    /// The kernel's counters; `None` when the kernel has no such entry.
    pub kernel: Option<KernelCounters>,
}

/// The adapter's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwarderCounters {
    /// `NOCACHE` upcalls handled.
    pub nocache: u64,
    /// `WRONGVIF` upcalls handled.
    pub wrongvif: u64,
    /// `MRT_ADD_MFC` calls made.
    pub mfc_adds: u64,
    /// `MRT_DEL_MFC` calls made.
    pub mfc_dels: u64,
    /// Errors met.
    pub errors: u64,
}

/// Follows an engine's southbound stream into a kernel table, and turns the kernel's upcalls
/// into the engine's miss and wrong-interface paths.
///
/// One code path for both families: `A` is [`Ipv4Addr`] (VIFs, `MRT_*`) or [`Ipv6Addr`] (MIFs,
/// `MRT6_*`), and only the kernel table `K` knows the layouts. Interfaces are engine
/// [`IfKey`]s whose index is the kernel ifindex (next hops of point-to-multipoint links are
/// not distinguished: one VIF per ifindex).
pub struct Forwarder<A: MrouteFamily, K: Kernel<A>> {
    mgm: Mgm<A>,
    kernel: K,
    changes: Batches<MfeChange<A>>,
    vifs: VifTable,
    installed: BTreeMap<Sg<A>, KernelEntry>,
    counters: ForwarderCounters,
    sync_cursor: Option<Sg<A>>,
}

impl<A: MrouteFamily, K: Kernel<A>> Forwarder<A, K> {
    /// Subscribes to `mgm` and installs the entries it already has.
    ///
    /// # Errors
    /// The first error met installing the existing entries (the others are still tried).
    pub fn new(mgm: Mgm<A>, kernel: K) -> Result<Self, LinuxError> {
        let changes = mgm.subscribe();
        let mut f = Forwarder {
            mgm,
            kernel,
            changes,
            vifs: VifTable::new(MAXVIFS),
            installed: BTreeMap::new(),
            counters: ForwarderCounters::default(),
            sync_cursor: None,
        };
        let mut after = None;
        let mut first_err = None;
        loop {
            let page = f.mgm.mfes(after, 256)?;
            for m in &page.items {
                if let Err(e) = f.install(m) {
                    first_err.get_or_insert(e);
                }
            }
            after = page.items.last().map(Mfe::sg);
            if !page.more {
                break;
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(f),
        }
    }

    /// The kernel table.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The VIF table.
    pub fn vifs(&self) -> &VifTable {
        &self.vifs
    }

    /// The adapter's counters.
    pub fn counters(&self) -> ForwarderCounters {
        self.counters
    }

    /// The entries installed in the kernel, by (S,G).
    pub fn installed(&self) -> &BTreeMap<Sg<A>, KernelEntry> {
        &self.installed
    }

    /// Gives `ifindex` a VIF (the lowest free one) unless it has one.
    ///
    /// # Errors
    /// [`LinuxError::TooManyVifs`] when all [`MAXVIFS`] are in use; [`LinuxError::Kernel`]
    /// when `MRT_ADD_VIF` fails.
    pub fn add_interface(&mut self, ifindex: u32) -> Result<u16, LinuxError> {
        if let Some(v) = self.vifs.vif_of(ifindex) {
            return Ok(v);
        }
        let Some(vif) = self.vifs.allocate(ifindex) else {
            self.counters.errors += 1;
            return Err(LinuxError::TooManyVifs {
                ifindex,
                name: sys::interface_name(ifindex),
                limit: MAXVIFS,
                what: A::CALLS.vif,
            });
        };
        if let Err(source) = self.kernel.add_vif(vif, ifindex) {
            self.vifs.release(ifindex);
            self.counters.errors += 1;
            return Err(LinuxError::Kernel {
                op: A::CALLS.add_vif,
                what: format!("{} {vif} ifindex {ifindex}", A::CALLS.vif),
                source,
            });
        }
        Ok(vif)
    }

    /// Removes the VIF of `ifindex` (the kernel drops it from every entry).
    ///
    /// # Errors
    /// [`LinuxError::Kernel`] when `MRT_DEL_VIF` fails.
    pub fn remove_interface(&mut self, ifindex: u32) -> Result<(), LinuxError> {
        let Some(vif) = self.vifs.release(ifindex) else {
            return Ok(());
        };
        self.kernel
            .del_vif(vif, ifindex)
            .map_err(|source| LinuxError::Kernel {
                op: A::CALLS.del_vif,
                what: format!("{} {vif} ifindex {ifindex}", A::CALLS.vif),
                source,
            })
    }

    /// Applies every queued engine change to the kernel; returns the errors met (each change
    /// is still applied as far as it can be).
    pub fn pump(&mut self) -> Vec<LinuxError> {
        let mut errs = Vec::new();
        for change in self.changes.drain() {
            if let Err(e) = self.apply(&change) {
                errs.push(e);
            }
        }
        errs
    }

    /// Applies one change.
    ///
    /// # Errors
    /// [`LinuxError::TooManyVifs`] when an interface of the entry gets no VIF (the entry is
    /// installed without it, or not at all when it is the incoming one);
    /// [`LinuxError::Kernel`].
    pub fn apply(&mut self, change: &MfeChange<A>) -> Result<(), LinuxError> {
        match change {
            MfeChange::Installed(m) | MfeChange::OifsChanged(m) => self.install(m),
            MfeChange::Deleted { sg, .. } => self.uninstall(*sg),
            MfeChange::Resync { .. } => self.resync(),
            // A kind of change this forwarder does not program (none today): the kernel
            // table stays as the known changes left it.
            _ => Ok(()),
        }
    }

    /// Makes the kernel table match the engine's again, after the southbound stream lost
    /// changes ([`MfeChange::Resync`]): walks the engine's entries, deletes the installed
    /// entries the walk does not have, and installs every entry it has (`MRT_ADD_MFC`
    /// replaces an entry in place).
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the walk fails; the first error of installing or deleting
    /// (the others are still tried).
    pub fn resync(&mut self) -> Result<(), LinuxError> {
        let mut engine = Vec::new();
        let mut after = None;
        loop {
            let page = self.mgm.mfes(after, 256)?;
            after = page.items.last().map(Mfe::sg);
            engine.extend(page.items);
            if !page.more {
                break;
            }
        }
        let mut first_err = None;
        for sg in stale_entries(&self.installed, &engine) {
            if let Err(e) = self.uninstall(sg) {
                first_err.get_or_insert(e);
            }
        }
        for m in &engine {
            if let Err(e) = self.install(m) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn install(&mut self, m: &Mfe<A>) -> Result<(), LinuxError> {
        let parent = self.add_interface(m.iif.index)?;
        let mut first_err = None;
        let mut oifs = Vec::with_capacity(m.oifs.len());
        for o in &m.oifs {
            match self.add_interface(o.index) {
                Ok(v) if v != parent => oifs.push(v),
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        oifs.sort_unstable();
        oifs.dedup();
        let sg = m.sg();
        if let Err(source) = self.kernel.add_mfc(sg, parent, &oifs) {
            self.counters.errors += 1;
            return Err(LinuxError::Kernel {
                op: A::CALLS.add_mfc,
                what: format!("{sg} parent {parent} oifs {oifs:?}"),
                source,
            });
        }
        self.counters.mfc_adds += 1;
        self.installed.insert(sg, KernelEntry { parent, oifs });
        first_err.map_or(Ok(()), Err)
    }

    fn uninstall(&mut self, sg: Sg<A>) -> Result<(), LinuxError> {
        if self.installed.remove(&sg).is_none() {
            return Ok(());
        }
        self.counters.mfc_dels += 1;
        self.kernel.del_mfc(sg).map_err(|source| {
            self.counters.errors += 1;
            LinuxError::Kernel {
                op: A::CALLS.del_mfc,
                what: sg.to_string(),
                source,
            }
        })
    }

    /// Hands an upcall to the engine (a miss to [`Mgm::new_packet`], a wrong-VIF arrival to
    /// [`Mgm::report_wrong_interface`]) and applies the resulting changes at once, so the
    /// packets the kernel holds for an unresolved entry are forwarded.
    ///
    /// # Errors
    /// [`LinuxError::UnknownVif`]; [`LinuxError::Engine`]; the first error of applying.
    pub fn handle_upcall(&mut self, up: &Upcall<A>) -> Result<UpcallOutcome<A>, LinuxError> {
        let Some(ifindex) = self.vifs.ifindex_of(up.vif) else {
            self.counters.errors += 1;
            return Err(LinuxError::UnknownVif { vif: up.vif });
        };
        let arrival = IfKey::new(ifindex);
        let outcome = match up.kind {
            UpcallKind::NoCache => {
                self.counters.nocache += 1;
                let o = self.mgm.new_packet(arrival, up.source, up.group)?;
                if let MissOutcome::Exists(m) = &o {
                    // The engine has it but the kernel asked: the kernel lost it, reinstall
                    // (queued newer changes are applied after, by the pump below).
                    self.install(m)?;
                }
                UpcallOutcome::Miss(o)
            }
            UpcallKind::WrongVif => {
                self.counters.wrongvif += 1;
                UpcallOutcome::WrongInterface(
                    self.mgm
                        .report_wrong_interface(arrival, up.source, up.group)?,
                )
            }
            UpcallKind::Other(_) => UpcallOutcome::Ignored,
        };
        if let Some(e) = self.pump().into_iter().next() {
            return Err(e);
        }
        Ok(outcome)
    }

    /// The kernel's counters of one (S,G); `None` when the kernel has no such entry.
    pub fn kernel_counters(&self, sg: Sg<A>) -> Option<KernelCounters> {
        self.kernel.sg_counters(sg).ok()
    }

    /// Copies the kernel's counters of every installed entry into the engine's statistics
    /// ([`Mgm::set_external_counters`]); returns how many entries were updated.
    pub fn sync_counters(&self) -> usize {
        let mut n = 0;
        for sg in self.installed.keys() {
            if let Some(k) = self.kernel_counters(*sg) {
                let c = mgm::ExternalCounters {
                    packets: k.packets,
                    bytes: k.bytes,
                    wrong_if: k.wrong_if,
                };
                if self
                    .mgm
                    .set_external_counters(sg.source, sg.group, c)
                    .is_ok()
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// As [`Forwarder::sync_counters`] for at most `max` entries, resuming after the last
    /// entry the previous call synced and wrapping round at the end: called every second
    /// with `max` far below the table's size, it keeps the cost of a large idle table
    /// bounded, and every entry is synced once per round. Returns how many were updated.
    ///
    /// ```
    /// # use mgm_linux::{Forwarder, Kernel, KernelCounters};
    /// # use mgm_linux::mroute::VifCounters;
    /// # use mgm::{IfKey, Mgm, Sg};
    /// # use std::{io, net::Ipv4Addr};
    /// # #[derive(Default)] struct Table;
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn del_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn add_mfc(&mut self, _: Sg<Ipv4Addr>, _: u16, _: &[u16]) -> io::Result<()> { Ok(()) }
    /// #     fn del_mfc(&mut self, _: Sg<Ipv4Addr>) -> io::Result<()> { Ok(()) }
    /// #     fn sg_counters(&self, _: Sg<Ipv4Addr>) -> io::Result<KernelCounters> { Ok(KernelCounters::default()) }
    /// #     fn vif_counters(&self, _: u16) -> io::Result<VifCounters> { Ok(VifCounters::default()) }
    /// # }
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table).unwrap();
    /// f.add_interface(1).unwrap();
    /// for g in 1..=5 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.sync_counters_some(2), 2);
    /// assert_eq!(f.sync_counters_some(2), 2);
    /// assert_eq!(f.sync_counters_some(2), 1, "the end of the round");
    /// assert_eq!(f.sync_counters_some(2), 2, "the next round");
    /// ```
    pub fn sync_counters_some(&mut self, max: usize) -> usize {
        use std::ops::Bound;
        let from = match self.sync_cursor {
            Some(c) => Bound::Excluded(c),
            None => Bound::Unbounded,
        };
        let batch: Vec<Sg<A>> = self
            .installed
            .range((from, Bound::Unbounded))
            .take(max)
            .map(|(sg, _)| *sg)
            .collect();
        self.sync_cursor = if batch.len() < max {
            None
        } else {
            batch.last().copied()
        };
        let mut n = 0;
        for sg in batch {
            if self.sync_one(sg) {
                n += 1;
            }
        }
        n
    }

    fn sync_one(&self, sg: Sg<A>) -> bool {
        let Some(k) = self.kernel_counters(sg) else {
            return false;
        };
        let c = mgm::ExternalCounters {
            packets: k.packets,
            bytes: k.bytes,
            wrong_if: k.wrong_if,
        };
        self.mgm
            .set_external_counters(sg.source, sg.group, c)
            .is_ok()
    }

    /// One page of [`Forwarder::stats`]: at most `max` entries after `after`, in the
    /// engine's order; `more` says whether others follow.
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the engine is stopped or `max` is 0.
    pub fn stats_page(
        &self,
        after: Option<Sg<A>>,
        max: usize,
    ) -> Result<mgm::Page<ForwardedStats<A>>, LinuxError> {
        let page = self.mgm.mfe_stats_page(after, max)?;
        Ok(mgm::Page {
            items: page
                .items
                .into_iter()
                .map(|s| {
                    let kernel = self.kernel_counters(s.mfe.sg());
                    ForwardedStats { engine: s, kernel }
                })
                .collect(),
            more: page.more,
        })
    }

    /// The kernel's counters of the VIF of `ifindex`.
    pub fn vif_counters(&self, ifindex: u32) -> Option<VifCounters> {
        let vif = self.vifs.vif_of(ifindex)?;
        self.kernel.vif_counters(vif).ok()
    }

    /// Every engine entry with its engine counters and the kernel's counters.
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the engine is stopped.
    pub fn stats(&self) -> Result<Vec<ForwardedStats<A>>, LinuxError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.mgm.mfe_stats_page(after, 256)?;
            after = page.items.last().map(|s| s.mfe.sg());
            for s in page.items {
                let kernel = self.kernel_counters(s.mfe.sg());
                out.push(ForwardedStats { engine: s, kernel });
            }
            if !page.more {
                break;
            }
        }
        Ok(out)
    }

    /// Applies the last changes, then removes every entry and VIF from the kernel. Returns
    /// the errors met.
    pub fn shutdown(&mut self) -> Vec<LinuxError> {
        let mut errs = self.pump();
        let sgs: Vec<Sg<A>> = self.installed.keys().copied().collect();
        for sg in sgs {
            if let Err(e) = self.uninstall(sg) {
                errs.push(e);
            }
        }
        let ifs: Vec<u32> = self.vifs.iter().map(|(_, i)| i).collect();
        for i in ifs {
            if let Err(e) = self.remove_interface(i) {
                errs.push(e);
            }
        }
        errs
    }
}

/// The installed entries that `engine` (the engine's entries, in walk order) no longer has.
fn stale_entries<A: Family>(
    installed: &BTreeMap<Sg<A>, KernelEntry>,
    engine: &[Mfe<A>],
) -> Vec<Sg<A>> {
    let live: std::collections::BTreeSet<Sg<A>> = engine.iter().map(Mfe::sg).collect();
    installed
        .keys()
        .filter(|sg| !live.contains(sg))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgm::Route;
    use mgm::{DefaultHooks, MS_IP_IGMP};
    use mgm::{Selector, JOIN};
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    /// A kernel table in memory.
    #[derive(Default)]
    struct FakeKernel {
        vifs: BTreeMap<u16, u32>,
        mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)>,
    }

    impl Kernel<Ipv4Addr> for FakeKernel {
        fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
            self.vifs.insert(vif, ifindex);
            Ok(())
        }
        fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> {
            self.vifs.remove(&vif);
            for (_, o) in self.mfcs.values_mut() {
                o.retain(|x| *x != vif);
            }
            Ok(())
        }
        fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
            self.mfcs.insert(sg, (parent, oifs.to_vec()));
            Ok(())
        }
        fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> {
            self.mfcs
                .remove(&sg)
                .map(|_| ())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
            if self.mfcs.contains_key(&sg) {
                Ok(KernelCounters {
                    packets: 5,
                    bytes: 500,
                    wrong_if: 0,
                })
            } else {
                Err(io::Error::from(io::ErrorKind::NotFound))
            }
        }
        fn vif_counters(&self, _: u16) -> io::Result<VifCounters> {
            Ok(VifCounters::default())
        }
    }

    #[test]
    fn nocache_builds_the_entry_and_membership_changes_follow() {
        let mgm = Mgm::<Ipv4Addr>::default();
        let (igmp, _ev) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
        mgm.take_interface(igmp, IfKey::new(20)).unwrap();
        mgm.add_route(Route::new(
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            IfKey::new(10),
        ))
        .unwrap();
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        assert_eq!(f.add_interface(10).unwrap(), 0);
        assert_eq!(f.add_interface(20).unwrap(), 1);
        let g = Ipv4Addr::new(239, 1, 2, 3);
        let s = Ipv4Addr::new(198, 51, 100, 2);
        mgm.add_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN)
            .unwrap();
        let up = Upcall {
            kind: UpcallKind::NoCache,
            vif: 0,
            source: s,
            group: g,
        };
        assert!(matches!(
            f.handle_upcall(&up).unwrap(),
            UpcallOutcome::Miss(MissOutcome::Created(_))
        ));
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
        mgm.delete_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN)
            .unwrap();
        assert!(f.pump().is_empty());
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![]));
        let stats = f.stats().unwrap();
        assert_eq!(stats[0].kernel.unwrap().packets, 5);
        assert_eq!(stats[0].engine.in_packets, 0, "not synced yet");
        assert_eq!(f.sync_counters(), 1);
        let synced = mgm.mfe_stats(s, g).unwrap();
        assert_eq!((synced.in_packets, synced.in_octets), (5, 500));
        // A wrong-VIF upcall reaches the engine (nobody owns if20 as a routing protocol).
        let wrong = Upcall {
            kind: UpcallKind::WrongVif,
            vif: 1,
            ..up
        };
        assert_eq!(
            f.handle_upcall(&wrong).unwrap(),
            UpcallOutcome::WrongInterface(false)
        );
        assert!(f.shutdown().is_empty());
        assert!(f.kernel().mfcs.is_empty() && f.kernel().vifs.is_empty());
    }

    #[test]
    fn stale_entries_are_the_installed_ones_the_engine_lacks() {
        let g = |i| Ipv4Addr::new(239, 0, 0, i);
        let s = Ipv4Addr::new(198, 51, 100, 2);
        let entry = KernelEntry {
            parent: 0,
            oifs: vec![],
        };
        let installed: BTreeMap<_, _> =
            (1..=3).map(|i| (Sg::new(s, g(i)), entry.clone())).collect();
        let mgm = Mgm::<Ipv4Addr>::default();
        for i in [2, 4] {
            mgm.new_packet(IfKey::new(1), s, g(i)).unwrap();
        }
        let engine = mgm.mfes(None, 10).unwrap().items;
        assert_eq!(
            stale_entries(&installed, &engine),
            vec![Sg::new(s, g(1)), Sg::new(s, g(3))]
        );
        assert!(stale_entries(&BTreeMap::new(), &engine).is_empty());
    }

    #[test]
    fn a_lost_southbound_stream_is_resynced_to_the_engine() {
        let mgm = Mgm::<Ipv4Addr>::new(mgm::Config {
            queue_capacity: 2,
            ..mgm::Config::default()
        });
        let (igmp, _ev) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
        mgm.take_interface(igmp, IfKey::new(20)).unwrap();
        let net = Ipv4Addr::new(198, 51, 100, 0);
        mgm.add_route(Route::new(net, 24, IfKey::new(10))).unwrap();
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        let s = Ipv4Addr::new(198, 51, 100, 2);
        let g = |i| Ipv4Addr::new(239, 0, 0, i);
        for i in [1, 2] {
            mgm.new_packet(IfKey::new(10), s, g(i)).unwrap();
        }
        assert!(f.pump().is_empty());
        assert_eq!(f.kernel().mfcs.len(), 2);
        // The forwarder stops pumping: two batches fit, the rest is lost.
        mgm.new_packet(IfKey::new(10), s, g(3)).unwrap();
        mgm.add_membership(igmp, Selector::Group(g(1)), IfKey::new(20), JOIN)
            .unwrap();
        mgm.remove_route(net, 24).unwrap(); // deletes g1, g2, g3
        let unroutable = Ipv4Addr::new(203, 0, 113, 9);
        mgm.new_packet(IfKey::new(30), unroutable, g(4)).unwrap();
        assert_eq!(mgm.counters().dropped, 4, "three deletions and one install");
        assert!(f.pump().is_empty());
        let engine: Vec<Sg<Ipv4Addr>> = mgm
            .mfes(None, 10)
            .unwrap()
            .items
            .iter()
            .map(Mfe::sg)
            .collect();
        assert_eq!(engine, vec![Sg::new(unroutable, g(4))]);
        let kernel: Vec<Sg<Ipv4Addr>> = f.kernel().mfcs.keys().copied().collect();
        assert_eq!(kernel, engine, "the kernel's MFCs are the engine's again");
        assert_eq!(f.installed().keys().copied().collect::<Vec<_>>(), engine);
        let parent = f.vifs().vif_of(30).unwrap();
        assert_eq!(f.kernel().mfcs[&engine[0]], (parent, vec![]));
    }

    #[test]
    fn more_than_32_interfaces_is_a_clear_error() {
        let mgm = Mgm::<Ipv4Addr>::default();
        let mut f = Forwarder::new(mgm, FakeKernel::default()).unwrap();
        for i in 0..32 {
            f.add_interface(100 + i).unwrap();
        }
        let e = f.add_interface(200).unwrap_err();
        assert!(matches!(e, LinuxError::TooManyVifs { ifindex: 200, .. }));
        assert!(e.to_string().contains("32 VIFs"), "{e}");
        // An entry needing the 33rd interface as an oif is installed without it, with the error.
        let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        let m = Mfe {
            source: s,
            group: g,
            upstream: Ipv4Addr::UNSPECIFIED,
            iif: IfKey::new(100),
            iif_protocol: None,
            route: None,
            up_time: Default::default(),
            expiry: None,
            timeout: None,
            oifs: vec![IfKey::new(101), IfKey::new(200)],
        };
        assert!(f.apply(&MfeChange::Installed(m)).is_err());
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
    }
}
