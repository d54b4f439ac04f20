//! One watch stream's watchers and the responses they owe their client. Pure: the gRPC layer feeds
//! it requests, the store and the time, and sends what it returns.

use super::{BATCH_BYTES_MAX, BATCH_REVISIONS_MAX, CONTROL_QUEUE_MAX, SCAN_RECORDS_MAX, WATCHERS_PER_STREAM_MAX};
use crate::state::apply::to_pb;
use crate::state::mvcc::{ChangeLimits, EventKind, MvccError, Store};
use crate::pb::etcdserverpb::{watch_create_request::FilterType, ResponseHeader, WatchCreateRequest, WatchResponse};
use crate::pb::mvccpb;
use crate::types::Revision;
use prost::Message as _;
use std::collections::{BTreeMap, VecDeque};

/// The limits a stream works within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchLimits {
    /// A response of a watcher that asked for `fragment` is split into pieces of at most about this
    /// many bytes (etcd uses `--max-request-bytes`).
    pub fragment_bytes: usize,
    /// How much one read from the store may return.
    pub batch: ChangeLimits,
}

impl WatchLimits {
    pub fn new(max_request_bytes: usize) -> WatchLimits {
        WatchLimits {
            fragment_bytes: max_request_bytes,
            batch: ChangeLimits {
                max_revisions: BATCH_REVISIONS_MAX,
                max_records_scanned: SCAN_RECORDS_MAX,
                max_bytes: BATCH_BYTES_MAX,
            },
        }
    }
}

/// The ID etcd gives a progress notification answering a progress request: it belongs to no watcher.
pub const PROGRESS_RESPONSE_ID: i64 = -1;

#[derive(Debug)]
struct Watcher {
    key: Vec<u8>,
    range_end: Vec<u8>,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    fragment: bool,
    progress_notify: bool,
    /// The first revision whose events this watcher has not yet sent.
    /// - Only grows; every event in range before it was sent exactly once (or filtered out).
    next: Revision,
    /// Whether events were sent since the last progress tick (such a tick is then skipped, as etcd
    /// elides progress notifications right after events).
    sent_since_tick: bool,
}

/// The watchers of one gRPC watch stream, and what is owed to its client.
#[derive(Debug)]
pub struct WatchStream {
    limits: WatchLimits,
    /// - At most [`WATCHERS_PER_STREAM_MAX`].
    watchers: BTreeMap<i64, Watcher>,
    /// The next automatic watch ID (etcd starts at 0 and skips IDs in use).
    next_id: i64,
    /// Responses to send before any more events: control responses, and fragments.
    /// - Control responses alone stay at most [`CONTROL_QUEUE_MAX`]: see [`WatchStream::accepts_requests`].
    outbox: VecDeque<WatchResponse>,
    /// A progress request is waiting for every watcher to catch up.
    progress_requested: bool,
    /// Round-robin position: the watcher after this ID reads next, so one busy watcher cannot
    /// starve the others of the stream.
    cursor: i64,
}

fn header(rev: Revision) -> Option<ResponseHeader> {
    Some(ResponseHeader { revision: rev.0, ..Default::default() })
}

impl WatchStream {
    pub fn new(limits: WatchLimits) -> WatchStream {
        WatchStream { limits, watchers: BTreeMap::new(), next_id: 0, outbox: VecDeque::new(), progress_requested: false, cursor: -1 }
    }

    /// Whether the stream takes another client request now (its control queue has room).
    pub fn accepts_requests(&self) -> bool {
        self.outbox.len() < CONTROL_QUEUE_MAX
    }

    /// How many watchers the stream holds.
    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// Refuses a create request: queues the created-and-canceled response with `reason`, as etcd
    /// answers a watch it will not serve (the caller may not read the range, say).
    pub fn refuse(&mut self, reason: &str, current: Revision) {
        self.outbox.push_back(refusal(reason, current));
    }

