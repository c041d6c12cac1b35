"""End-to-end training runs on tiny subsets: CLI outputs, masks, resume, DDP, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from patsparse.pruning import cli
from patsparse.pruning.checkpoint import load_pruned
from patsparse.pruning.project import conv3x3_layers
from patsparse.pruning.verify import verify_pruned

# Tiny runs: 256 training / 200 test images, batch 64, one epoch per phase.
TINY = ["--train-limit", "256", "--test-limit", "200", "--batch-size", "64", "--dense-epochs", "1",
        "--admm-epochs", "1", "--retrain-epochs", "1", "--no-progress"]


def run(out, *extra):
    return cli.main([*TINY, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def admm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("admm")
    torch.set_num_threads(1)
    assert run(out, "--patterns", "6", "--connectivity", "6", "--admm-epochs", "2") == 0
    return out


@pytest.mark.slow
@pytest.mark.training
def test_admm_run_writes_outputs_and_every_kernel_satisfies_its_mask(admm_run):
    for name in ("pruned.pt", "metrics.json", "library.png", "layers.png", "curves.png", "state.pt"):
        assert (admm_run / name).is_file(), name
    model, info = load_pruned(admm_run / "pruned.pt")
    assert verify_pruned(admm_run / "pruned.pt")["ok"]
    for name, module in conv3x3_layers(model):
        layer = info["layers"][name]
        assert layer["pattern_library"].shape == (6, 9)
        w = module.weight.detach().numpy().reshape(*layer["kernel_mask"].shape, 9)
        allowed = layer["pattern_library"][np.clip(layer["pattern_ids"], 0, None)].astype(bool)
        allowed &= layer["kernel_mask"][..., None]
        assert not (w[~allowed] != 0).any(), name
    metrics = json.loads((admm_run / "metrics.json").read_text())
    assert metrics["compression_3x3"] == pytest.approx(6.0, rel=0.03)
    assert [h["phase"] for h in metrics["history"]] == ["dense", "admm", "admm", "retrain"]
    # The ADMM phase shrank the library from the larger natural one down to K.
    assert metrics["admm_initial_library_size"] > 6
    assert metrics["history"][2]["library_size"] == 6
    assert metrics["history"][1]["library_size"] > 6
    assert info["metadata"]["num_patterns"] == 6 and "accuracy" in info["metadata"]
    assert metrics["command"].startswith("patsparse-prune ")


def assert_same_pruned(a_dir, b_dir):
    """Two runs ended with the same weights and the same pattern of every kernel."""
    a = torch.load(a_dir / "pruned.pt", weights_only=True)
    b = torch.load(b_dir / "pruned.pt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(b["state_dict"][key], value), key
    for name in a["layers"]:
        assert torch.equal(a["layers"][name]["pattern_ids"], b["layers"][name]["pattern_ids"]), name


@pytest.mark.slow
@pytest.mark.training
def test_resume_equals_an_uninterrupted_run(admm_run, tmp_path):
    args = ("--patterns", "6", "--connectivity", "6", "--admm-epochs", "2")
    # Stop inside the ADMM phase, then at the ADMM/retrain boundary, then finish.
    assert run(tmp_path, *args, "--stop-after-epochs", "2") == 0
    assert not (tmp_path / "pruned.pt").exists()
    assert run(tmp_path, *args, "--resume", "--stop-after-epochs", "1") == 0
    assert run(tmp_path, *args, "--resume") == 0
    assert_same_pruned(admm_run, tmp_path)
    a = json.loads((admm_run / "metrics.json").read_text())["history"]
    b = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["test_acc"] for h in a] == [h["test_acc"] for h in b]


@pytest.mark.training
def test_resume_with_different_options_is_refused(admm_run, tmp_path, capsys):
    assert run(tmp_path, "--stop-after-epochs", "1") == 0
    assert run(tmp_path, "--resume", "--patterns", "4") == 1
    assert "options differ" in capsys.readouterr().err


@pytest.mark.training
def test_magnitude_baseline_from_dense_checkpoint(tmp_path):
    dense = tmp_path / "dense"
    assert run(dense, "--method", "dense") == 0
    assert (dense / "dense.pt").is_file()
    out = tmp_path / "mag"
    assert run(out, "--method", "magnitude", "--patterns", "4", "--dense-checkpoint", str(dense / "dense.pt")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["phase"] for h in metrics["history"]] == ["retrain", "retrain"]  # admm + retrain epochs
    assert metrics["compression_3x3"] == pytest.approx(2.25)
    dense_acc = json.loads((dense / "metrics.json").read_text())["accuracy"]
    assert metrics["dense_accuracy"] == pytest.approx(dense_acc)
    assert verify_pruned(out / "pruned.pt")["ok"]


def test_dense_checkpoint_errors_are_clear(tmp_path, capsys):
    assert run(tmp_path / "o", "--dense-checkpoint", str(tmp_path / "nope.pt")) == 1
    err = capsys.readouterr().err
    assert err.startswith("patsparse-prune: error: ") and "nope.pt" in err and "Traceback" not in err


def test_missing_dataset_names_the_debian_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATSPARSE_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    assert run(tmp_path / "o") == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def torchrun_prune(logs, *args, timeout=240):
    """patsparse-prune as 2 torchrun processes on CPU; each rank's output also lands in `logs`."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--log-dir", str(logs), "--tee", "3", "-m", "patsparse.pruning.cli", *TINY, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.training
