//! Contract checks: a plugin's own JSON Schemas (`input-schema` and `output-schema` of its
//! node and tool specs) applied by the host. Schemas are compiled once, at load; a call's
//! input is checked before any instance is made (an invalid input costs no instance), its
//! output after the call. Per plugin, each direction is `off`, `warn` (log and go on) or
//! `enforce` (a permanent [`InvokeError::ContractViolation`]); by default input is
//! enforced and output warned about.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{InvokeError, LoadError};
use crate::types::{Kind, Specs};

/// What a contract check does when a value does not match its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractMode {
    /// Not checked (the schema is not even compiled).
    Off,
    /// Logged as a warning; the call goes on.
    Warn,
    /// The call fails with [`InvokeError::ContractViolation`].
    Enforce,
}

/// The contract checks of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    pub input: ContractMode,
    pub output: ContractMode,
}

impl Default for Contracts {
    fn default() -> Self {
        Contracts { input: ContractMode::Enforce, output: ContractMode::Warn }
    }
}

impl Contracts {
    /// Every check off.
    pub const OFF: Contracts = Contracts { input: ContractMode::Off, output: ContractMode::Off };
}

/// How a manifest (`contracts = "warn"` or `[contracts] input = "enforce"`) or an operator
/// (`contracts` of the plugin in plugins.toml) sets contract checks: one mode for both
/// directions, or each on its own; what is not set is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContractsSetting {
    Both(ContractMode),
    Each {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<ContractMode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<ContractMode>,
    },
}

impl ContractsSetting {
    /// `base` with this setting laid over it.
    pub fn over(self, base: Contracts) -> Contracts {
        match self {
            ContractsSetting::Both(m) => Contracts { input: m, output: m },
            ContractsSetting::Each { input, output } => {
                Contracts { input: input.unwrap_or(base.input), output: output.unwrap_or(base.output) }
            }
        }
    }
}

/// One export's compiled schemas.
#[derive(Default)]
struct Pair {
    input: Option<jsonschema::Validator>,
    output: Option<jsonschema::Validator>,
}

/// A plugin's compiled schemas, by export.
pub(crate) struct Checks {
    policy: Contracts,
    /// Nodes' and tools' schemas by export name (looked up by `&str`: no key is built per
    /// call).
    nodes: HashMap<String, Pair>,
    tools: HashMap<String, Pair>,
}

impl Checks {
    /// No checks (a remote plugin declares no schemas).
    pub(crate) fn none() -> Checks {
        Checks { policy: Contracts::OFF, nodes: HashMap::new(), tools: HashMap::new() }
    }

