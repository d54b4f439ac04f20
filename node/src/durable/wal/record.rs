//! The record frame: length, two checksums, kind, payload (layout in the `wal` module doc), and the
//! scanner that splits a segment's bytes into records and says how the segment ends.
//!
//! The scanner is the part of the WAL that reads untrusted bytes, so it must never panic, whatever
//! the input (the fuzz tests in `wal::fuzz_tests` hold it to that).

/// Bytes before the body: length (4), body checksum (4), header checksum (4).
pub const FRAME_HEADER_BYTES: usize = 12;
/// The largest body (kind byte + payload) a record may have. Raft entries are bounded by the client
/// request limit (`--max-request-bytes`, 1.5 MiB by default) plus a little framing, far below this.
pub const BODY_BYTES_MAX: usize = 64 << 20;
const _: () = assert!(BODY_BYTES_MAX <= u32::MAX as usize, "the length field is a u32");
const _: () = assert!(3 * 512 * 1024 + crate::config::GRPC_OVERHEAD_BYTES < BODY_BYTES_MAX / 16);

/// What a record holds. The byte values are on disk: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    SegmentHeader = 1,
    Entry = 2,
    HardState = 3,
    Snapshot = 4,
    SnapshotInstall = 5,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::SegmentHeader,
            2 => Kind::Entry,
            3 => Kind::HardState,
            4 => Kind::Snapshot,
            5 => Kind::SnapshotInstall,
            _ => return None,
        })
    }
}

/// Appends one framed record to `out`.
///
/// # Panics
/// If the body would exceed [`BODY_BYTES_MAX`]: callers check sizes first (`WalError::RecordTooLarge`).
pub fn encode(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    let body_len = payload.len() + 1;
    assert!(body_len <= BODY_BYTES_MAX, "WAL record body of {body_len} bytes over the limit");
    let mut body_crc = crc32c::crc32c(&[kind as u8]);
    body_crc = crc32c::crc32c_append(body_crc, payload);
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    head[4..].copy_from_slice(&body_crc.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&crc32c::crc32c(&head).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
}

/// The frame size of a record with `payload_len` payload bytes.
pub fn framed_len(payload_len: usize) -> usize {
    FRAME_HEADER_BYTES + 1 + payload_len
}

/// A record as found in a segment: its checksums hold, nothing else is known about it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Where the record's frame starts in the segment.
    pub offset: u64,
    pub kind: u8,
    pub payload: &'a [u8],
}

/// How a segment's bytes end after its last good record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Exactly after the last record.
    Clean,
    /// A write that a crash cut short starts at `offset` (see the module doc of `wal`: an
    /// incomplete frame, or zeros to the end of the file). Only the last segment may end so.
    Torn { offset: u64, why: &'static str },
    /// Bytes at `offset` that no crash can produce: a checksum that fails on a complete frame, an
    /// impossible length.
    Corrupt { offset: u64, why: String },
}

