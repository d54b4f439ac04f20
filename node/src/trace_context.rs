//! W3C trace context (`traceparent`, <https://www.w3.org/TR/trace-context/>): the trace a client
//! request belongs to, as the client sent it.
//!
//! A write's trace ID travels with its Raft entry ([`crate::state::request::ReplicatedRequest`]'s
//! `trace` field) and is reported when a member applies the entry
//! ([`crate::events::NodeEvent::Applied`]), so the entry can be tied to the client call that
//! proposed it: by a tracing backend, and by the simulator, which resolves client calls whose
//! answer was lost from what the members applied (history patching).
//!
//! Worked example: the header
//!
//! ```text
//!   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//!                ^^ version  ^^^^^^^^ trace-id (16 bytes) ^^^^^ parent-id (8 bytes)  ^^ flags
//! ```
//!
//! gives `TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736)`. Anything that does not parse (another
//! version's layout, wrong lengths, upper-case hex, an all-zero ID) is ignored, as the
//! specification asks: the request is served, just not tied to a trace.

use std::fmt;

/// The metadata key, lower-case as HTTP/2 and gRPC carry it.
pub const TRACEPARENT: &str = "traceparent";

/// A 16-byte trace ID, never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TraceId(pub u128);

impl TraceId {
    /// Parses a `traceparent` header value (version 00, or a later version's first four fields).
    pub fn from_traceparent(value: &str) -> Option<TraceId> {
        let mut parts = value.split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lower_hex(version, 2) || version == "ff" || !lower_hex(trace, 32) || !lower_hex(parent, 16) || !lower_hex(flags, 2) {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let id = u128::from_str_radix(trace, 16).ok()?;
        let parent_id = u64::from_str_radix(parent, 16).ok()?;
        (id != 0 && parent_id != 0).then_some(TraceId(id))
    }

    /// The trace of a gRPC request, if its metadata carries a valid `traceparent`.
    pub fn of_metadata(metadata: &tonic::metadata::MetadataMap) -> Option<TraceId> {
        TraceId::from_traceparent(metadata.get(TRACEPARENT)?.to_str().ok()?)
    }

    /// The ID as the 16 bytes a Raft entry carries (big-endian).
    pub fn to_bytes(self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }

    /// The ID a Raft entry carries: `None` for no bytes, or anything but 16 non-zero bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TraceId> {
        let id = u128::from_be_bytes(bytes.try_into().ok()?);
        (id != 0).then_some(TraceId(id))
    }

    /// A `traceparent` value for this trace with `parent` as the caller's span.
    pub fn traceparent(self, parent: u64) -> String {
        format!("00-{:032x}-{:016x}-01", self.0, parent.max(1))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_parses() {
        let t = TraceId::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(t, Some(TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736)));
        assert_eq!(TraceId::from_bytes(&t.unwrap().to_bytes()), t);
        assert_eq!(TraceId::from_traceparent(&t.unwrap().traceparent(7)), t);
    }

    #[test]
    fn what_the_specification_calls_invalid_is_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceId::from_traceparent(bad), None, "{bad:?}");
        }
        // A later version may append fields.
        assert!(TraceId::from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
        assert_eq!(TraceId::from_bytes(&[]), None);
        assert_eq!(TraceId::from_bytes(&[0; 16]), None);
        assert_eq!(TraceId::from_bytes(&[1; 15]), None);
    }
}
