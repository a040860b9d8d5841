//! The summed view of an MFE's counters that the control plane reads, and worker slots.
//!
//! Each worker slot has its own copy of the slots of every shard table (see `table.rs`), and
//! counts in its own copy of an MFE's slot, which no other worker writes, so two workers never
//! share a line. A forwarded or negative hit adds to the MFE's packets and bytes there; a
//! wrong-interface arrival adds to the worker's wrong-interface word of the MFE. Per-OIF and negative counts
//! are derived by the table's writer from the packet count at each list change.

use std::sync::{Arc, Mutex};

use crate::addr::IfKey;
use crate::error::{Error, Result};

/// The summed counters of one MFE, as the control plane reads them.
///
/// `packets`, `bytes` and `wrong_if` are sums over every forwarding worker's own counter
/// records. An OIF's count is the packets the MFE matched since that OIF joined its list, and
/// `negative` the packets it matched while its list was empty: both come from `packets` at each
/// list change, so a packet being looked up while the list changes may be counted on the list
/// before or after the change (at most one per worker per change). A read is not a snapshot:
/// counts a worker adds while the sum is taken may or may not be in it.
///
/// **Progress:** plain data.
///
/// ```
/// use mgm::{EntryCounters, IfKey, Mgm};
/// use std::net::Ipv4Addr;
/// // A negative MFE on interface 1 drops 2 packets of 100 bytes, and sees 1 arrival on 2.
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
/// let mut reader = mgm.reader().unwrap();
/// for arrival in [1, 1, 2] {
///     reader.lookup(IfKey::new(arrival), s, g, 100);
/// }
/// let c = EntryCounters::<Ipv4Addr> { packets: 2, bytes: 200, wrong_if: 1, negative: 2, oifs: vec![] };
/// assert_eq!(c.packets, c.negative, "every packet was a negative hit");
/// // The engine's statistics are these sums (plus what an external forwarder reported).
/// let st = mgm.mfe_stats(s, g).unwrap();
/// assert_eq!((st.in_packets, st.in_octets, st.different_if, st.negative), (c.packets, c.bytes, c.wrong_if, c.negative));
/// // A forwarding MFE: one copy per OIF per packet.
/// let f = EntryCounters::<Ipv4Addr> { packets: 3, bytes: 300, wrong_if: 0, negative: 0, oifs: vec![(IfKey::new(2), 3), (IfKey::new(3), 3)] };
/// assert_eq!(f.oifs.iter().map(|(_, n)| n).sum::<u64>(), 6);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EntryCounters<A> {
    /// Packets that arrived on the incoming interface (forwarded, or dropped by a negative MFE).
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets that arrived on another interface than the incoming one.
    pub wrong_if: u64,
    /// Packets dropped because the MFE is negative (empty OIF list).
    pub negative: u64,
    /// Packets sent out of each OIF of the current list, in list order.
    pub oifs: Vec<(IfKey<A>, u64)>,
}

/// The pool of forwarding-worker slots `0..max`: a reader holds one for its whole life.
pub(super) struct WorkerSlots {
    taken: Mutex<Vec<bool>>,
}

impl WorkerSlots {
    /// A pool of `max` free slots.
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(WorkerSlots {
            taken: Mutex::new(vec![false; max]),
        })
    }

    /// Takes the lowest free slot.
    pub(super) fn acquire(self: &Arc<Self>) -> Result<WorkerSlot> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let max = taken.len();
        let index = taken
            .iter()
            .position(|t| !t)
            .ok_or(Error::TooManyReaders { max })?;
        taken[index] = true;
        Ok(WorkerSlot {
            pool: Arc::clone(self),
            index,
        })
    }
}

/// A taken worker slot; dropping it frees the slot. The mutex hand-over orders the previous
/// holder's counter writes before the next holder's.
pub(super) struct WorkerSlot {
    pool: Arc<WorkerSlots>,
    index: usize,
}

impl WorkerSlot {
    /// The slot number, `0..max`.
    pub(super) fn index(&self) -> usize {
        self.index
    }
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        let mut taken = self.pool.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = taken.get_mut(self.index) {
            *t = false;
        }
    }
}
