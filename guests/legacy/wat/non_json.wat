;; handle returns bytes that are not JSON.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "<html>not json</html>")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "dealloc") (param i32 i32))
  (func (export "handle") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 21))))
