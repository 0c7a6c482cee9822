//! Sample node plugin: `transform` reshapes a JSON object by the plugin's config:
//!
//! ```json
//! {"defaults": {"status": "new"}, "pick": ["id", "email", "status"], "rename": {"email": "contact"}}
//! ```
//!
//! Defaults fill missing fields first, then `pick` keeps the listed fields (all when absent),
//! then `rename` renames them.

use plinth_guest::{Context, Error, Node, Spec, Value, json};

struct JsonTransform;

impl Node for JsonTransform {
    fn nodes() -> Vec<Spec> {
        vec![
            Spec::new("transform", "Pick, rename and default the fields of a JSON object (rules in config).")
                .input(json!({"type": "object"}))
                .output(json!({"type": "object"})),
        ]
    }

    fn run(name: &str, ctx: &Context, params: Value) -> Result<Value, Error> {
        if name != "transform" {
            return Err(Error::not_found(name));
        }
        let Value::Object(mut obj) = params else {
            return Err(Error::invalid_input("params must be a JSON object"));
        };
        if let Some(defaults) = ctx.config("defaults") {
            let defaults = defaults.as_object().ok_or_else(|| Error::invalid_input("config.defaults must be an object"))?;
            for (k, v) in defaults {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(pick) = ctx.config("pick") {
            let pick = pick.as_array().ok_or_else(|| Error::invalid_input("config.pick must be an array of names"))?;
            let keep: Vec<&str> = pick.iter().filter_map(Value::as_str).collect();
            obj.retain(|k, _| keep.contains(&k.as_str()));
        }
        if let Some(rename) = ctx.config("rename") {
            let rename = rename.as_object().ok_or_else(|| Error::invalid_input("config.rename must be an object"))?;
            for (from, to) in rename {
                let to = to.as_str().ok_or_else(|| Error::invalid_input("config.rename values must be strings"))?;
                if let Some(v) = obj.remove(from) {
                    obj.insert(to.to_string(), v);
                }
            }
        }
        Ok(Value::Object(obj))
    }
}

plinth_guest::export_node!(JsonTransform);
