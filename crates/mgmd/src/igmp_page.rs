//! The pages of `igmp`: which interfaces and which of their groups one page holds, and how
//! `mgmctl --json` joins an interface's rows back together when its groups span pages.
//!
//! A listing walks the interfaces in ifindex order and each interface's groups in address
//! order. A page holds at most `max` groups; an interface without groups counts as one, so
//! every page moves on. The key of the next page is the last thing shown: `(ifindex,
//! Some(group))`, or `(ifindex, None)` after an interface without groups (written
//! `IFINDEX,0.0.0.0` or `IFINDEX,::` on the wire). A page that resumes inside an interface
//! shows that interface again, with the groups that follow, and says it does not start it;
//! groups that come or go between pages are shown or not as the walk finds them, as with
//! `mfes` and `memberships`.

use serde_json::Value;

/// Where a page resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume<G> {
    /// From the first interface.
    Start,
    /// After every group of this interface: from the next interface.
    AfterInterface(u32),
    /// After this group of this interface.
    AfterGroup(u32, G),
}

impl<G> Resume<G> {
    /// The resume point of a request's key; `None` (the unspecified address) as the group
    /// means the whole interface was shown.
    pub fn of_key(key: Option<(u32, Option<G>)>) -> Self {
        match key {
            None => Resume::Start,
            Some((i, None)) => Resume::AfterInterface(i),
            Some((i, Some(g))) => Resume::AfterGroup(i, g),
        }
    }
}

/// One interface's share of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<G> {
    /// The interface.
    pub ifindex: u32,
    /// This page starts the interface (its header belongs here), rather than resuming
    /// inside it.
    pub starts: bool,
    /// This page ends the interface: its last group is here (or it has none), rather than
    /// on a page to come.
    pub ends: bool,
    /// Its groups on this page, in address order.
    pub groups: Vec<G>,
}

/// What one page holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<G> {
    /// The interfaces' shares, in ifindex order.
    pub parts: Vec<Part<G>>,
    /// Something follows this page.
    pub more: bool,
    /// The key of the next page: the last interface and group shown (`None` as the group
    /// after an interface without groups); `None` when the page is empty.
    pub next: Option<(u32, Option<G>)>,
}

/// Plans one page: `ifindexes` are the interfaces in ascending order, `groups_after(i, g)`
/// the groups of interface `i` after `g` (all of them for `None`) in address order.
///
/// ```
/// use mgmd::igmp_page::{plan, Resume};
/// let groups = |i: u32, after: Option<u8>| {
///     let all: &[u8] = if i == 2 { &[10, 20, 30] } else { &[] };
///     all.iter().copied().filter(move |g| after.map_or(true, |a| *g > a))
/// };
/// let p = plan([1, 2], groups, Resume::Start, 2);
/// assert_eq!((p.parts.len(), p.more, p.next), (2, true, Some((2, Some(10)))));
/// let p = plan([1, 2], groups, Resume::AfterGroup(2, 10), 2);
/// assert_eq!((p.parts[0].groups.clone(), p.parts[0].starts, p.more), (vec![20, 30], false, false));
/// ```
pub fn plan<G, I>(
    ifindexes: impl IntoIterator<Item = u32>,
    mut groups_after: impl FnMut(u32, Option<G>) -> I,
    resume: Resume<G>,
    max: usize,
) -> Plan<G>
where
    G: Copy,
    I: Iterator<Item = G>,
{
    let mut budget = max.max(1);
    let mut parts = Vec::new();
    let mut next = None;
    let mut more = false;
    let after_index = |i: u32| match resume {
        Resume::Start => true,
        Resume::AfterInterface(x) => i > x,
        Resume::AfterGroup(x, _) => i >= x,
    };
    for ifindex in ifindexes.into_iter().filter(|i| after_index(*i)) {
        if budget == 0 {
            more = true;
            break;
        }
        let after = match resume {
            Resume::AfterGroup(x, g) if x == ifindex => Some(g),
            _ => None,
        };
        let starts = after.is_none();
        let mut it = groups_after(ifindex, after);
        let groups: Vec<G> = it.by_ref().take(budget).collect();
        match groups.last() {
            // Resumed past its last group: nothing of it is left to show.
            None if !starts => continue,
            None => {
                budget -= 1;
                next = Some((ifindex, None));
            }
            Some(g) => {
                budget -= groups.len();
                next = Some((ifindex, Some(*g)));
            }
        }
        let cut = !groups.is_empty() && it.next().is_some();
        parts.push(Part {
            ifindex,
            starts,
            ends: !cut,
            groups,
        });
        if cut {
            more = true;
            break;
        }
    }
    Plan { parts, more, next }
}

