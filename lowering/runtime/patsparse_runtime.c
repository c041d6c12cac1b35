// The runtime PatSparse-generated code links against, for the host and AArch64.
//
// Upstream MLIR lowering calls a few helpers from MLIR's C runner utils (a
// strided memref copy); they are provided here so that a compiled model needs
// nothing but libc, on a phone as on this machine.

#include <stdint.h>
#include <string.h>

#include "patsparse_runtime.h"

// Layout of MLIR's ranked memref descriptor: {allocated, aligned, offset,
// sizes[rank], strides[rank]}, passed behind an unranked {rank, descriptor}.
typedef struct {
  int64_t rank;
  void *descriptor;
} UnrankedMemRef;

typedef struct {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizes_and_strides[];
} RankedMemRefHeader;

// memref.copy between memrefs of any strides (lowered by finalize-memref-to-llvm to a
// call when the layouts are not both contiguous).
void memrefCopy(int64_t element_size, void *source_opaque, void *target_opaque) {
  UnrankedMemRef *source = (UnrankedMemRef *)source_opaque;
  UnrankedMemRef *target = (UnrankedMemRef *)target_opaque;
  int64_t rank = source->rank;
  RankedMemRefHeader *src = (RankedMemRefHeader *)source->descriptor;
  RankedMemRefHeader *dst = (RankedMemRefHeader *)target->descriptor;
  const int64_t *sizes = src->sizes_and_strides;
  const int64_t *src_strides = src->sizes_and_strides + rank;
  const int64_t *dst_strides = dst->sizes_and_strides + rank;
  char *src_base = src->aligned + src->offset * element_size;
  char *dst_base = dst->aligned + dst->offset * element_size;
  if (rank == 0) {
    memcpy(dst_base, src_base, (size_t)element_size);
    return;
  }
  for (int64_t i = 0; i < rank; ++i)
    if (sizes[i] == 0) return;
  // Walk every index but the innermost with an odometer; copy the innermost run.
  int64_t index[PATSPARSE_MAX_RANK] = {0};
  int64_t inner = rank - 1;
  int contiguous = src_strides[inner] == 1 && dst_strides[inner] == 1;
  for (;;) {
    int64_t src_offset = 0, dst_offset = 0;
    for (int64_t d = 0; d < inner; ++d) {
      src_offset += index[d] * src_strides[d];
      dst_offset += index[d] * dst_strides[d];
    }
    if (contiguous) {
      memcpy(dst_base + dst_offset * element_size, src_base + src_offset * element_size,
             (size_t)(sizes[inner] * element_size));
    } else {
      for (int64_t i = 0; i < sizes[inner]; ++i)
        memcpy(dst_base + (dst_offset + i * dst_strides[inner]) * element_size,
               src_base + (src_offset + i * src_strides[inner]) * element_size, (size_t)element_size);
    }
    int64_t d = inner - 1;
    while (d >= 0 && ++index[d] == sizes[d]) index[d--] = 0;
    if (d < 0) return;
  }
}
