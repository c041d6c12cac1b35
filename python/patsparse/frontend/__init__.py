"""PatSparse front end: models in, linalg-on-tensors MLIR text out (torch-mlir).

    from patsparse.frontend import import_model
    path = import_model("resnet18-pruned.pt", "resnet18.mlir")
    path = import_model("mymodels:make_vgg", "vgg.mlir", input_shape="1,3,32,32")
    path = import_model("yolov8n.onnx", "yolo.mlir", input_shape=(1, 3, 640, 640))

torch-mlir runs in a child process (`python -m patsparse.frontend.importer`), so importing
this package pulls in neither torch nor torch_mlir, and it is safe to use next to the
`mlir` 22.1.8 bindings. `patsparse.frontend.fold_bn` (BatchNorm folding) needs torch.
See docs/importing.md.
"""

from .api import ENTRY_NAME, ImportSummary, import_model, run_import
from .errors import FrontendError
from .shapes import parse_input_shape

__all__ = ["ENTRY_NAME", "FrontendError", "ImportSummary", "import_model", "parse_input_shape", "run_import"]
