/* PatSparse model API: the part every model's header shares (patsparse-compile pastes it in).
 *
 * A compiled model NAME exports NAME_create, NAME_run, NAME_destroy, ... (declared below the
 * shared part in NAME.h). A context owns its thread pool and activation buffers: contexts
 * run at the same time without sharing anything. One context may also be used from several
 * threads at once (safe: a call that finds the context's pool busy runs on its own thread,
 * with the same result). Functions return PATSPARSE_OK (0) or an error code, never exit. */
#ifndef PATSPARSE_API_H
#define PATSPARSE_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PATSPARSE_OK = 0,
  PATSPARSE_ERROR_NULL_POINTER = 1,      /* a null context, input or output array, or element */
  PATSPARSE_ERROR_INVALID_CONTEXT = 2,   /* not a live context of this model (destroyed, or another model's) */
  PATSPARSE_ERROR_INVALID_ARGUMENT = 3,  /* e.g. a thread count below 1 */
  PATSPARSE_ERROR_OUT_OF_MEMORY = 4,
  PATSPARSE_ERROR_NOT_PROFILED = 5       /* a profile query on a model compiled without --profile */
};

typedef enum { PATSPARSE_FLOAT32 = 1 } patsparse_dtype;

typedef struct {
  const char *name;        /* "input", "input_1", ..., "output", "output_1", ... */
  patsparse_dtype dtype;   /* every tensor is float32 */
  int rank;
  const int64_t *shape;    /* NCHW for images; the batch is fixed at import */
  int64_t elements;
} patsparse_tensor_info;

typedef struct {
  int threads;             /* 0: PATSPARSE_THREADS from the environment, else the compiled-in default */
} patsparse_options;

typedef struct {
  const char *name;        /* the PyTorch module path or ONNX node name, else "layer N" */
  const char *kind;        /* "pattern conv", "dense conv", "depthwise conv", "matmul", "pooling", ... */
  const char *shape;       /* e.g. "1x64x32x32 -> 1x64x32x32" */
  double flops;            /* 2 x multiply-adds with a non-zero weight */
} patsparse_layer_info;

#ifdef __cplusplus
}
#endif

#endif
