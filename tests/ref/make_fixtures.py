#!/usr/bin/python3
"""make_fixtures.py - PyTorch reference fixtures for tests/test_ref.c and tests/test_train_twin.c.

Run by hand from the repository root with Debian's Python, which has PyTorch:

    /usr/bin/python3 tests/ref/make_fixtures.py

It rewrites every tests/ref/*.bin (one file per case) and removes .bin files of cases that no
longer exist. PyTorch is not a dependency of the build or of the tests: the files are committed
and the C tests only read them. The output is deterministic: each case seeds torch from its own
name, and torch runs on one thread.

File format (all little-endian), read by t_fixture_load in tests/testlib.c:
    b"CNNFIX01", u32 count, then count records:
    u32 name length, name bytes, u32 kind (0 float32, 1 int32, 2 string), u32 ndim,
    u32 dims[ndim], data (4 bytes per element for kinds 0 and 1; dims[0] bytes for a string,
    no NUL).

Every file has a string record "type": "layer", "loss_ce", "loss_pixel_ce", "loss_mse",
"loss_bce" or "train"; tests/ref/README.md lists the records of each type.
"""
import os
import struct
import sys
import warnings
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _u32(v):
    return struct.pack("<I", v)


def write_fixture(path, records):
    """records: list of (name, value); value is a str, or a tensor (float -> kind 0,
    int -> kind 1)."""
    out = [b"CNNFIX01", _u32(len(records))]
    for name, value in records:
        nb = name.encode()
        assert 0 < len(nb) < 64, name
        out += [_u32(len(nb)), nb]
        if isinstance(value, str):
            data = value.encode()
            out += [_u32(2), _u32(1), _u32(len(data)), data]
            continue
        t = value.detach().contiguous()
        if t.dtype.is_floating_point:
            kind, t = 0, t.to(torch.float32)
            data = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        else:
            kind, t = 1, t.to(torch.int32)
            data = struct.pack("<%di" % t.numel(), *t.flatten().tolist())
        assert t.dim() <= 8
        out += [_u32(kind), _u32(t.dim())] + [_u32(d) for d in t.shape] + [data]
    blob = b"".join(out)
    with open(path, "wb") as f:
        f.write(blob)
    return len(blob)


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7FFFFFFF)


def i32(v):
    return torch.tensor([v], dtype=torch.int32)


def flat(tensors):
    tensors = [t.detach().flatten() for t in tensors]
    return torch.cat(tensors) if tensors else torch.zeros(0)


# --------------------------------------------------------------------------------------------
# Layer cases
#
# A case is the spec of a small network (t_net syntax, the last layer is the one under test),
# the shapes of its inputs, and a function that builds the same network in PyTorch: it returns
# (module, forward) where module's parameters() and batch-norm buffers are in the spec's layer
# order and forward(xs) gives the output.
# --------------------------------------------------------------------------------------------

CASES = []


def layer(fname, spec, shapes, make, training=0, batch=2, scale=1.0):
    """shapes: one per input layer, a shape (random normal values, scaled, differentiated) or a
    function of the batch giving the input's values (max_unpool2d's indices as floats: not
    differentiated, dx zeros)."""
    CASES.append(("layer", fname, dict(spec=spec, shapes=shapes, make=make,
                                       training=training, batch=batch, scale=scale)))


def seq(*mods):
    """A chain of modules: the usual single-input case."""
    m = nn.Sequential(*mods)
    return m, lambda xs: m(xs[0])


def randomise_bn(m):
    """Non-trivial affine parameters and running statistics, so that every term is checked."""
    for bn in m.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                if bn.affine:
                    bn.weight.uniform_(0.5, 1.5)
                    bn.bias.normal_(0.0, 0.5)
                bn.running_mean.normal_(0.0, 0.5)
                bn.running_var.uniform_(0.5, 2.0)


def bn_state(m):
    s = []
    for bn in m.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            s += [bn.running_mean.clone(), bn.running_var.clone()]
    return s


def run_layer(fname, c):
    seed_for(fname)
    m, fwd = c["make"]()
    randomise_bn(m)
    m.train(bool(c["training"]))
    state = bn_state(m)
    xs = [s(c["batch"]) if callable(s) else
          (torch.randn(c["batch"], *s) * c["scale"]).requires_grad_() for s in c["shapes"]]
    params = list(m.parameters())
    y = fwd(xs)
    # A max pooling under test keeps its indices (KeepIndices): the "indices" record.
    kept = [mod.indices for mod in m.modules() if isinstance(mod, KeepIndices)]
    dy = torch.randn_like(y)
    y.backward(dy)
    rec = [("type", "layer"), ("torch", torch.__version__), ("spec", c["spec"]),
           ("training", i32(c["training"])), ("batch", i32(c["batch"]))]
    rec += [("x%d" % i, x) for i, x in enumerate(xs)]
    if params:
        rec.append(("w", flat(params)))
    if state:
        rec.append(("state", flat(state)))
        rec.append(("state_after", flat(bn_state(m))))
    rec += [("y", y), ("dy", dy)]
    rec += [("dx%d" % i, x.grad if x.grad is not None else torch.zeros_like(x))
            for i, x in enumerate(xs)]
    if kept:
        rec.append(("indices", kept[-1]))
    if params:
        rec.append(("dw", flat([p.grad if p.grad is not None else torch.zeros_like(p)
                                for p in params])))
    return rec


class Multi(nn.Module):
    """Holds the modules of a multi-input case so that parameters() keeps their order."""

    def __init__(self, *mods):
        super().__init__()
        self.mods = nn.ModuleList(mods)