    /// A create request, with the store at revision `current`: queues the "created" response (or a
    /// created-and-canceled one with etcd's reason, if the request is refused).
    pub fn create(&mut self, r: WatchCreateRequest, current: Revision) {
        // etcd: an empty key is the smallest key "\0"; an empty range end watches one key.
        let key = if r.key.is_empty() { vec![0] } else { r.key };
        let range_end = r.range_end;
        let refuse = |reason: &str| refusal(reason, current);
        if !range_end.is_empty() && range_end != [0] && key >= range_end {
            self.outbox.push_back(refuse("mvcc: watcher range is empty"));
            return;
        }
        if r.watch_id != 0 && self.watchers.contains_key(&r.watch_id) {
            self.outbox.push_back(refuse("mvcc: duplicate watch ID provided on the WatchStream"));
            return;
        }
        if self.watchers.len() >= WATCHERS_PER_STREAM_MAX {
            self.outbox.push_back(refuse("detcd: too many watchers on this stream"));
            return;
        }
        let id = if r.watch_id != 0 {
            r.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        };
        // Start revision 0 (or less): from the next write on.
        let next = if r.start_revision > 0 { Revision(r.start_revision) } else { Revision(current.0 + 1) };
        let has = |f: FilterType| r.filters.contains(&(f as i32));
        self.watchers.insert(
            id,
            Watcher {
                key,
                range_end,
                no_put: has(FilterType::Noput),
                no_delete: has(FilterType::Nodelete),
                prev_kv: r.prev_kv,
                fragment: r.fragment,
                progress_notify: r.progress_notify,
                next,
                sent_since_tick: false,
            },
        );
        self.outbox.push_back(WatchResponse { header: header(current), watch_id: id, created: true, ..Default::default() });
    }

    /// A cancel request: removes the watcher and queues "canceled". An unknown ID gets no answer,
    /// as in etcd.
    pub fn cancel(&mut self, id: i64, current: Revision) {
        if self.watchers.remove(&id).is_some() {
            self.outbox.push_back(WatchResponse { header: header(current), watch_id: id, canceled: true, ..Default::default() });
        }
    }

    /// A progress request: answered once every watcher has sent everything up to the current
    /// revision, so that the revision it carries is a true bookmark.
    pub fn request_progress(&mut self) {
        self.progress_requested = true;
    }

    /// The periodic progress tick: every watcher with `progress_notify` that is caught up and sent
    /// no events since the last tick hears the current revision.
    pub fn progress_tick(&mut self, current: Revision) {
        for (id, w) in &mut self.watchers {
            if w.progress_notify && !w.sent_since_tick && w.next > current {
                self.outbox.push_back(WatchResponse { header: header(current), watch_id: *id, ..Default::default() });
            }
            w.sent_since_tick = false;
        }
    }

    /// Whether [`WatchStream::next_response`] has something to do with the store at `current`.
    pub fn has_work(&self, current: Revision) -> bool {
        !self.outbox.is_empty() || self.progress_requested || self.watchers.values().any(|w| w.next <= current)
    }

    /// The next response to send, reading at most one batch from `store`; `None` when there is
    /// nothing to send now (the call may still have moved watchers past revisions with no event
    /// for them).
    pub fn next_response(&mut self, store: &Store) -> Option<WatchResponse> {
        if let Some(r) = self.outbox.pop_front() {
            return Some(r);
        }
        let current = store.current_revision();
        let behind: Vec<i64> = {
            let after = self.watchers.range(self.cursor + 1..).map(|(id, _)| *id);
            let before = self.watchers.range(..=self.cursor).map(|(id, _)| *id);
            after.chain(before).filter(|id| self.watchers[id].next <= current).collect()
        };
        for id in behind {
            self.cursor = id;
            if let Some(r) = self.read(id, store) {
                return Some(r);
            }
        }
        if self.progress_requested && self.watchers.values().all(|w| w.next > current) {
            self.progress_requested = false;
            return Some(WatchResponse { header: header(current), watch_id: PROGRESS_RESPONSE_ID, ..Default::default() });
        }
        None
    }

