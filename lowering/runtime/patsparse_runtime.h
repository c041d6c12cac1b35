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

#ifdef __cplusplus
}
#endif

#endif
