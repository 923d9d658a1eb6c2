;; RFC 6455 section 5.3 masking, 64 bytes per step while they last, then 16 (see ../mask.ts).
(module
  (memory (export "memory") 2)
  ;; XOR n bytes at p (n a multiple of 16) with the 32-bit word m.
  (func (export "xor") (param $p i32) (param $n i32) (param $m i32)
    (local $end i32) (local $end64 i32) (local $v v128)
    (local.set $v (i32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    ;; Four stores per step: the loop's own add, compare and branch no longer cost one step per 16 bytes.
    ;; Signed compare below: end - 48 is negative for short runs at the start of memory.
    (local.set $end64 (i32.sub (local.get $end) (i32.const 48)))
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.ge_s (local.get $p) (local.get $end64)))
        (v128.store offset=0 (local.get $p) (v128.xor (v128.load offset=0 (local.get $p)) (local.get $v)))
        (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $v)))
        (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $v)))
        (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $wide)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store (local.get $p) (v128.xor (v128.load (local.get $p)) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))))
