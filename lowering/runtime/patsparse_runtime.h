// The runtime of PatSparse-compiled models (see patsparse_runtime.c), internal to a model.
//
// Every model carries its own copy, compiled with -DPATSPARSE_PREFIX=NAME_ (patsparse-compile
// --name NAME): each global symbol below becomes NAME_<symbol>, as do the generated code's
// own, so two models link into one program without a clash and without sharing state.
#ifndef PATSPARSE_RUNTIME_H
#define PATSPARSE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "patsparse_api.h"

#ifndef PATSPARSE_PREFIX
#define PATSPARSE_PREFIX
#endif
#define PATSPARSE_CONCAT_(a, b) a##b
#define PATSPARSE_CONCAT(a, b) PATSPARSE_CONCAT_(a, b)
#define PATSPARSE_SYMBOL(name) PATSPARSE_CONCAT(PATSPARSE_PREFIX, name)

// What generated code calls (the compiler renames its calls the same way).
#define memrefCopy PATSPARSE_SYMBOL(memrefCopy)
#define patsparse_parallel_for PATSPARSE_SYMBOL(patsparse_parallel_for)
#define patsparse_parallel_for4 PATSPARSE_SYMBOL(patsparse_parallel_for4)
#define _mlir_memref_to_llvm_alloc PATSPARSE_SYMBOL(_mlir_memref_to_llvm_alloc)
#define _mlir_memref_to_llvm_free PATSPARSE_SYMBOL(_mlir_memref_to_llvm_free)
#define patsparse_profile_mark PATSPARSE_SYMBOL(patsparse_profile_mark)
// Between the runtime's files, and the per-model tables patsparse-compile generates.
#define patsparse_pool_create PATSPARSE_SYMBOL(patsparse_pool_create)
#define patsparse_pool_destroy PATSPARSE_SYMBOL(patsparse_pool_destroy)
#define patsparse_cache_release PATSPARSE_SYMBOL(patsparse_cache_release)
#define patsparse_current_context PATSPARSE_SYMBOL(patsparse_current_context)
#define patsparse_invoke PATSPARSE_SYMBOL(patsparse_invoke)
#define patsparse_inputs PATSPARSE_SYMBOL(patsparse_inputs)
#define patsparse_outputs PATSPARSE_SYMBOL(patsparse_outputs)
#define patsparse_input_count PATSPARSE_SYMBOL(patsparse_input_count)
#define patsparse_output_count PATSPARSE_SYMBOL(patsparse_output_count)
#define patsparse_layers PATSPARSE_SYMBOL(patsparse_layers)
#define patsparse_layer_count PATSPARSE_SYMBOL(patsparse_layer_count)
#define patsparse_context PATSPARSE_SYMBOL(ctx)

#define PATSPARSE_MAX_RANK 8
#define PATSPARSE_MAX_THREADS 64

#ifdef __cplusplus
extern "C" {
#endif

// Called by upstream MLIR lowering for strided memref.copy; arguments are unranked
// memref descriptors.
void memrefCopy(int64_t element_size, void *source, void *target);

// Generated convolutions hand their filter positions [begin, end) to a body function with
// three type-erased buffers (patsparse_parallel.c); it runs on the current context's pool.
typedef void (*patsparse_body_fn)(float *a, float *b, float *c, int64_t begin, int64_t end);
void patsparse_parallel_for(patsparse_body_fn body, int64_t count, float *a, float *b, float *c);
// ... and with four (a convolution whose fused epilogue reads another tensor: a residual add).
typedef void (*patsparse_body4_fn)(float *a, float *b, float *c, float *d, int64_t begin, int64_t end);
void patsparse_parallel_for4(patsparse_body4_fn body, int64_t count, float *a, float *b, float *c, float *d);
typedef struct patsparse_pool patsparse_pool;
patsparse_pool *patsparse_pool_create(void);  // workers start at the first parallel job
void patsparse_pool_destroy(patsparse_pool *pool);

// Buffers of generated code (patsparse_alloc.c): large blocks are reused across inferences
// of one context; patsparse_cache_release() frees the ones it keeps.
#define PATSPARSE_CACHE_SLOTS 64
void *_mlir_memref_to_llvm_alloc(size_t size);
void _mlir_memref_to_llvm_free(void *pointer);

// A context (patsparse_context.c): what NAME_create returns. Runs set the calling thread's
// current context, through which the pool, the allocator and the profiler find theirs.
struct patsparse_context {
  uint64_t magic;
  struct patsparse_context *next_live;   // the registry of live contexts (under its lock)
  atomic_int threads;
  patsparse_pool *pool;
  pthread_mutex_t cache_lock;
  struct { void *block; size_t size; } cache[PATSPARSE_CACHE_SLOTS];
  size_t cached_bytes;
  pthread_mutex_t profile_lock;          // profiled builds: time per layer, summed over runs
  double *layer_ms;
  int64_t profiled_runs;
};
struct patsparse_context *patsparse_current_context(void);
void patsparse_cache_release(struct patsparse_context *context);

// Profiled builds (--profile): generated code calls this before each layer.
void patsparse_profile_mark(int32_t layer);

// Generated per model (patsparse-compile): the entry called with one pointer per tensor,
// the tensors' descriptions, and (profiled builds) the layers'.
void patsparse_invoke(const float *const *inputs, float *const *outputs);
extern const patsparse_tensor_info patsparse_inputs[];
extern const patsparse_tensor_info patsparse_outputs[];
extern const int patsparse_input_count, patsparse_output_count;
extern const patsparse_layer_info patsparse_layers[];
extern const int patsparse_layer_count;

#ifdef __cplusplus
}
#endif

#endif
