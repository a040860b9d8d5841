//! A forwarding worker's [`Reader`], the [`Verdict`]s it returns, and burst lookup.

use std::sync::Arc;

use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;

use super::counters::WorkerSlot;
use super::index::{direct_of, Index};
use super::table::{
    hash_key, key_of, Block, FastBlock, Held, Hit, Kept, KeptView, KeyWords, List, ReaderPin,
    Short, Table, Tables, ABSENT, MAX_INLINE, NEXT_GROUP,
};
use super::{is_direct, Directory};
use crate::addr::{Family, IfKey, Sg};
use crate::error::{Error, Result};

/// Most keys one [`Reader::lookup_burst`] call takes.
///
/// **Progress:** constant.
///
/// ```
/// use mgm::{Error, IfKey, Mgm, PacketKey, Verdict, MAX_BURST};
/// use std::net::Ipv4Addr;
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let mut reader = mgm.reader().unwrap();
/// let key = PacketKey { arrival: IfKey::new(1), source: Ipv4Addr::new(203, 0, 113, 9), group: Ipv4Addr::new(239, 9, 9, 9), bytes: 64 };
/// let too_many = vec![key; MAX_BURST + 1];
/// let mut verdicts = vec![Verdict::Miss; MAX_BURST + 1];
/// let err = reader.lookup_burst(&too_many, &mut verdicts).unwrap_err();
/// assert_eq!(err, Error::BurstTooLarge { len: MAX_BURST + 1, max: MAX_BURST });
/// ```
pub const MAX_BURST: usize = 256;

/// How many keys ahead of the one it probes [`Reader::lookup_burst`] starts loading the slot
/// a key's tag names; the key's tag word starts loading `2 * AHEAD` keys ahead.
const AHEAD: usize = 8;

/// The key of one packet, for [`Reader::lookup_burst`].
///
/// **Progress:** plain data.
///
/// ```
/// use mgm::{IfKey, Mgm, PacketKey, Verdict};
/// use std::net::Ipv4Addr;
/// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
/// let mgm = Mgm::<Ipv4Addr>::default();
/// mgm.new_packet(IfKey::new(1), s, g).unwrap(); // no route: a negative MFE on interface 1
/// let mut reader = mgm.reader().unwrap();
/// let keys = [
///     PacketKey { arrival: IfKey::new(1), source: s, group: g, bytes: 100 },
///     PacketKey { arrival: IfKey::new(2), source: s, group: g, bytes: 100 },
/// ];
/// let mut verdicts = [Verdict::Miss; 2];
/// assert_eq!(reader.lookup_burst(&keys, &mut verdicts).unwrap(), 2);
/// assert!(matches!(verdicts[0], Verdict::Negative));
/// assert!(matches!(verdicts[1], Verdict::WrongInterface { iif } if iif == IfKey::new(1)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKey<A> {
    /// The interface the packet arrived on.
    pub arrival: IfKey<A>,
    /// The packet's source address.
    pub source: A,
    /// The packet's group (destination) address.
    pub group: A,
    /// The packet's length, added to the MFE's byte counter.
    pub bytes: u32,
}

/// What to do with a packet.
///
/// **Progress:** plain data; borrows the reader until it is dropped.
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
/// let (up, down) = (IfKey::new(1), IfKey::new(2));
/// mgm.take_interface(igmp, down).unwrap();
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, up)).unwrap();
/// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
/// mgm.add_membership(igmp, Selector::Group(g), down, JOIN).unwrap();
///
/// let mut reader = mgm.reader().unwrap();
/// assert!(matches!(reader.lookup(up, s, g, 1200), Verdict::Miss));
/// mgm.new_packet(up, s, g).unwrap();
/// match reader.lookup(up, s, g, 1200) {
///     Verdict::Forward(oifs) => assert_eq!(oifs.to_vec(), vec![down]),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(reader.lookup(down, s, g, 1200), Verdict::WrongInterface { iif } if iif == up));
///
/// // A source with no route: the engine installs a negative MFE on the arrival interface.
/// let lost = Ipv4Addr::new(203, 0, 113, 9);
/// mgm.new_packet(up, lost, g).unwrap();
/// assert!(matches!(reader.lookup(up, lost, g, 1200), Verdict::Negative));
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'r, A> {
    /// The MFE exists on the arrival interface: send a copy out of each of these OIFs.
    Forward(Oifs<'r, A>),
    /// The MFE exists, but its incoming interface is `iif`, not the arrival interface: drop
    /// the packet (and maybe tell the routing protocol, for PIM asserts).
    WrongInterface {
        /// The MFE's incoming interface.
        iif: IfKey<A>,
    },
    /// The MFE is negative (no OIFs): drop the packet.
    Negative,
    /// No MFE for (source, group): report the miss to the engine.
    Miss,
}