/// Joins the rows of `igmp` pages as `mgmctl --json` prints them: consecutive rows of one
/// family and interface (one interface's groups cut by a page's end) become one row, with
/// the first row's fields and every row's groups.
#[derive(Debug, Default)]
pub struct RowJoiner {
    held: Option<Value>,
}

impl RowJoiner {
    /// Takes the next row; returns the row before it once it is known to be whole.
    ///
    /// ```
    /// use mgmd::igmp_page::RowJoiner;
    /// use serde_json::json;
    /// let mut j = RowJoiner::default();
    /// let row = |g: &str| json!({"family": "ipv4", "interface": "rrcv1", "groups": [g]});
    /// assert_eq!(j.push(row("239.1.1.1")), None);
    /// assert_eq!(j.push(row("239.1.1.2")), None);
    /// assert_eq!(j.finish().unwrap()["groups"], json!(["239.1.1.1", "239.1.1.2"]));
    /// ```
    pub fn push(&mut self, row: Value) -> Option<Value> {
        let key = |v: &Value| (v.get("family").cloned(), v.get("interface").cloned());
        if let Some(held) = &mut self.held {
            if key(held) == key(&row) {
                let more = row.get("groups").and_then(Value::as_array).cloned();
                if let (Some(Value::Array(gs)), Some(more)) = (held.get_mut("groups"), more) {
                    gs.extend(more);
                }
                return None;
            }
        }
        self.held.replace(row)
    }