    /// Reads one batch for watcher `id`; a response if it has events (or was compacted away).
    fn read(&mut self, id: i64, store: &Store) -> Option<WatchResponse> {
        let read = {
            let w = &self.watchers[&id];
            store.changes(&w.key, &w.range_end, w.next, w.prev_kv, self.limits.batch)
        };
        let changes = match read {
            Ok(c) => c,
            Err(MvccError::Compacted) => {
                // etcd: the watcher is gone, and the response names the compacted revision (and
                // carries header revision 0).
                self.watchers.remove(&id);
                let compacted = store.compacted_revision();
                return Some(WatchResponse {
                    header: header(Revision(0)),
                    watch_id: id,
                    canceled: true,
                    compact_revision: compacted.0,
                    ..Default::default()
                });
            }
            Err(MvccError::FutureRevision) => unreachable!("the change feed reads no future revision"),
        };
        let w = self.watchers.get_mut(&id).expect("reading a watcher of this stream");
        assert!(changes.next >= w.next, "watcher {id} would go back from {} to {}", w.next, changes.next);
        w.next = changes.next;
        let events: Vec<mvccpb::Event> = changes
            .events
            .into_iter()
            .filter(|e| match e.kind {
                EventKind::Put => !w.no_put,
                EventKind::Delete => !w.no_delete,
            })
            .map(|e| mvccpb::Event {
                r#type: match e.kind {
                    EventKind::Put => mvccpb::event::EventType::Put as i32,
                    EventKind::Delete => mvccpb::event::EventType::Delete as i32,
                },
                kv: Some(to_pb(e.kv)),
                prev_kv: e.prev_kv.map(to_pb),
            })
            .collect();
        if events.is_empty() {
            return None;
        }
        w.sent_since_tick = true;
        // The header says how far this watcher has been told everything.
        let through = Revision(w.next.0 - 1);
        let resp = WatchResponse { header: header(through), watch_id: id, events, ..Default::default() };
        if w.fragment {
            let mut pieces = fragment(resp, self.limits.fragment_bytes).into_iter();
            let first = pieces.next();
            self.outbox.extend(pieces);
            first
        } else {
            Some(resp)
        }
    }

    /// Asserts the invariants documented on the fields.
    pub fn check_invariants(&self) {
        assert!(self.watchers.len() <= WATCHERS_PER_STREAM_MAX);
        assert!(self.watchers.values().all(|w| w.next.0 >= 1));
    }
}

/// Splits `resp` into pieces of at most about `max_bytes` each (at least one event per piece), all
/// but the last marked `fragment`, as etcd's `sendFragments`. A response under the limit, or with
/// one event, stays whole.
fn fragment(resp: WatchResponse, max_bytes: usize) -> Vec<WatchResponse> {
    if resp.encoded_len() < max_bytes || resp.events.len() < 2 {
        return vec![resp];
    }
    let empty = WatchResponse { events: vec![], fragment: true, ..resp.clone() };
    let mut pieces = Vec::new();
    let mut cur = empty.clone();
    for ev in resp.events {
        cur.events.push(ev);
        if cur.events.len() > 1 && cur.encoded_len() >= max_bytes {
            let ev = cur.events.pop().expect("just pushed");
            pieces.push(std::mem::replace(&mut cur, empty.clone()));
            cur.events.push(ev);
        }
    }
    cur.fragment = false;
    pieces.push(cur);
    pieces
}

fn refusal(reason: &str, current: Revision) -> WatchResponse {
    WatchResponse {
        header: header(current),
        watch_id: -1,
        created: true,
        canceled: true,
        cancel_reason: reason.to_string(),
        ..Default::default()
    }
}