def test_two_process_ddp_run(tmp_path):
    out = tmp_path / "ddp"
    logs = tmp_path / "logs"
    proc = torchrun_prune(logs, "--patterns", "4", "--connectivity", "4", "--out", str(out))
    # On failure show each rank's own stderr: torchrun's summary names only the signal.
    rank_logs = "\n".join(f"--- {p.relative_to(logs)}:\n{p.read_text()[-1500:]}"
                           for p in sorted(logs.rglob("stderr.log")))
    assert proc.returncode == 0, f"{rank_logs}\n--- torchrun:\n{proc.stderr[-1500:]}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    checksums = metrics["rank_weight_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]  # ranks hold identical weights
    assert verify_pruned(out / "pruned.pt")["ok"]
    assert metrics["compression_3x3"] == pytest.approx(4.0, rel=0.03)


@pytest.mark.slow
def test_ddp_error_is_clear_and_ends_the_run(tmp_path):
    logs = tmp_path / "logs"
    proc = torchrun_prune(logs, "--dense-checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o"),
                          timeout=120)
    assert proc.returncode != 0
    rank_errors = [p.read_text() for p in sorted(logs.rglob("stderr.log"))]
    assert len(rank_errors) == 2
    # The first rank to fail ends the run: torchrun may stop the other before it prints anything.
    assert any("patsparse-prune: error: " in err and "nope.pt" in err for err in rank_errors)
    assert not any("Traceback" in err for err in rank_errors)
    assert not (tmp_path / "o").exists()


@pytest.mark.training
def test_dense_resume_ignores_pruning_options(tmp_path, capsys):
    assert run(tmp_path, "--method", "dense", "--dense-epochs", "2", "--stop-after-epochs", "1") == 0
    assert not (tmp_path / "dense.pt").exists()
    assert run(tmp_path, "--method", "dense", "--dense-epochs", "2", "--resume", "--rho", "0.3") == 0
    assert (tmp_path / "dense.pt").is_file()
    assert run(tmp_path, "--method", "dense", "--dense-epochs", "3", "--resume") == 1
    assert "dense_epochs" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Knowledge distillation (--distill)

KD = ("--patterns", "6", "--connectivity", "6", "--admm-epochs", "2", "--distill", "0.5")


@pytest.fixture(scope="module")
def kd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kd")
    torch.set_num_threads(1)
    assert run(out, *KD) == 0
    return out


