;; UTF-8 to UTF-16LE for bytes already validated (see ../utf16.ts). Runs of ASCII are widened
;; 16 bytes at a time; each other code point is decoded on its own.
(module
  ;; Input at 0 (64 KiB), output at 64 KiB (128 KiB and 32 bytes of slack).
  (memory (export "memory") 4)
  ;; Transcodes n bytes at p to q; returns the number of bytes written. May write up to 32
  ;; bytes past the end of the output (it stores whole widened blocks and moves on by the
  ;; ASCII prefix only), never reads past p + n.
  (func (export "utf16") (param $p i32) (param $n i32) (param $q i32) (result i32)
    (local $end i32) (local $start i32) (local $v v128) (local $m i32) (local $b i32) (local $c i32)
    (local.set $start (local.get $q))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.le_u (i32.add (local.get $p) (i32.const 16)) (local.get $end))
          (then
            (local.set $v (v128.load (local.get $p)))
            (v128.store (local.get $q) (i16x8.extend_low_i8x16_u (local.get $v)))
            (v128.store offset=16 (local.get $q) (i16x8.extend_high_i8x16_u (local.get $v)))
            (local.set $m (i8x16.bitmask (local.get $v)))
            (if (i32.eqz (local.get $m))
              (then
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $q (i32.add (local.get $q) (i32.const 32)))
                (br $next)))
            ;; Keep the ASCII bytes before the first lead byte; decode that one below.
            (local.set $c (i32.ctz (local.get $m)))
            (local.set $p (i32.add (local.get $p) (local.get $c)))
            (local.set $q (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 1))))))
        (local.set $b (i32.load8_u (local.get $p)))
        (if (i32.lt_u (local.get $b) (i32.const 0x80))
          (then
            (i32.store16 (local.get $q) (local.get $b))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 2)))
            (br $next)))
        (if (i32.lt_u (local.get $b) (i32.const 0xe0))
          (then
            (i32.store16 (local.get $q)
              (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x1f)) (i32.const 6))
                      (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3f))))
            (local.set $p (i32.add (local.get $p) (i32.const 2)))
            (local.set $q (i32.add (local.get $q) (i32.const 2)))
            (br $next)))
        (if (i32.lt_u (local.get $b) (i32.const 0xf0))
          (then
            (i32.store16 (local.get $q)
              (i32.or (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x0f)) (i32.const 12))
                              (i32.shl (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3f)) (i32.const 6)))
                      (i32.and (i32.load8_u offset=2 (local.get $p)) (i32.const 0x3f))))
            (local.set $p (i32.add (local.get $p) (i32.const 3)))
            (local.set $q (i32.add (local.get $q) (i32.const 2)))
            (br $next)))
        ;; Four bytes: a code point above U+FFFF, written as a surrogate pair.
        (local.set $c (i32.sub
          (i32.or (i32.or (i32.or
            (i32.shl (i32.and (local.get $b) (i32.const 0x07)) (i32.const 18))
            (i32.shl (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 0x3f)) (i32.const 12)))
            (i32.shl (i32.and (i32.load8_u offset=2 (local.get $p)) (i32.const 0x3f)) (i32.const 6)))
            (i32.and (i32.load8_u offset=3 (local.get $p)) (i32.const 0x3f)))
          (i32.const 0x10000)))
        (i32.store16 (local.get $q) (i32.or (i32.const 0xd800) (i32.shr_u (local.get $c) (i32.const 10))))
        (i32.store16 offset=2 (local.get $q) (i32.or (i32.const 0xdc00) (i32.and (local.get $c) (i32.const 0x3ff))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (br $next)))
    (i32.sub (local.get $q) (local.get $start))))