def multi(f, *mods):
    m = Multi(*mods)
    return m, lambda xs: f(*m.mods, *xs)


class Causal1d(nn.Module):
    """conv1d with padding=causal: d*(k-1) zeros on the left, none on the right."""

    def __init__(self, cin, cout, k, stride=1, dilation=1, groups=1, bias=True):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=stride, dilation=dilation, groups=groups,
                              bias=bias)
        self.left = dilation * (k - 1)

    def forward(self, x):
        return self.conv(F.pad(x, (self.left, 0)))


class GlobalPool(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        if x.dim() == 4:
            p = F.adaptive_avg_pool2d if self.kind == "avg" else F.adaptive_max_pool2d
        else:
            p = F.adaptive_avg_pool1d if self.kind == "avg" else F.adaptive_max_pool1d
        return torch.flatten(p(x, 1), 1)


def pool_unpool(k, s, p, conv=None):
    """max_pool2d then max_unpool2d with the pool's indices, back to the pool's input size."""
    mods = [conv] if conv is not None else []
    m = Multi(*mods)

    def fwd(xs):
        x = xs[0]
        y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
        v = m.mods[0](y) if conv is not None else y
        return F.max_unpool2d(v, idx, k, s, p, output_size=x.shape[-2:])
    return m, fwd


class Pad(nn.Module):
    """F.pad(x, pads, value): pads = (left, right, top, bottom), or (left, right) in 1-D."""

    def __init__(self, pads, value=0.0):
        super().__init__()
        self.pads, self.value = pads, value

    def forward(self, x):
        return F.pad(x, self.pads, value=self.value)


class KeepIndices(nn.Module):
    """A max pooling made with return_indices=True: gives its output and keeps its indices
    (flat h*W+w in each input plane) for the fixture's "indices" record. With pads (left,
    right, top, bottom) the input is first padded with -inf by F.pad, and the indices, which
    PyTorch gives in the padded plane, are mapped back to the input's."""

    def __init__(self, pool, pads=None):
        super().__init__()
        self.pool, self.pads, self.indices = pool, pads, None

    def forward(self, x):
        W = x.shape[-1]
        if self.pads:
            x = F.pad(x, self.pads, value=float("-inf"))
        y, idx = self.pool(x)
        if self.pads:
            left, right, top, _ = self.pads
            wp = W + left + right
            idx = (idx // wp - top) * W + idx % wp - left
        self.indices = idx
        return y


class AvgPadExcluded(nn.Module):
    """avg_pool2d after F.pad(x, pads) with zeros, dividing by the window's cells inside the
    input only (count_include_pad=0 with explicit pads): the windows' sums over their counts."""

    def __init__(self, pads, k, s, ceil_mode=False):
        super().__init__()
        self.pads, self.k, self.s, self.ceil_mode = pads, k, s, ceil_mode

    def forward(self, x):
        def pool(t):
            return F.avg_pool2d(F.pad(t, self.pads), self.k, self.s, ceil_mode=self.ceil_mode,
                                count_include_pad=True)
        return pool(x) / pool(torch.ones_like(x))


def given_indices(c, oh, ow, h, w):
    """max_unpool2d's indices input: for each of the batch's planes, oh*ow distinct indices in
    [0, h*w) (as floats), as a max pooling with non-overlapping windows would give."""
    def make(batch):
        return torch.stack([torch.randperm(h * w)[:oh * ow] for _ in range(batch * c)]
                           ).reshape(batch, c, oh, ow).float()
    return make


def softmax1():
    return nn.Softmax(dim=1)


def define_layer_cases():
    X = "input x - shape="

    # conv2d
    layer("conv2d_k3_pad1", X + "3x5x6; conv2d l - out=4 kernel=3 padding=1",
          [(3, 5, 6)], lambda: seq(nn.Conv2d(3, 4, 3, padding=1)))
    layer("conv2d_stride2_dil2", X + "3x7x6; conv2d l - out=4 kernel=3x2 stride=2x1 padding=1x0 "
          "dilation=2x1 groups=1", [(3, 7, 6)],
          lambda: seq(nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1))))
    layer("conv2d_valid_stride3", X + "2x7x8; conv2d l - out=3 kernel=3 stride=3 padding=valid",
          [(2, 7, 8)], lambda: seq(nn.Conv2d(2, 3, 3, stride=3, padding=0)))
    layer("conv2d_same_odd_rect", X + "2x5x7; conv2d l - out=3 kernel=3x5 padding=same",
          [(2, 5, 7)], lambda: seq(nn.Conv2d(2, 3, (3, 5), padding="same")))
    layer("conv2d_same_even", X + "2x5x6; conv2d l - out=2 kernel=4 padding=same",
          [(2, 5, 6)], lambda: seq(nn.Conv2d(2, 2, 4, padding="same")))
    layer("conv2d_same_even_dil", X + "2x6x5; conv2d l - out=2 kernel=2x4 dilation=2x1 "
          "padding=same", [(2, 6, 5)],
          lambda: seq(nn.Conv2d(2, 2, (2, 4), dilation=(2, 1), padding="same")))
    layer("conv2d_pad_asym", X + "2x4x5; conv2d l - out=3 kernel=3 padding=0x2",
          [(2, 4, 5)], lambda: seq(nn.Conv2d(2, 3, 3, padding=(0, 2))))
    layer("conv2d_groups2", X + "4x7x6; conv2d l - out=6 kernel=3x2 stride=2x1 padding=2x1 "
          "dilation=2x1 groups=2", [(4, 7, 6)],
          lambda: seq(nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(2, 1),
                                groups=2)))
    layer("conv2d_depthwise_nobias", X + "3x6x6; conv2d l - out=3 kernel=3 groups=3 "
          "padding=same bias=0", [(3, 6, 6)],
          lambda: seq(nn.Conv2d(3, 3, 3, groups=3, padding="same", bias=False)))
    layer("conv2d_depthwise_mult2", X + "2x5x5; conv2d l - out=4 kernel=3 groups=2 padding=1 "
          "stride=2", [(2, 5, 5)], lambda: seq(nn.Conv2d(2, 4, 3, groups=2, padding=1, stride=2)))
    layer("conv2d_1x1", X + "4x3x5; conv2d l - out=2 kernel=1", [(4, 3, 5)],
          lambda: seq(nn.Conv2d(4, 2, 1)))
    layer("conv2d_1x1_stride2_nobias", X + "3x5x5; conv2d l - out=2 kernel=1 stride=2 bias=0",
          [(3, 5, 5)], lambda: seq(nn.Conv2d(3, 2, 1, stride=2, bias=False)))
    # explicit paddings before:after per axis: F.pad(x, (left, right, top, bottom)), then the
    # convolution (ONNX pads [top, left, bottom, right])
    layer("conv2d_pads_asym", X + "3x5x6; conv2d l - out=4 kernel=3 padding=0:2x1:0",
          [(3, 5, 6)], lambda: seq(Pad((1, 0, 0, 2)), nn.Conv2d(3, 4, 3)))
    layer("conv2d_pads_asym_stride2_dil", X + "3x7x6; conv2d l - out=4 kernel=3 stride=2 "
          "padding=1:0x0:2 dilation=2x1", [(3, 7, 6)],
          lambda: seq(Pad((0, 2, 1, 0)), nn.Conv2d(3, 4, 3, stride=2, dilation=(2, 1))))
    layer("conv2d_pads_same_upper_s2", X + "2x6x6; conv2d l - out=3 kernel=3 stride=2 "
          "padding=0:1", [(2, 6, 6)], lambda: seq(Pad((0, 1, 0, 1)), nn.Conv2d(2, 3, 3, stride=2)))
    layer("conv2d_pads_asym_groups_nobias", X + "4x5x5; conv2d l - out=4 kernel=2x3 "
          "padding=1:0 groups=2 bias=0", [(4, 5, 5)],
          lambda: seq(Pad((1, 0, 1, 0)), nn.Conv2d(4, 4, (2, 3), groups=2, bias=False)))
    layer("conv2d_pads_wide_before", X + "2x4x5; conv2d l - out=3 kernel=2 padding=3:0x0:2",
          [(2, 4, 5)], lambda: seq(Pad((0, 2, 3, 0)), nn.Conv2d(2, 3, 2)))
    layer("conv2d_nobias_batch3", X + "2x4x5; conv2d l - out=3 kernel=2x3 padding=1x0 bias=0",
          [(2, 4, 5)], lambda: seq(nn.Conv2d(2, 3, (2, 3), padding=(1, 0), bias=False)),
          batch=3)

    # conv1d
    layer("conv1d_k3_pad1", X + "3x9; conv1d l - out=4 kernel=3 padding=1", [(3, 9)],
          lambda: seq(nn.Conv1d(3, 4, 3, padding=1)))
    layer("conv1d_same_nobias", X + "2x8; conv1d l - out=2 kernel=3 padding=same bias=0",
          [(2, 8)], lambda: seq(nn.Conv1d(2, 2, 3, padding="same", bias=False)))
    layer("conv1d_same_even_dil2", X + "2x9; conv1d l - out=3 kernel=4 padding=same dilation=2",
          [(2, 9)], lambda: seq(nn.Conv1d(2, 3, 4, padding="same", dilation=2)))
    layer("conv1d_causal_dil2", X + "2x9; conv1d l - out=3 kernel=3 dilation=2 padding=causal",
          [(2, 9)], lambda: seq(Causal1d(2, 3, 3, dilation=2)))
    layer("conv1d_causal_k2", X + "3x7; conv1d l - out=2 kernel=2 padding=causal", [(3, 7)],
          lambda: seq(Causal1d(3, 2, 2)))
    layer("conv1d_causal_stride2", X + "2x10; conv1d l - out=2 kernel=3 stride=2 padding=causal",
          [(2, 10)], lambda: seq(Causal1d(2, 2, 3, stride=2)))
    layer("conv1d_stride2_groups2", X + "4x10; conv1d l - out=2 kernel=4 stride=2 padding=1 "
          "groups=2", [(4, 10)], lambda: seq(nn.Conv1d(4, 2, 4, stride=2, padding=1, groups=2)))
    layer("conv1d_depthwise_valid", X + "3x8; conv1d l - out=6 kernel=3 groups=3 padding=valid",
          [(3, 8)], lambda: seq(nn.Conv1d(3, 6, 3, groups=3)))
    layer("conv1d_pads_asym_stride2", X + "2x9; conv1d l - out=3 kernel=3 stride=2 padding=2:1",
          [(2, 9)], lambda: seq(Pad((2, 1)), nn.Conv1d(2, 3, 3, stride=2)))
    layer("conv1d_dil3", X + "2x12; conv1d l - out=2 kernel=3 dilation=3", [(2, 12)],
          lambda: seq(nn.Conv1d(2, 2, 3, dilation=3)))

    # conv_transpose2d (weights I, O/groups, KH, KW)
    layer("convt_k3", X + "3x4x3; conv_transpose2d l - out=2 kernel=3", [(3, 4, 3)],
          lambda: seq(nn.ConvTranspose2d(3, 2, 3)))
    layer("convt_stride2_pad1_outpad1_groups2", X + "4x3x4; conv_transpose2d l - out=4 kernel=3 "
          "stride=2 padding=1 output_padding=1 groups=2", [(4, 3, 4)],
          lambda: seq(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1,
                                         groups=2)))
    layer("convt_dil2_rect", X + "2x3x3; conv_transpose2d l - out=3 kernel=2x3 stride=1x2 "
          "dilation=2", [(2, 3, 3)],
          lambda: seq(nn.ConvTranspose2d(2, 3, (2, 3), stride=(1, 2), dilation=2)))
    layer("convt_stride2x3_outpad_nobias", X + "2x3x2; conv_transpose2d l - out=2 kernel=3x4 "
          "stride=2x3 padding=1x0 output_padding=1x2 bias=0", [(2, 3, 2)],
          lambda: seq(nn.ConvTranspose2d(2, 2, (3, 4), stride=(2, 3), padding=(1, 0),
                                         output_padding=(1, 2), bias=False)))
    layer("convt_depthwise_stride2", X + "3x4x4; conv_transpose2d l - out=3 kernel=3 stride=2 "
          "groups=3", [(3, 4, 4)],
          lambda: seq(nn.ConvTranspose2d(3, 3, 3, stride=2, groups=3)))

    # max_pool2d
    layer("maxpool_k2", X + "2x4x6; max_pool2d l - kernel=2", [(2, 4, 6)],
          lambda: seq(KeepIndices(nn.MaxPool2d(2, return_indices=True))))
    layer("maxpool_k3_s2_p1", X + "2x6x7; max_pool2d l - kernel=3 stride=2 padding=1",
          [(2, 6, 7)], lambda: seq(KeepIndices(nn.MaxPool2d(3, 2, 1, return_indices=True))))
    layer("maxpool_rect_k2x3_s1x2", X + "2x5x7; max_pool2d l - kernel=2x3 stride=1x2",
          [(2, 5, 7)],
          lambda: seq(KeepIndices(nn.MaxPool2d((2, 3), (1, 2), return_indices=True))))
    layer("maxpool_ceil", X + "2x5x7; max_pool2d l - kernel=2 stride=2 ceil_mode=1",
          [(2, 5, 7)],
          lambda: seq(KeepIndices(nn.MaxPool2d(2, 2, ceil_mode=True, return_indices=True))))
    # ceil_mode whose last window would start in the right padding: PyTorch drops it (3x3 out).
    layer("maxpool_ceil_pad1_drop", X + "2x5x5; max_pool2d l - kernel=2 stride=2 padding=1 "
          "ceil_mode=1", [(2, 5, 5)],
          lambda: seq(KeepIndices(nn.MaxPool2d(2, 2, 1, ceil_mode=True, return_indices=True))))
    layer("maxpool_ceil_k3_s2", X + "1x6x8; max_pool2d l - kernel=3 stride=2 ceil_mode=1",
          [(1, 6, 8)],
          lambda: seq(KeepIndices(nn.MaxPool2d(3, 2, ceil_mode=True, return_indices=True))))

    # max_pool2d, explicit paddings before:after (F.pad with -inf, then the pooling), dilation
    layer("maxpool_pads_asym", X + "2x6x7; max_pool2d l - kernel=3 stride=2 padding=0:1x1:0",
          [(2, 6, 7)],
          lambda: seq(KeepIndices(nn.MaxPool2d(3, 2, return_indices=True), pads=(1, 0, 0, 1))))
    # ONNX's SAME_UPPER for a 2x2 stride-1 window: one row and column after the input.
    layer("maxpool_pads_same_upper_k2_s1", X + "2x5x5; max_pool2d l - kernel=2 stride=1 "
          "padding=0:1", [(2, 5, 5)],
          lambda: seq(KeepIndices(nn.MaxPool2d(2, 1, return_indices=True), pads=(0, 1, 0, 1))))
    layer("maxpool_dil2_k3_s2_p1", X + "2x7x8; max_pool2d l - kernel=3 stride=2 padding=1 "
          "dilation=2", [(2, 7, 8)],
          lambda: seq(KeepIndices(nn.MaxPool2d(3, 2, 1, dilation=2, return_indices=True))))
    layer("maxpool_dil_rect_ceil", X + "2x7x9; max_pool2d l - kernel=2x3 stride=2 dilation=2x1 "
          "ceil_mode=1", [(2, 7, 9)],
          lambda: seq(KeepIndices(nn.MaxPool2d((2, 3), 2, dilation=(2, 1), ceil_mode=True,
                                               return_indices=True))))
    layer("maxpool_dil3_k2_s1_p1", X + "1x8x9; max_pool2d l - kernel=2 stride=1 padding=1 "
          "dilation=3", [(1, 8, 9)],
          lambda: seq(KeepIndices(nn.MaxPool2d(2, 1, 1, dilation=3, return_indices=True))))

    # avg_pool2d
    layer("avgpool_k2", X + "2x4x6; avg_pool2d l - kernel=2", [(2, 4, 6)],
          lambda: seq(nn.AvgPool2d(2)))
    layer("avgpool_pad1_incl", X + "2x5x5; avg_pool2d l - kernel=3 stride=2 padding=1 "
          "count_include_pad=1", [(2, 5, 5)],
          lambda: seq(nn.AvgPool2d(3, 2, 1, count_include_pad=True)))
    layer("avgpool_pad1_excl", X + "2x5x5; avg_pool2d l - kernel=3 stride=2 padding=1 "
          "count_include_pad=0", [(2, 5, 5)],
          lambda: seq(nn.AvgPool2d(3, 2, 1, count_include_pad=False)))
    # ceil_mode: the last window runs past the padded input; PyTorch's divisor counts the
    # window clipped to the padded input (count_include_pad=1) or to the input (=0).
    layer("avgpool_ceil_pad1_incl", X + "2x6x6; avg_pool2d l - kernel=3 stride=2 padding=1 "
          "ceil_mode=1 count_include_pad=1", [(2, 6, 6)],
          lambda: seq(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=True)))
    layer("avgpool_ceil_pad1_excl", X + "2x6x6; avg_pool2d l - kernel=3 stride=2 padding=1 "
          "ceil_mode=1 count_include_pad=0", [(2, 6, 6)],
          lambda: seq(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)))
    layer("avgpool_ceil_rect_nopad", X + "1x5x7; avg_pool2d l - kernel=2x3 stride=2 ceil_mode=1 "
          "count_include_pad=1", [(1, 5, 7)],
          lambda: seq(nn.AvgPool2d((2, 3), 2, ceil_mode=True, count_include_pad=True)))

    # avg_pool2d, explicit paddings before:after: zeros by F.pad, counted in the divisor
    # (count_include_pad=1, ONNX AveragePool's count_include_pad=1) or not (=0)
    layer("avgpool_pads_asym_incl", X + "2x5x6; avg_pool2d l - kernel=3 stride=2 "
          "padding=1:0x0:1", [(2, 5, 6)],
          lambda: seq(Pad((0, 1, 1, 0)), nn.AvgPool2d(3, 2)))
    layer("avgpool_pads_asym_excl", X + "2x5x6; avg_pool2d l - kernel=3 stride=2 "
          "padding=1:0x0:1 count_include_pad=0", [(2, 5, 6)],
          lambda: seq(AvgPadExcluded((0, 1, 1, 0), 3, 2)))
    layer("avgpool_pads_asym_rect_excl", X + "1x6x5; avg_pool2d l - kernel=2x3 stride=1x2 "
          "padding=0:1x1 count_include_pad=0", [(1, 6, 5)],
          lambda: seq(AvgPadExcluded((1, 1, 0, 1), (2, 3), (1, 2))))

    # adaptive pooling: PyTorch's bins floor(i H / OH) .. ceil((i + 1) H / OH), which overlap
    # when OH does not divide H and repeat rows when OH > H
    layer("adaptive_avg_7x5_to_3x2", X + "2x7x5; adaptive_avg_pool2d l - out=3x2", [(2, 7, 5)],
          lambda: seq(nn.AdaptiveAvgPool2d((3, 2))))
    layer("adaptive_avg_3x4_to_5x6", X + "2x3x4; adaptive_avg_pool2d l - out=5x6", [(2, 3, 4)],
          lambda: seq(nn.AdaptiveAvgPool2d((5, 6))))
    layer("adaptive_avg_out1", X + "3x5x6; adaptive_avg_pool2d l - out=1", [(3, 5, 6)],
          lambda: seq(nn.AdaptiveAvgPool2d(1)))
    layer("adaptive_max_7x5_to_3x2", X + "2x7x5; adaptive_max_pool2d l - out=3x2", [(2, 7, 5)],
          lambda: seq(KeepIndices(nn.AdaptiveMaxPool2d((3, 2), return_indices=True))))
    layer("adaptive_max_4x3_to_7x4", X + "2x4x3; adaptive_max_pool2d l - out=7x4", [(2, 4, 3)],
          lambda: seq(KeepIndices(nn.AdaptiveMaxPool2d((7, 4), return_indices=True))))
    layer("adaptive_max_6x9_to_4", X + "3x6x9; adaptive_max_pool2d l - out=4", [(3, 6, 9)],
          lambda: seq(KeepIndices(nn.AdaptiveMaxPool2d(4, return_indices=True))))

    # l2_pool2d: sqrt of the sum of squares over each window, nn.LPPool2d(2, ...)
    layer("l2pool_k2", X + "2x4x5; l2_pool2d l - kernel=2 stride=2", [(2, 4, 5)],
          lambda: seq(nn.LPPool2d(2, 2, 2)))
    layer("l2pool_k3_s1", X + "2x5x4; l2_pool2d l - kernel=3 stride=1", [(2, 5, 4)],
          lambda: seq(nn.LPPool2d(2, 3, 1)))
    layer("l2pool_rect_k3x2_s2x1", X + "1x6x5; l2_pool2d l - kernel=3x2 stride=2x1",
          [(1, 6, 5)], lambda: seq(nn.LPPool2d(2, (3, 2), (2, 1))))

    # global pools: (C, H, W) or (C, L) to (C)
    layer("global_avg_pool_2d", X + "3x4x5; global_avg_pool l -", [(3, 4, 5)],
          lambda: seq(GlobalPool("avg")))
    layer("global_max_pool_2d", X + "3x4x5; global_max_pool l -", [(3, 4, 5)],
          lambda: seq(GlobalPool("max")))
    layer("global_avg_pool_1d", X + "3x7; global_avg_pool l -", [(3, 7)],
          lambda: seq(GlobalPool("avg")))
    layer("global_max_pool_1d", X + "3x7; global_max_pool l -", [(3, 7)],
          lambda: seq(GlobalPool("max")))

    # max_unpool2d: unpools its first input with the indices of the max_pool2d layer given as
    # its second input, back to that pool's input size.
    layer("unpool_k2", X + "2x4x6; max_pool2d p - kernel=2; max_unpool2d l p,p", [(2, 4, 6)],
          lambda: pool_unpool(2, 2, 0))
    layer("unpool_k3_s2_p1", X + "2x6x7; max_pool2d p - kernel=3 stride=2 padding=1; "
          "max_unpool2d l p,p", [(2, 6, 7)], lambda: pool_unpool(3, 2, 1))
    layer("unpool_odd_size", X + "1x5x7; max_pool2d p - kernel=2; max_unpool2d l p,p",
          [(1, 5, 7)], lambda: pool_unpool(2, 2, 0))
    layer("unpool_after_conv", X + "2x4x6; max_pool2d p - kernel=2; conv2d d - out=2 kernel=3 "
          "padding=1; max_unpool2d l d,p", [(2, 4, 6)],
          lambda: pool_unpool(2, 2, 0, nn.Conv2d(2, 2, 3, padding=1)))

    # max_unpool2d on adaptive_max_pool2d's indices (windows that do not overlap: 6x4 -> 3x2)
    layer("unpool_adaptive", X + "2x6x4; adaptive_max_pool2d p - out=3x2; max_unpool2d l p,p",
          [(2, 6, 4)], lambda: multi(lambda x: F.max_unpool2d(
              *F.adaptive_max_pool2d(x, (3, 2), return_indices=True), 2, output_size=(6, 4))))
    # max_unpool2d with indices given as an input (floats of exact integers): F.max_unpool2d
    # with those indices, the output size given, or PyTorch's default from kernel, stride,
    # padding
    layer("unpool_given_indices_size", "input x - shape=2x3x4; input idx - shape=2x3x4; "
          "max_unpool2d l x,idx size=6x8", [(2, 3, 4), given_indices(2, 3, 4, 6, 8)],
          lambda: multi(lambda x, i: F.max_unpool2d(x, i.long(), 2, output_size=(6, 8))))
    layer("unpool_given_indices_k3_s2_p1", "input x - shape=2x3x3; input idx - shape=2x3x3; "
          "max_unpool2d l x,idx kernel=3 stride=2 padding=1", [(2, 3, 3),
                                                                given_indices(2, 3, 3, 5, 5)],
          lambda: multi(lambda x, i: F.max_unpool2d(x, i.long(), 3, 2, 1)))
    layer("unpool_given_indices_after_conv", "input x - shape=2x3x4; input idx - shape=2x3x4; "
          "conv2d c x out=2 kernel=3 padding=1; max_unpool2d l c,idx size=7x8",
          [(2, 3, 4), given_indices(2, 3, 4, 7, 8)],
          lambda: multi(lambda conv, x, i: F.max_unpool2d(conv(x), i.long(), 2,
                                                          output_size=(7, 8)),
                        nn.Conv2d(2, 2, 3, padding=1)))

    # dense, flatten
    layer("dense", X + "7; dense l - out=5", [(7,)], lambda: seq(nn.Linear(7, 5)), batch=3)
    layer("dense_nobias", X + "6; dense l - out=4 bias=0", [(6,)],
          lambda: seq(nn.Linear(6, 4, bias=False)))
    layer("flatten_dense", X + "2x3x3; flatten f -; dense l - out=3", [(2, 3, 3)],
          lambda: seq(nn.Flatten(), nn.Linear(18, 3)))
    layer("flatten_3d", X + "2x3x4; flatten l -", [(2, 3, 4)], lambda: seq(nn.Flatten()))
    layer("flatten_2d", X + "3x5; flatten l -", [(3, 5)], lambda: seq(nn.Flatten()))

    # activations (inputs scaled by 3 to reach the saturating ranges)
    A = dict(shapes=[(2, 3, 4)], scale=3.0)
    layer("relu", X + "2x3x4; relu l -", make=lambda: seq(nn.ReLU()), **A)
    layer("relu_flat", X + "9; relu l -", [(9,)], lambda: seq(nn.ReLU()))
    layer("leaky_relu_slope0.1", X + "2x3x4; leaky_relu l - slope=0.1",
          make=lambda: seq(nn.LeakyReLU(0.1)), **A)
    layer("leaky_relu_default", X + "3x5; leaky_relu l -", [(3, 5)],
          lambda: seq(nn.LeakyReLU()), scale=3.0)
    layer("elu_alpha0.7", X + "2x3x4; elu l - alpha=0.7", make=lambda: seq(nn.ELU(0.7)), **A)
    layer("elu_default", X + "3x5; elu l -", [(3, 5)], lambda: seq(nn.ELU()), scale=3.0)
    layer("sigmoid", X + "2x3x4; sigmoid l -", make=lambda: seq(nn.Sigmoid()), **A)
    layer("tanh", X + "2x3x4; tanh l -", make=lambda: seq(nn.Tanh()), **A)
    layer("softmax_flat", X + "5; softmax l -", [(5,)], lambda: seq(softmax1()), batch=3,
          scale=4.0)
    layer("softmax_pixel_3d", X + "4x3x2; softmax l -", [(4, 3, 2)], lambda: seq(softmax1()),
          scale=4.0)
    layer("softmax_pixel_1d", X + "3x5; softmax l -", [(3, 5)], lambda: seq(softmax1()),
          scale=4.0)
    layer("dropout_eval", X + "10; dropout l - p=0.3", [(10,)], lambda: seq(nn.Dropout(0.3)))

    # batchnorm: momentum follows PyTorch (running = (1 - m) running + m batch, with the
    # unbiased batch variance)
    layer("batchnorm_2d_train", X + "3x4x5; batchnorm l -", [(3, 4, 5)],
          lambda: seq(nn.BatchNorm2d(3)), training=1, batch=3)
    layer("batchnorm_2d_eval", X + "3x4x5; batchnorm l -", [(3, 4, 5)],
          lambda: seq(nn.BatchNorm2d(3)))
    layer("batchnorm_2d_train_noaffine_mom0.5", X + "2x3x3; batchnorm l - affine=0 momentum=0.5",
          [(2, 3, 3)], lambda: seq(nn.BatchNorm2d(2, affine=False, momentum=0.5)),
          training=1, batch=4)
    layer("batchnorm_flat_train_noaffine", X + "6; batchnorm l - affine=0", [(6,)],
          lambda: seq(nn.BatchNorm1d(6, affine=False)), training=1, batch=4)
    layer("batchnorm_flat_eval_noaffine", X + "6; batchnorm l - affine=0", [(6,)],
          lambda: seq(nn.BatchNorm1d(6, affine=False)), batch=3)
    layer("batchnorm_flat_train_eps_mom", X + "5; batchnorm l - eps=0.01 momentum=0.2", [(5,)],
          lambda: seq(nn.BatchNorm1d(5, eps=0.01, momentum=0.2)), training=1, batch=3)
    layer("batchnorm_1d_train_eps_mom", X + "3x7; batchnorm l - eps=0.001 momentum=0.3",
          [(3, 7)], lambda: seq(nn.BatchNorm1d(3, eps=0.001, momentum=0.3)), training=1)
    layer("batchnorm_1d_eval_eps", X + "3x7; batchnorm l - eps=0.01", [(3, 7)],
          lambda: seq(nn.BatchNorm1d(3, eps=0.01)))

    # add, concat (channels), upsample (nearest)
    layer("add", "input a - shape=2x3x3; input b - shape=2x3x3; add l a,b",
          [(2, 3, 3), (2, 3, 3)], lambda: multi(lambda a, b: a + b))
    layer("add_flat", "input a - shape=5; input b - shape=5; add l a,b", [(5,), (5,)],
          lambda: multi(lambda a, b: a + b), batch=3)
    layer("add_skip_tanh", X + "2x3x3; tanh r x; add l x,r", [(2, 3, 3)],
          lambda: multi(lambda x: x + torch.tanh(x)))
    # mean: torch.stack(...).mean(0), as an ensemble of networks averages their scores
    layer("mean_three", "input a - shape=2x3x3; input b - shape=2x3x3; input c - shape=2x3x3; "
          "mean l a,b,c", [(2, 3, 3), (2, 3, 3), (2, 3, 3)],
          lambda: multi(lambda a, b, c: torch.stack([a, b, c]).mean(0)))
    layer("mean_flat", "input a - shape=5; input b - shape=5; mean l a,b", [(5,), (5,)],
          lambda: multi(lambda a, b: torch.stack([a, b]).mean(0)), batch=3)
    layer("concat_2d", "input a - shape=2x3x3; input b - shape=3x3x3; concat l a,b",
          [(2, 3, 3), (3, 3, 3)], lambda: multi(lambda a, b: torch.cat([a, b], 1)))
    layer("concat_1d_three", "input a - shape=2x5; input b - shape=1x5; input c - shape=2x5; "
          "concat l a,b,c", [(2, 5), (1, 5), (2, 5)],
          lambda: multi(lambda a, b, c: torch.cat([a, b, c], 1)))
    layer("concat_flat", "input a - shape=3; input b - shape=4; concat l a,b", [(3,), (4,)],
          lambda: multi(lambda a, b: torch.cat([a, b], 1)))
    layer("upsample_2", X + "2x3x4; upsample l - scale=2", [(2, 3, 4)],
          lambda: seq(nn.Upsample(scale_factor=2, mode="nearest")))
    layer("upsample_2x3", X + "2x3x2; upsample l - scale=2x3", [(2, 3, 2)],
          lambda: seq(nn.Upsample(scale_factor=(2, 3), mode="nearest")))
    layer("upsample_1d_3", X + "2x6; upsample l - scale=3", [(2, 6)],
          lambda: seq(nn.Upsample(scale_factor=3, mode="nearest")))


