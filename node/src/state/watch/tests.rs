//! The watch guarantees etcd documents, one test each, on [`WatchStream`] over a real store.

use super::*;
use crate::state::mvcc::{ChangeLimits, Store};
use crate::pb::etcdserverpb::{watch_create_request::FilterType, WatchCreateRequest, WatchResponse};
use crate::types::{LeaseId, Revision};

fn put(s: &mut Store, kvs: &[(&str, &str)]) -> Revision {
    let mut t = s.write();
    for (k, v) in kvs {
        t.put(k.as_bytes(), v.as_bytes(), LeaseId(0));
    }
    t.commit()
}

fn del(s: &mut Store, key: &str, end: &str) -> Revision {
    let mut t = s.write();
    t.delete_range(key.as_bytes(), end.as_bytes());
    t.commit()
}

fn create(key: &str, end: &str, start: i64) -> WatchCreateRequest {
    WatchCreateRequest { key: key.into(), range_end: end.into(), start_revision: start, ..Default::default() }
}

fn tiny() -> WatchLimits {
    WatchLimits { fragment_bytes: 1 << 20, batch: ChangeLimits { max_revisions: 1, max_records_scanned: 1, max_bytes: 1 } }
}

/// Every response the stream has now, in order.
fn drain(ws: &mut WatchStream, s: &Store) -> Vec<WatchResponse> {
    let mut out = Vec::new();
    while ws.has_work(s.current_revision()) {
        match ws.next_response(s) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    ws.check_invariants();
    out
}

/// `id rev TYPE key[=value]` per event.
fn events(rs: &[WatchResponse]) -> Vec<String> {
    rs.iter()
        .flat_map(|r| {
            r.events.iter().map(move |e| {
                let kv = e.kv.as_ref().unwrap();
                let key = String::from_utf8_lossy(&kv.key);
                if e.r#type == 1 {
                    format!("{} {} DELETE {key}", r.watch_id, kv.mod_revision)
                } else {
                    format!("{} {} PUT {key}={}", r.watch_id, kv.mod_revision, String::from_utf8_lossy(&kv.value))
                }
            })
        })
        .collect()
}

#[test]
fn created_first_then_live_events_in_order() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    ws.create(create("foo", "", 0), s.current_revision());
    let created = drain(&mut ws, &s);
    assert_eq!(created.len(), 1);
    assert!(created[0].created && !created[0].canceled);
    assert_eq!((created[0].watch_id, created[0].header.as_ref().unwrap().revision), (0, 1));
    put(&mut s, &[("foo", "1")]);
    put(&mut s, &[("bar", "x")]);
    put(&mut s, &[("foo", "2")]);
    del(&mut s, "foo", "");
    let rs = drain(&mut ws, &s);
    assert_eq!(events(&rs), ["0 2 PUT foo=1", "0 4 PUT foo=2", "0 5 DELETE foo"]);
    assert_eq!(rs.last().unwrap().header.as_ref().unwrap().revision, 5);
}

#[test]
fn historical_replay_from_a_start_revision() {
    let mut s = Store::new();
    put(&mut s, &[("a", "1")]);
    put(&mut s, &[("b", "2")]);
    put(&mut s, &[("a", "3")]);
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    ws.create(create("a", "c", 3), s.current_revision());
    let rs = drain(&mut ws, &s);
    assert_eq!(events(&rs), ["0 3 PUT b=2", "0 4 PUT a=3"]);
}

#[test]
fn atomic_all_events_of_one_revision_in_one_response() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(tiny());
    ws.create(create("k", "l", 0), s.current_revision());
    drain(&mut ws, &s);
    put(&mut s, &[("k1", "a"), ("k2", "b"), ("k3", "c")]);
    put(&mut s, &[("k1", "d")]);
    let rs = drain(&mut ws, &s);
    assert_eq!(rs.len(), 2, "one response per revision under tiny limits, the 3-put txn whole");
    assert_eq!(rs[0].events.len(), 3);
    assert!(rs[0].events.iter().all(|e| e.kv.as_ref().unwrap().mod_revision == 2));
}

#[test]
fn ordered_unique_and_reliable_across_interleaved_writes_and_reads() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(tiny());
    ws.create(create("", "\0", 0), s.current_revision());
    drain(&mut ws, &s);
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for i in 0..200 {
        let key = format!("k{}", i % 7);
        let rev = if i % 5 == 4 { del(&mut s, &key, "") } else { put(&mut s, &[(&key, &i.to_string())]) };
        if rev.0 > expected.len() as i64 + 1 {
            expected.push(rev.0);
        }
        // Read only now and then, and only one response at a time: the watcher lags and catches up.
        if i % 3 == 0 {
            if let Some(r) = ws.next_response(&s) {
                got.push(r);
            }
        }
    }
    got.extend(drain(&mut ws, &s));
    let revs: Vec<i64> = got.iter().flat_map(|r| r.events.iter().map(|e| e.kv.as_ref().unwrap().mod_revision)).collect();
    assert_eq!(revs, expected, "every revision exactly once, in order");
}

