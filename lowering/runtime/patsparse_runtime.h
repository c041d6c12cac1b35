// The runtime of PatSparse-compiled models (see patsparse_runtime.c).
#ifndef PATSPARSE_RUNTIME_H
#define PATSPARSE_RUNTIME_H

#include <stdint.h>

#define PATSPARSE_MAX_RANK 8

#ifdef __cplusplus
extern "C" {
#endif

// Called by upstream MLIR lowering for strided memref.copy; arguments are unranked
// memref descriptors.
void memrefCopy(int64_t element_size, void *source, void *target);

// Generated convolutions hand their filter positions [begin, end) to a body function with
// three type-erased buffers (patsparse_parallel.c).
typedef void (*patsparse_body_fn)(float *a, float *b, float *c, int64_t begin, int64_t end);
void patsparse_parallel_for(patsparse_body_fn body, int64_t count, float *a, float *b, float *c);
void patsparse_set_threads(int threads);
int patsparse_get_threads(void);

// Buffers of generated code (patsparse_alloc.c): large blocks are reused across inferences;
// patsparse_release_buffers() frees the ones kept.
#include <stddef.h>
void *_mlir_memref_to_llvm_alloc(size_t size);
void _mlir_memref_to_llvm_free(void *pointer);
void patsparse_release_buffers(void);

#ifdef __cplusplus
}
#endif

#endif
