//! The typed entry points' input and output: JSON text that the plugin parses straight into
//! its own serde types, and serializes its own types into, with no `serde_json::Value` for
//! the input or the output (the [`crate::Context`]'s small `config` and `data` are still
//! `Value`s). For the sample text classifier, building and printing `Value`s was most of
//! the guest's JSON work (plinth's bench/REPORT.md, issue 17 part 5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// JSON the host sent (a tool's arguments, a node's params), not parsed yet.
///
/// [`Input::parse`] deserializes it into the plugin's own type; a `#[serde(borrow)]
/// Cow<'a, str>` field borrows from the text when the string has no escapes and owns a
/// decoded copy when it has. (A plain `&'a str` field refuses any string with an escape,
/// `\n` or `\u00e9`, as invalid input: use `Cow`.) [`Input::value`] gives the untyped
/// [`Value`].
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    what: &'static str,
    text: &'a str,
}

impl<'a> Input<'a> {
    /// `what` names the input in errors ("arguments", "params").
    #[doc(hidden)]
    pub fn new(what: &'static str, text: &'a str) -> Input<'a> {
        Input { what, text }
    }

    /// Deserializes the input into `T`. A mismatch (a missing field, a wrong type, text
    /// that is not JSON) is the caller's fault: `invalid-input`, with serde's message.
    ///
    /// A key given twice is refused (`duplicate field`, or a type error if the first value
    /// does not fit), where [`Input::value`] keeps the last one as the host's own schema
    /// check does. As everywhere in serde, a struct also deserializes from a JSON array of
    /// its fields in order; check the raw text ([`Input::as_str`]) if that must be refused.
    pub fn parse<T: Deserialize<'a>>(self) -> Result<T, Error> {
        serde_json::from_str(self.text).map_err(|e| {
            let what = self.what;
            if e.is_syntax() || e.is_eof() {
                Error::invalid_input(format!("{what} is not valid JSON: {e}"))
            } else {
                Error::invalid_input(format!("{what} do not match the expected type: {e}"))
            }
        })
    }

    /// The input as an untyped JSON value.
    pub fn value(self) -> Result<Value, Error> {
        crate::types::parse(self.what, self.text)
    }

    /// The JSON text as the host sent it.
    pub fn as_str(self) -> &'a str {
        self.text
    }
}

/// JSON to hand back to the host: made from a serde type ([`Output::json`]) or a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub struct Output(String);

impl Output {
    /// Serializes `value`. Fails (`failed`, not retryable) only for values JSON cannot
    /// hold, such as a map with non-string keys.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Output, Error> {
        serde_json::to_string(value).map(Output).map_err(|e| Error::failed(format!("output cannot be serialized: {e}")))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[doc(hidden)]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<Value> for Output {
    fn from(value: Value) -> Output {
        Output(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::HashMap;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::{Context, Tool, ToolSpec};

    #[derive(Deserialize)]
    struct Args<'a> {
        #[serde(borrow)]
        text: Cow<'a, str>,
    }

    #[test]
    fn parse_borrows_plain_strings_and_owns_escaped_ones() {
        let plain: Args = Input::new("arguments", r#"{"text": "hello", "extra": [1]}"#).parse().unwrap();
        assert!(matches!(plain.text, Cow::Borrowed("hello")));
        let escaped: Args = Input::new("arguments", r#"{"text": "a\"b\u00e9"}"#).parse().unwrap();
        assert_eq!(escaped.text, "a\"bé");
        assert!(matches!(escaped.text, Cow::Owned(_)));
    }

    #[test]
    fn a_mismatch_is_invalid_input_naming_the_input_and_the_field() {
        for (text, needle) in [
            ("{}", "missing field `text`"),
            (r#"{"text": 5}"#, "invalid type"),
            (r#"{"text": "a""#, "EOF while parsing"),
            (r#"{"text": "a"} x"#, "trailing characters"),
            (r#"{"text": "a", "text": "b"}"#, "duplicate field `text`"),
        ] {
            match Input::new("params", text).parse::<Args>() {
                Err(Error::InvalidInput(m)) => {
                    let head = if needle.starts_with("EOF") || needle.starts_with("trailing") {
                        "params is not valid JSON"
                    } else {
                        "params do not match the expected type"
                    };
                    assert!(m.starts_with(head) && m.contains(needle), "{m}");
                }
                _ => panic!("{text} was accepted or misclassified"),
            }
        }
        assert!(
            matches!(Input::new("arguments", "[1,").value(), Err(Error::InvalidInput(m)) if m.starts_with("arguments is not valid JSON"))
        );
    }

    #[test]
    fn output_serializes_or_fails_for_what_json_cannot_hold() {
        #[derive(Serialize)]
        struct Out {
            b: u8,
            a: &'static str,
        }
        // Field order is the struct's, as written.
        assert_eq!(Output::json(&Out { b: 1, a: "x" }).unwrap().as_str(), r#"{"b":1,"a":"x"}"#);
        assert_eq!(Output::from(json!({"k": [true, null]})).as_str(), r#"{"k":[true,null]}"#);
        let bad: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        assert!(matches!(Output::json(&bad), Err(Error::Failed { retryable: false, .. })));
    }

    struct Untyped;
    impl Tool for Untyped {
        fn tools() -> Vec<ToolSpec> {
            Vec::new()
        }
        fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
            Ok(json!({"name": name, "args": args}))
        }
    }

    struct Neither;
    impl Tool for Neither {
        fn tools() -> Vec<ToolSpec> {
            Vec::new()
        }
    }

    fn ctx() -> Context {
        Context { instance_id: String::new(), step_id: String::new(), attempt: 1, tenant: None, config: json!({}), data: json!(null) }
    }

    #[test]
    fn the_typed_entry_falls_back_to_the_untyped_one() {
        let out = Untyped::call_typed("t", &ctx(), Input::new("arguments", r#"{"x": 1}"#)).unwrap();
        assert_eq!(out.as_str(), r#"{"args":{"x":1},"name":"t"}"#);
        assert!(matches!(Untyped::call_typed("t", &ctx(), Input::new("arguments", "nope")), Err(Error::InvalidInput(_))));
        // A plugin that implements neither answers "not found" for every name.
        assert_eq!(Neither::call_typed("t", &ctx(), Input::new("arguments", "{}")), Err(Error::not_found("t")));
    }
}
