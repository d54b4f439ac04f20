//! Fuzzing without cargo-fuzz: fixed-seed random inputs for the code that reads untrusted bytes.
//! The property is the same throughout: whatever the bytes, reading them returns a value or a
//! typed error, never a panic, and what it returns is a well-formed log.
//!
//! `DETCD_FUZZ_ITERS` scales every harness (default 1: a few thousand inputs each, a few seconds
//! in a debug build); `DETCD_FUZZ_SEED` changes the base seed. A failure names the seed and the
//! iteration, which reproduce it.

use super::record::{self, Kind};
use super::replay::Record;
use super::tests::{entry, hs, meta, open, put_file, wal_with};
use super::*;
use crate::durable::disk::SimDisk;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn scale() -> u64 {
    std::env::var("DETCD_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn base_seed() -> u64 {
    std::env::var("DETCD_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed)
}

/// Runs `case` for `n * scale()` iterations, each with its own RNG, and names the failing one.
fn fuzz(name: &str, n: u64, case: impl Fn(&mut StdRng)) {
    let seed = base_seed();
    for i in 0..n * scale() {
        let mut rng = StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if catch_unwind(AssertUnwindSafe(|| case(&mut rng))).is_err() {
            panic!("{name}: failed at iteration {i} with DETCD_FUZZ_SEED={seed}");
        }
    }
}

fn random_bytes(rng: &mut StdRng, max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max_len);
    (0..len).map(|_| rng.gen()).collect()
}

/// Bytes that are mostly well-formed: valid frames with random kinds and payloads, some of them
/// protobuf-looking, then damaged a little.
fn plausible_segment(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..6) {
        let kind = match rng.gen_range(0..7u8) {
            0 => Kind::SegmentHeader,
            1 | 2 => Kind::Entry,
            3 => Kind::HardState,
            4 => Kind::Snapshot,
            _ => Kind::SnapshotInstall,
        };
        let payload = if rng.gen_bool(0.5) { random_bytes(rng, 64) } else { protobuf_like(rng) };
        record::encode(kind, &payload, &mut out);
    }
    mutate(rng, &mut out);
    out
}

/// Random protobuf wire format: tags with random field numbers and wire types, varints, and
/// length-delimited fields whose lengths may lie.
fn protobuf_like(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..8) {
        let field: u64 = rng.gen_range(1..8);
        let wire: u64 = rng.gen_range(0..6);
        push_varint(&mut out, (field << 3) | wire);
        match wire {
            0 => push_varint(&mut out, rng.gen::<u64>() >> rng.gen_range(0..64)),
            2 => {
                let body = random_bytes(rng, 16);
                let claimed = if rng.gen_bool(0.8) { body.len() as u64 } else { rng.gen() };
                push_varint(&mut out, claimed);
                out.extend(body);
            }
            _ => out.extend(random_bytes(rng, 8)),
        }
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Applies one to three random damages: bit flips, overwrites, cuts, insertions, deletions,
/// duplicated or zeroed ranges, garbage at the end.
fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..=3) {
        let len = bytes.len();
        let at = rng.gen_range(0..=len);
        let span = rng.gen_range(0..=(len - at).min(64));
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                bytes[i] = rng.gen();
            }
            2 => bytes.truncate(at),
            3 => {
                let ins = random_bytes(rng, 16);
                bytes.splice(at..at, ins);
            }
            4 => {
                bytes.drain(at..at + span);
            }
            5 => {
                let dup = bytes[at..at + span].to_vec();
                bytes.splice(at..at, dup);
            }
            6 => bytes[at..at + span].fill(0),
            _ => bytes.extend(random_bytes(rng, 32)),
        }
    }
}

/// Checks what the scanner returned is consistent with its input.
fn check_scan(bytes: &[u8]) {
    let (records, end) = record::scan(bytes);
    let mut at = 0u64;
    for r in &records {
        assert_eq!(r.offset, at, "records are back to back");
        at += record::framed_len(r.payload.len()) as u64;
        let _ = Record::decode(r);
    }
    match end {
        record::End::Clean => assert_eq!(at, bytes.len() as u64),
        record::End::Torn { offset, .. } | record::End::Corrupt { offset, .. } => {
            assert_eq!(offset, at);
            assert!(offset < bytes.len() as u64);
        }
    }
}

#[test]
fn fuzz_the_record_scanner_never_panics_on_random_bytes() {
    fuzz("random bytes", 5_000, |rng| {
        let bytes = random_bytes(rng, 512);
        check_scan(&bytes);
    });
}

#[test]
fn fuzz_the_record_decoder_never_panics_on_damaged_plausible_segments() {
    fuzz("plausible segments", 5_000, |rng| check_scan(&plausible_segment(rng)));
}

