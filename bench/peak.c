/* Single-thread f32 FMA peak: ACC independent vector accumulators, W lanes each.
 * Build: gcc -O3 -march=native -DW=16 -DACC=16 peak.c; run: ./peak ITERATIONS
 * Prints GFLOP/s (2 flops per lane per FMA). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float vec __attribute__((vector_size(W * 4)));

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 100000000;
  vec acc[ACC];
  vec x = (vec){} + 0.999999f, y = (vec){} + 1e-7f;
  for (int i = 0; i < ACC; i++) acc[i] = (vec){} + (float)i;
  struct timespec start, stop;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 32
    for (int i = 0; i < ACC; i++) acc[i] = acc[i] * x + y;
  }
  clock_gettime(CLOCK_MONOTONIC, &stop);
  float sum = 0;
  for (int i = 0; i < ACC; i++)
    for (int j = 0; j < W; j++) sum += acc[i][j];
  double seconds = (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec);
  printf("%.3f %g\n", 2.0 * W * ACC * iterations / seconds / 1e9, sum);
  return 0;
}
