//! A legacy plugin in the style engines such as Orch8 load with `wasm://`: a core module that
//! exports `alloc`, `dealloc` and `handle` and exchanges JSON through linear memory. No SDK,
//! no WIT. Plinth runs it unchanged, as a node named after the file.
//!
//! Input: `{"instance_id","block_id","params":{"text":…},"context":{"data","config"},"attempt"}`.
//! Output: `{"category","confidence","matched"}`, or `{"error": …}` for bad input.

use serde_json::{Value, json};

/// Reserves `size` bytes for the host to write the input into.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(size: i32) -> i32 {
    let mut buf: Vec<u8> = Vec::with_capacity(size.max(0) as usize);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr as i32
}

/// Frees a buffer from `alloc` or from `handle`'s output.
///
/// # Safety
/// `ptr`/`size` must come from `alloc(size)` or from `handle`'s packed return value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: i32, size: i32) {
    unsafe { drop(Vec::from_raw_parts(ptr as *mut u8, 0, size.max(0) as usize)) };
}

/// Handles one call: reads the envelope at `ptr`, returns `(out_ptr << 32) | out_len`.
///
/// # Safety
/// `ptr`/`len` must describe the buffer the host filled after `alloc(len)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn handle(ptr: i32, len: i32) -> i64 {
    let input = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) };
    let output = match serde_json::from_slice::<Value>(input) {
        Ok(envelope) => match envelope["params"]["text"].as_str() {
            Some(text) => {
                let c = classify::classify(text);
                json!({"category": c.category, "confidence": c.confidence, "matched": c.matched})
            }
            None => json!({"error": "params.text (a string) is required"}),
        },
        Err(e) => json!({"error": format!("input is not JSON: {e}")}),
    };
    let out = output.to_string().into_bytes().into_boxed_slice();
    let out_len = out.len() as i64;
    let out_ptr = Box::into_raw(out) as *mut u8 as i64;
    (out_ptr << 32) | out_len
}