    /// The last row, now whole.
    pub fn finish(&mut self) -> Option<Value> {
        self.held.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Interfaces 1 (no groups), 2 (one group), 3 (five groups) and 4 (no groups).
    const LINKS: [(u32, &[u16]); 4] = [(1, &[]), (2, &[100]), (3, &[10, 20, 30, 40, 50]), (4, &[])];

    fn groups_after(i: u32, after: Option<u16>) -> impl Iterator<Item = u16> {
        let all = LINKS.iter().find(|(x, _)| *x == i).map_or(&[][..], |l| l.1);
        all.iter()
            .copied()
            .filter(move |g| after.is_none_or(|a| *g > a))
    }

    fn ifindexes() -> impl Iterator<Item = u32> {
        LINKS.iter().map(|l| l.0)
    }

    /// Every page of a walk with pages of `max`.
    fn walk(max: usize) -> Vec<Plan<u16>> {
        let mut pages = Vec::new();
        let mut resume = Resume::Start;
        loop {
            let p = plan(ifindexes(), groups_after, resume, max);
            let (more, next) = (p.more, p.next);
            pages.push(p);
            if !more {
                return pages;
            }
            resume = Resume::of_key(Some(next.expect("a page with more has a key")));
            assert!(pages.len() < 100, "the walk does not end");
        }
    }

    #[test]
    fn every_page_size_shows_each_interface_once_and_every_group_once() {
        let whole = plan(ifindexes(), groups_after, Resume::Start, 500);
        assert!(!whole.more);
        assert_eq!(whole.parts.len(), 4);
        for max in 1..=8 {
            let pages = walk(max);
            let (mut starts, mut ends) = (Vec::new(), Vec::new());
            let mut seen: Vec<(u32, u16)> = Vec::new();
            for p in &pages {
                // No page holds more than max groups (an empty interface counts one).
                let size: usize = p.parts.iter().map(|x| x.groups.len().max(1)).sum();
                assert!(size <= max, "max {max}: a page of {size}");
                assert!(!p.parts.is_empty(), "max {max}: an empty page");
                for x in &p.parts {
                    if x.starts {
                        starts.push(x.ifindex);
                    }
                    if x.ends {
                        ends.push(x.ifindex);
                    }
                    seen.extend(x.groups.iter().map(|g| (x.ifindex, *g)));
                }
            }
            assert_eq!(starts, vec![1, 2, 3, 4], "max {max}");
            assert_eq!(ends, vec![1, 2, 3, 4], "max {max}");
            let all: Vec<(u32, u16)> = LINKS
                .iter()
                .flat_map(|(i, gs)| gs.iter().map(move |g| (*i, *g)))
                .collect();
            assert_eq!(seen, all, "max {max}");
            // Pages are as full as they can be: the count is the least possible.
            let need: usize = LINKS.iter().map(|l| l.1.len().max(1)).sum();
            assert_eq!(pages.len(), need.div_ceil(max), "max {max}");
        }
    }

    #[test]
    fn a_page_resumes_inside_an_interface_without_its_header() {
        let p = plan(ifindexes(), groups_after, Resume::AfterGroup(3, 20), 2);
        assert_eq!(
            p.parts,
            vec![Part {
                ifindex: 3,
                starts: false,
                ends: false,
                groups: vec![30, 40]
            }]
        );
        assert_eq!((p.more, p.next), (true, Some((3, Some(40)))));
        // Past an interface's last group, the next interface starts.
        let p = plan(ifindexes(), groups_after, Resume::AfterGroup(3, 50), 2);
        assert_eq!(
            (p.parts[0].ifindex, p.parts[0].starts, p.more),
            (4, true, false)
        );
        assert_eq!(p.next, Some((4, None)));
        // After the last interface: an empty last page.
        let p = plan(ifindexes(), groups_after, Resume::AfterInterface(4), 2);
        assert_eq!((p.parts.len(), p.more, p.next), (0, false, None));
        // A key whose interface is gone resumes at the next one.
        let p = plan([1, 4], groups_after, Resume::AfterGroup(3, 20), 9);
        assert_eq!((p.parts.len(), p.parts[0].ifindex), (1, 4));
    }

    #[test]
    fn joined_pages_give_the_unpaged_rows() {
        // Rows as mgmd gives them, from each page of every size, joined as mgmctl joins them.
        let row = |i: u32, gs: &[u16], tag: &str| json!({"family": "ipv4", "interface": format!("if{i}"), "groups": gs, "tag": tag});
        let unpaged: Vec<Value> = plan(ifindexes(), groups_after, Resume::Start, 500)
            .parts
            .iter()
            .map(|p| row(p.ifindex, &p.groups, "first"))
            .collect();
        for max in 1..=8 {
            let mut j = RowJoiner::default();
            let mut out = Vec::new();
            for page in walk(max) {
                for p in page.parts {
                    let tag = if p.starts { "first" } else { "later" };
                    out.extend(j.push(row(p.ifindex, &p.groups, tag)));
                }
            }
            out.extend(j.finish());
            assert_eq!(out, unpaged, "max {max}");
        }
        // Another family's row of the same name is not joined to it.
        let mut j = RowJoiner::default();
        assert_eq!(j.push(row(1, &[1], "first")), None);
        let mut v6 = row(1, &[2], "first");
        v6["family"] = json!("ipv6");
        assert_eq!(j.push(v6.clone()), Some(row(1, &[1], "first")));
        assert_eq!(j.finish(), Some(v6));
    }
}