#[test]
fn resumable_restart_at_last_revision_plus_one_loses_nothing() {
    let mut s = Store::new();
    for i in 0..10 {
        put(&mut s, &[("r", &i.to_string())]);
    }
    let mut first = WatchStream::new(tiny());
    first.create(create("r", "", 1), s.current_revision());
    first.next_response(&s).unwrap(); // created
    let seen: Vec<WatchResponse> = (0..4).filter_map(|_| first.next_response(&s)).collect();
    let last = seen.last().unwrap().events.last().unwrap().kv.as_ref().unwrap().mod_revision;
    drop(first); // the client disconnects
    for i in 10..15 {
        put(&mut s, &[("r", &i.to_string())]);
    }
    let mut second = WatchStream::new(tiny());
    second.create(create("r", "", last + 1), s.current_revision());
    let rest = drain(&mut second, &s);
    let all: Vec<String> = events(&seen).into_iter().chain(events(&rest)).map(|e| e[2..].to_string()).collect();
    let want: Vec<String> = (0..15).map(|i| format!("{} PUT r={i}", i + 2)).collect();
    assert_eq!(all, want);
}

#[test]
fn a_watcher_behind_compaction_is_canceled_with_the_compact_revision() {
    let mut s = Store::new();
    for i in 0..5 {
        put(&mut s, &[("c", &i.to_string())]);
    }
    s.compact(Revision(4)).unwrap();
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    ws.create(create("c", "", 2), s.current_revision());
    let rs = drain(&mut ws, &s);
    assert_eq!(rs.len(), 2);
    assert!(rs[1].canceled && rs[1].events.is_empty());
    assert_eq!((rs[1].compact_revision, rs[1].header.as_ref().unwrap().revision), (4, 0));
    assert!(ws.is_empty());
    // From the compacted revision itself, as etcd: served.
    ws.create(create("c", "", 4), s.current_revision());
    assert_eq!(events(&drain(&mut ws, &s)), ["1 4 PUT c=2", "1 5 PUT c=3", "1 6 PUT c=4"]);
}

#[test]
fn a_lagging_watcher_compacted_mid_catch_up_is_canceled_not_skipped() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(tiny());
    ws.create(create("x", "", 0), s.current_revision());
    drain(&mut ws, &s);
    for i in 0..6 {
        put(&mut s, &[("x", &i.to_string())]);
    }
    let first = ws.next_response(&s).unwrap();
    assert_eq!(events(&[first]), ["0 2 PUT x=0"]);
    s.compact(Revision(5)).unwrap();
    let rs = drain(&mut ws, &s);
    assert_eq!(rs.len(), 1);
    assert_eq!((rs[0].canceled, rs[0].compact_revision), (true, 5));
}

#[test]
fn prev_kv_and_filters() {
    let mut s = Store::new();
    put(&mut s, &[("p", "1")]);
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    let mut c = create("p", "", 0);
    c.prev_kv = true;
    c.filters = vec![FilterType::Noput as i32];
    ws.create(c, s.current_revision());
    let mut c = create("p", "", 0);
    c.filters = vec![FilterType::Nodelete as i32];
    ws.create(c, s.current_revision());
    drain(&mut ws, &s);
    put(&mut s, &[("p", "2")]);
    del(&mut s, "p", "");
    let rs = drain(&mut ws, &s);
    let mut ev = events(&rs);
    ev.sort();
    assert_eq!(ev, ["0 4 DELETE p", "1 3 PUT p=2"]);
    let delete = rs.iter().find(|r| r.watch_id == 0).unwrap();
    assert_eq!(delete.events[0].prev_kv.as_ref().unwrap().value, b"2");
}

#[test]
fn bookmarkable_progress_request_waits_until_watchers_caught_up() {
    let mut s = Store::new();
    for i in 0..3 {
        put(&mut s, &[("b", &i.to_string())]);
    }
    let mut ws = WatchStream::new(tiny());
    ws.create(create("b", "", 1), s.current_revision());
    ws.request_progress();
    let rs = drain(&mut ws, &s);
    let progress: Vec<&WatchResponse> = rs.iter().filter(|r| r.watch_id == PROGRESS_RESPONSE_ID).collect();
    assert_eq!(progress.len(), 1);
    let at = rs.iter().position(|r| r.watch_id == PROGRESS_RESPONSE_ID).unwrap();
    assert_eq!(at, rs.len() - 1, "after every event it vouches for");
    assert_eq!(progress[0].header.as_ref().unwrap().revision, 4);
    assert!(progress[0].events.is_empty());
}

