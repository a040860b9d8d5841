//! A short vector kept inline, for the control plane's many lists that rarely hold more than
//! a few items: an entry's outgoing list, and the holders of one membership selector.
//!
//! Kept inline, such a list shares the cache lines of the record that holds it instead of
//! costing a pointer chase, and adding its first items allocates nothing.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Up to `N` items inline, more on the heap. Order is the caller's (the lists here are kept
/// sorted with `binary_search` + `insert`, as a `Vec` would be).
#[derive(Clone)]
pub(crate) enum SmallVec<T, const N: usize> {
    /// The first `len` items are the list; the rest are filler.
    Inline {
        len: u8,
        items: [T; N],
    },
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> SmallVec<T, N> {
    /// An empty list; `filler` only fills the unused inline room and is never read.
    pub(crate) fn new(filler: T) -> Self {
        const { assert!(N <= u8::MAX as usize) };
        SmallVec::Inline {
            len: 0,
            items: [filler; N],
        }
    }

    /// The list holding `items`, in their order.
    pub(crate) fn from_vec(items: Vec<T>, filler: T) -> Self {
        if items.len() > N {
            return SmallVec::Heap(items);
        }
        let mut list = SmallVec::new(filler);
        for x in items {
            list.push(x);
        }
        list
    }

    pub(crate) fn push(&mut self, x: T) {
        let n = self.len();
        self.insert(n, x);
    }

    /// Inserts `x` at `i` (as `Vec::insert`), moving to the heap when the inline room is full.
    pub(crate) fn insert(&mut self, i: usize, x: T) {
        match self {
            SmallVec::Inline { len, items } if usize::from(*len) < N => {
                let n = usize::from(*len);
                assert!(i <= n, "insertion index {i} past the length {n}");
                items.copy_within(i..n, i + 1);
                items[i] = x;
                *len += 1;
            }
            SmallVec::Inline { items, .. } => {
                let mut v = Vec::with_capacity(N * 2);
                v.extend_from_slice(items);
                v.insert(i, x);
                *self = SmallVec::Heap(v);
            }
            SmallVec::Heap(v) => v.insert(i, x),
        }
    }

    /// Removes the item at `i` (as `Vec::remove`).
    pub(crate) fn remove(&mut self, i: usize) -> T {
        match self {
            SmallVec::Inline { len, items } => {
                let n = usize::from(*len);
                assert!(i < n, "removal index {i} past the length {n}");
                let x = items[i];
                items.copy_within(i + 1..n, i);
                *len -= 1;
                x
            }
            SmallVec::Heap(v) => v.remove(i),
        }
    }
}

impl<T, const N: usize> Deref for SmallVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            SmallVec::Inline { len, items } => &items[..usize::from(*len)],
            SmallVec::Heap(v) => v,
        }
    }
}

impl<T, const N: usize> DerefMut for SmallVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            SmallVec::Inline { len, items } => &mut items[..usize::from(*len)],
            SmallVec::Heap(v) => v,
        }
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for SmallVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_sorted_vec_across_the_inline_limit() {
        let mut list = SmallVec::<u32, 3>::new(0);
        let mut model: Vec<u32> = Vec::new();
        // Inserts and removes at the front, middle and back, past the inline room and back.
        let ops: [(bool, u32); 18] = [
            (true, 5),
            (true, 1),
            (true, 9),
            (true, 3),
            (true, 7),
            (true, 2),
            (true, 8),
            (false, 1),
            (false, 9),
            (false, 5),
            (true, 4),
            (false, 2),
            (false, 3),
            (false, 4),
            (false, 7),
            (false, 8),
            (true, 6),
            (false, 6),
        ];
        for (add, x) in ops {
            match (add, model.binary_search(&x), list.binary_search(&x)) {
                (true, Err(m), Err(l)) => {
                    assert_eq!(m, l);
                    model.insert(m, x);
                    list.insert(l, x);
                }
                (false, Ok(m), Ok(l)) => {
                    assert_eq!(m, l);
                    assert_eq!(model.remove(m), list.remove(l));
                }
                other => panic!("diverged at {add} {x}: {other:?}"),
            }
            assert_eq!(&*list, &model[..]);
        }
        assert!(list.is_empty());
    }

    #[test]
    fn from_vec_keeps_the_items() {
        for n in [0, 1, 3, 4, 9] {
            let v: Vec<u32> = (0..n).rev().collect();
            let list = SmallVec::<u32, 3>::from_vec(v.clone(), 0);
            assert_eq!(&*list, &v[..]);
            assert_eq!(format!("{list:?}"), format!("{v:?}"));
        }
    }

    #[test]
    fn items_can_be_changed_in_place() {
        let mut list = SmallVec::<(u32, u32), 2>::new((0, 0));
        list.push((1, 1));
        list[0].1 += 1;
        assert_eq!(&*list, &[(1, 2)]);
    }
}
