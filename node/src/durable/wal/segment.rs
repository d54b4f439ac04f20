//! Segment files: their names and the header record each one starts with.

/// The suffix of WAL segment files; other files in the directory are not the WAL's.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// The magic bytes at the start of a segment header's payload.
pub const MAGIC: &[u8; 8] = b"detcdwal";
/// The on-disk format version this code writes. Version 2 adds the owner's identity to each
/// segment header; version 1 headers (no identity) are still read.
pub const FORMAT_VERSION: u32 = 2;
/// Payload bytes of a version-1 segment header: magic, version, seq, first index.
pub const HEADER_V1_PAYLOAD_BYTES: usize = 8 + 4 + 8 + 8;
/// Payload bytes of a segment header: version 1's, then member ID and cluster ID.
pub const HEADER_PAYLOAD_BYTES: usize = HEADER_V1_PAYLOAD_BYTES + 8 + 8;

/// Whose log this is: the member and cluster that wrote it (etcd's WAL metadata record). Every
/// segment header carries it, so that a member started on another member's (or another cluster's)
/// data directory refuses to start. Zero means unknown (a version-1 segment, or a WAL opened
/// without an identity, as the simulator and unit tests do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub member: u64,
    pub cluster: u64,
}

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

    /// The header record's payload (the current version, with `owner`).
    pub fn header_payload(&self, owner: Identity) -> [u8; HEADER_PAYLOAD_BYTES] {
        let mut p = [0u8; HEADER_PAYLOAD_BYTES];
        p[..8].copy_from_slice(MAGIC);
        p[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        p[12..20].copy_from_slice(&self.seq.to_le_bytes());
        p[20..28].copy_from_slice(&self.first_index.to_le_bytes());
        p[28..36].copy_from_slice(&owner.member.to_le_bytes());
        p[36..44].copy_from_slice(&owner.cluster.to_le_bytes());
        p
    }

    /// Decodes a header payload of version 1 or 2, checking magic and version.
    pub fn from_header_payload(p: &[u8]) -> Result<(SegmentId, Identity), String> {
        if p.len() < HEADER_V1_PAYLOAD_BYTES || &p[..8] != MAGIC {
            return Err("segment header without the WAL magic".into());
        }
        let version = u32::from_le_bytes(p[8..12].try_into().expect("4 bytes"));
        let want = match version {
            1 => HEADER_V1_PAYLOAD_BYTES,
            2 => HEADER_PAYLOAD_BYTES,
            _ => return Err(format!("WAL format version {version}, this build reads versions 1 and {FORMAT_VERSION}")),
        };
        if p.len() != want {
            return Err(format!("segment header of {} bytes, expected {want} for version {version}", p.len()));
        }
        let u64_at = |at: usize| u64::from_le_bytes(p[at..at + 8].try_into().expect("8 bytes"));
        let id = SegmentId { seq: u64_at(12), first_index: u64_at(20) };
        let owner = if version == 1 { Identity::default() } else { Identity { member: u64_at(28), cluster: u64_at(36) } };
        Ok((id, owner))
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
        let owner = Identity { member: 7, cluster: 9 };
        assert_eq!(SegmentId::from_header_payload(&id.header_payload(owner)), Ok((id, owner)));
        // Version 1 (no identity) is still read.
        let mut v1 = id.header_payload(owner)[..HEADER_V1_PAYLOAD_BYTES].to_vec();
        v1[8] = 1;
        assert_eq!(SegmentId::from_header_payload(&v1), Ok((id, Identity::default())));
        let mut bad = id.header_payload(owner);
        bad[8] = 3;
        assert!(SegmentId::from_header_payload(&bad).unwrap_err().contains("version 3"));
        bad = id.header_payload(owner);
        bad[0] = b'X';
        assert!(SegmentId::from_header_payload(&bad).is_err());
        assert!(SegmentId::from_header_payload(&bad[..5]).is_err());
    }
}
