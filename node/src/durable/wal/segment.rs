//! Segment files: their names and the header record each one starts with.

/// The suffix of WAL segment files; other files in the directory are not the WAL's.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// The magic bytes at the start of a segment header's payload.
pub const MAGIC: &[u8; 8] = b"detcdwal";
/// The on-disk format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Payload bytes of a segment header: magic, version, seq, first index.
pub const HEADER_PAYLOAD_BYTES: usize = 8 + 4 + 8 + 8;

/// A segment's identity, as in its file name `{seq:016x}-{first_index:016x}.wal`.
/// - `seq` numbers segments 1, 2, 3, ... in the order they were created.
/// - `first_index` is the index the segment's first entry has or would have had: the log's last
///   index + 1 when the segment was created. (Entries in it may still rewrite earlier indexes, when
///   a new leader overwrites an uncommitted suffix.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentId {
    pub seq: u64,
    pub first_index: u64,
}

impl SegmentId {
    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}{SEGMENT_SUFFIX}", self.seq, self.first_index)
    }

    /// Parses a segment file name; `None` if it is not exactly of the form `file_name` writes.
    pub fn parse(name: &str) -> Option<SegmentId> {
        let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
        let (seq, first) = stem.split_once('-')?;
        let id = SegmentId { seq: parse_hex16(seq)?, first_index: parse_hex16(first)? };
        (id.seq > 0 && id.first_index > 0).then_some(id)
    }

    /// The header record's payload.
    pub fn header_payload(&self) -> [u8; HEADER_PAYLOAD_BYTES] {
        let mut p = [0u8; HEADER_PAYLOAD_BYTES];
        p[..8].copy_from_slice(MAGIC);
        p[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        p[12..20].copy_from_slice(&self.seq.to_le_bytes());
        p[20..28].copy_from_slice(&self.first_index.to_le_bytes());
        p
    }

    /// Decodes a header payload, checking magic and version.
    pub fn from_header_payload(p: &[u8]) -> Result<SegmentId, String> {
        if p.len() != HEADER_PAYLOAD_BYTES {
            return Err(format!("segment header of {} bytes, expected {HEADER_PAYLOAD_BYTES}", p.len()));
        }
        if &p[..8] != MAGIC {
            return Err("segment header without the WAL magic".into());
        }
        let version = u32::from_le_bytes(p[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(format!("WAL format version {version}, this build reads version {FORMAT_VERSION}"));
        }
        Ok(SegmentId {
            seq: u64::from_le_bytes(p[12..20].try_into().expect("8 bytes")),
            first_index: u64::from_le_bytes(p[20..28].try_into().expect("8 bytes")),
        })
    }
}

/// Parses exactly 16 lower-case hex digits.
fn parse_hex16(s: &str) -> Option<u64> {
    let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| u64::from_str_radix(s, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_seq() {
        let a = SegmentId { seq: 9, first_index: 0x42 };
        let b = SegmentId { seq: 10, first_index: 7 };
        assert_eq!(a.file_name(), "0000000000000009-0000000000000042.wal");
        assert_eq!(SegmentId::parse(&a.file_name()), Some(a));
        assert!(a.file_name() < b.file_name(), "file names sort as seq does");
    }

    #[test]
    fn other_names_are_not_segments() {
        for name in ["x.wal", "0000000000000001-0000000000000001.snap", "0000000000000001-000000000000001.wal",
            "0000000000000000-0000000000000001.wal", "000000000000000G-0000000000000001.wal", "000000000000000A-0000000000000001.wal"]
        {
            assert_eq!(SegmentId::parse(name), None, "{name}");
        }
    }

    #[test]
    fn header_payload_round_trips_and_checks_magic_and_version() {
        let id = SegmentId { seq: 3, first_index: 100 };
        assert_eq!(SegmentId::from_header_payload(&id.header_payload()), Ok(id));
        let mut bad = id.header_payload();
        bad[8] = 2;
        assert!(SegmentId::from_header_payload(&bad).unwrap_err().contains("version 2"));
        bad = id.header_payload();
        bad[0] = b'X';
        assert!(SegmentId::from_header_payload(&bad).is_err());
        assert!(SegmentId::from_header_payload(&bad[..5]).is_err());
    }
}
