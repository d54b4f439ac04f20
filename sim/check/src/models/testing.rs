//! Small histories written by hand, for the models' ok/bad pairs.

use crate::linearizability::{
    check, ClientId, History, Model, NoDeadline, Operation, Outcome, Time, Verdict,
};

/// A history under construction: `ops().ok(client, call, ret, input, output)...check(&model)`.
pub(crate) struct Ops<I, O>(Vec<Operation<I, O>>);

pub(crate) fn ops<I, O>() -> Ops<I, O> {
    Ops(Vec::new())
}

impl<I, O> Ops<I, O> {
    pub(crate) fn ok(mut self, client: u64, call: u64, ret: u64, input: I, output: O) -> Self {
        self.0.push(Operation {
            client: ClientId(client),
            call: Time(call),
            input,
            outcome: Outcome::Returned {
                at: Time(ret),
                output,
            },
        });
        self
    }

    pub(crate) fn unknown(mut self, client: u64, call: u64, input: I) -> Self {
        self.0.push(Operation {
            client: ClientId(client),
            call: Time(call),
            input,
            outcome: Outcome::Unknown,
        });
        self
    }

    pub(crate) fn check<M: Model<Input = I, Output = O>>(self, model: &M) -> Verdict {
        check(
            model,
            &History::new(self.0).expect("valid history"),
            &NoDeadline,
        )
    }
}

pub(crate) fn assert_ok(v: Verdict) {
    assert_eq!(v, Verdict::Ok, "expected linearizable");
}

/// Asserts the verdict is illegal and returns its description.
pub(crate) fn assert_illegal(v: Verdict) -> String {
    match v {
        Verdict::Illegal(info) => info.to_string(),
        other => panic!("expected not linearizable, got {other:?}"),
    }
}