#[test]
fn fuzz_record_payloads_round_trip_or_fail_to_decode_cleanly() {
    fuzz("payload round trip", 3_000, |rng| {
        // Any bytes may be an entry's data, and survive the trip unchanged.
        let data = random_bytes(rng, 300);
        let e = entry(rng.gen_range(1..1000), rng.gen_range(1..10), &data);
        let mut framed = Vec::new();
        let r = Record::Entry(e.clone());
        record::encode(r.kind(), &r.payload(), &mut framed);
        let (raw, end) = record::scan(&framed);
        assert_eq!(end, record::End::Clean);
        assert_eq!(Record::decode(&raw[0]), Ok(Record::Entry(e)));
    });
}

/// The files of a WAL that went through rotations, a snapshot marker and an overwrite.
fn base_wal() -> (SimDisk, Vec<(String, Vec<u8>)>) {
    let disk = SimDisk::new(0);
    let mut wal = wal_with(&disk, WalOptions { segment_bytes_max: 400, ..WalOptions::default() }, 10);
    wal.append(&[entry(11, 1, b"uncommitted"), entry(12, 1, b"uncommitted")]).unwrap();
    wal.sync().unwrap();
    wal.mark_snapshot(&meta(4, 1)).unwrap();
    // A new leader in term 2 overwrites the uncommitted suffix.
    wal.set_hard_state(&hs(2, 2, 10)).unwrap();
    wal.append(&[entry(11, 2, b"overwrite"), entry(12, 2, b"again")]).unwrap();
    wal.sync().unwrap();
    let files = disk.list().unwrap().into_iter().map(|n| (n.clone(), disk.read(&n).unwrap())).collect();
    (disk, files)
}

#[test]
fn fuzz_opening_a_damaged_wal_never_panics_and_yields_a_well_formed_log() {
    let (_, files) = base_wal();
    assert!(files.len() >= 2, "the base WAL should span segments: {files:?}");
    fuzz("damaged WAL", 1_500, |rng| {
        let mut files = files.clone();
        let victim = rng.gen_range(0..files.len());
        mutate(rng, &mut files[victim].1);
        let disk = SimDisk::new(1);
        for (name, bytes) in &files {
            put_file(&disk, name, bytes);
        }
        if let Ok((mut wal, rec, _)) = open(&disk, WalOptions { segment_bytes_max: 400, ..WalOptions::default() }) {
            for (k, e) in rec.entries.iter().enumerate() {
                assert_eq!(e.index, rec.snapshot.index + 1 + k as u64, "entries follow the snapshot, contiguous");
            }
            assert!(rec.hard_state.commit <= rec.snapshot.index + rec.entries.len() as u64);
            // A WAL that opened can be written and opened again.
            wal.append(&[entry(wal.last_index() + 1, rec.hard_state.term.max(2), b"next")]).unwrap();
            wal.sync().unwrap();
            drop(wal);
            open(&disk, WalOptions { segment_bytes_max: 400, ..WalOptions::default() }).expect("a repaired WAL reopens");
        }
    });
}

/// A torn tail loses exactly the torn record: every cut of the newest segment opens, and gives the
/// log that a cut at the end of the last whole record gives (or, inside the preamble, the log
/// without that segment).
#[test]
fn every_cut_of_the_newest_segment_opens_losing_only_the_torn_record() {
    let (disk, files) = base_wal();
    let (newest, bytes) = files.last().unwrap().clone();
    let info = inspect(&disk).unwrap();
    let ends: Vec<u64> = info.last().unwrap().records.iter().map(|r| r.0 + r.1).collect();
    let mut by_boundary: std::collections::BTreeMap<u64, Recovered> = std::collections::BTreeMap::new();
    for cut in 0..=bytes.len() as u64 {
        let whole = ends.iter().filter(|e| **e <= cut).count();
        let boundary = if whole < 3 { 0 } else { ends[whole - 1] };
        let d = SimDisk::new(2);
        for (name, b) in &files {
            put_file(&d, name, if *name == newest { &b[..cut as usize] } else { &b[..] });
        }
        let (_, rec, report) = open(&d, WalOptions { segment_bytes_max: 400, ..WalOptions::default() }).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(report.removed.len(), usize::from(whole < 3), "cut at {cut}");
        let expected = by_boundary.entry(boundary).or_insert_with(|| rec.clone());
        assert_eq!(&rec, expected, "cut at {cut} (last whole record ends at {boundary})");
    }
    assert_eq!(by_boundary.len(), ends.len() - 1, "one log per whole record after the preamble, and one without the segment");
}