/// Splits `bytes` into records, stopping at the first one that is not whole and sound.
pub fn scan(bytes: &[u8]) -> (Vec<RawRecord<'_>>, End) {
    let mut records = Vec::new();
    let mut at = 0usize;
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return (records, End::Clean);
        }
        let offset = at as u64;
        if rest.iter().all(|b| *b == 0) {
            return (records, End::Torn { offset, why: "zero-filled tail" });
        }
        if rest.len() < FRAME_HEADER_BYTES {
            return (records, End::Torn { offset, why: "incomplete record header" });
        }
        // A zero frame header is where the log ends (etcd's rule: a zero length is the end of the
        // written part of a segment). A crash can leave zeros where a record was being written
        // and a later sector of that write on disk; nothing after zeros was ever synced, since
        // records are synced in order.
        if rest[..FRAME_HEADER_BYTES].iter().all(|b| *b == 0) {
            return (records, End::Torn { offset, why: "zero record header" });
        }
        let head = &rest[..8];
        let head_crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if crc32c::crc32c(head) != head_crc {
            return (records, End::Corrupt { offset, why: "record header checksum mismatch".into() });
        }
        let body_len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let body_crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        if body_len == 0 || body_len > BODY_BYTES_MAX {
            return (records, End::Corrupt { offset, why: format!("impossible record length {body_len}") });
        }
        let Some(body) = rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + body_len) else {
            return (records, End::Torn { offset, why: "incomplete record body" });
        };
        if crc32c::crc32c(body) != body_crc {
            return (records, End::Corrupt { offset, why: "record body checksum mismatch".into() });
        }
        records.push(RawRecord { offset, kind: body[0], payload: &body[1..] });
        at += FRAME_HEADER_BYTES + body_len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(kind, payload, &mut out);
        out
    }

    #[test]
    fn frames_round_trip_including_arbitrary_payload_bytes() {
        let payloads: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 3], (0..=255u8).collect(), frame(Kind::Entry, b"nested")];
        let mut seg = Vec::new();
        for p in &payloads {
            encode(Kind::Entry, p, &mut seg);
        }
        let (records, end) = scan(&seg);
        assert_eq!(end, End::Clean);
        let got: Vec<&[u8]> = records.iter().map(|r| r.payload).collect();
        assert_eq!(got, payloads.iter().map(|p| p.as_slice()).collect::<Vec<_>>());
        assert!(records.iter().all(|r| r.kind == Kind::Entry as u8));
    }

    #[test]
    fn layout_is_length_body_crc_header_crc_kind_payload() {
        let f = frame(Kind::HardState, b"ab");
        assert_eq!(f.len(), framed_len(2));
        assert_eq!(&f[..4], &3u32.to_le_bytes());
        assert_eq!(&f[4..8], &crc32c::crc32c(&[3, b'a', b'b']).to_le_bytes());
        assert_eq!(&f[8..12], &crc32c::crc32c(&f[..8]).to_le_bytes());
        assert_eq!(&f[12..], &[3, b'a', b'b']);
    }

    #[test]
    fn every_cut_inside_the_last_record_is_a_tear_at_its_start() {
        let mut seg = frame(Kind::Entry, b"first");
        let last_at = seg.len();
        encode(Kind::Entry, &[7u8; 40], &mut seg);
        for cut in last_at + 1..seg.len() {
            let (records, end) = scan(&seg[..cut]);
            assert_eq!(records.len(), 1, "cut at {cut}");
            assert!(matches!(end, End::Torn { offset, .. } if offset == last_at as u64), "cut at {cut}: {end:?}");
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_a_torn_tail() {
        let mut seg = frame(Kind::Entry, b"x");
        let n = seg.len();
        seg.resize(n + 700, 0);
        assert_eq!(scan(&seg).1, End::Torn { offset: n as u64, why: "zero-filled tail" });
    }

    #[test]
    fn a_zero_header_ends_the_log_even_with_bytes_after_it() {
        let mut seg = frame(Kind::Entry, b"x");
        let n = seg.len();
        seg.resize(n + 512, 0);
        seg.extend_from_slice(&frame(Kind::Entry, b"a later sector of the torn write"));
        assert_eq!(scan(&seg), (vec![RawRecord { offset: 0, kind: Kind::Entry as u8, payload: b"x" }], End::Torn { offset: n as u64, why: "zero record header" }));
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_complete_record_is_corruption() {
        let mut seg = frame(Kind::Entry, b"first");
        let second = seg.len();
        encode(Kind::Entry, b"second record", &mut seg);
        for byte in second..seg.len() {
            let mut bad = seg.clone();
            bad[byte] ^= 0x10;
            let (records, end) = scan(&bad);
            assert_eq!(records.len(), 1);
            assert!(matches!(end, End::Corrupt { offset, .. } if offset == second as u64), "byte {byte}: {end:?}");
        }
    }
}