/// The OIF list of a [`Verdict::Forward`]: borrowed from the MFE version the lookup saw.
///
/// **Progress:** every method is wait-free.
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
/// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
/// for k in [2, 3] {
///     mgm.take_interface(igmp, IfKey::new(k)).unwrap();
///     mgm.add_membership(igmp, Selector::Group(g), IfKey::new(k), JOIN).unwrap();
/// }
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
///
/// let mut reader = mgm.reader().unwrap();
/// let Verdict::Forward(oifs) = reader.lookup(IfKey::new(1), s, g, 1200) else { panic!() };
/// assert_eq!(oifs.to_vec(), vec![IfKey::new(2), IfKey::new(3)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oifs<'r, A>(&'r [IfKey<A>]);

impl<'r, A: Family> Oifs<'r, A> {
    /// The number of OIFs (never 0 in a verdict).
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// # use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// # use std::{net::Ipv4Addr, sync::Arc};
    /// # let mgm = Mgm::<Ipv4Addr>::default();
    /// # let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// # let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// # mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// # for k in [2, 3] {
    /// #     mgm.take_interface(igmp, IfKey::new(k)).unwrap();
    /// #     mgm.add_membership(igmp, Selector::Group(g), IfKey::new(k), JOIN).unwrap();
    /// # }
    /// # mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // An MFE (s, g) arriving on interface 1, with members on interfaces 2 and 3:
    /// let mut reader = mgm.reader().unwrap();
    /// let Verdict::Forward(oifs) = reader.lookup(IfKey::new(1), s, g, 1200) else { panic!() };
    /// assert_eq!(oifs.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no OIF (never, in a verdict).
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// # use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// # use std::{net::Ipv4Addr, sync::Arc};
    /// # let mgm = Mgm::<Ipv4Addr>::default();
    /// # let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// # let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// # mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// # mgm.take_interface(igmp, IfKey::new(2)).unwrap();
    /// # mgm.add_membership(igmp, Selector::Group(g), IfKey::new(2), JOIN).unwrap();
    /// # mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // An MFE (s, g) arriving on interface 1, with a member on interface 2:
    /// let mut reader = mgm.reader().unwrap();
    /// let Verdict::Forward(oifs) = reader.lookup(IfKey::new(1), s, g, 1200) else { panic!() };
    /// assert!(!oifs.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `i`-th OIF, in the order the engine installed them.
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// # use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// # use std::{net::Ipv4Addr, sync::Arc};
    /// # let mgm = Mgm::<Ipv4Addr>::default();
    /// # let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// # let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// # mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// # for k in [2, 3] {
    /// #     mgm.take_interface(igmp, IfKey::new(k)).unwrap();
    /// #     mgm.add_membership(igmp, Selector::Group(g), IfKey::new(k), JOIN).unwrap();
    /// # }
    /// # mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // An MFE (s, g) arriving on interface 1, with members on interfaces 2 and 3:
    /// let mut reader = mgm.reader().unwrap();
    /// let Verdict::Forward(oifs) = reader.lookup(IfKey::new(1), s, g, 1200) else { panic!() };
    /// assert_eq!(oifs.get(0), Some(IfKey::new(2)));
    /// assert_eq!(oifs.get(1), Some(IfKey::new(3)));
    /// assert_eq!(oifs.get(2), None);
    /// ```
    pub fn get(&self, i: usize) -> Option<IfKey<A>> {
        self.0.get(i).copied()
    }

