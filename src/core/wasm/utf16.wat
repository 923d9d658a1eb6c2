;; UTF-8 to UTF-16LE for bytes already validated (see ../utf16.ts), 16 input bytes at a time:
;; runs of ASCII are widened; a block with two or more code points of two or three bytes is
;; decoded in every lane at once and the lanes that hold continuation bytes squeezed out (a
;; shuffle from a table of 256 patterns, one per 8-lane keep mask); a block with a single
;; one (there the branches cost less), or with a four-byte sequence, and the last bytes are
;; decoded one code point at a time.
(module
  ;; Input at 0 (64 KiB), output at 64 KiB (128 KiB and 32 bytes of slack), the shuffle table
  ;; at 0x31000 (256 x 16 bytes, written by ../utf16.ts when it loads the module).
  (memory (export "memory") 4)

  ;; Transcodes n bytes at p to q; returns the number of bytes written. May write up to 32
  ;; bytes past the end of the output and read up to 16 past the end of the input (both
  ;; inside the memory; what it reads there is never used).
  (func (export "utf16") (param $p i32) (param $n i32) (param $q i32) (result i32)
    (local $end i32) (local $start i32) (local $v v128) (local $v2 v128) (local $n1 v128) (local $n2 v128)
    (local $m i32) (local $lead i32) (local $len i32) (local $keep i32) (local $b i32) (local $c i32)
    (local $b16 v128) (local $x1 v128) (local $u v128)
    (local $w3f v128) (local $w1f v128) (local $wdf v128) (local $w80 v128) (local $bef v128) (local $bbf v128) (local $bdf v128)
    ;; Constants in locals (V8 builds a v128.const from immediates at every use): $w.. in
    ;; 16-bit lanes, $b.. in bytes (x > 0xef is a four-byte lead, > 0xbf any lead, > 0xdf a
    ;; three- or four-byte lead).
    (local.set $w3f (i16x8.splat (i32.const 0x3f)))
    (local.set $w1f (i16x8.splat (i32.const 0x1f)))
    (local.set $wdf (i16x8.splat (i32.const 0xdf)))
    (local.set $w80 (i16x8.splat (i32.const 0x80)))
    (local.set $bef (i8x16.splat (i32.const 0xef)))
    (local.set $bbf (i8x16.splat (i32.const 0xbf)))
    (local.set $bdf (i8x16.splat (i32.const 0xdf)))
    (local.set $start (local.get $q))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.le_u (i32.add (local.get $p) (i32.const 16)) (local.get $end))
          (then
            (local.set $v (v128.load (local.get $p)))
            (local.set $m (i8x16.bitmask (local.get $v)))
            (if (i32.eqz (local.get $m))
              (then
                (v128.store (local.get $q) (i16x8.extend_low_i8x16_u (local.get $v)))
                (v128.store offset=16 (local.get $q) (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $q (i32.add (local.get $q) (i32.const 32)))
                (br $next)))
            (local.set $lead (i8x16.bitmask (i8x16.gt_u (local.get $v) (local.get $bbf))))
            ;; Several code points of two or three bytes: all at once; else one at a time.
            (if (i32.and (i32.ge_u (i32.popcnt (local.get $lead)) (i32.const 2))
                         (i32.eqz (i8x16.bitmask (i8x16.gt_u (local.get $v) (local.get $bef)))))
              (then
                (local.set $v2 (v128.load offset=16 (local.get $p)))
                (local.set $n1 (i8x16.shuffle 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 (local.get $v) (local.get $v2)))
                (local.set $n2 (i8x16.shuffle 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 (local.get $v) (local.get $v2)))
                ;; A sequence that does not end in this block waits for the next: a lead in
                ;; lane 15, or a three-byte lead in lane 14 (valid input has not both).
                (local.set $len (i32.sub (i32.sub (i32.const 16)
                  (i32.shr_u (local.get $lead) (i32.const 15)))
                  (i32.and (i32.shr_u
                    (i8x16.bitmask (i8x16.gt_u (local.get $v) (local.get $bdf)))
                    (i32.const 13)) (i32.const 2))))
                ;; Keep the lanes that start a code point (ASCII or a lead), up to len.
                (local.set $keep (i32.and
                  (i32.or (local.get $lead) (i32.xor (local.get $m) (i32.const 0xffff)))
                  (i32.sub (i32.shl (i32.const 1) (local.get $len)) (i32.const 1))))
                ;; Lanes 0-7: decode every lane as if it led a code point (b, and the
                ;; two bytes after it), keep those in the mask, in order. Written out again
                ;; for lanes 8-15 below: a first version, one function called for each half
                ;; with its constants built inside, was 1.6x slower.
                (local.set $b16 (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $x1 (v128.and (i16x8.extend_low_i8x16_u (local.get $n1)) (local.get $w3f)))
                ;; 1110xxxx 10yyyyyy 10zzzzzz (shifting by 12 in 16 bits drops the 1110), else
                ;; 110xxxxx 10yyyyyy, else ASCII.
                (local.set $u (v128.or (v128.or (i16x8.shl (local.get $b16) (i32.const 12)) (i16x8.shl (local.get $x1) (i32.const 6)))
                                       (v128.and (i16x8.extend_low_i8x16_u (local.get $n2)) (local.get $w3f))))
                (local.set $u (v128.bitselect (local.get $u)
                  (v128.or (i16x8.shl (v128.and (local.get $b16) (local.get $w1f)) (i32.const 6)) (local.get $x1))
                  (i16x8.gt_u (local.get $b16) (local.get $wdf))))
                (local.set $u (v128.bitselect (local.get $b16) (local.get $u) (i16x8.lt_u (local.get $b16) (local.get $w80))))
                (local.set $c (i32.and (local.get $keep) (i32.const 0xff)))
                (v128.store (local.get $q) (i8x16.swizzle (local.get $u) (v128.load offset=0x31000 (i32.shl (local.get $c) (i32.const 4)))))
                (local.set $q (i32.add (local.get $q) (i32.shl (i32.popcnt (local.get $c)) (i32.const 1))))
                ;; Lanes 8-15: the same.
                (local.set $b16 (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $x1 (v128.and (i16x8.extend_high_i8x16_u (local.get $n1)) (local.get $w3f)))
                (local.set $u (v128.or (v128.or (i16x8.shl (local.get $b16) (i32.const 12)) (i16x8.shl (local.get $x1) (i32.const 6)))
                                       (v128.and (i16x8.extend_high_i8x16_u (local.get $n2)) (local.get $w3f))))
                (local.set $u (v128.bitselect (local.get $u)
                  (v128.or (i16x8.shl (v128.and (local.get $b16) (local.get $w1f)) (i32.const 6)) (local.get $x1))
                  (i16x8.gt_u (local.get $b16) (local.get $wdf))))
                (local.set $u (v128.bitselect (local.get $b16) (local.get $u) (i16x8.lt_u (local.get $b16) (local.get $w80))))
                (local.set $c (i32.and (i32.shr_u (local.get $keep) (i32.const 8)) (i32.const 0xff)))
                (v128.store (local.get $q) (i8x16.swizzle (local.get $u) (v128.load offset=0x31000 (i32.shl (local.get $c) (i32.const 4)))))
                (local.set $q (i32.add (local.get $q) (i32.shl (i32.popcnt (local.get $c)) (i32.const 1))))
                (local.set $p (i32.add (local.get $p) (local.get $len)))
                (br $next)))
            ;; A four-byte sequence in the block: keep the ASCII bytes before the first lead
            ;; byte and decode that one below.
            (v128.store (local.get $q) (i16x8.extend_low_i8x16_u (local.get $v)))
            (v128.store offset=16 (local.get $q) (i16x8.extend_high_i8x16_u (local.get $v)))
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
