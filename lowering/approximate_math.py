"""`patsparse-approximate-math`: f32 `math` ops as arith polynomials, so they stay vector code.

MLIR 22 lowers `math.exp` to the `llvm.exp` intrinsic, which LLVM expands to one libm `expf`
call per element (SiLU's sigmoid took 28% of a detector's time that way); `math.erf` goes to
libm through `convert-math-to-libm`, and a vectorized `math.fpowi` (tanh-GELU's `x^3`) does not
lower at all. The bindings do not expose upstream's `populateMathPolynomialApproximationPatterns`,
so this pass rewrites each f32 scalar or vector

    math.exp  math.log  math.tanh  math.erf  math.expm1  math.log1p  math.fpowi (constant exponent)

into `arith` ops (mul, add, div, compares, selects, bitcasts, shifts) of the same type:

```mlir
%y = math.exp %x : vector<64xf32>
```

becomes

```mlir
%c = clamp(%x, -104, 88.8)                                 // cmpf + select, NaN goes through
%k = arith.addf(arith.mulf(%c, log2(e)), 1.5 * 2^23)         // round to nearest: n in k's low bits
%n = arith.subi(arith.bitcast %k, arith.bitcast 1.5 * 2^23)  // n as i32, r = c - n ln2 (two parts)
%p = ... degree-6 polynomial in r ...                        // e^r on |r| <= ln2 / 2
%y = arith.mulf(arith.mulf(%p, 2^(n >> 1)), 2^(n - (n >> 1)))  // exponents built with shli/addi
```

The algorithms (f32, round to nearest, no fast-math flags; coefficients in the lists below):

- exp: Cephes `expf`. x clamped to [-104, 88.8], n = round(x log2 e) by the 1.5 * 2^23 trick,
  r = x - n C1 - n C2 (Cody-Waite, C1 = 0.693359375 exact in 9 bits), e^r = 1 + r + r^2 P(r)
  (P degree 5), times 2^n as two factors 2^(n>>1) and 2^(n-(n>>1)), each a normal number: the
  product rounds once, so results near the overflow edge are finite and denormal results are
  correctly rounded; x > 88.72 gives +inf, x < -103.97 (and -inf) gives 0, NaN gives NaN.
- log: Cephes `logf`. Denormal inputs are scaled by 2^23 first; m in [sqrt(1/2), sqrt(2)) and the
  exponent e come from the bits (frexp), log(1 + t) = t - t^2/2 + t^3 P(t) (P degree 8), plus
  e ln 2 in two parts. 0 gives -inf, +inf gives +inf, negatives and NaN give NaN.
- tanh: Cephes `tanhf`. |x| < 0.625: x + x^3 P(x^2) (P degree 4); otherwise
  1 - 2 / (e^(2|x|) + 1) with |x| clamped to 10 (tanh(10) rounds to 1) and the sign of x.
- erf: |x| < 1: x P(x^2) (P degree 6); 1 <= |x|: 1 - e^(-x^2) Q(1/|x|), Q (degree 8) fitting the
  scaled complement erfcx(x) = e^(x^2) erfc(x) on [1, 4], |x| clamped to 4 (erf(4) rounds to 1).
  Both fitted for relative error (weighted least squares with Lawson reweighting, float64
  against `math.erf`: 1.2e-9 and 6.5e-8).
- expm1: |x| < 0.7: x + x^2 P(x) (P degree 6, fitted likewise to 1.4e-9); otherwise e^x - 1.
- log1p: u = 1 + x, log(u) x / (u - 1) (Goldberg's correction), x where u == 1, +inf for +inf.
- fpowi with a constant exponent |n| <= 16: multiplications by squaring (1 / x^|n| for n < 0).

Measured over 1M f32 values covering every exponent, the denormals, +-0, +-inf, NaN and the
overflow and underflow edges against float64 (test/lowering/test_vector_math.py): exp, log and
tanh within 1 ulp, erf, expm1 and log1p within 2; specials as in libm.

Rationale:
- Placed after `patsparse-schedule-dense`, on the vectorized code: every math op is then in its
  final form, scalar or `vector<NxF32>` (the vectorizer takes `math` ops as elementwise ops; a
  named `linalg.exp` only becomes `math.exp` when the schedule generalizes it), and those left
  scalar (unvectorizable generics, `convert-linalg-to-loops`) are rewritten too. Before the
  schedule, the rewritten bodies would grow fusion and vectorization work by ~30 ops per math op
  for nothing. The convolution code generator's epilogues hold no math ops (a fused ReLU is a
  `maximumf`).
- Plain `arith` only (no `math.fma`, `math.floor`, `math.roundeven`): every op has a vector
  instruction on x86 (any SSE level) and NEON, and none can fall back to a libm call
  (`llvm.fma` without FMA hardware becomes `fmaf`).
- exp's n comes from the bits of the rounded value, not from `fptosi`: exact, and NaN never
  reaches a conversion whose result LLVM calls poison.
- Only f32 (scalar and fixed-length vectors): other types keep upstream's lowering.
- Clamps are ordered compares and selects, not `minimumf`/`maximumf`: NaN is kept all the same,
  and x86 needs no extra instructions for `minimumf`'s signed-zero rule.
"""