    /// The OIFs, in order.
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// # use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// # use std::{net::Ipv4Addr, sync::Arc};
    /// # let mgm = Mgm::<Ipv4Addr>::default();
    /// # let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// # let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// # mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// # for k in [2, 3] {
    /// #     mgm.take_interface(igmp, IfKey::new(k)).unwrap();
    /// #     mgm.add_membership(igmp, Selector::Group(g), IfKey::new(k), JOIN).unwrap();
    /// # }
    /// # mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // An MFE (s, g) arriving on interface 1, with members on interfaces 2 and 3:
    /// let mut reader = mgm.reader().unwrap();
    /// let Verdict::Forward(oifs) = reader.lookup(IfKey::new(1), s, g, 1200) else { panic!() };
    /// let indexes: Vec<u32> = oifs.iter().map(|k| k.index).collect();
    /// assert_eq!(indexes, [2, 3]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = IfKey<A>> + 'r {
        self.0.iter().copied()
    }

    /// The OIFs copied into a vector.
    ///
    /// **Progress:** allocates.
    ///
    /// ```
    /// # use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// # use std::{net::Ipv4Addr, sync::Arc};
    /// # let mgm = Mgm::<Ipv4Addr>::default();
    /// # let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// # let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// # mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// # for k in [2, 3] {
    /// #     mgm.take_interface(igmp, IfKey::new(k)).unwrap();
    /// #     mgm.add_membership(igmp, Selector::Group(g), IfKey::new(k), JOIN).unwrap();
    /// # }
    /// # mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // An MFE (s, g) arriving on interface 1, with members on interfaces 2 and 3:
    /// let mut reader = mgm.reader().unwrap();
    /// let oifs = match reader.lookup(IfKey::new(1), s, g, 1200) {
    ///     Verdict::Forward(oifs) => oifs.to_vec(), // owned: outlives the reader's borrow
    ///     other => panic!("{other:?}"),
    /// };
    /// assert!(matches!(reader.lookup(IfKey::new(1), s, g, 1200), Verdict::Forward(_)));
    /// assert_eq!(oifs, vec![IfKey::new(2), IfKey::new(3)]);
    /// ```
    pub fn to_vec(&self) -> Vec<IfKey<A>> {
        self.0.to_vec()
    }
}

/// One forwarding worker's handle on the forwarding table.
///
/// Create it on the worker's own thread and keep it there: it holds an epoch registration
/// and a pinned guard, so it is not `Send`. It also holds one worker slot (its own counter
/// records) until it is dropped.
///
/// Each lookup checks the blocks it keeps with one load of the store's layout version (it
/// takes them again after a table rebuild or a directory change); every 64th lookup,
/// and every burst, also re-pins (moves the reader's local epoch forward, no fence), so the
/// collector's shared epoch line is read once per 64 packets, not per packet. The common hit
/// (interface index below 1024 with no next hop, the key in the first slot whose tag matches
/// in its home group or the group after it, the slot not mid-rewrite, a short list; in a
/// burst, also a key further on when its home group is full) takes a short path of its own
/// with no loop and no geometry arithmetic, so the processor can overlap the cache misses of
/// several lookups in a row; everything else takes the full path. A short OIF
/// list is copied into the reader's own buffer (the MFE's slot may change right after); a
/// long one is borrowed from the table. A verdict borrows the reader, so the next lookup
/// cannot run while an OIF list from the previous one is still in use. An idle worker should
/// call [`Reader::quiesce`], or it holds back the reclamation of replaced tables and long OIF
/// lists.
///
/// A lookup whose arrival shard lacks the key asks the store's incoming-interface index
/// (`index.rs`): no entry for the key's fingerprint is a miss, after one probe of the index
/// (mostly one line); an entry names the shard to check, and the key found there is a
/// wrong-interface arrival (one more probe, in that shard). The short path hands such a
/// lookup to the index at once when the home group it read has an empty slot and no match,
/// or the arrival interface has no shard. Shards reached through the directory's hash map
/// (next hop set, or index 1024 and up) are one index entry for all of them: the lookup
/// probes each.
///
/// **Progress:** lookups take no lock, allocate nothing and change no reference count, but
/// for the first lookup after a directory change or a table rebuild: that one takes the new
/// directory snapshot (one reference count up, the old snapshot's down) and copies the shards'
/// block places (its list grows only when a new interface index appears). A lookup that meets a slot mid-rewrite waits for the writer's few stores to it (the usual
/// sequence-lock trade-off: a writer descheduled right then holds up the readers of that one
/// MFE); the miss path's probes are bounded by the size of the index and the number of
/// shards.
///
/// ```
/// use mgm::{Config, IfKey, Mgm, Verdict};
/// use std::net::Ipv4Addr;
/// let mgm = Mgm::<Ipv4Addr>::new(Config { max_workers: 2, ..Config::default() });
/// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
/// mgm.new_packet(IfKey::new(1), s, g).unwrap(); // a negative MFE on interface 1
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let mgm = mgm.clone();
///         std::thread::spawn(move || {
///             // Created on the worker's own thread, and kept there.
///             let mut reader = mgm.reader().unwrap();
///             assert!(matches!(reader.lookup(IfKey::new(1), s, g, 100), Verdict::Negative));
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// // Both readers' counts, summed.
/// assert_eq!(mgm.mfe_stats(s, g).unwrap().negative, 2);
/// ```
pub struct Reader<A: Family> {
    pin: ReaderPin,
    /// The store's directory.
    shared: Arc<ArcSwap<Directory<A>>>,
    /// The snapshot of it this reader works from, and a copy of where each of its shards'
    /// blocks is, for the interfaces the directory indexes directly (no next hop, index below
    /// 1024): a hit goes from the arrival interface to the block in one load.
    kept: Kept<Arc<Directory<A>>>,
    slot: WorkerSlot,
    misses: u64,
    /// The OIF list of the last single lookup, when it was short enough to be inline.
    buf: [IfKey<A>; MAX_INLINE],
    /// One such buffer per key of a burst.
    burst: Box<[[IfKey<A>; MAX_INLINE]]>,
}

