// patsparse-approximate-math rewrites f32 math.exp, log, tanh, erf, expm1, log1p and math.fpowi
// with a constant exponent, scalar or vector, into arith ops of the same type; other element
// types and non-constant exponents are left to upstream's lowering.
// RUN: %patsparse-opt %s --split-input-file --patsparse-approximate-math | FileCheck %s
// statistics=true counts the rewritten ops per split (stderr); the unsupported ones are not counted.
// RUN: %patsparse-opt %s --split-input-file --patsparse-approximate-math="statistics=true" 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// STATS: [patsparse-approximate-math] math.exp 2
// STATS-NEXT: [patsparse-approximate-math] math.log 1
// STATS-NEXT: [patsparse-approximate-math] math.tanh 1
// STATS-NEXT: [patsparse-approximate-math] math.erf 1
// STATS-NEXT: [patsparse-approximate-math] math.expm1 1, math.log1p 1
// STATS-NEXT: [patsparse-approximate-math] math.fpowi 2
// STATS-NOT: math

// exp: clamp (compare and select, NaN kept), round by the 1.5 * 2^23 trick, Cody-Waite reduction, and 2^n
// built from bits in two factors.
// CHECK-LABEL: func.func @exp_vector
// CHECK-NOT: math.exp
// CHECK: arith.cmpf olt, {{.*}} : vector<16xf32>
// CHECK: arith.constant dense<8.880000e+01> : vector<16xf32>
// CHECK: arith.cmpf ogt, {{.*}} : vector<16xf32>
// CHECK: arith.constant dense<0x4B400000> : vector<16xf32>
// CHECK: arith.bitcast {{.*}} : vector<16xf32> to vector<16xi32>
// CHECK: %[[HALF:.*]] = arith.shrsi %[[N:.*]], %{{.*}} : vector<16xi32>
// CHECK: %[[REST:.*]] = arith.subi %[[N]], %[[HALF]] : vector<16xi32>
// CHECK: %[[HALF_BITS:.*]] = arith.shli
// CHECK: %[[HALF_SCALE:.*]] = arith.bitcast %[[HALF_BITS]] : vector<16xi32> to vector<16xf32>
// CHECK: %[[REST_BITS:.*]] = arith.shli
// CHECK: %[[REST_SCALE:.*]] = arith.bitcast %[[REST_BITS]] : vector<16xi32> to vector<16xf32>
// CHECK: %[[PARTIAL:.*]] = arith.mulf %{{.*}}, %[[HALF_SCALE]] : vector<16xf32>
// CHECK: %[[Y:.*]] = arith.mulf %[[PARTIAL]], %[[REST_SCALE]] : vector<16xf32>
// CHECK-NEXT: return %[[Y]] : vector<16xf32>
func.func @exp_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %y = math.exp %x : vector<16xf32>
  return %y : vector<16xf32>
}

// CHECK-LABEL: func.func @exp_scalar
// CHECK-NOT: math.exp
// CHECK: arith.constant 0x4B400000 : f32
// CHECK: arith.bitcast {{.*}} : f32 to i32
// CHECK: arith.shrsi {{.*}} : i32
// CHECK: return {{.*}} : f32
func.func @exp_scalar(%x: f32) -> f32 {
  %y = math.exp %x : f32
  return %y : f32
}

// -----

// log: exponent and mantissa from the bits (frexp), denormals scaled by 2^23 first, and the
// specials selected at the end (0 -> -inf, +inf -> +inf, x < 0 or NaN -> NaN).
// CHECK-LABEL: func.func @log_vector
// CHECK-NOT: math.log
// CHECK: arith.cmpf olt, {{.*}} : vector<4xf32>
// CHECK: arith.andi {{.*}} : vector<4xi32>
// CHECK: arith.ori {{.*}} : vector<4xi32>
// CHECK: arith.sitofp {{.*}} : vector<4xi32> to vector<4xf32>
// CHECK: arith.cmpf ult, {{.*}} : vector<4xf32>
// CHECK: %[[Y:.*]] = arith.select {{.*}} : vector<4xi1>, vector<4xf32>
// CHECK-NEXT: return %[[Y]]
func.func @log_vector(%x: vector<4xf32>) -> vector<4xf32> {
  %y = math.log %x : vector<4xf32>
  return %y : vector<4xf32>
}

