"""Shared fixtures of the pruning tests: one torch thread."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    yield