impl<A: Family> std::fmt::Debug for Reader<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("worker_slot", &self.slot.index())
            .field("misses", &self.misses)
            .finish_non_exhaustive()
    }
}

impl<A: Family> Reader<A> {
    pub(super) fn new(
        shared: Arc<ArcSwap<Directory<A>>>,
        version: Arc<AtomicU64>,
        slot: WorkerSlot,
    ) -> Self {
        Reader {
            pin: ReaderPin::new(),
            kept: Kept::new(version, shared.load_full(), slot.index()),
            shared,
            slot,
            misses: 0,
            buf: [IfKey::new(0); MAX_INLINE],
            burst: vec![[IfKey::new(0); MAX_INLINE]; MAX_BURST].into_boxed_slice(),
        }
    }

    /// The verdict for a packet from `source` to `group` that arrived on `arrival`, counted on
    /// the MFE (packets, bytes, and one packet per OIF; or a negative hit; or a
    /// wrong-interface arrival).
    ///
    /// **Progress:** no lock (see [`Reader`]); a miss probes the incoming-interface index.
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// let (up, down) = (IfKey::new(1), IfKey::new(2));
    /// mgm.take_interface(igmp, down).unwrap();
    /// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, up)).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// mgm.add_membership(igmp, Selector::Group(g), down, JOIN).unwrap();
    /// mgm.new_packet(up, s, g).unwrap();
    ///
    /// let mut reader = mgm.reader().unwrap();
    /// match reader.lookup(up, s, g, 1200) {
    ///     Verdict::Forward(oifs) => assert_eq!(oifs.to_vec(), vec![down]),
    ///     other => panic!("{other:?}"),
    /// }
    /// let stats = mgm.mfe_stats(s, g).unwrap();
    /// assert_eq!((stats.in_packets, stats.in_octets, stats.total_out_packets), (1, 1200, 1));
    /// ```
    #[inline(always)]
    #[must_use = "the verdict is what to do with the packet (it is counted already)"]
    pub fn lookup(&mut self, arrival: IfKey<A>, source: A, group: A, bytes: u32) -> Verdict<'_, A> {
        if is_direct(&arrival) {
            if let Some(pin) = self.pin.enter_fast() {
                let words = key_of(&Sg::new(source, group));
                let hash = hash_key(&words);
                let i = arrival.index as usize;
                match self
                    .kept
                    .hit_fast(pin, i, &words, hash, bytes, &mut self.buf)
                {
                    // Not in the arrival's shard: straight to the index.
                    Some(ABSENT) => {
                        let p = PacketKey {
                            arrival,
                            source,
                            group,
                            bytes,
                        };
                        return self.absent_here(p, hash);
                    }
                    Some(NEXT_GROUP) => {
                        return self.lookup_next(arrival, source, group, bytes, hash)
                    }
                    Some(0) => return Verdict::Negative,
                    Some(n) => return Verdict::Forward(Oifs(&self.buf[..n])),
                    None => {}
                }
            }
        }
        self.lookup_full(arrival, source, group, bytes)
    }

    /// [`Reader::lookup`] for a key that neither its home group in the arrival's shard nor
    /// the group after it holds, both full: the groups after the home group, on the fast
    /// path again (tag words only, for a key that is not there), then the index for a key
    /// absent from the shard, else the full path. Out of line, with the lookup's own arguments
    /// and the key's hash, so the common case keeps nothing in memory for it.
    #[inline(never)]
    fn lookup_next(
        &mut self,
        arrival: IfKey<A>,
        source: A,
        group: A,
        bytes: u32,
        hash: u64,
    ) -> Verdict<'_, A> {
        let words = key_of(&Sg::new(source, group));
        if let Some(pin) = self.pin.current() {
            let i = arrival.index as usize;
            match self
                .kept
                .hit_next(pin, i, &words, hash, bytes, &mut self.buf)
            {
                Some(ABSENT) => return self.lookup_absent(arrival, source, group, bytes, hash),
                Some(0) => return Verdict::Negative,
                Some(n) => return Verdict::Forward(Oifs(&self.buf[..n])),
                None => {}
            }
        }
        self.lookup_full(arrival, source, group, bytes)
    }

    /// [`Reader::lookup`] for a key its short path found absent from the arrival interface's
    /// shard: the incoming-interface index tells a wrong-interface arrival from a miss, and
    /// the arrival's shard is not probed again. Out of line, and without the full path's
    /// second pin entry and probe: the short path counted the lookup, holds the pin and
    /// hashed the key (`hash`).
    #[inline(never)]
    fn lookup_absent(
        &mut self,
        arrival: IfKey<A>,
        source: A,
        group: A,
        bytes: u32,
        hash: u64,
    ) -> Verdict<'_, A> {
        let key = PacketKey {
            arrival,
            source,
            group,
            bytes,
        };
        self.absent_here(key, hash)
    }

    /// The body of [`Reader::lookup_absent`], inlined into it and into
    /// [`Reader::lookup_next`], for the packet `p` whose key hashes to `hash`.
    #[inline(always)]
    fn absent_here(&mut self, p: PacketKey<A>, hash: u64) -> Verdict<'_, A> {
        let PacketKey {
            arrival,
            source,
            group,
            bytes,
        } = p;
        let Some(pin) = self.pin.current() else {
            // Not reached (the short path found the reader pinned); the full path decides.
            return self.lookup_full(arrival, source, group, bytes);
        };
        let kept = self.kept.view(pin, || self.shared.load_full());
        let words = key_of(&Sg::new(source, group));
        absent(
            kept,
            self.slot.index(),
            &mut self.misses,
            &arrival,
            &words,
            hash,
        )
    }

    /// [`Reader::lookup`] for every case: the path its fast one falls back to.
    #[inline(never)]
    fn lookup_full(
        &mut self,
        arrival: IfKey<A>,
        source: A,
        group: A,
        bytes: u32,
    ) -> Verdict<'_, A> {
        let pin = self.pin.enter(false);
        let kept = self.kept.view(pin, || self.shared.load_full());
        let key = PacketKey {
            arrival,
            source,
            group,
            bytes,
        };
        let worker = self.slot.index();
        let words = key_of(&sg_of(&key));
        let hash = hash_key(&words);
        let hit = block_of(kept, &arrival).and_then(|b| b.get(&words, hash, worker, &mut self.buf));
        match hit {
            Some(hit) => verdict(hit, &self.buf, worker, bytes),
            None => absent(kept, worker, &mut self.misses, &arrival, &words, hash),
        }
    }

    /// Looks up a burst of up to [`MAX_BURST`] packets: `verdicts[i]` is the verdict for
    /// `packets[i]`, exactly as [`Reader::lookup`] would give it. Returns `packets.len()`.
    /// Each key's tag word starts loading sixteen keys before it is probed and the slot its
    /// tag names eight keys before, so the cache misses of the burst overlap and most keys
    /// load one slot, not their whole group.
    ///
    /// # Errors
    /// [`Error::BurstTooLarge`] when `packets` has more than [`MAX_BURST`] keys or `verdicts`
    /// is shorter than `packets`; nothing is looked up or counted then.
    ///
    /// **Progress:** as [`Reader::lookup`], per packet.
    ///
    /// ```
    /// use mgm::{Error, IfKey, Mgm, PacketKey, Verdict};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap(); // no route: a negative MFE on interface 1
    /// let mut reader = mgm.reader().unwrap();
    /// let key = |arrival, group| PacketKey { arrival: IfKey::new(arrival), source: s, group, bytes: 100 };
    /// let packets = [key(1, g), key(2, g), key(1, Ipv4Addr::new(239, 8, 8, 8))];
    ///
    /// // Fewer verdict slots than keys: refused, nothing looked up.
    /// let mut short = [Verdict::Miss; 2];
    /// assert_eq!(reader.lookup_burst(&packets, &mut short), Err(Error::BurstTooLarge { len: 3, max: 2 }));
    ///
    /// let mut verdicts = [Verdict::Miss; 3];
    /// assert_eq!(reader.lookup_burst(&packets, &mut verdicts), Ok(3));
    /// assert!(matches!(verdicts[0], Verdict::Negative));
    /// assert!(matches!(verdicts[1], Verdict::WrongInterface { iif } if iif == IfKey::new(1)));
    /// assert!(matches!(verdicts[2], Verdict::Miss));
    /// assert_eq!(reader.misses(), 1);
    /// ```
    pub fn lookup_burst<'r>(
        &'r mut self,
        packets: &[PacketKey<A>],
        verdicts: &mut [Verdict<'r, A>],
    ) -> Result<usize> {
        if packets.len() > MAX_BURST || verdicts.len() < packets.len() {
            return Err(Error::BurstTooLarge {
                len: packets.len(),
                max: MAX_BURST.min(verdicts.len()),
            });
        }
        let pin = self.pin.enter(true);
        let kept = self.kept.view(pin, || self.shared.load_full());
        let worker = self.slot.index();
        let bufs: &'r mut [[IfKey<A>; MAX_INLINE]] = &mut self.burst;
        let misses = &mut self.misses;
        // Two stages ahead of the probe: the tag word's line of key `i + 2 * AHEAD` starts
        // loading while key `i` is probed, and the slot its tag names of key `i + AHEAD`,
        // whose tag word is in by then. A probe then finds its lines mostly in cache, and a
        // key on the fast path loads one slot, not its group's four. The first `AHEAD` keys
        // load their tag word and their whole group at once (no time for two stages). A
        // probe takes the fast path of a single lookup where it can and the full one where
        // not. The hashes of the keys in between wait in a small ring.
        const RING: usize = 2 * AHEAD;
        let mut ring = [0u64; RING];
        for (j, (p, h)) in packets.iter().zip(&mut ring).enumerate() {
            *h = hash_key(&key_of(&sg_of(p)));
            start_loading(kept, worker, p, *h, j < AHEAD);
        }
        for (i, ((v, p), buf)) in verdicts
            .iter_mut()
            .zip(packets)
            .zip(bufs.iter_mut())
            .enumerate()
        {
            let w = key_of(&sg_of(p));
            let h = ring[i % RING];
            if let Some(q) = packets.get(i + AHEAD) {
                if let Some(f) = fast_of(kept, q) {
                    f.prefetch_named::<A>(ring[(i + AHEAD) % RING]);
                }
            }
            if let Some(q) = packets.get(i + RING) {
                let hq = hash_key(&key_of(&sg_of(q)));
                ring[i % RING] = hq;
                start_loading(kept, worker, q, hq, false);
            }
            let mut why = Short::Other;
            let f = fast_of(kept, p);
            let fast = match f.and_then(|f| f.hit::<A>(&w, h, p.bytes, buf, &mut why)) {
                None if why == Short::Next => {
                    f.and_then(|f| f.hit_next::<A>(&w, h, p.bytes, buf, &mut why))
                }
                fast => fast,
            };
            let hit = match fast {
                Some(_) => None,
                None if why == Short::Absent => None,
                None => block_of(kept, &p.arrival).and_then(|b| b.get_cold(&w, h, worker, buf)),
            };
            let buf: &'r [IfKey<A>; MAX_INLINE] = buf;
            *v = match (fast, hit) {
                (Some(0), _) => Verdict::Negative,
                (Some(n), _) => Verdict::Forward(Oifs(&buf[..n])),
                (None, Some(hit)) => verdict(hit, buf, worker, p.bytes),
                (None, None) => absent(kept, worker, misses, &p.arrival, &w, h),
            };
        }
        Ok(packets.len())
    }

    /// Unpins the reader and refreshes its directory snapshot, so an idle worker holds back
    /// neither the reclamation of replaced slot arrays and OIF lists nor the freeing of removed
    /// shards. The next lookup pins again.
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, Verdict};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// let mut reader = mgm.reader().unwrap();
    /// assert!(matches!(reader.lookup(IfKey::new(1), s, g, 100), Verdict::Miss));
    /// reader.quiesce(); // going idle
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// // The next lookup pins again and sees the table as it is now.
    /// assert!(matches!(reader.lookup(IfKey::new(1), s, g, 100), Verdict::Negative));
    /// ```
    pub fn quiesce(&mut self) {
        self.pin.quiesce();
        self.kept.forget(self.shared.load_full());
    }

    /// This reader's worker slot, `0..max_workers`: the counter records it writes.
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// use mgm::{Config, Error, Mgm};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::new(Config { max_workers: 2, ..Config::default() });
    /// let first = mgm.reader().unwrap();
    /// let second = mgm.reader().unwrap();
    /// assert_eq!((first.worker_slot(), second.worker_slot()), (0, 1));
    /// assert!(matches!(mgm.reader(), Err(Error::TooManyReaders { max: 2 })));
    /// drop(first); // frees slot 0
    /// assert_eq!(mgm.reader().unwrap().worker_slot(), 0);
    /// ```
    pub fn worker_slot(&self) -> usize {
        self.slot.index()
    }

    /// How many [`Verdict::Miss`] this reader has returned (a plain local counter).
    ///
    /// **Progress:** wait-free.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// let mut reader = mgm.reader().unwrap();
    /// reader.lookup(IfKey::new(1), s, g, 100);
    /// reader.lookup(IfKey::new(1), s, g, 100);
    /// assert_eq!(reader.misses(), 2);
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// reader.lookup(IfKey::new(1), s, g, 100); // a hit now (negative MFE): not a miss
    /// assert_eq!(reader.misses(), 2);
    /// ```
    pub fn misses(&self) -> u64 {
        self.misses
    }
}

