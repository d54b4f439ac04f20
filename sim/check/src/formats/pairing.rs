//! Turns a stream of invoke / complete events (Jepsen's shape, shared by every format) into
//! operations: each client has at most one operation open at a time.
//!
//! - `invoke` opens an operation;
//! - `ok` closes it with an output (Jepsen's `:fail` on a cas is an output too: "not swapped");
//! - `fail` means it definitely had no effect: the operation is dropped;
//! - `info` means nobody knows: the operation's outcome is unknown (return at +infinity);
//! - an operation still open at the end of the input is unknown as well.

use std::collections::BTreeMap;

use super::ParseError;
use crate::linearizability::{ClientId, History, Operation, Outcome, Time};

struct Open<I> {
    line: usize,
    call: Time,
    input: I,
}

pub(crate) struct Pairing<I, O> {
    open: BTreeMap<u64, Open<I>>,
    done: Vec<Operation<I, O>>,
}

impl<I, O> Pairing<I, O> {
    pub(crate) fn new() -> Self {
        Pairing {
            open: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    /// # Errors
    /// [`ParseError::ClientBusy`] if `client` already has an operation open.
    pub(crate) fn invoke(
        &mut self,
        line: usize,
        client: u64,
        call: Time,
        input: I,
    ) -> Result<(), ParseError> {
        if let Some(open) = self.open.get(&client) {
            return Err(ParseError::ClientBusy {
                line,
                client,
                open_line: open.line,
            });
        }
        self.open.insert(client, Open { line, call, input });
        Ok(())
    }

    /// Closes `client`'s operation with the output `output(input)` builds, which may refuse
    /// (the completion does not match the invocation) with what it expected.
    ///
    /// # Errors
    /// No operation open, a return before the call, or `output`'s refusal.
    pub(crate) fn ok(
        &mut self,
        line: usize,
        client: u64,
        at: Time,
        output: impl FnOnce(&I) -> Result<O, String>,
    ) -> Result<(), ParseError> {
        let open = self.take(line, client, at)?;
        let output = output(&open.input).map_err(|expected| ParseError::Unexpected {
            line,
            expected,
            found: "a completion that does not match its invocation".to_string(),
        })?;
        self.done.push(Operation {
            client: ClientId(client),
            call: open.call,
            input: open.input,
            outcome: Outcome::Returned { at, output },
        });
        Ok(())
    }

    /// The operation definitely had no effect: drop it.
    ///
    /// # Errors
    /// No operation open, or a return before the call.
    pub(crate) fn fail(&mut self, line: usize, client: u64, at: Time) -> Result<(), ParseError> {
        self.take(line, client, at).map(drop)
    }

    /// The operation's outcome is unknown.
    ///
    /// # Errors
    /// No operation open, or a return before the call.
    pub(crate) fn info(&mut self, line: usize, client: u64, at: Time) -> Result<(), ParseError> {
        let open = self.take(line, client, at)?;
        self.push_unknown(client, open);
        Ok(())
    }

    /// The operations, those still open counted as of unknown outcome.
    ///
    /// # Errors
    /// [`ParseError::TooLong`] past [`History::OPERATIONS_MAX`].
    pub(crate) fn finish(mut self) -> Result<History<I, O>, ParseError> {
        for (client, open) in std::mem::take(&mut self.open) {
            self.push_unknown(client, open);
        }
        History::new(self.done).map_err(|e| ParseError::TooLong {
            reason: e.to_string(),
        })
    }

    fn push_unknown(&mut self, client: u64, open: Open<I>) {
        self.done.push(Operation {
            client: ClientId(client),
            call: open.call,
            input: open.input,
            outcome: Outcome::Unknown,
        });
    }

    fn take(&mut self, line: usize, client: u64, at: Time) -> Result<Open<I>, ParseError> {
        let open = self
            .open
            .remove(&client)
            .ok_or(ParseError::NotInvoked { line, client })?;
        if at < open.call {
            return Err(ParseError::ReturnBeforeCall {
                line,
                call_line: open.line,
            });
        }
        Ok(open)
    }
}
