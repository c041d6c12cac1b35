// The public API of a compiled model (declared in its NAME.h): contexts, runs, threads,
// tensor queries and, in builds with --profile, per-layer times.
//
// A context owns its thread pool, its activation buffers and its profile. A run makes the
// context the calling thread's current one, which is how the pool (patsparse_parallel.c) and
// the allocator (patsparse_alloc.c) that generated code calls find it. Live contexts are kept
// in a registry, so a destroyed or foreign context is refused with an error code instead of
// being dereferenced.

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "patsparse_runtime.h"

#ifndef PATSPARSE_DEFAULT_THREADS
#define PATSPARSE_DEFAULT_THREADS 1
#endif
#define CONTEXT_MAGIC 0x7061747370617273ull  // "patspars"

#define API(name) PATSPARSE_SYMBOL(name)
typedef struct patsparse_context context_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static context_t *live_contexts = NULL;
static __thread context_t *current = NULL;

context_t *patsparse_current_context(void) { return current; }

static int is_live(const context_t *context) {
  pthread_mutex_lock(&registry_lock);
  const context_t *entry = live_contexts;
  while (entry && entry != context) entry = entry->next_live;
  pthread_mutex_unlock(&registry_lock);
  return entry != NULL;
}

static int clamp_threads(int threads) { return threads > PATSPARSE_MAX_THREADS ? PATSPARSE_MAX_THREADS : threads; }

context_t *API(create)(const patsparse_options *options) {
  int threads = options ? options->threads : 0;
  if (threads < 0) return NULL;
  if (threads == 0) {
    const char *text = getenv("PATSPARSE_THREADS");
    threads = text && atoi(text) > 0 ? atoi(text) : PATSPARSE_DEFAULT_THREADS;
  }
  context_t *context = calloc(1, sizeof *context);
  if (!context) return NULL;
  context->pool = patsparse_pool_create();
  if (patsparse_layer_count > 0) context->layer_ms = calloc((size_t)patsparse_layer_count, sizeof(double));
  if (!context->pool || (patsparse_layer_count > 0 && !context->layer_ms)) {
    patsparse_pool_destroy(context->pool);
    free(context->layer_ms);
    free(context);
    return NULL;
  }
  context->magic = CONTEXT_MAGIC;
  atomic_init(&context->threads, clamp_threads(threads));
  pthread_mutex_init(&context->cache_lock, NULL);
  pthread_mutex_init(&context->profile_lock, NULL);
  pthread_mutex_lock(&registry_lock);
  context->next_live = live_contexts;
  live_contexts = context;
  pthread_mutex_unlock(&registry_lock);
  return context;
}

int API(destroy)(context_t *context) {
  if (!context) return PATSPARSE_ERROR_NULL_POINTER;
  pthread_mutex_lock(&registry_lock);
  context_t **link = &live_contexts;
  while (*link && *link != context) link = &(*link)->next_live;
  int found = *link != NULL;
  if (found) *link = context->next_live;
  pthread_mutex_unlock(&registry_lock);
  if (!found) return PATSPARSE_ERROR_INVALID_CONTEXT;
  patsparse_pool_destroy(context->pool);
  patsparse_cache_release(context);
  pthread_mutex_destroy(&context->cache_lock);
  pthread_mutex_destroy(&context->profile_lock);
  free(context->layer_ms);
  context->magic = 0;
  free(context);
  return PATSPARSE_OK;
}

#ifdef PATSPARSE_PROFILE
static __thread int32_t marked_layer = -1;
static __thread struct timespec marked_at;

static double elapsed_ms(const struct timespec *from, const struct timespec *to) {
  return (double)(to->tv_sec - from->tv_sec) * 1e3 + (double)(to->tv_nsec - from->tv_nsec) / 1e6;
}

// Closes the layer that ran since the last mark and opens `layer` (-1: none, at the end).
void patsparse_profile_mark(int32_t layer) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (current && marked_layer >= 0 && marked_layer < patsparse_layer_count) {
    pthread_mutex_lock(&current->profile_lock);
    current->layer_ms[marked_layer] += elapsed_ms(&marked_at, &now);
    pthread_mutex_unlock(&current->profile_lock);
  }
  marked_layer = layer;
  marked_at = now;
}
#endif