from __future__ import annotations

import dataclasses
import math

from mlir import ir
from mlir.dialects import arith

from patsparse.dialect.ir_utils import ops_where
from patsparse.dialect.pass_base import PatsparsePass, option

APPROXIMATED = ("math.exp", "math.log", "math.tanh", "math.erf", "math.expm1", "math.log1p", "math.fpowi")

_F32_MIN_NORMAL = 1.1754943508222875e-38

# Coefficients (lowest degree first for the fitted ones, Horner from the highest).
_EXP_P = [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4]
_LOG_P = [3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1, 1.4249322787e-1,
          -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1, 7.0376836292e-2]
_TANH_P = [-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3]
_ERF_SMALL = [1.1283791657385436, -0.3761262585729978, 0.1128358541085335, -0.026853820845078005,
              0.005188342413251117, -0.000801031059301033, 7.854218980891332e-05]
_ERFCX = [0.000253085327140253, 0.5593159519254822, 0.04015869322111616, -0.46466334700129913,
          0.4809308404041033, -0.21905713062892374, 0.0040164211260270595, 0.03800484171888774,
          -0.01137580788772186]
_EXPM1_P = [0.500000002876632, 0.16666672501309715, 0.041666618607098756, 0.008332601867925315,
            0.0013890485260103142, 0.00020100568257306546, 2.478073104449909e-05]


class _Emitter:
    """Builds arith ops of one f32 type (scalar or vector) and its i32/i1 companions at the
    current insertion point."""

    def __init__(self, float_type: ir.Type):
        self.float_type = float_type
        i32 = ir.IntegerType.get_signless(32)
        if isinstance(float_type, ir.VectorType):
            self.int_type = ir.VectorType.get(float_type.shape, i32)
        else:
            self.int_type = i32
        self._constants: dict[tuple[str, float], ir.Value] = {}

    # constants, one per value and kind
    def f(self, value: float) -> ir.Value:
        return self._constant("f", value, self.float_type, ir.FloatAttr.get(ir.F32Type.get(), value))

    def i(self, value: int) -> ir.Value:
        return self._constant("i", value, self.int_type, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), value))

    def _constant(self, kind, value, type_, scalar_attr):
        key = (kind, repr(value))
        if key not in self._constants:
            attr = ir.DenseElementsAttr.get_splat(type_, scalar_attr) if isinstance(type_, ir.VectorType) else scalar_attr
            self._constants[key] = arith.ConstantOp(type_, attr).result
        return self._constants[key]

    # float arithmetic
    def add(self, a, b): return arith.addf(a, b)
    def sub(self, a, b): return arith.subf(a, b)
    def mul(self, a, b): return arith.mulf(a, b)
    def div(self, a, b): return arith.divf(a, b)
    def at_most(self, x, bound):
        """min(x, bound) for a constant bound, NaN kept: an ordered compare and a select (cheaper
        than `minimumf`, whose signed-zero rule costs extra instructions on x86)."""
        return self.select(self.cmp("ogt", x, bound), bound, x)

    def at_least(self, x, bound):
        return self.select(self.cmp("olt", x, bound), bound, x)

    def horner(self, x, coefficients):
        """c[0] + c[1] x + ... + c[-1] x^(n-1)."""
        result = self.f(coefficients[-1])
        for c in reversed(coefficients[:-1]):
            result = self.add(self.mul(result, x), self.f(c))
        return result

    def cmp(self, predicate: str, a, b):
        return arith.cmpf(getattr(arith.CmpFPredicate, predicate.upper()), a, b)

    def select(self, condition, a, b): return arith.select(condition, a, b)

    # bits
    def bits(self, x): return arith.bitcast(self.int_type, x)
    def real(self, n): return arith.bitcast(self.float_type, n)
    def iadd(self, a, b): return arith.addi(a, b)
    def isub(self, a, b): return arith.subi(a, b)
    def iand(self, a, b): return arith.andi(a, b)
    def ior(self, a, b): return arith.ori(a, b)
    def shl(self, a, b): return arith.shli(a, b)
    def ashr(self, a, b): return arith.shrsi(a, b)
    def to_float(self, n): return arith.sitofp(self.float_type, n)

    def abs(self, x):
        return self.real(self.iand(self.bits(x), self.i(0x7FFFFFFF)))

    def with_sign_of(self, magnitude, sign_source):
        """`magnitude` (>= 0) with the sign bit of `sign_source`."""
        sign = self.iand(self.bits(sign_source), self.i(-0x80000000))
        return self.real(self.ior(self.bits(magnitude), sign))


