// Buffers of generated code (memref.alloc, lowered with finalize-memref-to-llvm's generic
// functions): large blocks are kept after their free and handed out again for the next
// request of the same size.
//
// Why: one inference allocates and frees the same activation and padded-input buffers every
// time. glibc returns blocks of that size to the kernel (mmap/munmap, or a heap trim), so
// every inference page-faults its whole working set in again: 7% of VGG-16 at 224x224.
// Inference after inference asks for the same sizes in the same order, so exact-size reuse
// is enough; the cache holds at most CACHE_SLOTS blocks and CACHE_BYTES in all.

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "patsparse_runtime.h"

#define HEADER 64                    // keeps malloc's 16-byte alignment, records the size
#define CACHED_FROM (64 * 1024)      // smaller blocks: plain malloc/free (glibc's bins reuse them)
#define CACHE_SLOTS 64
#define CACHE_BYTES ((size_t)2 << 30)

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { void *block; size_t size; } cache[CACHE_SLOTS];
static size_t cached_bytes = 0;

void *_mlir_memref_to_llvm_alloc(size_t size) {
  if (size >= CACHED_FROM) {
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SLOTS; ++i) {
      if (cache[i].block && cache[i].size == size) {
        void *block = cache[i].block;
        cache[i].block = NULL;
        cached_bytes -= size;
        pthread_mutex_unlock(&cache_lock);
        return (char *)block + HEADER;
      }
    }
    pthread_mutex_unlock(&cache_lock);
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
  if (size >= CACHED_FROM) {
    pthread_mutex_lock(&cache_lock);
    if (cached_bytes + size <= CACHE_BYTES) {
      for (int i = 0; i < CACHE_SLOTS; ++i) {
        if (!cache[i].block) {
          cache[i].block = block;
          cache[i].size = size;
          cached_bytes += size;
          pthread_mutex_unlock(&cache_lock);
          return;
        }
      }
    }
    pthread_mutex_unlock(&cache_lock);
  }
  free(block);
}

void patsparse_release_buffers(void) {
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < CACHE_SLOTS; ++i) {
    free(cache[i].block);
    cache[i].block = NULL;
  }
  cached_bytes = 0;
  pthread_mutex_unlock(&cache_lock);
}