    /// Compiles the schemas of `specs`' nodes and tools that `policy` checks; a schema that
    /// does not compile is a load error naming the export. Schemas are local: a `$ref` to
    /// another document is refused (no file or network reads on a plugin's behalf).
    pub(crate) fn compile(specs: &Specs, policy: Contracts) -> Result<Checks, LoadError> {
        let (mut nodes, mut tools) = (HashMap::new(), HashMap::new());
        for kind in [Kind::Node, Kind::Tool] {
            let exports = if kind == Kind::Node { &mut nodes } else { &mut tools };
            for spec in specs.of(kind) {
                let compile = |mode: ContractMode, schema: &Option<serde_json::Value>, which: &'static str| match (mode, schema) {
                    (ContractMode::Off, _) | (_, None) => Ok(None),
                    (_, Some(s)) => jsonschema::validator_for(s).map(Some).map_err(|e| LoadError::BadSchema {
                        kind,
                        name: spec.name.clone(),
                        which,
                        reason: e.to_string(),
                    }),
                };
                let pair = Pair {
                    input: compile(policy.input, &spec.input_schema, "input")?,
                    output: compile(policy.output, &spec.output_schema, "output")?,
                };
                if pair.input.is_some() || pair.output.is_some() {
                    exports.insert(spec.name.clone(), pair);
                }
            }
        }
        Ok(Checks { policy, nodes, tools })
    }

    /// Checks `text` (the caller's input) against `kind name`'s input schema. Also checks
    /// that it is JSON at all, which a call needs with or without a schema.
    pub(crate) fn input(&self, kind: Kind, name: &str, what: &str, text: &str) -> Result<(), InvokeError> {
        let not_json = |e: serde_json::Error| InvokeError::InvalidRequest(format!("{what} are not valid JSON: {e}"));
        let Some(schema) = self.pair(kind, name).and_then(|p| p.input.as_ref()) else {
            return serde_json::from_str::<serde::de::IgnoredAny>(text).map(|_| ()).map_err(not_json);
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(not_json)?;
        self.judge(schema, &value, kind, name, "input", self.policy.input)
    }

    /// Whether `kind name`'s output check can only warn (it has a schema, and the policy
    /// warns): such a check cannot change a call's outcome, so it need not delay it.
    pub(crate) fn output_only_warns(&self, kind: Kind, name: &str) -> bool {
        self.policy.output == ContractMode::Warn && self.pair(kind, name).is_some_and(|p| p.output.is_some())
    }

    /// Checks a call's output (JSON text) against `kind name`'s output schema.
    pub(crate) fn output(&self, kind: Kind, name: &str, text: &str) -> Result<(), InvokeError> {
        let Some(schema) = self.pair(kind, name).and_then(|p| p.output.as_ref()) else { return Ok(()) };
        // Valid JSON (the output was checked), but maybe deeper than serde_json's limit.
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return Ok(()) };
        self.judge(schema, &value, kind, name, "output", self.policy.output)
    }

    fn pair(&self, kind: Kind, name: &str) -> Option<&Pair> {
        match kind {
            Kind::Node => self.nodes.get(name),
            Kind::Tool => self.tools.get(name),
            Kind::Trigger | Kind::Listener => None,
        }
    }

    fn judge(
        &self,
        schema: &jsonschema::Validator,
        value: &serde_json::Value,
        kind: Kind,
        name: &str,
        direction: &'static str,
        mode: ContractMode,
    ) -> Result<(), InvokeError> {
        if schema.is_valid(value) {
            return Ok(());
        }
        let problems: Vec<String> = schema
            .iter_errors(value)
            .take(8)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("at {}: {e} (rule {})", if at.is_empty() { "/" } else { &at }, e.schema_path())
            })
            .collect();
        match mode {
            ContractMode::Enforce => Err(InvokeError::ContractViolation { kind, name: name.to_string(), direction, problems }),
            _ => {
                tracing::warn!(%kind, export = name, direction, problems = %problems.join("; "), "the call does not match its contract");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Spec;

    fn specs(input: serde_json::Value, output: Option<serde_json::Value>) -> Specs {
        let spec =
            Spec { name: "classify".into(), description: String::new(), input_schema: Some(input), output_schema: output, platform: None };
        Specs { tools: vec![spec], ..Specs::default() }
    }

    #[test]
    fn violations_name_the_pointer_and_the_rule() {
        let schema = serde_json::json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
        let checks = Checks::compile(&specs(schema, None), Contracts::default()).unwrap();
        assert!(checks.input(Kind::Tool, "classify", "arguments", r#"{"text":"hi"}"#).is_ok());
        let e = checks.input(Kind::Tool, "classify", "arguments", r#"{"text":5}"#).unwrap_err();
        let InvokeError::ContractViolation { direction, problems, .. } = &e else { panic!("{e:?}") };
        assert_eq!(*direction, "input");
        assert!(problems[0].starts_with("at /text:") && problems[0].contains("/properties/text/type"), "{problems:?}");
        let e = checks.input(Kind::Tool, "classify", "arguments", "{}").unwrap_err();
        assert!(e.to_string().contains("at /:") && e.to_string().contains("required"), "{e}");
        assert!(!e.retryable());
        assert!(matches!(checks.input(Kind::Tool, "classify", "arguments", "{"), Err(InvokeError::InvalidRequest(_))));
        // Other exports, and unknown ones, have no schema here.
        assert!(checks.input(Kind::Node, "classify", "params", "[]").is_ok());
    }

    #[test]
    fn warn_and_off_let_the_call_go_on() {
        let schema = serde_json::json!({"type": "object"});
        let out = Some(serde_json::json!({"type": "string"}));
        let warn =
            Checks::compile(&specs(schema.clone(), out.clone()), Contracts { input: ContractMode::Warn, output: ContractMode::Warn })
                .unwrap();
        assert!(warn.input(Kind::Tool, "classify", "arguments", "[]").is_ok());
        assert!(warn.output(Kind::Tool, "classify", "1").is_ok());
        let enforce =
            Checks::compile(&specs(schema.clone(), out), Contracts { input: ContractMode::Off, output: ContractMode::Enforce }).unwrap();
        assert!(enforce.input(Kind::Tool, "classify", "arguments", "[]").is_ok());
        let e = enforce.output(Kind::Tool, "classify", "1").unwrap_err();
        assert!(matches!(e, InvokeError::ContractViolation { direction: "output", .. }), "{e}");
    }

    #[test]
    fn settings_lay_over_the_defaults() {
        let parse = |t: &str| toml::from_str::<std::collections::BTreeMap<String, ContractsSetting>>(t).unwrap()["contracts"];
        assert_eq!(parse(r#"contracts = "off""#).over(Contracts::default()), Contracts::OFF);
        let output_only = parse("contracts = { output = \"enforce\" }").over(Contracts::default());
        assert_eq!(output_only, Contracts { input: ContractMode::Enforce, output: ContractMode::Enforce });
        assert!(toml::from_str::<std::collections::BTreeMap<String, ContractsSetting>>(r#"contracts = "strict""#).is_err());
    }

    #[test]
    fn a_schema_that_does_not_compile_is_a_load_error_naming_the_export() {
        let bad = serde_json::json!({"type": "no-such-type"});
        let e = Checks::compile(&specs(bad.clone(), None), Contracts::default()).err().expect("refused");
        assert!(e.to_string().contains("classify") && e.to_string().contains("input"), "{e}");
        // Off: not compiled, so not refused.
        assert!(Checks::compile(&specs(bad, None), Contracts::OFF).is_ok());
    }
}