# --------------------------------------------------------------------------------------------
# Losses: mean reduction; "grad" is d loss / d logits (or pred).
# --------------------------------------------------------------------------------------------


def loss_ce(name):
    seed_for(name)
    n, k = 6, 5
    z = torch.randn(n, k) * 2
    y = torch.randint(0, k, (n,))
    # Large logits: right and wrong confident answers, and a row that is all very negative.
    z[0, 2], y[0] = 80.0, 2
    z[1, 0], y[1] = 80.0, 3
    z[2, :], z[2, 1], y[2] = -80.0, -79.0, 4
    z[3, 4], y[3] = -80.0, 4
    z.requires_grad_()
    loss = F.cross_entropy(z, y)
    loss.backward()
    return [("type", "loss_ce"), ("torch", torch.__version__), ("logits", z),
            ("labels", y.to(torch.int32)), ("loss", loss.reshape(1)), ("grad", z.grad)]


def loss_pixel_ce(name):
    seed_for(name)
    n, k, h, w = 2, 4, 3, 2
    z = torch.randn(n, k, h, w) * 2
    y = torch.randint(0, k, (n, h, w))
    z[0, 1, 0, 0], y[0, 0, 0] = 80.0, 1
    z[1, 3, 2, 1], y[1, 2, 1] = 80.0, 0
    z[1, :, 0, 1] = -80.0
    z.requires_grad_()
    loss = F.cross_entropy(z, y)
    loss.backward()
    return [("type", "loss_pixel_ce"), ("torch", torch.__version__), ("logits", z),
            ("labels", y.to(torch.int32)), ("loss", loss.reshape(1)), ("grad", z.grad)]


