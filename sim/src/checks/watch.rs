//! Watch checks: etcd's documented watch guarantees, against the client history and the other
//! watches of the run (<https://etcd.io/docs/v3.5/learning/api_guarantees/#watch-apis>).
//!
//! The truth a watch is held to is every change known to have committed: each successful write
//! in the history (a put, a txn that put, a one-key delete that deleted) at the revision its
//! response reports, and every event any watch received (checked for agreement first). For each
//! watch stream (in [`watch_guarantees`]):
//!
//! - **Agreement**: two events for the same key and revision, in any watches, have the same kind
//!   and value, and agree with the successful write at that revision if there is one.
//! - **Ordered**: events come in non-decreasing revision order.
//! - **Unique**: no (key, revision) arrives twice.
//! - **Atomic**: events of one revision arrive in one response (same header revision).
//! - **Resumable**: a watch asked to start at revision `s > 0` gets no event before `s`.
//! - **Reliable**: between its start (`s`, or the created revision + 1) and the last revision it
//!   received, a watch misses no known change to a key it watches.
//! - **Bookmarkable**: after a progress notification at revision `r` (the client asks for one
//!   halfway through), no event at or below `r` arrives, and every known change to a watched key
//!   from the start to `r` arrived before the notification.
//! - **prev_kv** (the workload asks for it): a delete carries the deleted key; a put of a key's
//!   version `v > 1` carries version `v - 1`, a put of version 1 carries none; a previous value
//!   has the same key, an older revision, and no known change of that key lies between the two.
//!
//! Not checked: events that arrive after the last one a watch recorded (a watch is closed by the client, so nothing is owed past
//! what it saw). A change with an unknown outcome that no watch saw is not known, so a watch that
//! misses it is not blamed.

use super::Verdict;
use crate::history::{History, StepOutcome, WatchEvent, WatchEventKind, WatchRecord};
use detcd_check::models::etcd::{KeySet, Request, Response, TxnResponse};
use std::collections::{BTreeMap, BTreeSet};

/// A committed change to one key, as the truth knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    kind: WatchEventKind,
    /// The value after a put.
    value: Option<String>,
    /// Where it is known from, for messages.
    source: String,
}

/// All of etcd's watch guarantees this module states, over every watch of the run.
pub fn watch_guarantees(history: &History) -> Verdict {
    let watches: Vec<(usize, &WatchRecord)> = history.watches().collect();
    if watches.iter().all(|(_, w)| w.events.is_empty()) {
        return Verdict::Skipped("no watch received an event".into());
    }
    let mut truth = match writes(history) {
        Ok(t) => t,
        Err(why) => return Verdict::Fail(why),
    };
    for (n, (client, w)) in watches.iter().enumerate() {
        for e in &w.events {
            let change = Change { kind: e.kind, value: value_of(e), source: format!("watch {n} of client {client}") };
            if let Some(why) = agree(&mut truth, &e.kv.key, e.kv.mod_revision.0, change) {
                return Verdict::Fail(why);
            }
        }
    }
    for (n, (client, w)) in watches.iter().enumerate() {
        if let Some(why) = one_watch(w, &truth) {
            return Verdict::Fail(format!("watch {n} of client {client} on {} from revision {}: {why}", describe(&w.keys), w.start_revision));
        }
    }
    Verdict::Pass
}

fn value_of(e: &WatchEvent) -> Option<String> {
    (e.kind == WatchEventKind::Put).then(|| e.kv.value.clone())
}

/// Adds `change` to the truth, or says how it contradicts what is known.
fn agree(truth: &mut BTreeMap<(String, i64), Change>, key: &str, revision: i64, change: Change) -> Option<String> {
    match truth.get(&(key.to_string(), revision)) {
        Some(known) if (known.kind, &known.value) != (change.kind, &change.value) => Some(format!(
            "{key} at revision {revision}: {} says {:?} {:?}, but {} says {:?} {:?}",
            known.source, known.kind, known.value, change.source, change.kind, change.value
        )),
        Some(_) => None,
        None => {
            truth.insert((key.to_string(), revision), change);
            None
        }
    }
}

