;; Imports a host function: refused at load, naming the import.
(module
  (import "env" "log_message" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "dealloc") (param i32 i32))
  (func (export "handle") (param i32 i32) (result i64)
    (call $log (i32.const 0) (i32.const 0))
    (i64.const 0)))
