"""Shared fixtures: a tiny, fast training configuration (single thread)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    yield


# Tiny runs: 256 training / 200 test images, batch 64, one epoch per phase.
TINY = ["--train-limit", "256", "--test-limit", "200", "--batch-size", "64", "--dense-epochs", "1",
        "--admm-epochs", "1", "--retrain-epochs", "1", "--no-progress"]