@pytest.mark.training
def test_distilled_run_records_its_options_and_every_kernel_satisfies_its_mask(kd_run, admm_run):
    metrics = json.loads((kd_run / "metrics.json").read_text())
    assert metrics["config"]["distill"] == 0.5 and metrics["config"]["distill_temperature"] == 4.0
    assert metrics["distill"] == {"alpha": 0.5, "temperature": 4.0}
    assert "--distill 0.5" in metrics["command"]
    assert [h["phase"] for h in metrics["history"]] == ["dense", "admm", "admm", "retrain"]
    assert metrics["compression_3x3"] == pytest.approx(6.0, rel=0.03)
    assert verify_pruned(kd_run / "pruned.pt")["ok"]
    model, info = load_pruned(kd_run / "pruned.pt")
    assert info["metadata"]["distill"] == {"alpha": 0.5, "temperature": 4.0}
    for name, module in conv3x3_layers(model):
        layer = info["layers"][name]
        w = module.weight.detach().numpy().reshape(*layer["kernel_mask"].shape, 9)
        allowed = layer["pattern_library"][np.clip(layer["pattern_ids"], 0, None)].astype(bool)
        allowed &= layer["kernel_mask"][..., None]
        assert not (w[~allowed] != 0).any(), name
    # Same seed and options apart from --distill: the dense phase is unchanged, the pruning differs.
    plain = json.loads((admm_run / "metrics.json").read_text())
    assert metrics["history"][0]["train_loss"] == plain["history"][0]["train_loss"]
    assert metrics["history"][1]["train_loss"] != plain["history"][1]["train_loss"]
    assert plain["distill"] is None and plain["config"]["distill"] == 0.0


@pytest.mark.slow
@pytest.mark.training
def test_distilled_resume_equals_an_uninterrupted_run(kd_run, tmp_path):
    # Stop after the dense phase (the teacher does not exist yet), inside ADMM (the teacher is in
    # the state), at the ADMM/retrain boundary, then finish.
    assert run(tmp_path, *KD, "--stop-after-epochs", "1") == 0
    dense_state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert dense_state["teacher_state"] is None
    assert run(tmp_path, *KD, "--resume", "--stop-after-epochs", "1") == 0
    teacher = torch.load(tmp_path / "state.pt", weights_only=True)["teacher_state"]
    for key, value in dense_state["model_state"].items():  # the teacher is the dense model
        assert torch.equal(teacher[key], value), key
    assert run(tmp_path, *KD, "--resume", "--stop-after-epochs", "1") == 0
    assert run(tmp_path, *KD, "--resume") == 0
    assert_same_pruned(kd_run, tmp_path)
    a = json.loads((kd_run / "metrics.json").read_text())["history"]
    b = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["train_loss"] for h in a] == [h["train_loss"] for h in b]
    assert [h["test_acc"] for h in a] == [h["test_acc"] for h in b]


@pytest.mark.slow
@pytest.mark.training
def test_distilled_magnitude_baseline_from_dense_checkpoint_resumes_exactly(tmp_path):
    dense = tmp_path / "dense"
    assert run(dense, "--method", "dense") == 0
    args = ("--method", "magnitude", "--patterns", "4", "--dense-checkpoint", str(dense / "dense.pt"),
            "--distill", "0.7", "--distill-temperature", "2")
    assert run(tmp_path / "whole", *args) == 0
    assert run(tmp_path / "split", *args, "--stop-after-epochs", "1") == 0
    assert run(tmp_path / "split", *args, "--resume") == 0
    assert_same_pruned(tmp_path / "whole", tmp_path / "split")
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert metrics["distill"] == {"alpha": 0.7, "temperature": 2.0}
    assert [h["phase"] for h in metrics["history"]] == ["retrain", "retrain"]
    assert verify_pruned(tmp_path / "whole" / "pruned.pt")["ok"]


@pytest.mark.slow
@pytest.mark.training
def test_distill_option_errors_and_resume_checks(tmp_path, capsys):
    assert run(tmp_path / "a", "--distill", "1.5") == 1
    assert "--distill must be in 0..1" in capsys.readouterr().err
    assert run(tmp_path / "b", "--distill", "0.5", "--distill-temperature", "0") == 1
    assert "--distill-temperature must be positive" in capsys.readouterr().err
    assert run(tmp_path / "c", "--distill", "0.5", "--dense-epochs", "0") == 1
    assert "needs a dense teacher" in capsys.readouterr().err
    # A state written before the distillation options existed resumes (they default to off),
    # but not with distillation switched on.
    out = tmp_path / "old"
    assert run(out, "--stop-after-epochs", "1") == 0
    state = torch.load(out / "state.pt", weights_only=True)
    del state["config"]["distill"], state["config"]["distill_temperature"]
    torch.save(state, out / "state.pt")
    assert run(out, "--resume", "--distill", "0.5") == 1
    assert "options differ from the interrupted run in distill" in capsys.readouterr().err
    assert run(out, "--resume") == 0


