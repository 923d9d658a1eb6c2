;; RFC 6455 section 5.3 masking, 16 bytes at a time (see ../mask.ts).
(module
  (memory (export "memory") 2)
  ;; XOR n bytes at p (n a multiple of 16) with the 32-bit word m.
  (func (export "xor") (param $p i32) (param $n i32) (param $m i32)
    (local $end i32) (local $v v128)
    (local.set $v (i32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store (local.get $p) (v128.xor (v128.load (local.get $p)) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))))
