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
;; corrections 1/(1-beta^t), epsilon.
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $div f32) (param $b1 f32) (param $a1 f32) (param $b2 f32) (param $a2 f32)
    (param $lr f32) (param $c1 f32) (param $c2 f32) (param $eps f32)
    (local $o i32) (local $end i32)
    (local $DIV v128) (local $B1 v128) (local $A1 v128) (local $B2 v128) (local $A2 v128)
    (local $LR v128) (local $C1 v128) (local $C2 v128) (local $EPS v128)
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
        ;; p = p - (lr * (m * c1)) / (sqrt(v * c2) + eps)
        (v128.store (i32.add (local.get $p) (local.get $o))
          (f32x4.sub
            (v128.load (i32.add (local.get $p) (local.get $o)))
            (f32x4.div
              (f32x4.mul (local.get $LR) (f32x4.mul (local.get $mi) (local.get $C1)))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vi) (local.get $C2))) (local.get $EPS)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next))))

  ;; adamw: adam with AdamW's decoupled weight decay, the weights scaled by $decay = 1 - lr * wd
  ;; before the update (as torch.optim.AdamW); otherwise the same operations in the same order.
  (func (export "adamw")
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
;; sgd: one torch.optim.SGD step (dampening 0) in place, in the order sgd.ts's reference loop rounds
;; it. Arguments: byte offsets of params and grads; n values (a multiple of 4); the divisor, lr and
;; weight decay as float32; $wd_on 1 to add the decay term (the reference tests wd != 0, so
;; a decay of 0 must not even add 0 * p, which could turn -0 into +0).
;;   g = grad / divisor; g = g + wd * p (if $wd_on); p = p - lr * g
  (func (export "sgd")
    (param $p i32) (param $g i32) (param $n i32) (param $div f32) (param $lr f32) (param $wd f32) (param $wd_on i32)
    (local $o i32) (local $end i32) (local $DIV v128) (local $LR v128) (local $WD v128) (local $WDON v128)
    (local $gg v128) (local $pp v128)
    (local.set $DIV (f32x4.splat (local.get $div)))
    (local.set $LR (f32x4.splat (local.get $lr)))
    (local.set $WD (f32x4.splat (local.get $wd)))
    ;; All ones or all zeros: selects, lane by lane, the decayed or the plain gradient.
    (local.set $WDON (i32x4.splat (i32.sub (i32.const 0) (local.get $wd_on))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $pp (v128.load (i32.add (local.get $p) (local.get $o))))
        (local.set $gg (f32x4.div (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $DIV)))
        (local.set $gg (v128.bitselect (f32x4.add (local.get $gg) (f32x4.mul (local.get $WD) (local.get $pp))) (local.get $gg) (local.get $WDON)))
        (v128.store (i32.add (local.get $p) (local.get $o)) (f32x4.sub (local.get $pp) (f32x4.mul (local.get $LR) (local.get $gg))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next))))

;; sgdm: sgd with a momentum buffer at byte offset $b, and Nesterov's variant when $nesterov is 1:
;;   g = grad / divisor; g = g + wd * p (if $wd_on); b = mu * b + g;
;;   g = g + mu * b (nesterov) or g = b; p = p - lr * g
  (func (export "sgdm")
    (param $p i32) (param $g i32) (param $b i32) (param $n i32) (param $div f32) (param $lr f32) (param $wd f32) (param $wd_on i32)
    (param $mu f32) (param $nesterov i32)
    (local $o i32) (local $end i32) (local $DIV v128) (local $LR v128) (local $WD v128) (local $WDON v128) (local $MU v128) (local $NEST v128)
    (local $gg v128) (local $pp v128) (local $bb v128)
    (local.set $DIV (f32x4.splat (local.get $div)))
    (local.set $LR (f32x4.splat (local.get $lr)))
    (local.set $WD (f32x4.splat (local.get $wd)))
    (local.set $WDON (i32x4.splat (i32.sub (i32.const 0) (local.get $wd_on))))
    (local.set $MU (f32x4.splat (local.get $mu)))
    (local.set $NEST (i32x4.splat (i32.sub (i32.const 0) (local.get $nesterov))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $pp (v128.load (i32.add (local.get $p) (local.get $o))))
        (local.set $gg (f32x4.div (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $DIV)))
        (local.set $gg (v128.bitselect (f32x4.add (local.get $gg) (f32x4.mul (local.get $WD) (local.get $pp))) (local.get $gg) (local.get $WDON)))
        (local.set $bb (f32x4.add (f32x4.mul (local.get $MU) (v128.load (i32.add (local.get $b) (local.get $o)))) (local.get $gg)))
        (v128.store (i32.add (local.get $b) (local.get $o)) (local.get $bb))
        (local.set $gg (v128.bitselect (f32x4.add (local.get $gg) (f32x4.mul (local.get $MU) (local.get $bb))) (local.get $bb) (local.get $NEST)))
        (v128.store (i32.add (local.get $p) (local.get $o)) (f32x4.sub (local.get $pp) (f32x4.mul (local.get $LR) (local.get $gg))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next))))

;; sumsq: the sum of squares of grad / divisor over n values (a multiple of 4), for global-norm
;; clipping. Each quotient is a float32 division, widened to float64; lane k of four accumulates
;; the values at indices k mod 4, and the result is (s0 + s1) + (s2 + s3), all in float64: the
;; order clip.ts's reference loop keeps, so every rank gets the same norm whichever path runs.
  (func (export "sumsq") (param $g i32) (param $n i32) (param $div f32) (result f64)
    (local $o i32) (local $end i32) (local $DIV v128) (local $q v128) (local $lo v128) (local $hi v128)
    (local $a01 v128) (local $a23 v128)
    (local.set $DIV (f32x4.splat (local.get $div)))
    (local.set $a01 (v128.const f64x2 0 0))
    (local.set $a23 (v128.const f64x2 0 0))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $q (f32x4.div (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $DIV)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $q)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $q) (local.get $q))))
        (local.set $a01 (f64x2.add (local.get $a01) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $a23 (f64x2.add (local.get $a23) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $next)))
    (f64.add
      (f64.add (f64x2.extract_lane 0 (local.get $a01)) (f64x2.extract_lane 1 (local.get $a01)))
      (f64.add (f64x2.extract_lane 0 (local.get $a23)) (f64x2.extract_lane 1 (local.get $a23)))))
)