@pytest.mark.slow
@pytest.mark.training
def test_cosine_admm_learning_rate_decays_and_resumes_exactly(admm_run, tmp_path, capsys):
    args = ("--patterns", "6", "--connectivity", "6", "--admm-epochs", "2", "--admm-lr-schedule", "cosine")
    assert run(tmp_path / "whole", *args) == 0
    history = json.loads((tmp_path / "whole" / "metrics.json").read_text())["history"]
    plain = json.loads((admm_run / "metrics.json").read_text())["history"]
    assert [h["phase"] for h in history] == ["dense", "admm", "admm", "retrain"]
    # Constant: every ADMM epoch ends at --admm-lr. Cosine: half-way down after the first of two
    # epochs (4 steps each: cos(pi/2)), near 0 at the end of the phase.
    assert [h["lr"] for h in plain[1:3]] == [1e-3, 1e-3]
    assert history[0]["train_loss"] == plain[0]["train_loss"]  # the dense phase is unchanged
    assert history[1]["lr"] == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 3 / 8)))
    assert history[2]["lr"] == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 7 / 8)))
    assert history[1]["train_loss"] != plain[1]["train_loss"]
    assert run(tmp_path / "split", *args, "--stop-after-epochs", "2") == 0
    assert run(tmp_path / "split", *args, "--resume", "--admm-lr-schedule", "constant") == 1
    assert "options differ from the interrupted run in admm_lr_schedule" in capsys.readouterr().err
    assert run(tmp_path / "split", *args, "--resume") == 0
    assert_same_pruned(tmp_path / "whole", tmp_path / "split")


def test_distillation_loss():
    from patsparse.pruning.steps import distillation_loss

    torch.manual_seed(0)
    student = torch.randn(8, 10, requires_grad=True)
    teacher = torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(student, y)
    # alpha = 0 (or no teacher) is plain cross entropy.
    assert torch.equal(distillation_loss(student, teacher, y, 0.0), ce)
    assert torch.equal(distillation_loss(student, None, y, 0.7), ce)
    # The formula, written out: KL(p_teacher || p_student) at temperature T, batch mean, times T^2.
    alpha, t = 0.7, 3.0
    p_t = torch.softmax(teacher / t, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(student / t, 1))).sum(1).mean()
    expected = (1 - alpha) * ce + alpha * t * t * kl
    assert torch.allclose(distillation_loss(student, teacher, y, alpha, t), expected, atol=1e-6)
    # No gradient reaches the teacher logits.
    teacher_leaf = teacher.clone().requires_grad_(True)
    distillation_loss(student, teacher_leaf, y, alpha, t).backward()
    assert teacher_leaf.grad is None
    # Student == teacher: the KL term is zero with zero gradient, so only (1 - alpha) * CE remains.
    same = student.detach().clone().requires_grad_(True)
    loss = distillation_loss(same, student.detach(), y, alpha, t)
    assert torch.allclose(loss, (1 - alpha) * ce.detach(), atol=1e-6)
    (grad,) = torch.autograd.grad(loss, same)
    ce_same = same.detach().clone().requires_grad_(True)
    (grad_ce,) = torch.autograd.grad((1 - alpha) * torch.nn.functional.cross_entropy(ce_same, y), ce_same)
    assert torch.allclose(grad, grad_ce, atol=1e-6)
    # alpha = 1: the labels do not matter.
    assert torch.equal(distillation_loss(student, teacher, y, 1.0, t),
                       distillation_loss(student, teacher, (y + 1) % 10, 1.0, t))
