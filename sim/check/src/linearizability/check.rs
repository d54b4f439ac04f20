//! Checking a whole history: split it with the model's `partition`, search every partition
//! (in parallel), and combine the answers.
//!
//! P-compositionality (Horn and Kroening; used by Porcupine): when a model's state is a product
//! of independent parts and every operation touches one part, the history is linearizable iff
//! each part's sub-history is. So one failing partition makes the whole history illegal, and
//! "unknown" only wins when nothing failed. As in Porcupine, the first partition found illegal
//! stops the others: the verdict then names the failing partitions found by then (on several
//! threads, which ones can depend on timing; the verdict itself cannot).

use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use super::bitset::Bitset;
use super::deadline::Deadline;
use super::history::{History, Operation};
use super::memo::SharedBytes;
use super::search::{search, SearchResult};
use super::verdict::{Candidate, OpView, PartitionViolation, Verdict, ViolationInfo};
use super::Model;

/// Checks `history` against `model`, giving up with [`Verdict::Unknown`] once `deadline`
/// expires. Partitions are searched on up to as many threads as there are cores.
///
/// # Panics
/// If the model's `partition` does not return every operation index exactly once (a bug in
/// the model), or if the model itself panics.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    deadline: &dyn Deadline,
) -> Verdict {
    let ops = history.operations();
    let mut partitions = model.partition(ops);
    assert_partitions_cover(&partitions, ops.len());
    partitions.retain(|p| !p.is_empty());
    for p in &mut partitions {
        p.sort_by_key(|&i| (ops[i].call, i));
    }
    let memory = SharedBytes::new(0);
    // Early exit (Porcupine's): once one partition has no valid order the history is illegal,
    // so the others stop searching (they answer "unknown", which an illegal verdict outranks).
    let illegal_found = AtomicBool::new(false);
    let stop = StopEarly { deadline, illegal_found: &illegal_found };
    let outcomes = run_parallel(&partitions, |i| {
        let outcome = check_partition(model, ops, i, &partitions[i], &stop, &memory);
        if matches!(outcome, PartitionOutcome::Illegal(_)) {
            illegal_found.store(true, Ordering::Relaxed);
        }
        outcome
    });
    let mut failing = Vec::new();
    let mut unknown = false;
    for outcome in outcomes {
        match outcome {
            PartitionOutcome::Ok => {}
            PartitionOutcome::Unknown => unknown = true,
            PartitionOutcome::Illegal(v) => failing.push(v),
        }
    }
    if !failing.is_empty() {
        Verdict::Illegal(ViolationInfo {
            partitions: partitions.len(),
            failing,
        })
    } else if unknown {
        Verdict::Unknown
    } else {
        Verdict::Ok
    }
}

/// The caller's deadline, or an illegal partition found by another search (see `check`).
struct StopEarly<'a> {
    deadline: &'a dyn Deadline,
    illegal_found: &'a AtomicBool,
}

impl Deadline for StopEarly<'_> {
    fn expired(&self) -> bool {
        self.illegal_found.load(Ordering::Relaxed) || self.deadline.expired()
    }
}

enum PartitionOutcome {
    Ok,
    Illegal(PartitionViolation),
    Unknown,
}

fn assert_partitions_cover(partitions: &[Vec<usize>], len: usize) {
    let mut seen = Bitset::new(len);
    for &i in partitions.iter().flatten() {
        assert!(i < len, "model partition names operation {i} of {len}");
        assert!(
            !seen.contains(i),
            "model partition names operation {i} twice"
        );
        seen.set(i);
    }
    assert_eq!(seen.count(), len, "model partition leaves operations out");
}

fn check_partition<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    partition: usize,
    indices: &[usize],
    deadline: &dyn Deadline,
    memory: &SharedBytes,
) -> PartitionOutcome {
    let local: Vec<_> = indices.iter().map(|&i| &ops[i]).collect();
    match search(model, &local, deadline, memory) {
        SearchResult::Linearizable => PartitionOutcome::Ok,
        SearchResult::Unknown => PartitionOutcome::Unknown,
        SearchResult::Illegal { prefix, state } => {
            PartitionOutcome::Illegal(explain(model, partition, indices, &local, &prefix, &state))
        }
    }
}

/// Describes the dead end after `prefix` (partition-local indices): which operation's return
/// forces the issue and what each operation that could go next does in `state`.
fn explain<M: Model>(
    model: &M,
    partition: usize,
    indices: &[usize],
    local: &[&Operation<M::Input, M::Output>],
    prefix: &[usize],
    state: &M::State,
) -> PartitionViolation {
    let view = |i: usize| OpView::new(model, indices[i], local[i]);
    let mut done = Bitset::new(local.len());
    for &i in prefix {
        done.set(i);
    }
    // Same order as the event list: by time, calls before returns, then by index.
    let first_return = (0..local.len())
        .filter(|&i| !done.contains(i))
        .filter_map(|i| local[i].returned_at().map(|at| (at, i)))
        .min()
        .map(|(_, i)| i)
        .expect("a dead end leaves an operation that returned");
    let returned = local[first_return].returned_at();
    // Calls at the return's own time count as before it (see `Time`).
    let candidates = (0..local.len())
        .filter(|&i| !done.contains(i) && Some(local[i].call) <= returned)
        .map(|i| Candidate {
            op: view(i),
            refused: model
                .step(state, &local[i].input, local[i].output())
                .is_none(),
        })
        .collect();
    PartitionViolation {
        partition,
        operations: indices.to_vec(),
        longest_prefix: prefix.iter().map(|&i| view(i)).collect(),
        state: model.describe_state(state),
        first_pending_return: view(first_return),
        candidates,
    }
}

/// Below this many operations in all, threads cost more than they save.
const PARALLEL_OPERATIONS_MIN: usize = 512;

/// Runs `work(i)` for every partition, biggest first, on up to one thread per core, and
/// returns the results in partition order.
fn run_parallel<T: Send>(partitions: &[Vec<usize>], work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(partitions[i].len()));
    let total: usize = partitions.iter().map(Vec::len).sum();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if total < PARALLEL_OPERATIONS_MIN {
        1
    } else {
        cores.min(partitions.len())
    };
    let mut results: Vec<Option<T>> = (0..partitions.len()).map(|_| None).collect();
    if workers <= 1 {
        for i in order {
            results[i] = Some(work(i));
        }
    } else {
        let next = AtomicUsize::new(0);
        thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                            done.push((i, work(i)));
                        }
                        done
                    })
                })
                .collect();
            for h in handles {
                let done = h.join().unwrap_or_else(|e| panic::resume_unwind(e));
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        });
    }
    results
        .into_iter()
        .map(|r| r.expect("every partition was checked"))
        .collect()
}
