// Threads for generated convolutions: each context has a pool of workers that split a range
// of filter positions into chunks taken dynamically (an atomic counter), so heavy filters
// placed first by patsparse-reorder-filters spread over every thread.
//
// Each position is computed by exactly one thread, whole, so results are bit-identical for
// every thread count. The count is the context's (NAME_set_threads; at creation the options',
// else PATSPARSE_THREADS from the environment, else the compile-time default).
//
// Calls may overlap (several application threads using one context): a pool runs one job at
// a time, and a caller that finds it busy runs its job on its own thread instead of waiting
// (same results, since every position is computed whole; no deadlock, since nobody waits for
// a pool that another caller holds). Contexts share nothing, so two of them never wait.

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "patsparse_runtime.h"

#define CHUNKS_PER_THREAD 8

struct patsparse_pool {
  pthread_mutex_t job_lock;   // held by the caller whose job the pool runs
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_t workers[PATSPARSE_MAX_THREADS];
  int workers_started;
  long generation;            // bumped for every job (and to stop)
  int workers_busy;           // workers still in the current job (under lock)
  int stopping;
  struct {
    patsparse_body_fn body;     // one of the two is set
    patsparse_body4_fn body4;
    int64_t count, chunk;
    float *a, *b, *c, *d;
    int workers;              // how many workers take part in this job
  } job;
  atomic_long next_start;
};

typedef struct {
  patsparse_pool *pool;
  int index;
} worker_argument;

static void run_chunks(patsparse_pool *pool) {
  for (;;) {
    long start = atomic_fetch_add(&pool->next_start, pool->job.chunk);
    if (start >= pool->job.count) return;
    long end = start + pool->job.chunk < pool->job.count ? start + pool->job.chunk : pool->job.count;
    if (pool->job.body4)
      pool->job.body4(pool->job.a, pool->job.b, pool->job.c, pool->job.d, start, end);
    else
      pool->job.body(pool->job.a, pool->job.b, pool->job.c, start, end);
  }
}

static void *worker(void *opaque) {
  worker_argument argument = *(worker_argument *)opaque;
  free(opaque);
  patsparse_pool *pool = argument.pool;
  long seen = 0;
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    while (pool->generation == seen && !pool->stopping) pthread_cond_wait(&pool->wake, &pool->lock);
    if (pool->stopping) {
      pthread_mutex_unlock(&pool->lock);
      return NULL;
    }
    seen = pool->generation;
    int takes_part = argument.index < pool->job.workers;
    pthread_mutex_unlock(&pool->lock);
    if (!takes_part) continue;
    run_chunks(pool);
    pthread_mutex_lock(&pool->lock);
    if (--pool->workers_busy == 0) pthread_cond_signal(&pool->done);
    pthread_mutex_unlock(&pool->lock);
  }
}

patsparse_pool *patsparse_pool_create(void) {
  patsparse_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return NULL;
  pthread_mutex_init(&pool->job_lock, NULL);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
  return pool;
}

void patsparse_pool_destroy(patsparse_pool *pool) {
  if (!pool) return;
  pthread_mutex_lock(&pool->job_lock);  // no job runs any more
  pthread_mutex_lock(&pool->lock);
  pool->stopping = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->workers_started; ++i) pthread_join(pool->workers[i], NULL);
  pthread_mutex_unlock(&pool->job_lock);
  pthread_mutex_destroy(&pool->job_lock);
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->wake);
  pthread_cond_destroy(&pool->done);
  free(pool);
}

// The job (body or body4 set) over [0, count) on the current context's pool, or on the caller.
static void parallel_job(patsparse_body_fn body, patsparse_body4_fn body4, int64_t count, float *a, float *b,
                         float *c, float *d) {
  struct patsparse_context *context = patsparse_current_context();
  patsparse_pool *pool = context ? context->pool : NULL;
  int threads = context ? atomic_load(&context->threads) : 1;
  if (threads > count) threads = (int)count;
  if (threads <= 1 || !pool || pthread_mutex_trylock(&pool->job_lock) != 0) {
    // one thread wanted, or the pool is running another caller's job
    if (body4)
      body4(a, b, c, d, 0, count);
    else
      body(a, b, c, 0, count);
    return;
  }
  pthread_mutex_lock(&pool->lock);
  while (pool->workers_started < threads - 1) {
    worker_argument *argument = malloc(sizeof *argument);
    if (!argument) break;
    *argument = (worker_argument){pool, pool->workers_started};
    if (pthread_create(&pool->workers[pool->workers_started], NULL, worker, argument) != 0) {
      free(argument);
      break;
    }
    pool->workers_started++;
  }
  int workers = threads - 1 < pool->workers_started ? threads - 1 : pool->workers_started;
  int64_t chunk = count / ((int64_t)(workers + 1) * CHUNKS_PER_THREAD);
  pool->job.body = body;
  pool->job.body4 = body4;
  pool->job.count = count;
  pool->job.chunk = chunk > 0 ? chunk : 1;
  pool->job.a = a;
  pool->job.b = b;
  pool->job.c = c;
  pool->job.d = d;
  pool->job.workers = workers;
  atomic_store(&pool->next_start, 0);
  pool->workers_busy = workers;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  run_chunks(pool);  // the calling thread works too
  pthread_mutex_lock(&pool->lock);
  while (pool->workers_busy > 0) pthread_cond_wait(&pool->done, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  pthread_mutex_unlock(&pool->job_lock);
}

void patsparse_parallel_for(patsparse_body_fn body, int64_t count, float *a, float *b, float *c) {
  parallel_job(body, NULL, count, a, b, c, NULL);
}

void patsparse_parallel_for4(patsparse_body4_fn body, int64_t count, float *a, float *b, float *c, float *d) {
  parallel_job(NULL, body, count, a, b, c, d);
}
