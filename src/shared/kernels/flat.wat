;; Kernels over flat float32 buffers, four values per instruction (WebAssembly SIMD), used through
;; KernelArena (kernel-arena.ts) on buffers that live in the imported memory.
;;
;; adam: one Adam step in place. Every operation is one IEEE float32 operation, in the order adam.ts's reference loop rounds
;; them (Math.fround after each); wasm has no fused multiply-add outside relaxed SIMD and no
;; flush-to-zero, so this gives the reference's bits exactly, and ranks agree whichever path runs.
;;
;; adam's arguments: byte offsets of params, grads, m, v (each 16-byte aligned) in the imported memory;
;; n values (a multiple of 4: the caller does the tail); then the per-step scalars, already
;; rounded to float32: the gradient divisor, beta1, 1-beta1, beta2, 1-beta2, lr, the two bias
;; corrections 1/(1-beta^t), epsilon, and the decay factor on the weights (1 for Adam; AdamW's
;; 1 - lr * weightDecay: a product with exactly 1 changes no value, so Adam's bits do not depend on it).
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $div f32) (param $b1 f32) (param $a1 f32) (param $b2 f32) (param $a2 f32)
    (param $lr f32) (param $c1 f32) (param $c2 f32) (param $eps f32) (param $decay f32)
    (local $o i32) (local $end i32)
    (local $DIV v128) (local $B1 v128) (local $A1 v128) (local $B2 v128) (local $A2 v128)
    (local $LR v128) (local $C1 v128) (local $C2 v128) (local $EPS v128) (local $DECAY v128)
    (local $gg v128) (local $mi v128) (local $vi v128)
    (local.set $DIV (f32x4.splat (local.get $div)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $A1 (f32x4.splat (local.get $a1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $A2 (f32x4.splat (local.get $a2)))
    (local.set $LR (f32x4.splat (local.get $lr)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $DECAY (f32x4.splat (local.get $decay)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        ;; g = grad / divisor: the mean gradient
        (local.set $gg (f32x4.div (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $DIV)))
        ;; m = beta1 * m + (1 - beta1) * g
        (local.set $mi (f32x4.add
          (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $o))))
          (f32x4.mul (local.get $A1) (local.get $gg))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $mi))
        ;; v = beta2 * v + ((1 - beta2) * g) * g
        (local.set $vi (f32x4.add
          (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $o))))
          (f32x4.mul (f32x4.mul (local.get $A2) (local.get $gg)) (local.get $gg))))
        (v128.store (i32.add (local.get $v) (local.get $o)) (local.get $vi))
        ;; p = p * decay - (lr * (m * c1)) / (sqrt(v * c2) + eps)
        (v128.store (i32.add (local.get $p) (local.get $o))
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (local.get $DECAY))
            (f32x4.div
              (f32x4.mul (local.get $LR) (f32x4.mul (local.get $mi) (local.get $C1)))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vi) (local.get $C2))) (local.get $EPS)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next))))

  ;; finite: 1 when all n values (a multiple of 4) at byte offset $a are finite, else 0.
  ;; x - x is 0 for a finite x and NaN for NaN and ±Infinity; a sum of those zeros stays 0 and
  ;; any NaN propagates, so one add per four values and one test at the end.
  (func (export "finite") (param $a i32) (param $n i32) (result i32)
    (local $o i32) (local $end i32) (local $acc v128) (local $x v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $x (v128.load (i32.add (local.get $a) (local.get $o))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.sub (local.get $x) (local.get $x))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next)))
    ;; NaN compares unequal to itself: all four lanes equal themselves only if none is NaN.
    (i32x4.all_true (f32x4.eq (local.get $acc) (local.get $acc))))

  ;; add: n values (a multiple of 4) at byte offset $s added into those at $d, in place. One float32
  ;; add per value, as `d[i] += s[i]` on Float32Arrays rounds it; loads need no alignment.
  (func (export "add") (param $d i32) (param $s i32) (param $n i32)
    (local $o i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (v128.store (i32.add (local.get $d) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $d) (local.get $o))) (v128.load (i32.add (local.get $s) (local.get $o)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next))))
)
