# patsparse-import options on a factory (docs/importing.md): --batch replaces the leading dim
# and -q prints nothing; --elide-weights keeps the dense_resource names without their hex blobs,
# and the file still parses.
# RUN: cd %S/Inputs && patsparse-import nets:padded_conv_with_bias --input-shape 1,4,8,8 --batch 3 -q -o %t.batch.mlir > %t.stdout
# RUN: not test -s %t.stdout
# RUN: FileCheck %s --input-file %t.batch.mlir --check-prefix=BATCH
# BATCH: func.func @forward(%arg0: tensor<3x4x8x8xf32>) -> tensor<3x8x8x8xf32>

# RUN: cd %S/Inputs && patsparse-import nets:padded_conv_with_bias --input-shape 1,4,8,8 --elide-weights -q -o %t.elided.mlir
# RUN: FileCheck %s --input-file %t.elided.mlir --check-prefix=ELIDED
# RUN: FileCheck %s --input-file %t.elided.mlir --check-prefix=NOBLOB
# RUN: %mlir-opt %t.elided.mlir -o /dev/null
# ELIDED: dense_resource<torch_tensor_8_4_3_3_torch.float32>
# NOBLOB-NOT: "0x
