// Buffers of generated code (memref.alloc, lowered with finalize-memref-to-llvm's generic
// functions): large blocks are kept after their free, in the running context, and handed out
// again for the next request of the same size.
//
// Why: one inference allocates and frees the same activation and padded-input buffers every
// time. glibc returns blocks of that size to the kernel (mmap/munmap, or a heap trim), so
// every inference page-faults its whole working set in again: 7% of VGG-16 at 224x224.
// Inference after inference asks for the same sizes in the same order, so exact-size reuse
// is enough; a context holds at most PATSPARSE_CACHE_SLOTS blocks and CACHE_BYTES in all.
// Outside a run (no current context) blocks come from malloc and go back to free.

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "patsparse_runtime.h"

#define HEADER 64                    // keeps malloc's 16-byte alignment, records the size
#define CACHED_FROM (64 * 1024)      // smaller blocks: plain malloc/free (glibc's bins reuse them)
#define CACHE_BYTES ((size_t)2 << 30)

void *_mlir_memref_to_llvm_alloc(size_t size) {
  struct patsparse_context *context = patsparse_current_context();
  if (context && size >= CACHED_FROM) {
    pthread_mutex_lock(&context->cache_lock);
    for (int i = 0; i < PATSPARSE_CACHE_SLOTS; ++i) {
      if (context->cache[i].block && context->cache[i].size == size) {
        void *block = context->cache[i].block;
        context->cache[i].block = NULL;
        context->cached_bytes -= size;
        pthread_mutex_unlock(&context->cache_lock);
        return (char *)block + HEADER;
      }
    }
    pthread_mutex_unlock(&context->cache_lock);
  }
  char *block = malloc(size + HEADER);
  if (!block) return NULL;
  *(size_t *)block = size;
  return block + HEADER;
}

void _mlir_memref_to_llvm_free(void *pointer) {
  if (!pointer) return;
  char *block = (char *)pointer - HEADER;
  size_t size = *(size_t *)block;
  struct patsparse_context *context = patsparse_current_context();
  if (context && size >= CACHED_FROM) {
    pthread_mutex_lock(&context->cache_lock);
    if (context->cached_bytes + size <= CACHE_BYTES) {
      for (int i = 0; i < PATSPARSE_CACHE_SLOTS; ++i) {
        if (!context->cache[i].block) {
          context->cache[i].block = block;
          context->cache[i].size = size;
          context->cached_bytes += size;
          pthread_mutex_unlock(&context->cache_lock);
          return;
        }
      }
    }
    pthread_mutex_unlock(&context->cache_lock);
  }
  free(block);
}

void patsparse_cache_release(struct patsparse_context *context) {
  pthread_mutex_lock(&context->cache_lock);
  for (int i = 0; i < PATSPARSE_CACHE_SLOTS; ++i) {
    free(context->cache[i].block);
    context->cache[i].block = NULL;
  }
  context->cached_bytes = 0;
  pthread_mutex_unlock(&context->cache_lock);
}
