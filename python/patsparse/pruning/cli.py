"""``patsparse-prune``: train, ADMM-prune, retrain, export and verify pattern-sparse models."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

PROG = "patsparse-prune"

DESCRIPTION = """\
Pattern-based pruning of any model (a built-in one or module.path:factory) on Fashion-MNIST
(the default, from the Debian package dataset-fashion-mnist), an image folder
(torchvision's ImageFolder layout: root/class_x/img.png) or a module.path:factory returning
(train, test) datasets or DataLoaders.

Every 3x3 kernel keeps 4 weights in one of K library patterns (2.25x on the 3x3 layers);
--connectivity additionally removes whole kernels so the 3x3 layers reach that total
compression (patterns included). Phases: dense training (skipped with --dense-checkpoint),
ADMM (--method admm) and masked retraining. Writes OUT/pruned.pt (or OUT/dense.pt for
--method dense), OUT/metrics.json, OUT/library.png, OUT/layers.png, OUT/curves.png and a
resumable OUT/state.pt after every epoch.
"""

EPILOG = """\
subcommands:
  patsparse-prune [prune] OPTIONS     train / prune (the default; 'prune' may be omitted)
  patsparse-prune verify CKPT         check a pruned checkpoint: every 3x3 kernel all zero
                                      or inside its library pattern; prints the per-layer
                                      compression; exit status 1 on any violation
  patsparse-prune project OPTIONS     no training: project any model (VGG-16, ResNet-18/50 at
                                      32x32 or 224x224) onto K patterns, for compiling and
                                      benchmarking at full size (see 'project --help')

examples:
  patsparse-prune --model vgg_small --patterns 8 --connectivity 8 --quick --out runs/demo
  patsparse-prune --model my_models:TinyNet --data ./imgs --model-path . --patterns 8 --out runs/tiny
  patsparse-prune verify runs/demo/pruned.pt
  patsparse-prune project --model vgg16 --patterns 8 --connectivity 8 -o vgg16_p8_c8.pt
  patsparse-prune --model vgg_small --method dense --dense-epochs 6 --out runs/dense
  patsparse-prune --model vgg_small --patterns 8 --dense-checkpoint runs/dense/dense.pt --out runs/p8
  patsparse-prune --model vgg_small --patterns 8 --distill 0.7 --dense-checkpoint runs/dense/dense.pt --out runs/p8_kd
  torchrun --nproc_per_node 2 -m patsparse.pruning.cli --quick --out runs/ddp
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def build_prune_parser() -> argparse.ArgumentParser:
    from .models import MODELS

    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                usage=f"{PROG} [prune] [options] --out DIR\n       {PROG} verify [--json] CKPT\n"
                                      f"       {PROG} project --model NAME [options] -o CKPT",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to prune")
    g.add_argument("--model", default="vgg_small", metavar="NAME|module.path:factory",
                   help="a built-in network (" + ", ".join(MODELS) + ") or a function / nn.Module class "
                        "that takes no arguments, as module.path:factory (default: vgg_small)")
    g.add_argument("--model-path", action="append", default=None, metavar="DIR",
                   help="folder to import --model / --data modules from (repeatable; also $PATSPARSE_MODEL_PATH; "
                        "the current directory is searched too)")
    g.add_argument("--data", default="fashion-mnist", metavar="fashion-mnist|DIR|module.path:factory",
                   help="training data: fashion-mnist (default), an image folder in torchvision's ImageFolder layout "
                        "(DIR/class_x/img.png, or DIR/train/... and DIR/test/...), or a function returning "
                        "(train, test) datasets or DataLoaders")
    g.add_argument("--image-size", metavar="H,W", help="image folder: resize to this size (default: the model's "
                                                       "input_shape attribute, else the first image's size)")
    g.add_argument("--image-mean", metavar="M[,M,M]", help="image folder: subtract this per-channel mean (after /255)")
    g.add_argument("--image-std", metavar="S[,S,S]", help="image folder: divide by this per-channel std")
    g.add_argument("--test-fraction", type=float, default=0.2,
                   help="image folder without train/ and test/: hold out this share of the images (default: 0.2)")
    g.add_argument("--no-grouped", dest="include_grouped", action="store_false",
                   help="leave depthwise and grouped 3x3 convs dense (default: pattern-prune them too, with no "
                        "connectivity pruning)")
    g.add_argument("--method", default="admm", choices=["admm", "magnitude", "dense"],
                   help="admm: ADMM pattern+connectivity pruning; magnitude: project the dense weights and "
                        "retrain (baseline); dense: only train the dense model (default: admm)")
    g.add_argument("--patterns", type=int, default=8, metavar="K", help="patterns in the library (default: 8)")
    g.add_argument("--connectivity", type=float, default=None, metavar="X",
                   help="total compression of the 3x3 layers incl. the 2.25x of patterns, e.g. 8 "
                        "(default: no connectivity pruning)")
    g.add_argument("--no-exempt-first", dest="exempt_first", action="store_false",
                   help="connectivity-prune the first conv layer too (default: it keeps all kernels)")
    g.add_argument("--connectivity-allocation", dest="allocation", choices=["uniform", "erk"], default="uniform",
                   help="how the kept kernels are shared among the 3x3 layers: uniform (one keep ratio) or erk "
                        "(Erdos-Renyi-kernel: a layer keeps a share proportional to (O+I+6)/(9*O*I), so narrow "
                        "layers keep more than wide ones; same total compression) (default: uniform)")
    g = p.add_argument_group("training")
    g.add_argument("--dense-checkpoint", metavar="CKPT", help="start from this trained dense (or pruned) checkpoint")
    g.add_argument("--dense-epochs", type=_positive_int, default=8, help="dense training epochs (default: 8)")
    g.add_argument("--admm-epochs", type=_positive_int, default=3, help="ADMM epochs (default: 3)")
    g.add_argument("--retrain-epochs", type=_positive_int, default=3,
                   help="masked retraining epochs (magnitude retrains admm+retrain epochs) (default: 3)")
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate, dense phase (cosine decay)")
    g.add_argument("--admm-lr", type=float, default=1e-3, help="Adam learning rate, ADMM phase (default: 1e-3)")
    g.add_argument("--admm-lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="ADMM-phase learning rate: constant, or a cosine decay to 0 over the ADMM epochs, so the "
                        "last Z/Y projections (which fix the masks) see annealed weights (default: constant)")
    g.add_argument("--retrain-lr", type=float, default=1e-3, help="Adam learning rate, retraining (cosine)")
    g.add_argument("--rho", type=float, default=0.05, help="initial ADMM penalty rho (default: 0.05)")
    g.add_argument("--rho-max", type=float, default=2.0, help="final rho; grows geometrically (default: 2)")
    g.add_argument("--admm-updates-per-epoch", type=int, default=4, help="Z/Y/dual updates per epoch (default: 4)")
    g.add_argument("--initial-library", type=int, default=32,
                   help="ADMM starts from this many most frequent natural patterns and drops the least "
                        "used until K remain (default: 32)")
    g.add_argument("--distill", type=float, default=0.0, metavar="ALPHA",
                   help="knowledge distillation from the dense model in the ADMM and retraining phases (both "
                        "methods): loss = (1 - ALPHA) * cross entropy + ALPHA * T^2 * KL(teacher || student); "
                        "the teacher is the --dense-checkpoint model or the model at the end of the dense phase "
                        "(default: 0 = off)")
    g.add_argument("--distill-temperature", type=float, default=4.0, metavar="T",
                   help="softmax temperature of the distillation term (default: 4)")
    g.add_argument("--train-limit", type=int, default=None, metavar="N", help="use the first N training images")
    g.add_argument("--test-limit", type=int, default=None, metavar="N", help="use the first N test images")
    g.add_argument("--no-augment", dest="augment", action="store_false", help="no random horizontal flips")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quick", action="store_true",
                   help="demo/test setting: 2000 training and 1000 test images, one epoch per phase "
                        "(explicit --*-epochs / --*-limit options still win)")
    g = p.add_argument_group("running")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder")
    g.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its state.pt")
    g.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                   help="stop after N epochs in this invocation (split a run over jobs; continue with --resume)")
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default: 1)")
    g.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars (they show only when stderr is a terminal)")
    return p