def loss_mse(name):
    seed_for(name)
    p = torch.randn(3, 4, 2).requires_grad_()
    t = torch.randn(3, 4, 2)
    loss = F.mse_loss(p, t)
    loss.backward()
    return [("type", "loss_mse"), ("torch", torch.__version__), ("pred", p), ("target", t),
            ("loss", loss.reshape(1)), ("grad", p.grad)]


def loss_bce(name):
    seed_for(name)
    z = torch.randn(4, 5) * 3
    t = torch.rand(4, 5)
    t[0, :] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5])
    z[0, :] = torch.tensor([80.0, -80.0, -100.0, 100.0, 40.0])
    t[1, 0], z[1, 0] = 1.0, 30.0
    z.requires_grad_()
    loss = F.binary_cross_entropy_with_logits(z, t)
    loss.backward()
    return [("type", "loss_bce"), ("torch", torch.__version__), ("logits", z), ("target", t),
            ("loss", loss.reshape(1)), ("grad", z.grad)]


# --------------------------------------------------------------------------------------------
# Training twin: a small CNN trained 10 steps with plain SGD from recorded weights.
# --------------------------------------------------------------------------------------------

TWIN_SPEC = ("input x - shape=1x8x8; conv2d c1 - out=4 kernel=3 padding=1; batchnorm bn -; "
             "relu r -; max_pool2d p - kernel=2; flatten f -; dense d - out=10")


