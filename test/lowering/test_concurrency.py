"""Calls that overlap: several Python threads on one compiled model and on two, the thread
count changed while others call, buffers released between calls, and memory that stays flat
over 10,000 calls. Each CompiledModel holds a context of its model's C API, with its own pool
(lowering/runtime/patsparse_parallel.c) that runs one job at a time; a caller that finds it
busy computes on its own thread, so every result is the single-call result, bit for bit (each
filter position is computed whole by one thread).

The hammering runs in a child process with a timeout, so a deadlock fails the test instead of
hanging the suite (it hung for good in 5 of 6 trials with 4 callers before)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import conv_module, pattern_weight

from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions

SHAPE = (1, 16, 20, 20)

HAMMER = r"""
import json, sys, threading
import numpy as np
from patsparse import runtime

request = json.loads(sys.argv[1])
models = [runtime.load(path) for path in request["libraries"]]
rng = np.random.default_rng(0)
inputs = [rng.standard_normal(models[0].input_shape).astype(np.float32) for _ in range(6)]
expected = [[model(x) for x in inputs] for model in models]  # one caller, before any overlap
wrong, done = [], []

def call(worker):
    for call_number in range(request["calls"]):
        index = (worker + call_number) % len(models)
        which = (worker * 7 + call_number) % len(inputs)
        if not np.array_equal(models[index](inputs[which]), expected[index][which]):
            wrong.append((worker, call_number))
    done.append(worker)

def change_threads():
    for step in range(request["calls"] // 10):
        for model in models:
            model.set_threads(1 + step % 3)
            if step % 25 == 0:
                model.release_buffers()

workers = [threading.Thread(target=call, args=(w,)) for w in range(request["threads"])]
if request["change_threads"]:
    workers.append(threading.Thread(target=change_threads))
for model in models:
    model.set_threads(2)
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(json.dumps({"wrong": len(wrong), "done": len(done)}))
"""


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    work = tmp_path_factory.mktemp("concurrency")
    paths = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        weight = pattern_weight(rng, 32, SHAPE[1], 0.6)
        source = work / f"conv{seed}.mlir"
        source.write_text(conv_module(SHAPE, weight, rng.standard_normal(32).astype(np.float32), (1, 1), (1, 1, 1, 1),
                                      as_linalg=True))
        paths.append(compile_model(source, work / f"conv{seed}.so", CompileOptions.optimised(threads=2))
                     .outputs["library"])
    return paths


def hammer(libraries, threads, calls, change_threads=False):
    request = {"libraries": libraries, "threads": threads, "calls": calls, "change_threads": change_threads}
    child = subprocess.run([sys.executable, "-c", HAMMER, json.dumps(request)], capture_output=True, text=True,
                           timeout=240)
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.splitlines()[-1])


def test_four_threads_on_one_model_with_two_pool_threads_give_the_single_call_results(libraries):
    assert hammer(libraries[:1], threads=4, calls=1000) == {"wrong": 0, "done": 4}


def test_four_threads_on_two_models_with_thread_counts_changing_and_buffers_released(libraries):
    assert hammer(libraries, threads=4, calls=1000, change_threads=True) == {"wrong": 0, "done": 4}


MEMORY = r"""
import json, sys
import numpy as np
from patsparse import runtime

model = runtime.load(sys.argv[1])
x = np.random.default_rng(0).standard_normal(model.input_shape).astype(np.float32)

def rss_kib():
    return int(open("/proc/self/statm").read().split()[1]) * 4

for _ in range(1000):
    model(x)
before = rss_kib()
for _ in range(10000):
    model(x)
print(json.dumps({"before": before, "after": rss_kib()}))
"""


def test_ten_thousand_calls_keep_memory_flat(libraries):
    child = subprocess.run([sys.executable, "-c", MEMORY, libraries[0]], capture_output=True, text=True, timeout=240)
    assert child.returncode == 0, child.stderr[-2000:]
    rss = json.loads(child.stdout.splitlines()[-1])
    assert rss["after"] - rss["before"] < 1024, rss  # KiB: under 1 MiB of growth over 10,000 calls