def build_verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} verify",
                                description="Verify a pruned checkpoint: every 3x3 kernel is all zero or has its "
                                            "non-zeros only inside its library pattern. Prints the per-layer "
                                            "compression; exits 1 on any violation.")
    p.add_argument("checkpoint", help="a pruned checkpoint (pruned.pt or .safetensors)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--model-path", action="append", default=None, metavar="DIR",
                   help="folder to import the checkpoint's module:factory model from (repeatable)")
    return p


def build_project_parser() -> argparse.ArgumentParser:
    from .models import MODELS

    p = argparse.ArgumentParser(
        prog=f"{PROG} project",
        description="Project a model's 3x3 weights onto K patterns (and remove whole kernels for a connectivity "
                    "target) without training, re-estimate BatchNorm statistics on seeded random inputs, and "
                    "write a pruned checkpoint that patsparse-import reads. For compiler tests and benchmarks "
                    "of networks too large to train here; the weights are random unless --dense-checkpoint.")
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="network (input shape by name)")
    p.add_argument("--patterns", type=int, default=8, metavar="K", help="patterns in the library (default: 8)")
    p.add_argument("--connectivity", type=float, metavar="X",
                   help="total compression of the 3x3 layers incl. the 2.25x of patterns (default: none)")
    p.add_argument("--dense-checkpoint", metavar="CKPT", help="start from these weights instead of random ones")
    p.add_argument("--include-grouped", action="store_true",
                   help="pattern-project depthwise and grouped 3x3 convs too (no connectivity pruning there), "
                        "e.g. for mobilenet_v2 (default: dense 3x3 convs only)")
    p.add_argument("--seed", type=int, default=0, help="weights and calibration inputs (default: 0)")
    p.add_argument("-o", "--out", required=True, metavar="CKPT", help="the pruned checkpoint to write")
    return p