def twin_train(name, steps=10, lr=0.1, batch=8):
    seed_for(name)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    m.train()
    x = torch.randn(batch, 1, 8, 8)
    y = torch.randint(0, 10, (batch,))
    w0 = flat(m.parameters())
    s0 = flat(bn_state(m))
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [("type", "train"), ("torch", torch.__version__), ("spec", TWIN_SPEC),
            ("batch", i32(batch)), ("steps", i32(steps)), ("lr", torch.tensor([lr])),
            ("x", x), ("labels", y.to(torch.int32)), ("w0", w0), ("state0", s0),
            ("losses", torch.tensor(losses)), ("w_final", flat(m.parameters())),
            ("state_final", flat(bn_state(m)))]


# --------------------------------------------------------------------------------------------
# Explanations: saliency, guided backpropagation and Grad-CAM of a small fixed CNN (eval mode),
# for tests/test_viz.c.
# --------------------------------------------------------------------------------------------

VIZ_SPEC = ("input x - shape=3x16x16; conv2d c1 - out=4 kernel=3 padding=1; batchnorm bn -; "
            "relu r1 -; max_pool2d p1 - kernel=2; conv2d c2 - out=6 kernel=3 padding=1; "
            "relu r2 -; max_pool2d p2 - kernel=2; flatten f -; dense d - out=5; softmax s -")


