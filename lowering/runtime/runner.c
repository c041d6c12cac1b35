// Standalone runner of a PatSparse-compiled model, built on the model's C API (model.h). It is
// linked statically, so it runs on an Android phone through `adb shell` and under qemu here.
//
//   runner INPUT.bin... OUTPUT.bin... [--repeat N] [--warmup W] [--threads T] [--profile JSON]
//
// One file per input, then one per output (the counts and shapes are printed without
// arguments): raw little-endian float32, NCHW. With --repeat, the model runs W + N times and
// the median and minimum of the last N are printed (milliseconds). --threads sets the thread
// count (default: PATSPARSE_THREADS, else the one compiled in). --profile (a model compiled
// with --profile) prints the time of every layer over the timed runs and writes them as JSON.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

#define MODEL_CONCAT_(a, b) a##_##b
#define MODEL_CONCAT(a, b) MODEL_CONCAT_(a, b)
#define MODEL(function) MODEL_CONCAT(PATSPARSE_MODEL_NAME, function)
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

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

static void shape_text(const patsparse_tensor_info *info, char *text, size_t size) {
  size_t used = 0;
  text[0] = 0;
  for (int d = 0; d < info->rank && used < size; ++d)
    used += snprintf(text + used, size - used, d ? "x%lld" : "%lld", (long long)info->shape[d]);
}

static void usage(const char *program) {
  int inputs = MODEL(num_inputs)(), outputs = MODEL(num_outputs)();
  fprintf(stderr, "usage: %s", program);
  for (int i = 0; i < inputs; ++i) fprintf(stderr, " INPUT%d.bin", i);
  for (int i = 0; i < outputs; ++i) fprintf(stderr, " OUTPUT%d.bin", i);
  fprintf(stderr, " [--repeat N] [--warmup W] [--threads T] [--profile JSON]\n  model %s\n",
          STRINGIFY(PATSPARSE_MODEL_NAME));
  char text[128];
  for (int i = 0; i < inputs + outputs; ++i) {
    const patsparse_tensor_info *info = i < inputs ? MODEL(input_info)(i) : MODEL(output_info)(i - inputs);
    shape_text(info, text, sizeof text);
    fprintf(stderr, "  %s: %lld float32 values (shape %s)\n", info->name, (long long)info->elements, text);
  }
}

static int read_tensor(const char *path, const patsparse_tensor_info *info, float *data) {
  FILE *file = fopen(path, "rb");
  if (!file) return fail("cannot open", path, strerror(errno));
  size_t read = fread(data, sizeof(float), (size_t)info->elements, file);
  int extra = fgetc(file) != EOF;
  fclose(file);
  if (read != (size_t)info->elements || extra) {
    char detail[192], text[128];
    shape_text(info, text, sizeof text);
    snprintf(detail, sizeof detail, "expected exactly %lld float32 values for %s (shape %s)",
             (long long)info->elements, info->name, text);
    return fail("wrong input size", path, detail);
  }
  return 0;
}

// Write to a temporary name, then rename: never a half-written output.
static int write_file(const char *path, const void *data, size_t size) {
  char temporary[4096];
  snprintf(temporary, sizeof temporary, "%s.tmp", path);
  FILE *file = fopen(temporary, "wb");
  if (!file) return fail("cannot write", temporary, strerror(errno));
  size_t written = fwrite(data, 1, size, file);
  if (fclose(file) != 0 || written != size) {
    remove(temporary);
    return fail("cannot write", path, strerror(errno));
  }
  if (rename(temporary, path) != 0) return fail("cannot rename onto", path, strerror(errno));
  return 0;
}

static int write_profile(MODEL(ctx) *context, const char *json_path) {
  int layers = MODEL(num_layers)();
  double *ms = calloc((size_t)(layers > 0 ? layers : 1), sizeof(double));
  int64_t runs = 0;
  int status = ms ? MODEL(profile)(context, ms, &runs) : PATSPARSE_ERROR_OUT_OF_MEMORY;
  if (status != PATSPARSE_OK) {
    free(ms);
    return fail("--profile", json_path, MODEL(status_text)(status));
  }
  double total = 0;
  for (int i = 0; i < layers; ++i) total += ms[i] / (double)(runs ? runs : 1);
  printf("%-5s %-28s %-16s %-34s %10s %7s %9s\n", "layer", "name", "kind", "shape", "ms", "share", "GFLOP/s");
  size_t capacity = 256 + (size_t)layers * 512, used = 0;
  char *json = malloc(capacity);
  if (!json) {
    free(ms);
    return fail("out of memory", json_path, NULL);
  }
  used += snprintf(json + used, capacity - used, "{\"model\": \"%s\", \"runs\": %lld, \"total_ms\": %.6f, \"layers\": [",
                   STRINGIFY(PATSPARSE_MODEL_NAME), (long long)runs, total);
  for (int i = 0; i < layers; ++i) {
    const patsparse_layer_info *info = MODEL(layer_info)(i);
    double layer_ms = ms[i] / (double)(runs ? runs : 1);
    double gflops = layer_ms > 0 ? info->flops / (layer_ms * 1e6) : 0;
    printf("%-5d %-28.28s %-16s %-34.34s %10.4f %6.1f%% %9.2f\n", i, info->name, info->kind, info->shape, layer_ms,
           total > 0 ? 100 * layer_ms / total : 0, gflops);
    used += snprintf(json + used, capacity - used,
                     "%s{\"index\": %d, \"name\": \"%s\", \"kind\": \"%s\", \"shape\": \"%s\", \"ms\": %.6f, "
                     "\"flops\": %.0f}", i ? ", " : "", i, info->name, info->kind, info->shape, layer_ms, info->flops);
  }
  used += snprintf(json + used, capacity - used, "]}\n");
  printf("total %.4f ms per run over %lld runs\n", total, (long long)runs);
  int result = write_file(json_path, json, used < capacity ? used : capacity - 1);
  free(json);
  free(ms);
  return result;
}