int API(run)(context_t *context, const float *const *inputs, float *const *outputs) {
  if (!context || !inputs || !outputs) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  for (int i = 0; i < patsparse_input_count; ++i)
    if (!inputs[i]) return PATSPARSE_ERROR_NULL_POINTER;
  for (int i = 0; i < patsparse_output_count; ++i)
    if (!outputs[i]) return PATSPARSE_ERROR_NULL_POINTER;
  context_t *outer = current;  // a model run from inside another's run keeps both right
  current = context;
#ifdef PATSPARSE_PROFILE
  patsparse_profile_mark(-1);
#endif
  patsparse_invoke(inputs, outputs);
#ifdef PATSPARSE_PROFILE
  patsparse_profile_mark(-1);
  pthread_mutex_lock(&context->profile_lock);
  context->profiled_runs++;
  pthread_mutex_unlock(&context->profile_lock);
#endif
  current = outer;
  return PATSPARSE_OK;
}

int API(set_threads)(context_t *context, int threads) {
  if (!context) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  if (threads < 1) return PATSPARSE_ERROR_INVALID_ARGUMENT;
  atomic_store(&context->threads, clamp_threads(threads));
  return PATSPARSE_OK;
}

int API(get_threads)(context_t *context, int *threads) {
  if (!context || !threads) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  *threads = atomic_load(&context->threads);
  return PATSPARSE_OK;
}

int API(release_buffers)(context_t *context) {
  if (!context) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  patsparse_cache_release(context);
  return PATSPARSE_OK;
}

int API(num_inputs)(void) { return patsparse_input_count; }
int API(num_outputs)(void) { return patsparse_output_count; }

const patsparse_tensor_info *API(input_info)(int index) {
  return index >= 0 && index < patsparse_input_count ? &patsparse_inputs[index] : NULL;
}

const patsparse_tensor_info *API(output_info)(int index) {
  return index >= 0 && index < patsparse_output_count ? &patsparse_outputs[index] : NULL;
}

int API(num_layers)(void) { return patsparse_layer_count; }

const patsparse_layer_info *API(layer_info)(int index) {
  return index >= 0 && index < patsparse_layer_count ? &patsparse_layers[index] : NULL;
}

int API(profile)(context_t *context, double *layer_ms, int64_t *runs) {
  if (!context || !layer_ms || !runs) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  if (patsparse_layer_count == 0) return PATSPARSE_ERROR_NOT_PROFILED;
  pthread_mutex_lock(&context->profile_lock);
  for (int i = 0; i < patsparse_layer_count; ++i) layer_ms[i] = context->layer_ms[i];
  *runs = context->profiled_runs;
  pthread_mutex_unlock(&context->profile_lock);
  return PATSPARSE_OK;
}

int API(profile_reset)(context_t *context) {
  if (!context) return PATSPARSE_ERROR_NULL_POINTER;
  if (!is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  if (patsparse_layer_count == 0) return PATSPARSE_ERROR_NOT_PROFILED;
  pthread_mutex_lock(&context->profile_lock);
  for (int i = 0; i < patsparse_layer_count; ++i) context->layer_ms[i] = 0;
  context->profiled_runs = 0;
  pthread_mutex_unlock(&context->profile_lock);
  return PATSPARSE_OK;
}

const char *API(status_text)(int status) {
  switch (status) {
    case PATSPARSE_OK: return "ok";
    case PATSPARSE_ERROR_NULL_POINTER: return "a null pointer: the context, the input or output array, or one of its tensors";
    case PATSPARSE_ERROR_INVALID_CONTEXT: return "not a live context of this model (destroyed, or created by another model)";
    case PATSPARSE_ERROR_INVALID_ARGUMENT: return "invalid argument (a thread count must be at least 1)";
    case PATSPARSE_ERROR_OUT_OF_MEMORY: return "out of memory";
    case PATSPARSE_ERROR_NOT_PROFILED: return "the model was compiled without --profile";
    default: return "unknown status";
  }
}

// Not in the public header: makes `context` (or none, for NULL) the calling thread's current
// one, so generated functions called directly (the tuner's candidates) run on its pool.
int API(patsparse_make_current)(context_t *context) {
  if (context && !is_live(context)) return PATSPARSE_ERROR_INVALID_CONTEXT;
  current = context;
  return PATSPARSE_OK;
}
