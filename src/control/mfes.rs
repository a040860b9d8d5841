//! The control plane's forwarding entries: records in a hash map, keys in an ordered index.
//!
//! Point operations (every membership, forward-state and timer change) hash once instead of
//! walking a B-tree of ~180-byte records; the key-only `BTreeSet` gives the (group, source)
//! order that walks ([`crate::Mgm::mfes`]), `(*,G)` selectors and every multi-entry pass
//! (whose event order is observable) rely on. Both halves change together, only here.

use std::collections::BTreeSet;
use std::ops::{Bound, Index, RangeBounds};

use rustc_hash::FxHashMap;

use super::MfeRec;
use crate::addr::{Family, Sg};

/// Forwarding entries by key, with their keys in (group, source) order.
pub(crate) struct Mfes<A: Family> {
    /// Boxed: a hash table sized in powers of two is often half empty, and ~180-byte records
    /// inline would cost more per entry than the B-tree did.
    recs: FxHashMap<Sg<A>, Box<MfeRec<A>>>,
    order: BTreeSet<Sg<A>>,
}

impl<A: Family> Mfes<A> {
    pub(crate) fn new() -> Self {
        Mfes {
            recs: FxHashMap::default(),
            order: BTreeSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    pub(crate) fn contains_key(&self, sg: &Sg<A>) -> bool {
        self.recs.contains_key(sg)
    }

    pub(crate) fn get(&self, sg: &Sg<A>) -> Option<&MfeRec<A>> {
        self.recs.get(sg).map(|r| &**r)
    }

    pub(crate) fn get_mut(&mut self, sg: &Sg<A>) -> Option<&mut MfeRec<A>> {
        self.recs.get_mut(sg).map(|r| &mut **r)
    }

    /// Inserts or replaces the record of `sg`.
    pub(crate) fn insert(&mut self, sg: Sg<A>, rec: MfeRec<A>) -> Option<MfeRec<A>> {
        let old = self.recs.insert(sg, Box::new(rec));
        if old.is_none() {
            self.order.insert(sg);
        }
        old.map(|r| *r)
    }

    pub(crate) fn remove(&mut self, sg: &Sg<A>) -> Option<MfeRec<A>> {
        let rec = self.recs.remove(sg)?;
        self.order.remove(sg);
        Some(*rec)
    }

    /// Every key, in (group, source) order.
    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = Sg<A>> + '_ {
        self.order.iter().copied()
    }

    /// The keys in `range`, in (group, source) order.
    pub(crate) fn range<R: RangeBounds<Sg<A>>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = Sg<A>> + '_ {
        self.order.range(range).copied()
    }

    /// The keys after `after` (from the first when `None`), in (group, source) order.
    pub(crate) fn keys_after(&self, after: Option<Sg<A>>) -> impl Iterator<Item = Sg<A>> + '_ {
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.range((lo, Bound::Unbounded))
    }

    /// The keys of one group, in source order.
    pub(crate) fn group(&self, group: A) -> impl DoubleEndedIterator<Item = Sg<A>> + '_ {
        let lo = Sg::new(A::from_bits(0), group);
        let hi = Sg::new(A::from_bits(u128::MAX), group);
        self.range(lo..=hi)
    }

    /// Every entry, in (group, source) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sg<A>, &MfeRec<A>)> + '_ {
        self.order.iter().map(|sg| (*sg, &*self.recs[sg]))
    }
}

impl<A: Family> Index<&Sg<A>> for Mfes<A> {
    type Output = MfeRec<A>;

    fn index(&self, sg: &Sg<A>) -> &MfeRec<A> {
        &self.recs[sg]
    }
}
