//! The legacy adapter: core wasm modules with the `alloc/dealloc/handle` JSON ABI that
//! engines such as Orch8 use, run as a one-node plugin under the same per-call limits.
//!
//! The ABI, exactly:
//! - the module exports `memory`, `alloc(size: i32) -> i32`, `dealloc(ptr: i32, size: i32)`
//!   and `handle(ptr: i32, len: i32) -> i64`, and imports nothing;
//! - the host calls `alloc(len)`, writes the input envelope (UTF-8 JSON) there, and calls
//!   `handle(ptr, len)`, which returns `(out_ptr << 32) | out_len`;
//! - the output is the JSON at `out_ptr`; the host then calls `dealloc` for input and output.
//!
//! Every number the guest hands back is checked before it is used.

use wasmtime::{ExternType, InstancePre, Linker, Module, ModuleExport, Store, TypedFunc, ValType};

use crate::error::LoadError;
use crate::store::CallState;
use crate::types::{CallContext, Level};

/// The exports the ABI requires, with the signature each must have.
const REQUIRED: &[(&str, &str)] = &[
    ("memory", "memory"),
    ("alloc", "func (param i32) (result i32)"),
    ("dealloc", "func (param i32 i32)"),
    ("handle", "func (param i32 i32) (result i64)"),
];

/// A guest broke the ABI: a pointer or length that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct AbiViolation(pub String);

/// The guest announced more output than the output limit allows.
#[derive(Debug, thiserror::Error)]
#[error("output of {size} bytes over the {limit}-byte limit")]
pub(crate) struct OutputOverLimit {
    pub size: usize,
    pub limit: usize,
}

/// A loaded legacy module: pre-instantiated, with its export indices looked up once.
pub(crate) struct LegacyModule {
    pre: InstancePre<CallState>,
    memory: ModuleExport,
    alloc: ModuleExport,
    dealloc: ModuleExport,
    handle: ModuleExport,
}

/// A short human description of an extern's type, e.g. `func (param i32) (result i32)`.
fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let list = |tys: &mut dyn Iterator<Item = ValType>| tys.map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
            let params = list(&mut f.params());
            let results = list(&mut f.results());
            let mut s = "func".to_string();
            if !params.is_empty() {
                s += &format!(" (param {params})");
            }
            if !results.is_empty() {
                s += &format!(" (result {results})");
            }
            s
        }
        ExternType::Memory(_) => "memory".into(),
        ExternType::Table(_) => "table".into(),
        ExternType::Global(_) => "global".into(),
        ExternType::Tag(_) => "tag".into(),
    }
}

impl LegacyModule {
    /// Checks the module against the ABI and pre-instantiates it with no imports at all.
    pub(crate) fn new(module: &Module) -> Result<LegacyModule, LoadError> {
        // A plugin built with the SDK for wasm32-unknown-unknown or wasm32-wasip1 is a core
        // module whose imports and exports are named after the plinth interfaces: say how to
        // build a component instead of listing ABI exports it never meant to have.
        let plinth = |name: &str| name.starts_with(crate::api::PACKAGE) && name[crate::api::PACKAGE.len()..].starts_with('/');
        let evidence = module
            .imports()
            .find(|i| plinth(i.module()))
            .map(|i| format!("it imports {}", i.module()))
            .or_else(|| module.exports().find(|e| plinth(e.name())).map(|e| format!("it exports {}", e.name())));
        if let Some(evidence) = evidence {
            return Err(LoadError::CoreModuleNotComponent { evidence });
        }
        let imports: Vec<String> = module.imports().map(|i| format!("{}::{} ({})", i.module(), i.name(), describe(&i.ty()))).collect();
        if !imports.is_empty() {
            return Err(LoadError::LegacyImports { imports });
        }
        for (name, expected) in REQUIRED {
            let found = module.get_export(name).map(|t| describe(&t));
            if found.as_deref() != Some(*expected) {
                return Err(LoadError::LegacyAbi {
                    export: name.to_string(),
                    expected: expected.to_string(),
                    found: found.unwrap_or_else(|| "nothing".into()),
                });
            }
        }
        let index = |name: &str| module.get_export_index(name).expect("checked above");
        let linker: Linker<CallState> = Linker::new(module.engine());
        let pre = linker.instantiate_pre(module).map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") })?;
        Ok(LegacyModule { pre, memory: index("memory"), alloc: index("alloc"), dealloc: index("dealloc"), handle: index("handle") })
    }

