//! Probe tools for the capability tests. Each reports what it observed as JSON
//! (`{"ok": …}` or `{"error": …}`) instead of failing, so a test can tell denied from broken.

use plinth_guest::{Context, Error, Tool, ToolSpec, Value, json};

struct Probe;

fn arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, Error> {
    args[key].as_str().ok_or_else(|| Error::invalid_input(format!("`{key}` is required")))
}

fn report<T: Into<Value>>(r: std::io::Result<T>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v.into() }),
        Err(e) => json!({ "error": e.to_string(), "kind": format!("{:?}", e.kind()) }),
    }
}

impl Tool for Probe {
    fn tools() -> Vec<ToolSpec> {
        let any = json!({"type": "object"});
        vec![
            ToolSpec::new("read", "Read the file at `path`.", any.clone()),
            ToolSpec::new("write", "Write `text` to the file at `path`.", any.clone()),
            ToolSpec::new("list", "List the directory at `path`.", any.clone()),
            ToolSpec::new("env", "Read the variable `name`, and list all variable names.", any),
        ]
    }

    fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
        Ok(match name {
            "read" => report(std::fs::read_to_string(arg(&args, "path")?)),
            "write" => report(std::fs::write(arg(&args, "path")?, arg(&args, "text")?).map(|()| true)),
            "list" => report(std::fs::read_dir(arg(&args, "path")?).map(|d| {
                let mut names: Vec<String> = d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                names
            })),
            "env" => json!({
                "value": std::env::var(arg(&args, "name")?).ok(),
                "names": std::env::vars().map(|(k, _)| k).collect::<Vec<_>>(),
            }),
            other => return Err(Error::not_found(other)),
        })
    }
}

plinth_guest::export_tool!(Probe);
