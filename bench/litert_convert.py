"""Convert a torch.export program to LiteRT (.tflite) with litert-torch. Runs in the converter's
own venv (bench/.engines/litert-torch), so it imports nothing of the project.

    python litert_convert.py model.pt2 input.npy model.tflite
"""

import sys
from pathlib import Path

import numpy as np
import torch


def main(program: str, sample: str, output: str) -> int:
    import litert_torch

    module = torch.export.load(program).module()
    converted = litert_torch.convert(module, (torch.from_numpy(np.load(sample)),))
    partial = Path(output).with_suffix(".partial")
    converted.export(str(partial))
    partial.replace(output)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: litert_convert.py PROGRAM.pt2 INPUT.npy OUTPUT.tflite")
    sys.exit(main(*sys.argv[1:]))