// -----

// tanh: an odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) with the sign of x above (the exp
// inline: no math op left).
// CHECK-LABEL: func.func @tanh_vector
// CHECK-NOT: math.
// CHECK: arith.divf {{.*}} : vector<8xf32>
// CHECK: arith.cmpf olt, {{.*}} : vector<8xf32>
// CHECK: %[[Y:.*]] = arith.select {{.*}} : vector<8xi1>, vector<8xf32>
// CHECK-NEXT: return %[[Y]]
func.func @tanh_vector(%x: vector<8xf32>) -> vector<8xf32> {
  %y = math.tanh %x : vector<8xf32>
  return %y : vector<8xf32>
}

// -----

// erf: x P(x^2) below 1, 1 - e^(-x^2) Q(1/|x|) above, |x| clamped to 4.
// CHECK-LABEL: func.func @erf_vector
// CHECK-NOT: math.
// CHECK: arith.constant dense<4.000000e+00> : vector<16xf32>
// CHECK: arith.cmpf ogt, {{.*}} : vector<16xf32>
// CHECK: arith.divf {{.*}} : vector<16xf32>
// CHECK: arith.select {{.*}} : vector<16xi1>, vector<16xf32>
// CHECK: return %{{.*}} : vector<16xf32>
func.func @erf_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %y = math.erf %x : vector<16xf32>
  return %y : vector<16xf32>
}

// -----

// expm1: a polynomial below 0.7, e^x - 1 above; log1p: log(1 + x) corrected by x / ((1 + x) - 1).
// CHECK-LABEL: func.func @expm1_and_log1p
// CHECK-NOT: math.
// CHECK: arith.cmpf olt
// CHECK: arith.divf
// CHECK: return
func.func @expm1_and_log1p(%x: f32) -> (f32, f32) {
  %y = math.expm1 %x : f32
  %z = math.log1p %x : f32
  return %y, %z : f32, f32
}

// -----

// fpowi by a constant (tanh-GELU's x^3, broadcast by the vectorizer): multiplications; a
// negative exponent divides. A non-constant exponent stays.
// CHECK-LABEL: func.func @fpowi_constant
// CHECK-NOT: math.fpowi
// CHECK: %[[SQUARE:.*]] = arith.mulf %[[X:.*]], %[[X]] : vector<16xf32>
// CHECK: %[[CUBE:.*]] = arith.mulf %[[X]], %[[SQUARE]] : vector<16xf32>
// CHECK: %[[SCALAR_SQUARE:.*]] = arith.mulf %[[S:.*]], %[[S]] : f32
// CHECK: %[[INVERSE:.*]] = arith.divf {{.*}}, %[[SCALAR_SQUARE]] : f32
// CHECK: return %[[CUBE]], %[[INVERSE]]
func.func @fpowi_constant(%x: vector<16xf32>, %s: f32) -> (vector<16xf32>, f32) {
  %c3 = arith.constant 3 : i64
  %b = vector.broadcast %c3 : i64 to vector<16xi64>
  %y = math.fpowi %x, %b : vector<16xf32>, vector<16xi64>
  %m2 = arith.constant -2 : i32
  %z = math.fpowi %s, %m2 : f32, i32
  return %y, %z : vector<16xf32>, f32
}

// CHECK-LABEL: func.func @left_alone
// CHECK: math.fpowi %{{.*}}, %{{.*}} : f32, i32
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.exp %{{.*}} : vector<[4]xf32>
func.func @left_alone(%x: f32, %n: i32, %d: f64, %s: vector<[4]xf32>) -> (f32, f64, vector<[4]xf32>) {
  %y = math.fpowi %x, %n : f32, i32
  %z = math.exp %d : f64
  %w = math.exp %s : vector<[4]xf32>
  return %y, %z, %w : f32, f64, vector<[4]xf32>
}