def viz_explain(name, cls=2):
    seed_for(name)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 5))
    randomise_bn(m)
    m.eval()
    x = torch.randn(1, 3, 16, 16)
    feats = m[:6]  # up to r2: the Grad-CAM layer
    head = m[6:]

    def grad_of_score(guided):
        hooks = []
        if guided:  # guided backprop: only positive gradients leave a ReLU
            for r in (m[2], m[5]):
                hooks.append(r.register_full_backward_hook(
                    lambda mod, gin, gout: (gin[0].clamp(min=0),)))
        xi = x.clone().requires_grad_(True)
        m(xi)[0, cls].backward()
        for h in hooks:
            h.remove()
        return xi.grad[0]

    saliency = grad_of_score(False)
    guided = grad_of_score(True)
    a = feats(x).detach().requires_grad_(True)
    logits = head(a)
    logits[0, cls].backward()
    alpha = a.grad[0].mean(dim=(1, 2))
    cam = F.relu((alpha[:, None, None] * a[0].detach()).sum(0))
    cam_up = F.interpolate(cam[None, None], size=(16, 16), mode="bilinear",
                           align_corners=False)[0, 0]
    return [("type", "viz"), ("torch", torch.__version__), ("spec", VIZ_SPEC),
            ("w", flat(m.parameters())), ("state", flat(bn_state(m))), ("x", x[0]),
            ("cls", i32(cls)), ("scores", logits[0].detach()), ("layer", "r2"),
            ("saliency", saliency), ("guided", guided), ("cam", cam), ("cam_up", cam_up)]


# --------------------------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    # padding='same' with an even kernel: PyTorch warns that it pads a copy; that is expected.
    warnings.filterwarnings("ignore", message="Using padding='same'")
    define_layer_cases()
    jobs = [(fname, (lambda f=fname, c=c: run_layer(f, c))) for _, fname, c in CASES]
    jobs += [(f.__name__, (lambda f=f: f(f.__name__)))
             for f in (loss_ce, loss_pixel_ce, loss_mse, loss_bce, twin_train,
                       viz_explain)]
    names = [n for n, _ in jobs]
    assert len(set(names)) == len(names), "duplicate case names"
    written = set()
    total = 0
    for fname, job in jobs:
        path = os.path.join(HERE, fname + ".bin")
        size = write_fixture(path, job())
        total += size
        written.add(fname + ".bin")
        print("%-44s %6d bytes" % (fname + ".bin", size))
    for f in sorted(os.listdir(HERE)):
        if f.endswith(".bin") and f not in written:
            os.remove(os.path.join(HERE, f))
            print("removed stale", f)
    print("%d fixtures, %d bytes, torch %s" % (len(jobs), total, torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
