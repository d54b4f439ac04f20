//! Histories made by running a sequential implementation under random concurrency: every
//! operation takes effect at one instant between its call and its return, so the history is
//! linearizable by construction. Shared by the property tests and the benchmark.
#![allow(dead_code)] // each test binary uses a different part

use rand::rngs::StdRng;
use rand::Rng;

use detcd_check::linearizability::{ClientId, History, Operation, Outcome, Time};
use detcd_check::models::etcd::{
    Compare, CompareOp, CompareTarget, KeySet, KeyValue, LeaseId, Request, Response, Store,
};
use detcd_check::models::kv_append::{KvInput, KvOutput};
use detcd_check::models::register::{RegisterInput, RegisterOutput};

/// A sequential object to generate histories for.
pub trait Spec {
    type State;
    type Input: Clone;
    type Output;
    fn init(&self) -> Self::State;
    fn random_input(&self, rng: &mut StdRng, serial: u64) -> Self::Input;
    fn run(&self, state: &mut Self::State, input: &Self::Input) -> Self::Output;
    /// Makes a read's output show a value no write ever wrote; `false` if not a read.
    fn corrupt_read(&self, output: &mut Self::Output) -> bool;
}

/// How a history is shaped.
#[derive(Clone, Copy)]
pub struct Shape {
    pub clients: usize,
    pub operations: usize,
    /// Chance that a pending operation times out (outcome unknown), per step.
    pub timeout_chance: f64,
}

enum Client<I, O> {
    Idle,
    Called { call: u64, input: I },
    Applied { call: u64, input: I, output: O },
}

/// Runs `shape.operations` operations of `spec` on `shape.clients` clients, interleaved at
/// random: each step picks a client and moves it on (call, take effect, return), so calls,
/// effects and returns of different clients interleave freely.
pub fn generate<S: Spec>(spec: &S, shape: Shape, rng: &mut StdRng) -> History<S::Input, S::Output> {
    let mut state = spec.init();
    let mut clients: Vec<Client<S::Input, S::Output>> =
        (0..shape.clients).map(|_| Client::Idle).collect();
    let mut ops = Vec::new();
    let mut called = 0;
    let mut time = 0;
    let record = |ops: &mut Vec<_>, c: usize, call, input, outcome| {
        ops.push(Operation {
            client: ClientId(c as u64),
            call: Time(call),
            input,
            outcome,
        });
    };
    while ops.len() < shape.operations {
        time += 1;
        let c = rng.gen_range(0..shape.clients);
        clients[c] = match std::mem::replace(&mut clients[c], Client::Idle) {
            Client::Idle if called < shape.operations => {
                called += 1;
                Client::Called {
                    call: time,
                    input: spec.random_input(rng, called as u64),
                }
            }
            Client::Idle => Client::Idle,
            Client::Called { call, input } if rng.gen_bool(shape.timeout_chance) => {
                // Timed out before taking effect: it may still take effect, or never.
                if rng.gen_bool(0.5) {
                    spec.run(&mut state, &input);
                }
                record(&mut ops, c, call, input, Outcome::Unknown);
                Client::Idle
            }
            Client::Called { call, input } => {
                let output = spec.run(&mut state, &input);
                Client::Applied {
                    call,
                    input,
                    output,
                }
            }
            Client::Applied { call, input, .. } if rng.gen_bool(shape.timeout_chance) => {
                record(&mut ops, c, call, input, Outcome::Unknown);
                Client::Idle
            }
            Client::Applied {
                call,
                input,
                output,
            } => {
                record(
                    &mut ops,
                    c,
                    call,
                    input,
                    Outcome::Returned {
                        at: Time(time),
                        output,
                    },
                );
                Client::Idle
            }
        };
    }
    History::new(ops).expect("generated histories are valid")
}

/// The history with the output of one read, chosen by `pick`, shown as a value never written.
/// `None` if the history has no read that returned.
pub fn corrupt_one_read<S: Spec>(
    spec: &S,
    history: &History<S::Input, S::Output>,
    pick: usize,
) -> Option<History<S::Input, S::Output>>
where
    S::Output: Clone,
{
    let mut ops = history.operations().to_vec();
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| match &ops[i].outcome {
            Outcome::Returned { output, .. } => spec.corrupt_read(&mut output.clone()),
            Outcome::Unknown => false,
        })
        .collect();
    let &i = reads.get(pick % reads.len().max(1))?;
    if let Outcome::Returned { output, .. } = &mut ops[i].outcome {
        assert!(spec.corrupt_read(output));
    }
    Some(History::new(ops).expect("still valid"))
}

/// The register, with values 0..5 (Jepsen's shape); -1 is never written.
pub struct RegisterSpec;