# --- the approximations ----------------------------------------------------------------------

def emit_exp(e: _Emitter, x: ir.Value) -> ir.Value:
    """Cephes expf: C1 = 0.693359375, C2 = -2.12194440e-4, P = _EXP_P; see the module docstring."""
    magic = 12582912.0  # 1.5 * 2^23: adding it rounds to an integer kept in the low mantissa bits
    clamped = e.at_most(e.at_least(x, e.f(-104.0)), e.f(88.8))
    shifted = e.add(e.mul(clamped, e.f(1.4426950408889634)), e.f(magic))
    n_float = e.sub(shifted, e.f(magic))
    n = e.isub(e.bits(shifted), e.bits(e.f(magic)))
    r = e.sub(e.sub(clamped, e.mul(n_float, e.f(0.693359375))), e.mul(n_float, e.f(-2.12194440e-4)))
    p = e.add(e.add(e.mul(e.horner(r, _EXP_P), e.mul(r, r)), r), e.f(1.0))
    # 2^n as two normal factors: n in [-150, 128] -> halves in [-75, 64]
    half = e.ashr(n, e.i(1))
    rest = e.isub(n, half)
    scale_half = e.real(e.shl(e.iadd(half, e.i(127)), e.i(23)))
    scale_rest = e.real(e.shl(e.iadd(rest, e.i(127)), e.i(23)))
    return e.mul(e.mul(p, scale_half), scale_rest)


def emit_log(e: _Emitter, x: ir.Value) -> ir.Value:
    """Cephes logf: P = _LOG_P, ln 2 = 0.693359375 - 2.12194440e-4; see the module docstring."""
    denormal = e.cmp("olt", x, e.f(_F32_MIN_NORMAL))  # negatives and zero too: fixed below
    scaled = e.select(denormal, e.mul(x, e.f(8388608.0)), x)
    bits = e.bits(scaled)
    exponent = e.isub(e.iand(e.ashr(bits, e.i(23)), e.i(0xFF)), e.i(126))
    exponent = e.isub(exponent, e.select(denormal, e.i(23), e.i(0)))
    mantissa = e.real(e.ior(e.iand(bits, e.i(0x007FFFFF)), e.i(0x3F000000)))  # [0.5, 1)
    small = e.cmp("olt", mantissa, e.f(0.707106781186547524))
    exponent = e.isub(exponent, e.select(small, e.i(1), e.i(0)))
    t = e.sub(e.select(small, e.add(mantissa, mantissa), mantissa), e.f(1.0))
    exponent_float = e.to_float(exponent)
    z = e.mul(t, t)
    y = e.mul(e.mul(e.horner(t, _LOG_P), t), z)
    y = e.add(y, e.mul(exponent_float, e.f(-2.12194440e-4)))
    y = e.sub(y, e.mul(z, e.f(0.5)))
    result = e.add(e.add(t, y), e.mul(exponent_float, e.f(0.693359375)))
    result = e.select(e.cmp("oeq", x, e.f(math.inf)), x, result)
    result = e.select(e.cmp("oeq", x, e.f(0.0)), e.f(-math.inf), result)
    return e.select(e.cmp("ult", x, e.f(0.0)), e.f(math.nan), result)  # x < 0 or NaN


def emit_tanh(e: _Emitter, x: ir.Value) -> ir.Value:
    """Cephes tanhf: P = _TANH_P below 0.625, 1 - 2 / (e^(2|x|) + 1) above."""
    z = e.mul(x, x)
    small = e.add(e.mul(e.mul(e.horner(z, _TANH_P), z), x), x)
    magnitude = e.at_most(e.abs(x), e.f(10.0))
    exp2x = emit_exp(e, e.add(magnitude, magnitude))
    large = e.sub(e.f(1.0), e.div(e.f(2.0), e.add(exp2x, e.f(1.0))))
    return e.select(e.cmp("olt", e.abs(x), e.f(0.625)), small, e.with_sign_of(large, x))


