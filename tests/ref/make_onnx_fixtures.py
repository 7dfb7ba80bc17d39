#!/usr/bin/python3
"""make_onnx_fixtures.py - small ONNX models exported by PyTorch, with an input and PyTorch's
output, for cnn's ONNX importer.

Run by hand from the repository root with Debian's Python, which has PyTorch and python3-onnx:

    /usr/bin/python3 tests/ref/make_onnx_fixtures.py

It rewrites tests/ref/onnx/ and removes the files of cases that no longer exist. For each case
NAME it writes:

    NAME.onnx      torch.onnx.export of the model in eval mode, at the case's opset; the graph
                   input is "input" (a fixed batch of 2), the output "output"
    NAME.in.npy    the input: float32, NCHW (or (N, features)), batch 2, random normal
    NAME.out.npy   PyTorch's output on it in eval mode, float32

Every .onnx passes onnx.checker.check_model(full_check=True). Models have PyTorch's default
random weights, and batch normalisations random affine parameters and running statistics
(weight ~ U(0.5, 1.5), bias ~ N(0, 0.1^2), running_mean ~ N(0, 0.1^2), running_var ~
U(0.5, 1.5)), so that none is the identity. The output is deterministic: each case seeds
torch from a CRC of its name, and torch runs on one thread; running it twice gives identical
files. tests/ref/onnx_to_torch.py evaluates each file independently of PyTorch's modules.
"""
import io
import os
import sys
import warnings
import zlib

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "onnx")

EVAL = torch.onnx.TrainingMode.EVAL
PRESERVE = torch.onnx.TrainingMode.PRESERVE


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7FFFFFFF)


def randomise_bn(m):
    """Random affine parameters and running statistics: no batch normalisation is the identity."""
    for bn in m.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                if bn.affine:
                    bn.weight.uniform_(0.5, 1.5)
                    bn.bias.normal_(0.0, 0.1)
                bn.running_mean.normal_(0.0, 0.1)
                bn.running_var.uniform_(0.5, 1.5)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class LeNet5(nn.Module):
    """1x28x28 -> 10: conv 6 k5 pad 2, tanh, avg pool 2, conv 16 k5, relu, max pool 2, flatten,
    linear 120, relu, linear 84, linear 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus the input (through a
    1x1 conv + bn when the shape changes), relu."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


class ResNetSmall(nn.Module):
    """3x16x16 -> 10: conv-bn-relu stem (8 channels), BasicBlock(8, 8), BasicBlock(8, 16,
    stride 2, 1x1 downsample), AdaptiveAvgPool2d(1), flatten, linear 10."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNetSmall(nn.Module):
    """1x16x16 -> 3x16x16. Encoder: two conv-bn-relu blocks at 16x16 (4 ch), max pool, two at
    8x8 (8 ch), max pool, two at 4x4 (16 ch). Decoder: ConvTranspose2d(k2, s2) to 8x8 (8 ch),
    concatenated with the 8x8 skip, two blocks (8 ch); Upsample(nearest, 2) to 16x16,
    concatenated with the 16x16 skip, two blocks (4 ch); 1x1 conv to 3 classes."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn_relu(1, 4), conv_bn_relu(4, 4))
        self.enc2 = nn.Sequential(conv_bn_relu(4, 8), conv_bn_relu(8, 8))
        self.mid = nn.Sequential(conv_bn_relu(8, 16), conv_bn_relu(16, 16))
        self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec2 = nn.Sequential(conv_bn_relu(16, 8), conv_bn_relu(8, 8))
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec1 = nn.Sequential(conv_bn_relu(8 + 4, 4), conv_bn_relu(4, 4))
        self.head = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


class Acts(nn.Module):
    """conv, LeakyReLU(0.2), conv, ELU(0.7), conv, Sigmoid, conv, Tanh, flatten, linear,
    Softmax(dim=1)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(3, 3, 3, padding=1), nn.ELU(0.7),
            nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid(),
            nn.Conv2d(3, 2, 3, padding=1), nn.Tanh(),
            nn.Flatten(), nn.Linear(2 * 6 * 6, 7), nn.Softmax(dim=1))

    def forward(self, x):
        return self.body(x)