QUICK = {"train_limit": 2000, "test_limit": 1000, "dense_epochs": 1, "admm_epochs": 1, "retrain_epochs": 1}


def _config_from_args(args, argv):
    from .train import Config

    if args.quick:
        for key, value in QUICK.items():
            explicit = any(a == f"--{key.replace('_', '-')}" or a.startswith(f"--{key.replace('_', '-')}=") for a in argv)
            if not explicit:
                setattr(args, key, value)
    return Config(model=args.model, method=args.method, patterns=args.patterns, connectivity=args.connectivity,
                  exempt_first=args.exempt_first, allocation=args.allocation, dense_epochs=args.dense_epochs, admm_epochs=args.admm_epochs,
                  retrain_epochs=args.retrain_epochs, batch_size=args.batch_size, lr=args.lr, admm_lr=args.admm_lr,
                  retrain_lr=args.retrain_lr, admm_lr_schedule=args.admm_lr_schedule, rho=args.rho, rho_max=args.rho_max,
                  admm_updates_per_epoch=args.admm_updates_per_epoch, initial_library=args.initial_library,
                  train_limit=args.train_limit, test_limit=args.test_limit, augment=args.augment, seed=args.seed,
                  dense_checkpoint=args.dense_checkpoint, distill=args.distill,
                  distill_temperature=args.distill_temperature, data=args.data, image_size=args.image_size,
                  image_mean=args.image_mean, image_std=args.image_std, test_fraction=args.test_fraction,
                  include_grouped=args.include_grouped,
                  model_path=os.pathsep.join(args.model_path) if args.model_path else None)


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1


def verify_main(argv) -> int:
    import json

    from .checkpoint import CheckpointError
    from .verify import format_report, verify_pruned

    args = build_verify_parser().parse_args(argv)
    try:
        report = verify_pruned(args.checkpoint, model_path=args.model_path)
    except CheckpointError as err:
        return _error(str(err))
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(format_report(report))
    if not report["ok"]:
        print(f"{PROG}: error: {args.checkpoint}: {len(report['violations'])} violation(s)", file=sys.stderr)
        return 1
    return 0


