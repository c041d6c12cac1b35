"""From scheduled linalg/vector code on tensors to the LLVM dialect: upstream passes only.

One-shot bufferization with identity layouts at function boundaries, results as out-parameters
(the entry becomes `void forward(float *input, float *output)` with the bare-pointer convention),
the buffer deallocation pipeline, `convert-linalg-to-loops` for what was left (convolutions that
stay dense, ops marked `patsparse.dense_reason`, anything unschedulable), vector to SCF and LLVM,
and the usual conversions. `TO_LLVM` allocates with malloc (the JIT); `TO_LLVM_WITH_RUNTIME`
with the PatSparse runtime's allocator (compiled models).
"""

TO_LLVM = ",".join([
    "func.func(canonicalize)",
    "eliminate-empty-tensors",
    "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}",
    "buffer-results-to-out-params{hoist-static-allocs modify-public-functions}",
    "canonicalize",
    "buffer-deallocation-pipeline",
    "func.func(convert-linalg-to-loops)",
    "func.func(convert-vector-to-scf{full-unroll target-rank=1})",
    "canonicalize", "cse",
    "expand-strided-metadata", "lower-affine",
    # math ops with an LLVM intrinsic become it; the others (erf of GELU) become libm calls,
    # element by element, before the vector ops are lowered.
    "convert-math-to-llvm", "convert-math-to-libm",
    "convert-vector-to-llvm{reassociate-fp-reductions vector-transpose-lowering=shuffle1d}",
    "convert-scf-to-cf", "finalize-memref-to-llvm",
    "convert-arith-to-llvm", "convert-ub-to-llvm",
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true}",
    "convert-cf-to-llvm", "convert-index-to-llvm", "reconcile-unrealized-casts",
])
# The same, for code linked with the PatSparse runtime: buffers come from its allocator
# (lowering/runtime/patsparse_alloc.c), which reuses large blocks across inferences.
TO_LLVM_WITH_RUNTIME = TO_LLVM.replace("finalize-memref-to-llvm", "finalize-memref-to-llvm{use-generic-functions}")
