//! Just enough EDN to read one flat map per line: `{:k :keyword, :n 3, :s "text", :x nil}`.

use super::ParseError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Without the leading colon.
    Keyword(&'a str),
    Str(String),
    Int(i64),
    Nil,
}

/// Reads a flat map of keyword keys (returned without the colon) to values.
///
/// # Errors
/// [`ParseError::Unexpected`] at `line`, quoting the text where reading stopped.
pub(crate) fn parse_map(line: usize, text: &str) -> Result<Vec<(&str, Value<'_>)>, ParseError> {
    let mut r = Reader { line, rest: text };
    r.skip_space();
    r.expect('{')?;
    let mut entries = Vec::new();
    loop {
        r.skip_space();
        if r.eat('}') {
            break;
        }
        let key = match r.value()? {
            Value::Keyword(k) => k,
            _ => return Err(r.error("a keyword key like :type")),
        };
        r.skip_space();
        let value = r.value()?;
        entries.push((key, value));
    }
    r.skip_space();
    if !r.rest.is_empty() {
        return Err(r.error("the end of the line after the map"));
    }
    Ok(entries)
}

struct Reader<'a> {
    line: usize,
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn error(&self, expected: &str) -> ParseError {
        ParseError::unexpected(self.line, expected, self.rest)
    }

    /// Whitespace and commas (EDN treats commas as whitespace).
    fn skip_space(&mut self) {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("{c:?}")))
        }
    }

    /// A token up to whitespace, a comma or a closing brace.
    fn word(&mut self) -> &'a str {
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == ',' || c == '}')
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn value(&mut self) -> Result<Value<'a>, ParseError> {
        if self.rest.starts_with('"') {
            return self.string();
        }
        let before = self.rest;
        let word = self.word();
        if let Some(k) = word.strip_prefix(':').filter(|k| !k.is_empty()) {
            return Ok(Value::Keyword(k));
        }
        if word == "nil" {
            return Ok(Value::Nil);
        }
        word.parse().map(Value::Int).map_err(|_| {
            ParseError::unexpected(self.line, "a keyword, string, integer or nil", before)
        })
    }

    fn string(&mut self) -> Result<Value<'a>, ParseError> {
        let start = self.rest;
        let mut out = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(Value::Str(out));
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c @ ('"' | '\\')) => out.push(c),
                    _ => {
                        return Err(ParseError::unexpected(
                            self.line,
                            "an escape \\n, \\t, \\\" or \\\\",
                            &start[i..],
                        ))
                    }
                },
                c => out.push(c),
            }
        }
        Err(ParseError::unexpected(self.line, "a closing \"", start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edn_reads_a_flat_map() {
        let m = parse_map(
            1,
            r#"{:process 3, :type :ok, :f :get, :key "a \"b\"", :value nil}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            vec![
                ("process", Value::Int(3)),
                ("type", Value::Keyword("ok")),
                ("f", Value::Keyword("get")),
                ("key", Value::Str("a \"b\"".into())),
                ("value", Value::Nil),
            ]
        );
    }

    #[test]
    fn edn_errors_say_what_was_expected() {
        for bad in ["{:a 1", "{:a \"open}", "{1 2}", "{:a 1} x", "{:a @}", "[]"] {
            assert!(
                matches!(
                    parse_map(7, bad),
                    Err(ParseError::Unexpected { line: 7, .. })
                ),
                "{bad}"
            );
        }
    }
}