/// The changes the history's successful writes prove.
fn writes(history: &History) -> Result<BTreeMap<(String, i64), Change>, String> {
    let mut truth = BTreeMap::new();
    for op in history.all() {
        for step in &op.steps {
            let StepOutcome::Ok(response) = &step.outcome else { continue };
            let Some(revision) = response.revision() else { continue };
            let source = format!("client {}'s {:?} answered at {:.3}s", op.client, op.kind, step.completed.as_secs_f64());
            let put = |key: &str, value: &str| (key.to_string(), Change { kind: WatchEventKind::Put, value: Some(value.into()), source: source.clone() });
            let change = match (&step.request, response) {
                (Request::Put { key, value, .. }, Response::Put { .. }) => Some(put(key, value)),
                (Request::Delete { keys: KeySet::Key(key), .. }, Response::Delete { deleted: 1, .. }) => {
                    Some((key.clone(), Change { kind: WatchEventKind::Delete, value: None, source: source.clone() }))
                }
                (Request::Txn { success, .. }, Response::Txn { succeeded: true, responses, .. }) => match (success.as_slice(), responses.as_slice()) {
                    ([Request::Put { key, value, .. }], [TxnResponse::Put { .. }]) => Some(put(key, value)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((key, change)) = change {
                if let Some(why) = agree(&mut truth, &key, revision.0, change) {
                    return Err(why);
                }
            }
        }
    }
    Ok(truth)
}

/// The guarantees of one stream; `Some(why)` for the first broken one.
fn one_watch(w: &WatchRecord, truth: &BTreeMap<(String, i64), Change>) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut header_of: BTreeMap<i64, i64> = BTreeMap::new();
    let mut last = 0;
    for e in &w.events {
        let (key, rev) = (&e.kv.key, e.kv.mod_revision.0);
        if !w.keys.contains(key) {
            return Some(format!("event for {key} at revision {rev}, a key it does not watch"));
        }
        if rev < last {
            return Some(format!("not ordered: revision {rev} ({key}) after revision {last}"));
        }
        last = rev;
        if !seen.insert((key.clone(), rev)) {
            return Some(format!("not unique: {key} at revision {rev} twice"));
        }
        if *header_of.entry(rev).or_insert(e.header_revision) != e.header_revision {
            return Some(format!("not atomic: the events of revision {rev} came in two responses"));
        }
        if w.start_revision > 0 && rev < w.start_revision {
            return Some(format!("event for {key} at revision {rev}, before the start revision"));
        }
        if let Some(why) = prev_kv_wrong(e, truth) {
            return Some(format!("{key} at revision {rev}: {why}"));
        }
    }
    let from = if w.start_revision > 0 { w.start_revision } else { w.created_revision? + 1 };
    // Bookmarkable: after a progress notification at revision r, every event has a revision
    // above r, and every known change up to r came before it.
    for b in &w.bookmarks {
        if let Some(e) = w.events[b.events_before..].iter().find(|e| e.kv.mod_revision.0 <= b.revision) {
            return Some(format!("{} at revision {} arrived after a bookmark at revision {}", e.kv.key, e.kv.mod_revision, b.revision));
        }
        let before: BTreeSet<(String, i64)> = w.events[..b.events_before].iter().map(|e| (e.kv.key.clone(), e.kv.mod_revision.0)).collect();
        if let Some(why) = missed(w, truth, &before, from, b.revision) {
            return Some(format!("{why} before its bookmark at revision {}", b.revision));
        }
    }
    // Reliable: the window from its start to the last revision it saw is complete.
    let last = w.events.last().map(|e| e.kv.mod_revision.0)?;
    missed(w, truth, &seen, from, last).map(|why| format!("{why} while it received revisions {from}..={last}"))
}

/// A known change to a watched key with a revision in `from..=to` that is not in `seen`.
fn missed(w: &WatchRecord, truth: &BTreeMap<(String, i64), Change>, seen: &BTreeSet<(String, i64)>, from: i64, to: i64) -> Option<String> {
    truth
        .iter()
        .find(|((key, rev), _)| (from..=to).contains(rev) && w.keys.contains(key) && !seen.contains(&(key.clone(), *rev)))
        .map(|((key, rev), change)| format!("missed {key} at revision {rev} ({:?}, known from {})", change.kind, change.source))
}

fn prev_kv_wrong(e: &WatchEvent, truth: &BTreeMap<(String, i64), Change>) -> Option<String> {
    let rev = e.kv.mod_revision.0;
    let Some(prev) = &e.prev_kv else {
        return match e.kind {
            WatchEventKind::Delete => Some("a delete without the deleted key as prev_kv".into()),
            WatchEventKind::Put if e.kv.version > 1 => Some(format!("a put of version {} without prev_kv", e.kv.version)),
            WatchEventKind::Put => None,
        };
    };
    if prev.key != e.kv.key || prev.mod_revision.0 >= rev {
        return Some(format!("prev_kv is {} at revision {}", prev.key, prev.mod_revision));
    }
    if e.kind == WatchEventKind::Put && prev.version + 1 != e.kv.version {
        return Some(format!("version {} but prev_kv has version {}", e.kv.version, prev.version));
    }
    if let Some(known) = truth.get(&(prev.key.clone(), prev.mod_revision.0)) {
        if known.value.as_deref() != Some(prev.value.as_str()) {
            return Some(format!("prev_kv has value {:?} but {} wrote {:?}", prev.value, known.source, known.value));
        }
    }
    let between = truth.range((prev.key.clone(), prev.mod_revision.0 + 1)..(prev.key.clone(), rev)).next();
    between.map(|((_, r), c)| format!("prev_kv is from revision {} but the key changed at {r} ({})", prev.mod_revision, c.source))
}

fn describe(keys: &KeySet) -> String {
    match keys {
        KeySet::Key(k) => k.clone(),
        KeySet::Prefix(p) => format!("prefix {p}"),
        KeySet::Range(a, b) => format!("[{a}, {b})"),
        KeySet::From(a) => format!("{a} and after"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ClientOp, OutcomeClass, Step};
    use crate::scenario::OpKind;
    use detcd_check::models::etcd::{KeyValue, Revision};
    use std::time::Duration;

    fn kv(key: &str, value: &str, rev: i64, version: i64) -> KeyValue {
        KeyValue { key: key.into(), value: value.into(), create_revision: Revision(rev - version + 1), mod_revision: Revision(rev), version, lease: None }
    }

    fn put_event(key: &str, value: &str, rev: i64, version: i64, prev: Option<KeyValue>) -> WatchEvent {
        WatchEvent { received: Duration::from_millis(rev as u64), header_revision: rev, kind: WatchEventKind::Put, kv: kv(key, value, rev, version), prev_kv: prev }
    }

    fn watch(start_revision: i64, events: Vec<WatchEvent>) -> ClientOp {
        let record = WatchRecord {
            keys: KeySet::Prefix("k".into()),
            start_revision,
            opened: Duration::ZERO,
            closed: Duration::from_secs(1),
            created_revision: Some(1),
            events,
            bookmarks: vec![],
            end: "closed by the client after its time".into(),
            outcome: OutcomeClass::Ok,
        };
        ClientOp { client: 1, kind: OpKind::Watch, member: 0, steps: vec![], watch: Some(record), lock: None, keepalive: None }
    }

    /// Client 0 puts k1=a (rev 2), k2=b (rev 3), k1=c (rev 4), each acknowledged.
    fn writer() -> Vec<ClientOp> {
        [("k1", "a", 2), ("k2", "b", 3), ("k1", "c", 4)]
            .into_iter()
            .map(|(k, v, rev)| {
                let request = Request::Put { key: k.into(), value: v.into(), lease: None, prev_kv: false };
                let t = Duration::from_millis(rev as u64);
                let step = Step { request, invoked: t, completed: t, outcome: StepOutcome::Ok(Response::Put { revision: Revision(rev), prev_kv: None }), trace: 0 };
                ClientOp { client: 0, kind: OpKind::Put, member: 0, steps: vec![step], watch: None, lock: None, keepalive: None }
            })
            .collect()
    }

    fn check(start: i64, events: Vec<WatchEvent>) -> Verdict {
        watch_guarantees(&History::new(vec![writer(), vec![watch(start, events)]]))
    }

    fn good() -> Vec<WatchEvent> {
        vec![put_event("k1", "a", 2, 1, None), put_event("k2", "b", 3, 1, None), put_event("k1", "c", 4, 2, Some(kv("k1", "a", 2, 1)))]
    }

    fn fails_with(v: Verdict, what: &str) {
        assert!(matches!(&v, Verdict::Fail(w) if w.contains(what)), "expected a failure naming {what:?}, got {v:?}");
    }

    #[test]
    fn a_complete_ordered_stream_passes() {
        assert_eq!(check(2, good()), Verdict::Pass);
        assert_eq!(check(0, good()), Verdict::Pass, "start 0: from the created revision + 1");
        assert_eq!(check(3, good()[1..].to_vec()), Verdict::Pass, "a resumed watch");
    }

    #[test]
    fn each_broken_guarantee_fails() {
        let g = good();
        fails_with(check(2, vec![g[0].clone(), g[2].clone()]), "missed k2 at revision 3");
        fails_with(check(2, vec![g[1].clone(), g[0].clone(), g[2].clone()]), "not ordered");
        fails_with(check(2, vec![g[0].clone(), g[1].clone(), g[1].clone(), g[2].clone()]), "not unique");
        fails_with(check(3, g.clone()), "before the start revision");
        let mut split = g.clone();
        split.push(put_event("k3", "x", 4, 1, None));
        split[3].header_revision = 9;
        fails_with(check(2, split), "not atomic");
        let mut wrong_value = g.clone();
        wrong_value[1].kv.value = "z".into();
        fails_with(check(2, wrong_value), "k2 at revision 3");
        let mut no_prev = g.clone();
        no_prev[2].prev_kv = None;
        fails_with(check(2, no_prev), "without prev_kv");
        let mut stale_prev = g.clone();
        stale_prev[2].prev_kv = Some(kv("k1", "q", 2, 1));
        fails_with(check(2, stale_prev), "prev_kv has value");
    }

    #[test]
    fn a_bookmark_promises_everything_up_to_its_revision() {
        let mark = |revision, events_before| crate::history::Bookmark { received: Duration::ZERO, revision, events_before };
        let with = |events: Vec<WatchEvent>, bookmarks| {
            let mut w = watch(2, events);
            w.watch.as_mut().unwrap().bookmarks = bookmarks;
            watch_guarantees(&History::new(vec![writer(), vec![w]]))
        };
        let g = good();
        assert_eq!(with(g.clone(), vec![mark(3, 2)]), Verdict::Pass);
        // A bookmark at 4 after only two events (and nothing after): k1 at 4 was owed before it.
        fails_with(with(g[..2].to_vec(), vec![mark(4, 2)]), "before its bookmark at revision 4");
        // An event at or below the bookmark's revision after it.
        fails_with(with(g.clone(), vec![mark(3, 1)]), "arrived after a bookmark at revision 3");
    }

    #[test]
    fn watches_must_agree_with_each_other() {
        let other = watch(2, vec![put_event("k9", "x", 5, 1, None)]);
        let mut liar = watch(2, vec![put_event("k9", "y", 5, 1, None)]);
        liar.client = 2;
        let v = watch_guarantees(&History::new(vec![writer(), vec![other], vec![liar]]));
        fails_with(v, "k9 at revision 5");
    }
}
