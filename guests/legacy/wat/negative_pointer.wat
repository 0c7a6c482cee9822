;; alloc returns a negative pointer.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const -8))
  (func (export "dealloc") (param i32 i32))
  (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))
