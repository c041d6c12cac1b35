// Threads for generated convolutions: a persistent pool that splits a range of filter
// positions into chunks taken dynamically (an atomic counter), so heavy filters placed
// first by patsparse-reorder-filters spread over every thread.
//
// Each position is computed by exactly one thread, whole, so results are bit-identical for
// every thread count. The count is PATSPARSE_THREADS from the environment at first use,
// else the compile-time default (patsparse-compile --threads N), and
// patsparse_set_threads() changes it at any time between calls.
//
// Calls may overlap (several application threads running models of this process at once):
// the pool runs one job at a time, and a caller that finds it busy runs its job on its own
// thread instead of waiting (same results, since every position is computed whole; no
// deadlock, since nobody waits for a pool that another caller holds).

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "patsparse_runtime.h"

#ifndef PATSPARSE_DEFAULT_THREADS
#define PATSPARSE_DEFAULT_THREADS 1
#endif
#define PATSPARSE_MAX_THREADS 64
#define CHUNKS_PER_THREAD 8

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;  // held by the caller whose job the pool runs
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static atomic_int threads_wanted = 0;  // 0: not read yet
static int workers_started = 0;
static long generation = 0;     // bumped for every parallel job
static int workers_busy = 0;    // workers still in the current job (under pool_lock)

static struct {
  patsparse_body_fn body;
  int64_t count, chunk;
  float *a, *b, *c;
  int workers;                  // how many workers take part in this job
} job;
static atomic_long next_start;

static void run_chunks(void) {
  for (;;) {
    long start = atomic_fetch_add(&next_start, job.chunk);
    if (start >= job.count) return;
    long end = start + job.chunk < job.count ? start + job.chunk : job.count;
    job.body(job.a, job.b, job.c, start, end);
  }
}

static void *worker(void *argument) {
  int index = (int)(intptr_t)argument;
  long seen = 0;
  for (;;) {
    pthread_mutex_lock(&pool_lock);
    while (generation == seen) pthread_cond_wait(&pool_wake, &pool_lock);
    seen = generation;
    int takes_part = index < job.workers;
    pthread_mutex_unlock(&pool_lock);
    if (!takes_part) continue;
    run_chunks();
    pthread_mutex_lock(&pool_lock);
    if (--workers_busy == 0) pthread_cond_signal(&pool_done);
    pthread_mutex_unlock(&pool_lock);
  }
  return NULL;
}

void patsparse_set_threads(int threads) {
  if (threads < 1) threads = 1;
  if (threads > PATSPARSE_MAX_THREADS) threads = PATSPARSE_MAX_THREADS;
  atomic_store(&threads_wanted, threads);
}

int patsparse_get_threads(void) {
  if (atomic_load(&threads_wanted) == 0) {
    const char *text = getenv("PATSPARSE_THREADS");
    int threads = text && atoi(text) > 0 ? atoi(text) : PATSPARSE_DEFAULT_THREADS;
    int unset = 0;
    if (threads > PATSPARSE_MAX_THREADS) threads = PATSPARSE_MAX_THREADS;
    atomic_compare_exchange_strong(&threads_wanted, &unset, threads);  // a concurrent set_threads wins
  }
  return atomic_load(&threads_wanted);
}

void patsparse_parallel_for(patsparse_body_fn body, int64_t count, float *a, float *b, float *c) {
  int threads = patsparse_get_threads();
  if (threads > count) threads = (int)count;
  if (threads <= 1 || pthread_mutex_trylock(&job_lock) != 0) {
    body(a, b, c, 0, count);  // one thread wanted, or the pool is running another caller's job
    return;
  }
  pthread_mutex_lock(&pool_lock);
  while (workers_started < threads - 1) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, (void *)(intptr_t)workers_started) != 0) break;
    pthread_detach(thread);
    workers_started++;
  }
  int workers = threads - 1 < workers_started ? threads - 1 : workers_started;
  int64_t chunk = count / ((int64_t)(workers + 1) * CHUNKS_PER_THREAD);
  job.body = body;
  job.count = count;
  job.chunk = chunk > 0 ? chunk : 1;
  job.a = a;
  job.b = b;
  job.c = c;
  job.workers = workers;
  atomic_store(&next_start, 0);
  workers_busy = workers;
  generation++;
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  run_chunks();  // the calling thread works too
  pthread_mutex_lock(&pool_lock);
  while (workers_busy > 0) pthread_cond_wait(&pool_done, &pool_lock);
  pthread_mutex_unlock(&pool_lock);
  pthread_mutex_unlock(&job_lock);
}