def emit_erf(e: _Emitter, x: ir.Value) -> ir.Value:
    """x P(x^2) below 1 (P = _ERF_SMALL); 1 - e^(-x^2) Q(1/|x|) above (Q = _ERFCX)."""
    small = e.mul(x, e.horner(e.mul(x, x), _ERF_SMALL))
    magnitude = e.at_most(e.abs(x), e.f(4.0))
    scaled_complement = e.horner(e.div(e.f(1.0), magnitude), _ERFCX)
    complement = e.mul(emit_exp(e, e.sub(e.f(0.0), e.mul(magnitude, magnitude))), scaled_complement)
    large = e.sub(e.f(1.0), complement)
    return e.select(e.cmp("olt", e.abs(x), e.f(1.0)), small, e.with_sign_of(large, x))


def emit_expm1(e: _Emitter, x: ir.Value) -> ir.Value:
    """x + x^2 P(x) below 0.7 (P = _EXPM1_P); e^x - 1 above."""
    small = e.add(e.mul(e.mul(x, x), e.horner(x, _EXPM1_P)), x)
    large = e.sub(emit_exp(e, x), e.f(1.0))
    return e.select(e.cmp("olt", e.abs(x), e.f(0.7)), small, large)


def emit_log1p(e: _Emitter, x: ir.Value) -> ir.Value:
    """log(1 + x) (x / ((1 + x) - 1)): the correction recovers the bits lost in 1 + x."""
    u = e.add(x, e.f(1.0))
    d = e.sub(u, e.f(1.0))
    corrected = e.mul(emit_log(e, u), e.div(x, d))
    result = e.select(e.cmp("oeq", d, e.f(0.0)), x, corrected)
    return e.select(e.cmp("oeq", u, e.f(math.inf)), u, result)


def emit_powi(e: _Emitter, x: ir.Value, exponent: int) -> ir.Value:
    """x^n by squaring; 1 / x^|n| for n < 0."""
    result, power, n = None, x, abs(exponent)
    while n:
        if n & 1:
            result = power if result is None else e.mul(result, power)
        n >>= 1
        if n:
            power = e.mul(power, power)
    if result is None:
        return e.f(1.0)
    return e.div(e.f(1.0), result) if exponent < 0 else result


_EMITTERS = {"math.exp": emit_exp, "math.log": emit_log, "math.tanh": emit_tanh, "math.erf": emit_erf,
             "math.expm1": emit_expm1, "math.log1p": emit_log1p}

MAX_POWI_EXPONENT = 16


def _is_f32(type_: ir.Type) -> bool:
    if isinstance(type_, ir.VectorType):
        return not type_.scalable and isinstance(type_.element_type, ir.F32Type)
    return isinstance(type_, ir.F32Type)


def _constant_int(value: ir.Value) -> int | None:
    """The integer a (splat) constant, possibly broadcast, holds; None otherwise."""
    owner = value.owner
    if not isinstance(owner, ir.OpView) and not isinstance(owner, ir.Operation):
        return None
    op = owner.operation
    if op.name == "vector.broadcast":
        return _constant_int(op.operands[0])
    if op.name != "arith.constant":
        return None
    attr = op.attributes["value"]
    if isinstance(attr, ir.IntegerAttr):
        return attr.value
    if isinstance(attr, ir.DenseIntElementsAttr) and attr.is_splat:
        return ir.IntegerAttr(attr.get_splat_value()).value
    return None


def approximate_math(root: ir.Operation) -> dict[str, int]:
    """Rewrite every f32 math op of APPROXIMATED under `root`; returns counts per op name."""
    counts: dict[str, int] = {}
    # ops_where, not ops_in: the walk is post-order, and ops_in drops its first op (the first leaf).
    for op in ops_where(root, lambda op: op.name in APPROXIMATED):
        if len(op.results) != 1 or not _is_f32(op.results[0].type):
            continue
        exponent = None
        if op.name == "math.fpowi":
            exponent = _constant_int(op.operands[1])
            if exponent is None or abs(exponent) > MAX_POWI_EXPONENT:
                continue
        with ir.InsertionPoint(op), op.location:
            emitter = _Emitter(op.results[0].type)
            if exponent is not None:
                value = emit_powi(emitter, op.operands[0], exponent)
            else:
                value = _EMITTERS[op.name](emitter, op.operands[0])
        name = op.name
        op.results[0].replace_all_uses_with(value)
        op.erase()
        counts[name] = counts.get(name, 0) + 1
    return counts


@dataclasses.dataclass
class ApproximateMathPass(PatsparsePass):
    __doc__ = __doc__

    flag = "patsparse-approximate-math"
    summary = "Rewrite f32 exp, log, tanh, erf, expm1, log1p and constant fpowi into arith polynomials (vector code, no libm calls)"

    statistics: bool = option(False, "print how many ops of each kind were rewritten (stderr)")

    def run(self, module: ir.Operation) -> None:
        counts = approximate_math(module)
        if self.statistics:
            self.log(", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "nothing to rewrite")