impl Spec for RegisterSpec {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;
    fn init(&self) -> Option<i64> {
        None
    }
    fn random_input(&self, rng: &mut StdRng, _: u64) -> RegisterInput {
        match rng.gen_range(0..3) {
            0 => RegisterInput::Read,
            1 => RegisterInput::Write {
                value: rng.gen_range(0..5),
            },
            _ => RegisterInput::Cas {
                from: rng.gen_range(0..5),
                to: rng.gen_range(0..5),
            },
        }
    }
    fn run(&self, state: &mut Option<i64>, input: &RegisterInput) -> RegisterOutput {
        match input {
            RegisterInput::Read => RegisterOutput::Read { value: *state },
            RegisterInput::Write { value } => {
                *state = Some(*value);
                RegisterOutput::Write
            }
            RegisterInput::Cas { from, to } => {
                let ok = *state == Some(*from);
                if ok {
                    *state = Some(*to);
                }
                RegisterOutput::Cas { ok }
            }
        }
    }
    fn corrupt_read(&self, output: &mut RegisterOutput) -> bool {
        match output {
            RegisterOutput::Read { value } => {
                *value = Some(-1);
                true
            }
            _ => false,
        }
    }
}

/// kv-append on `keys` keys; written values are unique (`x<serial>y`, none inside another),
/// never "CORRUPT".
pub struct KvSpec {
    pub keys: usize,
}

impl Spec for KvSpec {
    type State = std::collections::BTreeMap<String, String>;
    type Input = KvInput;
    type Output = KvOutput;
    fn init(&self) -> Self::State {
        Self::State::new()
    }
    fn random_input(&self, rng: &mut StdRng, serial: u64) -> KvInput {
        let key = format!("k{}", rng.gen_range(0..self.keys));
        match rng.gen_range(0..10) {
            0..=4 => KvInput::Get { key },
            5 => KvInput::Put {
                key,
                value: format!("x{serial}y"),
            },
            _ => KvInput::Append {
                key,
                value: format!("x{serial}y"),
            },
        }
    }
    fn run(&self, state: &mut Self::State, input: &KvInput) -> KvOutput {
        match input {
            KvInput::Get { key } => KvOutput::Get {
                value: state.get(key).cloned().unwrap_or_default(),
            },
            KvInput::Put { key, value } => {
                state.insert(key.clone(), value.clone());
                KvOutput::Put
            }
            KvInput::Append { key, value } => {
                state.entry(key.clone()).or_default().push_str(value);
                KvOutput::Append
            }
        }
    }
    fn corrupt_read(&self, output: &mut KvOutput) -> bool {
        match output {
            KvOutput::Get { value } => {
                *value = "CORRUPT".to_string();
                true
            }
            _ => false,
        }
    }
}

/// etcd on `keys` keys: gets, prefix ranges, puts, deletes, compare-and-swap txns, and lease
/// grant / put-on-lease / revoke. Outputs come from the model's own store (this tests the
/// search, not the model; the model's ok/bad pairs test the model).
pub struct EtcdSpec {
    pub keys: usize,
}

impl Spec for EtcdSpec {
    type State = Store;
    type Input = Request;
    type Output = Response;
    fn init(&self) -> Store {
        Store::new()
    }
    fn random_input(&self, rng: &mut StdRng, serial: u64) -> Request {
        let key = format!("k{}", rng.gen_range(0..self.keys));
        let value = format!("v{serial}");
        let lease = LeaseId(rng.gen_range(1..4));
        match rng.gen_range(0..20) {
            0..=7 => Request::Range {
                keys: KeySet::Key(key),
            },
            8 => Request::Range {
                keys: KeySet::Prefix("k".into()),
            },
            9..=12 => Request::Put {
                key,
                value,
                lease: None,
                prev_kv: rng.gen_bool(0.3),
            },
            13 => Request::Delete {
                keys: KeySet::Key(key),
                prev_kv: false,
            },
            14..=16 => Request::Txn {
                compare: vec![Compare {
                    keys: KeySet::Key(key.clone()),
                    op: CompareOp::Equal,
                    target: CompareTarget::Version(rng.gen_range(0..3)),
                }],
                success: vec![Request::Put {
                    key: key.clone(),
                    value,
                    lease: None,
                    prev_kv: false,
                }],
                failure: vec![Request::Range {
                    keys: KeySet::Key(key),
                }],
            },
            17 => Request::LeaseGrant {
                id: lease,
                ttl_s: 10,
            },
            18 => Request::Put {
                key,
                value,
                lease: Some(lease),
                prev_kv: false,
            },
            _ => Request::LeaseRevoke { id: lease },
        }
    }
    fn run(&self, state: &mut Store, input: &Request) -> Response {
        let (next, response) = state.apply(input);
        if let Some(next) = next {
            *state = next;
        }
        response
    }
    fn corrupt_read(&self, output: &mut Response) -> bool {
        match output {
            Response::Range { kvs, revision } => {
                let key = kvs
                    .first()
                    .map_or_else(|| "k0".to_string(), |kv| kv.key.clone());
                kvs.clear();
                kvs.push(KeyValue {
                    key,
                    value: "CORRUPT".into(),
                    create_revision: *revision,
                    mod_revision: *revision,
                    version: 1,
                    lease: None,
                });
                true
            }
            _ => false,
        }
    }
}
