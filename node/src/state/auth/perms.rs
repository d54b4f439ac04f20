//! Whether a set of key permissions allows a key or a range: etcd's interval rules
//! (`auth/range_perm_cache.go` over `pkg/adt`), reproduced exactly.
//!
//! Keys compare as bytes, except that an empty bound means "+infinity" (etcd's
//! `BytesAffineComparable`). A permission on one key `k` is the interval `[k, k\0)`; a range
//! permission is `[key, range_end)`, with a range end of `\0` meaning "to +infinity".
//! - A request for one key (`range_end` empty) is allowed when some permission's interval
//!   contains it.
//! - A request for a range `[key, range_end)` (`\0` = to +infinity) is allowed when the
//!   permissions that overlap it, taken in order of their start, form one contiguous run that
//!   starts at or before `key` and ends at or after `range_end`: together they cover it, even if
//!   no single one does.

use super::Permission;
use std::cmp::Ordering;

/// Compares two bounds, an empty one being +infinity.
fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.cmp(b),
    }
}

/// A half-open interval `[begin, end)` of bounds.
#[derive(Clone, Debug)]
struct Interval {
    begin: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    fn point(key: &[u8]) -> Interval {
        let mut end = key.to_vec();
        end.push(0);
        Interval { begin: key.to_vec(), end }
    }

    fn overlaps(&self, other: &Interval) -> bool {
        cmp(&self.begin, &other.end) == Ordering::Less && cmp(&other.begin, &self.end) == Ordering::Less
    }
}

fn of_permission(p: &Permission) -> Interval {
    if p.range_end.is_empty() {
        Interval::point(&p.key)
    } else if p.range_end == [0] {
        Interval { begin: p.key.clone(), end: Vec::new() }
    } else {
        Interval { begin: p.key.clone(), end: p.range_end.clone() }
    }
}

/// Whether `granted` (permissions already filtered to the wanted kind) allow the key `key`
/// (`range_end` empty) or the range `[key, range_end)` (module doc).
pub fn permits<'a>(granted: impl Iterator<Item = &'a Permission>, key: &[u8], range_end: &[u8]) -> bool {
    let intervals: Vec<Interval> = granted.map(of_permission).collect();
    if range_end.is_empty() {
        let point = Interval::point(key);
        return intervals.iter().any(|i| i.overlaps(&point));
    }
    let end = if range_end == [0] { Vec::new() } else { range_end.to_vec() };
    let query = Interval { begin: key.to_vec(), end };
    let mut hits: Vec<&Interval> = intervals.iter().filter(|i| i.overlaps(&query)).collect();
    hits.sort_by(|a, b| cmp(&a.begin, &b.begin));
    let Some((first, rest)) = hits.split_first() else { return false };
    let mut max_end = first.end.as_slice();
    for i in rest {
        if cmp(max_end, &i.begin) == Ordering::Less {
            return false;
        }
        if cmp(&i.end, max_end) == Ordering::Greater {
            max_end = &i.end;
        }
    }
    cmp(&first.begin, &query.begin) != Ordering::Greater && cmp(max_end, &query.end) != Ordering::Less
}