fn sg_of<A: Family>(p: &PacketKey<A>) -> Sg<A> {
    Sg::new(p.source, p.group)
}

/// The block of `arrival`'s shard, if it has one: from the reader's own copies for the
/// interfaces the directory indexes directly, else through the directory.
#[inline(always)]
fn block_of<'a, A: Family>(
    kept: KeptView<'a, Arc<Directory<A>>>,
    arrival: &IfKey<A>,
) -> Option<Block<'a>> {
    if is_direct(arrival) {
        kept.block(arrival.index as usize)
    } else {
        let shard = kept.holder().shard(arrival)?;
        Some(shard.table.pinned(kept.pin()))
    }
}

/// The fast-path places of the block kept for `p`'s arrival interface, if it is a direct one.
#[inline(always)]
fn fast_of<'a, A: Family>(
    kept: KeptView<'a, Arc<Directory<A>>>,
    p: &PacketKey<A>,
) -> Option<FastBlock<'a>> {
    if is_direct(&p.arrival) {
        kept.fast(p.arrival.index as usize)
    } else {
        None
    }
}

/// Starts loading the lines a lookup of `p` (whose key hashes to `hash`) reads first: on the
/// fast path its home group's tag word and, with `whole`, the group's slots too (without, the
/// first of a burst's two stages, see [`Reader::lookup_burst`]); on the full path what
/// [`Block::prefetch`](super::table::Block::prefetch) loads, either way (the burst's second
/// stage is the fast path's only).
#[inline(always)]
fn start_loading<A: Family>(
    kept: KeptView<'_, Arc<Directory<A>>>,
    worker: usize,
    p: &PacketKey<A>,
    hash: u64,
    whole: bool,
) {
    match fast_of(kept, p) {
        Some(f) if whole => f.prefetch_all::<A>(hash),
        Some(f) => f.prefetch_tags(hash),
        None => {
            if let Some(block) = block_of(kept, &p.arrival) {
                block.prefetch::<A>(hash, worker);
            }
        }
    }
}