int main(int argc, char **argv) {
  int inputs = MODEL(num_inputs)(), outputs = MODEL(num_outputs)();
  int files = inputs + outputs;
  int given = 0;
  while (1 + given < argc && strncmp(argv[1 + given], "--", 2) != 0) given++;
  if (given != files) {
    if (argc > 1)
      fprintf(stderr, "runner: error: %d file%s given: expected %d input file%s, then %d output file%s\n", given,
              given == 1 ? "" : "s", inputs, inputs == 1 ? "" : "s", outputs, outputs == 1 ? "" : "s");
    usage(argv[0]);
    return 2;
  }
  long repeat = 0, warmup = 1, threads = 0;
  const char *profile_path = NULL;
  for (int i = 1 + files; i < argc; ++i) {
    if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--profile") && i + 1 < argc) profile_path = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = strtol(argv[++i], NULL, 10);
      if (threads < 1) { fprintf(stderr, "runner: error: --threads %ld: expected at least 1\n", threads); return 2; }
    }
    else { fprintf(stderr, "runner: error: unknown argument '%s'\n", argv[i]); usage(argv[0]); return 2; }
  }
  if (profile_path && MODEL(num_layers)() == 0)
    return fail("--profile", profile_path, MODEL(status_text)(PATSPARSE_ERROR_NOT_PROFILED));
  patsparse_options options = {(int)threads};
  MODEL(ctx) *context = MODEL(create)(&options);
  const float **input_data = calloc((size_t)inputs, sizeof *input_data);
  float **output_data = calloc((size_t)outputs, sizeof *output_data);
  if (!context || !input_data || !output_data) return fail("out of memory", argv[0], NULL);
  for (int i = 0; i < inputs; ++i) {
    float *data = malloc(sizeof(float) * (size_t)MODEL(input_info)(i)->elements);
    if (!data) return fail("out of memory", argv[0], NULL);
    if (read_tensor(argv[1 + i], MODEL(input_info)(i), data)) return 1;
    input_data[i] = data;
  }
  for (int i = 0; i < outputs; ++i) {
    output_data[i] = malloc(sizeof(float) * (size_t)MODEL(output_info)(i)->elements);
    if (!output_data[i]) return fail("out of memory", argv[0], NULL);
  }

  int status = MODEL(run)(context, input_data, output_data);
  if (status == PATSPARSE_OK && repeat > 0) {
    double *times = malloc(sizeof(double) * (size_t)repeat);
    if (!times) return fail("out of memory", argv[0], NULL);
    for (long i = 0; i < warmup && status == PATSPARSE_OK; ++i) status = MODEL(run)(context, input_data, output_data);
    if (profile_path) MODEL(profile_reset)(context);
    for (long i = 0; i < repeat && status == PATSPARSE_OK; ++i) {
      double start = now_ms();
      status = MODEL(run)(context, input_data, output_data);
      times[i] = now_ms() - start;
    }
    qsort(times, (size_t)repeat, sizeof(double), compare_doubles);
    if (status == PATSPARSE_OK) printf("runs %ld median_ms %.4f min_ms %.4f\n", repeat, times[repeat / 2], times[0]);
    free(times);
  }
  if (status != PATSPARSE_OK) return fail("run failed", argv[0], MODEL(status_text)(status));
  if (profile_path && write_profile(context, profile_path)) return 1;
  for (int i = 0; i < outputs; ++i)
    if (write_file(argv[1 + inputs + i], output_data[i], sizeof(float) * (size_t)MODEL(output_info)(i)->elements))
      return 1;
  MODEL(destroy)(context);
  for (int i = 0; i < inputs; ++i) free((void *)input_data[i]);
  for (int i = 0; i < outputs; ++i) free(output_data[i]);
  free(input_data);
  free(output_data);
  return 0;
}
