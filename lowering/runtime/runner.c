// Standalone runner of a PatSparse-compiled model (built for AArch64 and linked
// statically, so it runs on an Android phone through `adb shell` and under qemu here).
//
//   runner INPUT.bin OUTPUT.bin [--repeat N] [--warmup W] [--threads T]
//
// INPUT.bin holds the input tensor as raw little-endian float32 in NCHW order;
// OUTPUT.bin receives the output the same way. With --repeat, the model runs W + N
// times and the median and minimum of the last N are printed (milliseconds). --threads
// sets the thread count (default: PATSPARSE_THREADS, else the one compiled in).

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "patsparse_runtime.h"

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int fail(const char *what, const char *path, const char *detail) {
  fprintf(stderr, "runner: error: %s: %s%s%s\n", path, what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: %s INPUT.bin OUTPUT.bin [--repeat N] [--warmup W] [--threads T]\n"
            "  input: %ld float32 values (shape %s), output: %ld float32 values (shape %s)\n",
            argv[0], (long)PATSPARSE_INPUT_ELEMENTS, PATSPARSE_INPUT_SHAPE_TEXT,
            (long)PATSPARSE_OUTPUT_ELEMENTS, PATSPARSE_OUTPUT_SHAPE_TEXT);
    return 2;
  }
  long repeat = 0, warmup = 1;
  for (int i = 3; i < argc; ++i) {
    if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      long threads = strtol(argv[++i], NULL, 10);
      if (threads < 1) { fprintf(stderr, "runner: error: --threads %ld: expected at least 1\n", threads); return 2; }
      patsparse_set_threads((int)threads);
    }
    else { fprintf(stderr, "runner: error: unknown argument '%s'\n", argv[i]); return 2; }
  }
  float *input = malloc(sizeof(float) * PATSPARSE_INPUT_ELEMENTS);
  float *output = malloc(sizeof(float) * PATSPARSE_OUTPUT_ELEMENTS);
  if (!input || !output) return fail("out of memory", argv[0], NULL);

  FILE *file = fopen(argv[1], "rb");
  if (!file) return fail("cannot open", argv[1], strerror(errno));
  size_t read = fread(input, sizeof(float), PATSPARSE_INPUT_ELEMENTS, file);
  int extra = fgetc(file) != EOF;
  fclose(file);
  if (read != PATSPARSE_INPUT_ELEMENTS || extra) {
    char detail[96];
    snprintf(detail, sizeof detail, "expected exactly %ld float32 values (shape %s)",
             (long)PATSPARSE_INPUT_ELEMENTS, PATSPARSE_INPUT_SHAPE_TEXT);
    return fail("wrong input size", argv[1], detail);
  }

  PATSPARSE_ENTRY(input, output);
  if (repeat > 0) {
    double *times = malloc(sizeof(double) * repeat);
    for (long i = 0; i < warmup; ++i) PATSPARSE_ENTRY(input, output);
    for (long i = 0; i < repeat; ++i) {
      double start = now_ms();
      PATSPARSE_ENTRY(input, output);
      times[i] = now_ms() - start;
    }
    qsort(times, repeat, sizeof(double), compare_doubles);
    printf("runs %ld median_ms %.4f min_ms %.4f\n", repeat, times[repeat / 2], times[0]);
    free(times);
  }

  // Write to a temporary name, then rename: never a half-written output.
  char temporary[4096];
  snprintf(temporary, sizeof temporary, "%s.tmp", argv[2]);
  file = fopen(temporary, "wb");
  if (!file) return fail("cannot write", temporary, strerror(errno));
  size_t written = fwrite(output, sizeof(float), PATSPARSE_OUTPUT_ELEMENTS, file);
  if (fclose(file) != 0 || written != PATSPARSE_OUTPUT_ELEMENTS) {
    remove(temporary);
    return fail("cannot write", argv[2], strerror(errno));
  }
  if (rename(temporary, argv[2]) != 0) return fail("cannot rename onto", argv[2], strerror(errno));
  free(input);
  free(output);
  return 0;
}
