# A conv-BN-ReLU net with a residual add and a strided conv (Inputs/nets.py:conv_bn_residual),
# as the importer writes it (docs/importing.md).
# RUN: cd %S/Inputs && patsparse-import nets:conv_bn_residual --input-shape 1,3,16,16 -q -o %t.mlir
# RUN: FileCheck %s --input-file %t.mlir --check-prefix=PAD
# RUN: FileCheck %s --input-file %t.mlir --check-prefix=STRIDE
# RUN: FileCheck %s --input-file %t.mlir --check-prefix=ADD

# Padding is a tensor.pad feeding the conv: the three 3x3 convs have padding 1, the 1x1 conv none.
# PAD-LABEL: func.func @forward(%arg0: tensor<1x3x16x16xf32>) -> tensor<1x4x8x8xf32>
# PAD-NOT:   tensor.pad
# PAD:       %[[P0:padded[_0-9]*]] = tensor.pad %{{[a-z0-9_]+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
# PAD-NOT:   tensor.pad
# PAD:       linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P0]], %{{[a-z0-9_]+}} :
# PAD-NOT:   linalg.conv_2d_nchw_fchw
# PAD:       %[[P1:padded[_0-9]*]] = tensor.pad %{{[a-z0-9_]+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
# PAD-NOT:   tensor.pad
# PAD:       linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P1]], %{{[a-z0-9_]+}} :
# PAD-NOT:   linalg.conv_2d_nchw_fchw
# PAD:       %[[P2:padded[_0-9]*]] = tensor.pad %{{[a-z0-9_]+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
# PAD-NOT:   tensor.pad
# PAD:       linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P2]], %{{[a-z0-9_]+}} :
# PAD-NOT:   tensor.pad
# PAD:       return

# Stride 2 is a conv attribute (the third conv: 1x8x18x18 padded in, 1x16x8x8 out).
# STRIDE-LABEL:  func.func @forward(
# STRIDE-COUNT-2: linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, {{.*}}strides = dense<1> : vector<2xi64>}
# STRIDE:        linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, {{.*}}strides = dense<2> : vector<2xi64>} ins(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : tensor<1x8x18x18xf32>, tensor<16x8x3x3xf32>) outs(%{{[a-z0-9_]+}} : tensor<1x16x8x8xf32>)
# STRIDE:        linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, {{.*}}strides = dense<1> : vector<2xi64>}
# STRIDE-NOT:    linalg.conv_2d_nchw_fchw

# The residual add is an elementwise linalg.generic with two 1x8x16x16 inputs whose body adds them.
# ADD-LABEL: func.func @forward(
# ADD:       linalg.generic {{.*}} ins(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>)
# ADD-NEXT:  ^bb0(
# ADD-NEXT:    %{{[a-z0-9_]+}} = arith.addf %in, %in_{{[0-9]+}} : f32