    /// Instantiates into `store` and looks up the ABI exports (checked at load).
    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<LegacyExports> {
        let inst = self.pre.instantiate(&mut *store)?;
        let memory = match inst.get_module_export(&mut *store, &self.memory) {
            Some(wasmtime::Extern::Memory(m)) => m,
            _ => wasmtime::bail!("legacy module lost its `memory` export (checked at load; host bug)"),
        };
        let mut func = |e: &ModuleExport| match inst.get_module_export(&mut *store, e) {
            Some(wasmtime::Extern::Func(f)) => Ok(f),
            _ => Err(wasmtime::format_err!("legacy module lost an export (checked at load; host bug)")),
        };
        let (alloc, handle, dealloc) = (func(&self.alloc)?, func(&self.handle)?, func(&self.dealloc)?);
        Ok(LegacyExports { memory, alloc: alloc.typed(&*store)?, handle: handle.typed(&*store)?, dealloc: dealloc.typed(&*store)? })
    }
}

/// One instance's ABI exports, ready to call.
pub(crate) struct LegacyExports {
    memory: wasmtime::Memory,
    alloc: TypedFunc<i32, i32>,
    handle: TypedFunc<(i32, i32), i64>,
    dealloc: TypedFunc<(i32, i32), ()>,
}

impl LegacyExports {
    /// One call: write the envelope, `handle`, read and return the output bytes.
    pub(crate) fn call(&self, store: &mut Store<CallState>, input: &[u8], max_output: usize) -> wasmtime::Result<Vec<u8>> {
        let memory = &self.memory;
        let len = i32::try_from(input.len())
            .map_err(|_| AbiViolation(format!("input of {} bytes does not fit the ABI's i32 length", input.len())))?;
        let in_ptr = self.alloc.call(&mut *store, len)?;
        check_range(store, memory, "alloc returned", in_ptr as i64, input.len())?;
        memory.write(&mut *store, in_ptr as usize, input)?;

        let packed = self.handle.call(&mut *store, (in_ptr, len))? as u64;
        let out_ptr = (packed >> 32) as u32 as i32;
        let out_len = packed as u32 as usize;
        if out_len > max_output {
            return Err(wasmtime::Error::new(OutputOverLimit { size: out_len, limit: max_output }));
        }
        check_range(store, memory, "handle returned", out_ptr as i64, out_len)?;
        let mut out = vec![0u8; out_len];
        memory.read(&*store, out_ptr as usize, &mut out)?;

        release(store, &self.dealloc, in_ptr, len, "input");
        release(store, &self.dealloc, out_ptr, out_len as i32, "output");
        Ok(out)
    }
}

/// Checks that `[ptr, ptr + len)` lies inside the guest's memory.
fn check_range(store: &Store<CallState>, memory: &wasmtime::Memory, what: &str, ptr: i64, len: usize) -> wasmtime::Result<()> {
    if ptr < 0 {
        return Err(wasmtime::Error::new(AbiViolation(format!("{what} a negative pointer ({ptr})"))));
    }
    let size = memory.data_size(store);
    let end = (ptr as u64).checked_add(len as u64);
    if end.is_none_or(|end| end > size as u64) {
        return Err(wasmtime::Error::new(AbiViolation(format!(
            "{what} pointer {ptr} with length {len}, which runs past the end of guest memory ({size} bytes)"
        ))));
    }
    Ok(())
}

/// Calls `dealloc`; a failure is logged, not fatal: the instance is discarded anyway.
fn release(store: &mut Store<CallState>, dealloc: &wasmtime::TypedFunc<(i32, i32), ()>, ptr: i32, len: i32, what: &str) {
    if let Err(e) = dealloc.call(&mut *store, (ptr, len)) {
        // Recorded in the call's logs (and so emitted through tracing with them).
        let msg = format!("dealloc of the {what} buffer failed (ignored): {}", e.root_cause());
        store.data().logs.host(Level::Warn, msg);
    }
}

/// The input envelope those engines send:
/// `{"instance_id","block_id","params","context":{"data","config"},"attempt"}`.
/// Built by splicing the already-validated JSON texts, without re-serializing them.
pub(crate) fn envelope(ctx: &CallContext, params: &str) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"{{"instance_id":{},"block_id":{},"params":{},"context":{{"data":{},"config":{}}},"attempt":{}}}"#,
        quote(&ctx.instance_id),
        quote(&ctx.step_id),
        params,
        ctx.data.as_str(),
        ctx.config.as_str(),
        ctx.attempt
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Json;

    #[test]
    fn envelope_is_the_documented_shape() {
        let ctx = CallContext {
            instance_id: "i\"1".into(),
            step_id: "b1".into(),
            attempt: 3,
            tenant: None,
            config: Json::parse(r#"{"k":1}"#).unwrap(),
            data: Json::parse("[1]").unwrap(),
        };
        let v: serde_json::Value = serde_json::from_str(&envelope(&ctx, r#"{"text":"x"}"#)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"instance_id": "i\"1", "block_id": "b1", "params": {"text": "x"},
                               "context": {"data": [1], "config": {"k": 1}}, "attempt": 3})
        );
    }
}
