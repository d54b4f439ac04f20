//! Which keys a `(key, range_end)` pair names, with etcd's conventions.

use std::ops::Bound;

/// The keys named by a request's `key` and `range_end`:
/// - `range_end` empty: the single key `key`;
/// - `range_end == [0]` ("\0"): every key `>= key` (so `key == [0]` too means every key, since
///   etcd keys are never empty);
/// - otherwise: `[key, range_end)`, empty if `range_end <= key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyRange<'a> {
    Single(&'a [u8]),
    /// Bounds for `BTreeMap::range`, start < end guaranteed.
    Span(Bound<&'a [u8]>, Bound<&'a [u8]>),
    Nothing,
}

impl<'a> KeyRange<'a> {
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::Span(Bound::Included(key), Bound::Unbounded),
            end if end <= key => KeyRange::Nothing,
            end => KeyRange::Span(Bound::Included(key), Bound::Excluded(end)),
        }
    }
}

impl KeyRange<'_> {
    /// Whether `k` is one of the keys named.
    pub fn contains(&self, k: &[u8]) -> bool {
        match *self {
            KeyRange::Single(key) => k == key,
            KeyRange::Span(start, end) => {
                let after_start = match start {
                    Bound::Included(s) => k >= s,
                    Bound::Excluded(s) => k > s,
                    Bound::Unbounded => true,
                };
                let before_end = match end {
                    Bound::Included(e) => k <= e,
                    Bound::Excluded(e) => k < e,
                    Bound::Unbounded => true,
                };
                after_start && before_end
            }
            KeyRange::Nothing => false,
        }
    }
}