#[test]
fn progress_notify_ticks_only_for_caught_up_quiet_watchers() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    let mut c = create("q", "", 0);
    c.progress_notify = true;
    ws.create(c, s.current_revision());
    ws.create(create("q", "", 0), s.current_revision()); // no progress_notify
    drain(&mut ws, &s);
    ws.progress_tick(s.current_revision());
    let rs = drain(&mut ws, &s);
    assert_eq!(rs.len(), 1);
    assert_eq!((rs[0].watch_id, rs[0].header.as_ref().unwrap().revision, rs[0].events.len()), (0, 1, 0));
    put(&mut s, &[("q", "1")]);
    drain(&mut ws, &s);
    ws.progress_tick(s.current_revision());
    assert!(drain(&mut ws, &s).is_empty(), "elided right after events");
    ws.progress_tick(s.current_revision());
    assert_eq!(drain(&mut ws, &s).len(), 1);
}

#[test]
fn fragment_splits_an_oversized_response_and_marks_all_but_the_last() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(WatchLimits { fragment_bytes: 300, ..WatchLimits::new(0) });
    let mut c = create("f", "g", 0);
    c.fragment = true;
    ws.create(c, s.current_revision());
    ws.create(create("f", "g", 0), s.current_revision());
    drain(&mut ws, &s);
    let big = "v".repeat(100);
    let kvs: Vec<(String, String)> = (0..6).map(|i| (format!("f{i}"), big.clone())).collect();
    let refs: Vec<(&str, &str)> = kvs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    put(&mut s, &refs);
    let rs = drain(&mut ws, &s);
    let frag: Vec<&WatchResponse> = rs.iter().filter(|r| r.watch_id == 0).collect();
    assert!(frag.len() > 1);
    assert!(frag[..frag.len() - 1].iter().all(|r| r.fragment) && !frag.last().unwrap().fragment);
    assert_eq!(frag.iter().map(|r| r.events.len()).sum::<usize>(), 6);
    let whole: Vec<&WatchResponse> = rs.iter().filter(|r| r.watch_id == 1).collect();
    assert_eq!((whole.len(), whole[0].events.len(), whole[0].fragment), (1, 6, false));
}

#[test]
fn cancel_stops_events_and_bad_creates_are_refused_as_etcd() {
    let mut s = Store::new();
    let mut ws = WatchStream::new(WatchLimits::new(1 << 20));
    ws.create(create("z", "", 0), s.current_revision());
    ws.cancel(0, s.current_revision());
    ws.cancel(42, s.current_revision()); // unknown: no answer
    put(&mut s, &[("z", "1")]);
    let rs = drain(&mut ws, &s);
    assert_eq!(rs.len(), 2);
    assert!(rs[1].canceled && rs[1].watch_id == 0 && rs[1].events.is_empty());
    ws.create(create("b", "a", 0), s.current_revision());
    let mut c = create("z", "", 0);
    c.watch_id = 7;
    ws.create(c.clone(), s.current_revision());
    ws.create(c, s.current_revision());
    let rs = drain(&mut ws, &s);
    assert_eq!(rs[0].cancel_reason, "mvcc: watcher range is empty");
    assert_eq!((rs[0].watch_id, rs[0].created, rs[0].canceled), (-1, true, true));
    assert_eq!((rs[1].watch_id, rs[1].canceled), (7, false));
    assert_eq!(rs[2].cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
}

#[test]
fn a_slow_watcher_catches_up_in_bounded_batches_and_does_not_starve_others() {
    let mut s = Store::new();
    let limits = WatchLimits { fragment_bytes: 1 << 20, batch: ChangeLimits { max_revisions: 10, max_records_scanned: 100, max_bytes: 1 << 20 } };
    let mut ws = WatchStream::new(limits);
    ws.create(create("busy", "", 0), s.current_revision());
    ws.create(create("quiet", "", 0), s.current_revision());
    drain(&mut ws, &s);
    // Writes go on without anyone reading: nothing is buffered for the watchers meanwhile.
    for i in 0..1000 {
        put(&mut s, &[("busy", &i.to_string())]);
    }
    put(&mut s, &[("quiet", "!")]);
    let mut responses = 0;
    let mut quiet_at = None;
    while let Some(r) = ws.next_response(&s) {
        assert!(r.events.len() <= 10, "bounded batch");
        if r.watch_id == 1 {
            quiet_at = Some(responses);
        }
        responses += 1;
    }
    assert_eq!(responses, 101);
    assert!(quiet_at.unwrap() < 100, "the quiet watcher was served while the busy one caught up");
}