def project_main(argv) -> int:
    from pathlib import Path

    args = build_project_parser().parse_args(argv)
    if args.patterns < 1 or args.patterns > 56:
        return _error(f"--patterns {args.patterns}: expected 1 to 56 (there are 56 candidate patterns)")
    if args.connectivity is not None and args.connectivity < 2.25:
        return _error(f"--connectivity {args.connectivity}: expected at least 2.25 (the patterns alone give 2.25x)")
    if not Path(args.out).resolve().parent.is_dir():
        return _error(f"{args.out}: the directory {Path(args.out).parent} does not exist")
    from . import models
    from .checkpoint import CheckpointError, load_model, save_pruned
    from .project import compression_report
    from .projected import projected_model

    model = None
    if args.dense_checkpoint:
        try:
            model, info = load_model(args.dense_checkpoint)
        except CheckpointError as err:
            return _error(str(err))
        if info["model"] != args.model:
            return _error(f"{args.dense_checkpoint}: holds model {info['model']!r}, expected {args.model!r}")
    model, layers = projected_model(args.model, args.patterns, args.connectivity, args.seed, model=model,
                                    include_grouped=args.include_grouped)
    report = compression_report(model)
    save_pruned(args.out, model, args.model, layers,
                {"method": "projection", "patterns": args.patterns, "connectivity": args.connectivity,
                 "include_grouped": args.include_grouped,
                 "seed": args.seed, "input_shape": list(models.input_shape(args.model)),
                 "compression_3x3": report["compression"], "command": shlex.join([PROG, "project", *argv])})
    print(f"{PROG}: {args.model} projected onto {args.patterns} patterns, 3x3 compression "
          f"{report['compression']:.2f}x -> {args.out}")
    return 0


def prune_main(argv) -> int:
    args = build_prune_parser().parse_args(argv)
    import torch

    from .checkpoint import CheckpointError
    from .data import DataError
    from .sparsifier import SparsifierError
    from .train import RunError, Trainer

    torch.set_num_threads(max(1, args.threads))
    config = _config_from_args(args, argv)
    command = shlex.join([PROG, *argv])
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    metrics, code = None, 1
    try:
        trainer = Trainer(config, args.out, progress=args.progress, command=command, device=args.device)
        metrics = trainer.run(resume=args.resume, stop_after_epochs=args.stop_after_epochs)
        code = 0
    except (CheckpointError, DataError, RunError, SparsifierError, ValueError) as err:
        code = _error(str(err))
    finally:
        import torch.distributed as dist

        # Only after success: a rank that failed while its peers wait in a collective would hang
        # in the teardown; exiting non-zero instead lets torchrun stop the peers.
        if code == 0 and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if metrics is not None and trainer.rank == 0:
        cmp = metrics["compression_3x3"]
        print(f"{PROG}: {config.method} {config.model}: accuracy {metrics['accuracy']:.2f}% "
              f"(dense {metrics['dense_accuracy']:.2f}%), 3x3 compression {cmp:.2f}x, "
              f"{metrics['wall_time_s']:.0f} s -> {args.out}")
    if distributed:
        _exit_worker(code)
    return code


def _exit_worker(code: int) -> None:
    """End a torchrun worker without running C++ static destructors.

    Every output is written atomically, and after a success the process group is destroyed by
    now. What is left is interpreter teardown, where gloo's and the TCP store's background
    threads can be torn down out of order and abort the process ("terminate called without an
    active exception", seen once in CI), which torchrun reports as a failed run.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "verify":
        return verify_main(argv[1:])
    if argv and argv[0] == "project":
        return project_main(argv[1:])
    if argv and argv[0] == "prune":
        argv = argv[1:]
    return prune_main(argv)


if __name__ == "__main__":
    sys.exit(main())