impl<A: Family> Tables<A> for Arc<Directory<A>> {
    fn direct<'a>(&'a self) -> impl Iterator<Item = Option<&'a Table<A>>>
    where
        A: 'a,
    {
        self.direct.iter().map(|s| s.as_deref().map(|s| &s.table))
    }

    fn index(&self) -> &Index {
        &self.index
    }
}

/// The counted verdict of a hit.
#[inline(always)]
fn verdict<'a, A: Family>(
    hit: Hit<'a, A>,
    buf: &'a [IfKey<A>; MAX_INLINE],
    worker: usize,
    bytes: u32,
) -> Verdict<'a, A> {
    hit.count(worker, bytes);
    let oifs: &'a [IfKey<A>] = match hit.list {
        List::Inline(n) => &buf[..n],
        List::Spilled(list) => list,
    };
    if oifs.is_empty() {
        Verdict::Negative
    } else {
        Verdict::Forward(Oifs(oifs))
    }
}

/// The verdict when the arrival interface's shard has no MFE for the key: a wrong-interface
/// arrival (counted) if another shard has it, else a miss (counted in `misses`). The
/// incoming-interface index names the shard to look in: one probe there, and one in that
/// shard, whatever the number of shards. An entry is acted on only once the shard it names
/// has the whole key, so a stale entry (its shard released) or another key's fingerprint
/// makes no verdict. The shard named is asked only whether it holds the key
/// ([`FastBlock::count_if_held`], from the reader's kept places): a wrong-interface verdict
/// needs no OIF list. Inlined into its callers, which are out of line or take it rarely.
#[inline(always)]
fn absent<A: Family>(
    kept: KeptView<'_, Arc<Directory<A>>>,
    worker: usize,
    misses: &mut u64,
    arrival: &IfKey<A>,
    words: &KeyWords,
    hash: u64,
) -> Verdict<'static, A> {
    // Each shard that may hold the key: its incoming interface if it does (the arrival
    // counted there), else `None`.
    let look = |sid: u32| -> Option<IfKey<A>> {
        let held = match direct_of(sid) {
            Some(i) => {
                let iif = IfKey::new(i);
                if iif == *arrival {
                    return None;
                }
                match kept.fast(i as usize) {
                    Some(f) => return f.count_if_held::<A>(words, hash).then_some(iif),
                    // A block without a copy for this reader.
                    None => (
                        iif,
                        kept.block(i as usize)?.holding::<A>(words, hash, worker)?,
                    ),
                }
            }
            None => elsewhere(kept, worker, arrival, words, hash, false)?,
        };
        held.1.count_wrong_if(worker);
        Some(held.0)
    };
    let found = match kept.shards_of(hash, look) {
        Some(found) => found,
        // No index copy (not reached: every view has one): every shard.
        None => elsewhere(kept, worker, arrival, words, hash, true).map(|(iif, held)| {
            held.count_wrong_if(worker);
            iif
        }),
    };
    match found {
        Some(iif) => Verdict::WrongInterface { iif },
        None => {
            *misses += 1;
            Verdict::Miss
        }
    }
}

/// The first shard but `arrival`'s that has the key: among those the directory reaches
/// through its hash map (index entry [`NOT_DIRECT`](super::index::NOT_DIRECT)), or among all of
/// them with `all`.
fn elsewhere<'a, A: Family>(
    kept: KeptView<'a, Arc<Directory<A>>>,
    worker: usize,
    arrival: &IfKey<A>,
    words: &KeyWords,
    hash: u64,
    all: bool,
) -> Option<(IfKey<A>, Held<'a>)> {
    let pin = kept.pin();
    for (iif, shard) in &kept.holder().shards {
        if *iif == *arrival || (!all && is_direct(iif)) {
            continue;
        }
        if let Some(held) = shard.table.pinned(pin).holding::<A>(words, hash, worker) {
            return Some((*iif, held));
        }
    }
    None
}