class MatMulAdd(nn.Module):
    """torch.matmul(x, W) + b with W and b parameters: MatMul then Add, not Gemm."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_in, n_out) / n_in ** 0.5)
        self.b = nn.Parameter(torch.randn(n_out) * 0.1)

    def forward(self, x):
        return torch.matmul(x, self.W) + self.b


class ReshapeLinear(nn.Module):
    """x.reshape(x.shape[0], -1) then nn.Linear: the flatten is a Reshape."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x):
        x = self.conv(x)
        return self.fc(x.reshape(x.shape[0], -1))


class PoolUnpool(nn.Module):
    """MaxPool2d(2, return_indices=True), MaxUnpool2d(2), conv."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        y, idx = self.pool(x)
        return self.conv(self.unpool(y, idx))


class Concat3(nn.Module):
    """Three conv branches (1x1, 3x3 pad 1, 5x5 pad 2) concatenated on channels."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)
        self.c = nn.Conv2d(3, 4, 5, padding=2)

    def forward(self, x):
        return torch.cat([self.a(x), F.relu(self.b(x)), self.c(x)], dim=1)


class AddResidual(nn.Module):
    """relu(x + conv(relu(conv(x))))."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 3, 3, padding=1)
        self.c2 = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.c2(F.relu(self.c1(x))))


def seq(*mods):
    return nn.Sequential(*mods)


# --------------------------------------------------------------------------------------------
# Cases: name -> (model factory, input shape without the batch, opset, export options)
# --------------------------------------------------------------------------------------------

CASES = []


def case(name, make, shape, opset=13, **export):
    CASES.append((name, make, shape, opset, export))


def define_cases():
    case("lenet5_op13", LeNet5, (1, 28, 28), 13)
    case("lenet5_op9", LeNet5, (1, 28, 28), 9)
    # training=EVAL (the default for a model in eval mode) folds every BatchNormalization into
    # the preceding Conv; PRESERVE keeps them (inference BatchNormalization nodes).
    case("resnet_small_op13", ResNetSmall, (3, 16, 16), 13, training=EVAL)
    case("resnet_small_op17", ResNetSmall, (3, 16, 16), 17, training=EVAL)
    case("resnet_small_bn_op13", ResNetSmall, (3, 16, 16), 13, training=PRESERVE,
         do_constant_folding=False)
    case("unet_small_op11", UNetSmall, (1, 16, 16), 11)
    case("unet_small_op13", UNetSmall, (1, 16, 16), 13)

    case("convt_outpad", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                    output_padding=1, groups=2), (4, 5, 6))
    case("conv_dil_group", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=(1, 2), dilation=2,
                                             groups=2), (4, 9, 10))
    case("conv_pad_asym", lambda: seq(nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(3, 4, 3)),
         (3, 7, 6))
    case("maxpool_ceil", lambda: seq(nn.Conv2d(2, 3, 1),
                                     nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)), (2, 8, 9))
    case("maxpool_dil", lambda: seq(nn.Conv2d(2, 3, 1), nn.MaxPool2d(2, 1, dilation=2)),
         (2, 7, 8))
    case("avgpool_incl", lambda: seq(nn.Conv2d(2, 3, 1),
                                     nn.AvgPool2d(3, 2, padding=1, count_include_pad=True)),
         (2, 8, 9))
    case("avgpool_excl", lambda: seq(nn.Conv2d(2, 3, 1),
                                     nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                                  count_include_pad=False)), (2, 8, 9))
    case("lppool", lambda: seq(nn.Conv2d(2, 3, 1), nn.LPPool2d(2, 2, stride=2)), (2, 8, 9))
    case("globalmax", lambda: seq(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveMaxPool2d(1),
                                  nn.Flatten(), nn.Linear(4, 5)), (3, 7, 6))
    case("acts", Acts, (2, 6, 6))
    case("softmax_op11", lambda: seq(nn.Linear(12, 6), nn.Softmax(dim=1)), (12,), 11)
    case("matmul_add", lambda: MatMulAdd(12, 5), (12,))
    case("gemm_transA_free", lambda: ReshapeLinear(4 * 5 * 4, 6), (3, 5, 4))
    # The same with a symbolic batch ("N"): the Reshape's shape is then computed from the
    # input's by Shape, Gather, Unsqueeze and Concat (with a fixed batch it is the constant
    # [2, -1]).
    case("reshape_dynbatch", lambda: ReshapeLinear(4 * 5 * 4, 6), (3, 5, 4),
         dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    case("dropout_identity", lambda: seq(nn.Conv2d(3, 4, 3, padding=1), nn.Dropout(0.5),
                                         nn.ReLU()), (3, 6, 5))
    case("maxunpool", PoolUnpool, (2, 6, 8))
    case("upsample_op9", lambda: seq(nn.Conv2d(2, 3, 3, padding=1),
                                     nn.Upsample(scale_factor=2, mode="nearest")), (2, 5, 4), 9)
    case("resize_op13", lambda: seq(nn.Conv2d(2, 3, 3, padding=1),
                                    nn.Upsample(scale_factor=2, mode="nearest")), (2, 5, 4), 13)
    case("concat3", Concat3, (3, 6, 7))
    case("add_residual", AddResidual, (3, 6, 5))


# --------------------------------------------------------------------------------------------


def export(name, make, shape, opset, options):
    """Returns (onnx bytes, input, output) or raises if PyTorch cannot export the model."""
    seed_for(name)
    m = make()
    randomise_bn(m)
    m.eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        y = m(x)
    kw = dict(do_constant_folding=True, training=EVAL)
    kw.update(options)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), f, opset_version=opset, input_names=["input"],
                          output_names=["output"], **kw)
    blob = f.getvalue()
    model = onnx.load_from_string(blob)
    onnx.checker.check_model(model, full_check=True)
    return blob, model, x, y


def save_npy(path, t):
    a = np.ascontiguousarray(t.detach().numpy().astype(np.float32))
    np.save(path, a)


def main():
    torch.set_num_threads(1)
    define_cases()
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    os.makedirs(OUT, exist_ok=True)
    written, skipped, total = set(), [], 0
    print("%-22s %5s %8s  %s" % ("case", "opset", "bytes", "op types"))
    for name, make, shape, opset, options in CASES:
        try:
            blob, model, x, y = export(name, make, shape, opset, options)
        except Exception as e:  # an operator PyTorch cannot export: reported, not written
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            skipped.append((name, msg))
            print("%-22s %5d %8s  SKIPPED: %s" % (name, opset, "-", msg))
            continue
        files = {name + ".onnx": None, name + ".in.npy": x, name + ".out.npy": y}
        size = 0
        for fname, t in files.items():
            path = os.path.join(OUT, fname)
            if t is None:
                with open(path, "wb") as f:
                    f.write(blob)
            else:
                save_npy(path, t)
            size += os.path.getsize(path)
            written.add(fname)
        total += size
        ops = sorted({n.op_type for n in model.graph.node})
        print("%-22s %5d %8d  %s" % (name, opset, size, " ".join(ops)))
    for f in sorted(os.listdir(OUT)):
        if f not in written and (f.endswith(".onnx") or f.endswith(".npy")):
            os.remove(os.path.join(OUT, f))
            print("removed stale", f)
    print("%d cases written, %d skipped, %d bytes, torch %s, onnx %s"
          % (len(CASES) - len(skipped), len(skipped), total, torch.__version__,
             onnx.__version__))
    for name, msg in skipped:
        print("skipped %s: %s" % (name, msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
