#!/usr/bin/python3
"""onnx_to_torch.py - an ONNX interpreter written on torch.nn.functional, independent of cnn and
of the PyTorch modules that exported the model: a second opinion on what an ONNX file computes.

    /usr/bin/python3 tests/ref/onnx_to_torch.py MODEL.onnx INPUT.npy EXPECTED.npy

It loads MODEL.onnx with python3-onnx, runs onnx.checker.check_model(full_check=True), feeds
INPUT.npy (float32, C order) to the graph's one input, evaluates the nodes in order (float32)
and compares the graph's first output with EXPECTED.npy: an element passes when
|got - want| <= 1e-5 + 1e-4 |want|, the criterion of tests/ref. It prints the largest absolute
and relative (|got - want| / max(|want|, 1e-5)) errors and exits 0 when every element passes,
1 when one does not, 2 on an error (an operator or attribute it does not support names the
node). `--save OUT.npy` also writes what it computed.

Operators (the default domain only): Conv, ConvTranspose, BatchNormalization (inference),
Relu, LeakyRelu, Elu, Sigmoid, Tanh, Softmax, MaxPool (with its Indices output), AveragePool,
LpPool, GlobalAveragePool, GlobalMaxPool, MaxUnpool, Gemm, MatMul, Add, Flatten, Reshape,
Concat, Dropout, Identity, Pad (constant), Resize and Upsample (nearest, integer scales),
Constant; the elementwise Mul, Pow, Abs and Sign that PyTorch's export of nn.LPPool2d is made
of; and, on integer tensors only, the shape arithmetic PyTorch emits to compute a Reshape's
shape or a Pad's pads: Shape, Gather, Unsqueeze, Slice, Transpose, Cast, ConstantOfShape.

Pads are ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end] and may be asymmetric. Pooling with
ceil_mode follows PyTorch: a window that would start in the right padding is dropped (ONNX
1.12's shape inference counts it, so a file PyTorch exported with such a pooling declares one
more output row or column than PyTorch computes). MaxPool's Indices are ONNX's, flat over the
whole N, C, H, W tensor (PyTorch's are flat h * W + w in each plane); MaxUnpool takes them so.
"""
import math
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ATOL, RTOL = 1e-5, 1e-4


class Unsupported(Exception):
    pass


# onnx.TensorProto data types -> torch
DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32,
          7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64}


def tensor_of(proto):
    a = numpy_helper.to_array(proto)
    if a.dtype == np.float64 or a.dtype == np.float16:
        a = a.astype(np.float32)
    return torch.from_numpy(np.array(a, copy=True))


def ints(t):
    """A 0-d or 1-d integer tensor as a list of Python ints."""
    return [int(v) for v in t.reshape(-1).tolist()]


def need_int(node, t, what="input"):
    if t.is_floating_point():
        raise Unsupported("%s on a float %s: only shape arithmetic on integer tensors is "
                          "supported" % (node.op_type, what))


def spatial(x):
    return x.dim() - 2


def fn(name, nsp):
    if not 1 <= nsp <= 3:
        raise Unsupported("%d spatial dimensions" % nsp)
    return getattr(F, "%s%dd" % (name, nsp))


def no_auto_pad(a):
    ap = a.get("auto_pad", "NOTSET")
    if ap != "NOTSET":
        raise Unsupported("auto_pad %s (only NOTSET)" % ap)


def pad_list(begin, end):
    """ONNX begin/end pads over the last len(begin) dims -> F.pad's (last dim first) list."""
    out = []
    for b, e in zip(reversed(begin), reversed(end)):
        out += [b, e]
    return out


# --------------------------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------------------------


def op_conv(node, ins, a, opset):
    no_auto_pad(a)
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    nsp = w.dim() - 2
    if "kernel_shape" in a and list(a["kernel_shape"]) != list(w.shape[2:]):
        raise Unsupported("kernel_shape %s differs from the weight's" % a["kernel_shape"])
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    pads = a.get("pads", [0] * 2 * nsp)
    begin, end = pads[:nsp], pads[nsp:]
    if begin == end:
        padding = tuple(begin)
    else:
        x, padding = F.pad(x, pad_list(begin, end)), (0,) * nsp
    return fn("conv", nsp)(x, w, b, strides, padding, dil, a.get("group", 1))


def op_conv_transpose(node, ins, a, opset):
    no_auto_pad(a)
    if "output_shape" in a:
        raise Unsupported("output_shape")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    nsp = w.dim() - 2
    if "kernel_shape" in a and list(a["kernel_shape"]) != list(w.shape[2:]):
        raise Unsupported("kernel_shape %s differs from the weight's" % a["kernel_shape"])
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    outpad = a.get("output_padding", [0] * nsp)
    pads = a.get("pads", [0] * 2 * nsp)
    # The full transposed convolution (no pads), output_padding zeros at the end of each axis,
    # then pads cropped: length stride (in - 1) + output_padding + (k - 1) dil + 1 - begin - end.
    y = fn("conv_transpose", nsp)(x, w, b, strides, 0, outpad, a.get("group", 1), dil)
    for d in range(nsp):
        n = y.shape[2 + d]
        y = y.narrow(2 + d, pads[d], n - pads[d] - pads[nsp + d])
    return y


def op_batchnorm(node, ins, a, opset):
    if a.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise Unsupported("training mode")
    x, scale, bias, mean, var = ins[:5]
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5))


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def pool_geometry(x, a, with_dil=True):
    """kernel, strides, dilations, pads begin and end, and the extra padding at the end of each
    axis that the last window needs in ceil mode: after that padding, a pooling without pads
    and in floor mode gives the output."""
    no_auto_pad(a)
    ks = list(a["kernel_shape"])
    nsp = len(ks)
    if nsp != spatial(x):
        raise Unsupported("kernel_shape %s for a %d-d input" % (ks, x.dim()))
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    if not with_dil and any(d != 1 for d in dil):
        raise Unsupported("dilations")
    pads = a.get("pads", [0] * 2 * nsp)
    begin, end = list(pads[:nsp]), list(pads[nsp:])
    ceil = a.get("ceil_mode", 0)
    extra, out = [], []
    for d in range(nsp):
        n, span = x.shape[2 + d], (ks[d] - 1) * dil[d] + 1
        room = n + begin[d] + end[d] - span
        if room < 0:
            raise Unsupported("a window larger than the padded input")
        o = (-(-room // strides[d]) if ceil else room // strides[d]) + 1
        if ceil and (o - 1) * strides[d] >= n + begin[d]:
            o -= 1  # the last window would start in the right padding: dropped
        out.append(o)
        extra.append(max(0, (o - 1) * strides[d] + span - (n + begin[d] + end[d])))
    return ks, strides, dil, begin, end, extra, out


def op_maxpool(node, ins, a, opset):
    x = ins[0]
    if a.get("storage_order", 0):
        raise Unsupported("storage_order 1")
    ks, strides, dil, begin, end, extra, out = pool_geometry(x, a)
    nsp = len(ks)
    full_end = [e + x_ for e, x_ in zip(end, extra)]
    xp = F.pad(x, pad_list(begin, full_end), value=float("-inf"))
    want_idx = len(node.output) > 1 and node.output[1]
    y, idx = fn("max_pool", nsp)(xp, ks, strides, 0, dil, False, True)
    assert list(y.shape[2:]) == out, (y.shape, out)
    if not want_idx:
        return y
    # PyTorch's indices are flat in each padded plane: back to the input's plane, then ONNX's
    # flat index over N, C, spatial.
    pshape, shape = xp.shape[2:], x.shape[2:]
    rem, flat = idx, torch.zeros_like(idx)
    coords = []
    for d in reversed(range(nsp)):
        coords.append(rem % pshape[d] - begin[d])
        rem = rem // pshape[d]
    for d, c in zip(range(nsp), reversed(coords)):
        flat = flat * shape[d] + c
    plane = math.prod(shape)
    N, C = x.shape[:2]
    base = torch.arange(N * C, dtype=torch.int64).reshape(N, C, *([1] * nsp)) * plane
    return y, flat + base


def op_avgpool(node, ins, a, opset):
    x = ins[0]
    ks, strides, _, begin, end, extra, out = pool_geometry(x, a, with_dil=False)
    nsp = len(ks)
    K = math.prod(ks)
    full_end = [e + x_ for e, x_ in zip(end, extra)]

    def window_sums(t):
        return fn("avg_pool", nsp)(t, ks, strides, 0, False, True) * K

    total = window_sums(F.pad(x, pad_list(begin, full_end)))
    # The divisor: the window's cells in the input, plus with count_include_pad those in the
    # pads (never those of the extra ceil-mode padding, as PyTorch).
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
    if a.get("count_include_pad", 0):
        ones = F.pad(ones, pad_list(begin, end), value=1.0)
        count = F.pad(ones, pad_list([0] * nsp, extra))
    else:
        count = F.pad(ones, pad_list(begin, full_end))
    y = total / window_sums(count)
    assert list(y.shape[2:]) == out, (y.shape, out)
    return y


def op_lppool(node, ins, a, opset):
    x = ins[0]
    if a.get("ceil_mode", 0):
        raise Unsupported("ceil_mode")
    p = a.get("p", 2)
    ks, strides, _, begin, end, extra, out = pool_geometry(x, a, with_dil=False)
    nsp = len(ks)
    xp = F.pad(x.abs() ** p, pad_list(begin, end))
    s = fn("avg_pool", nsp)(xp, ks, strides, 0, False, True) * math.prod(ks)
    return s ** (1.0 / p)


def op_global_avg(node, ins, a, opset):
    x = ins[0]
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


def op_global_max(node, ins, a, opset):
    x = ins[0]
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


def op_maxunpool(node, ins, a, opset):
    x, idx = ins[0], ins[1]
    ks = list(a["kernel_shape"])
    nsp = len(ks)
    strides = a.get("strides", [1] * nsp)
    pads = a.get("pads", [0] * 2 * nsp)
    if len(ins) > 2 and ins[2] is not None:
        shape = ints(ins[2])[2:]
    else:
        shape = [(x.shape[2 + d] - 1) * strides[d] + ks[d] - pads[d] - pads[nsp + d]
                 for d in range(nsp)]
    N, C = x.shape[:2]
    plane = math.prod(shape)
    # ONNX's indices are flat over N, C, spatial: into each plane's h * W + w.
    base = torch.arange(N * C, dtype=torch.int64).reshape(N, C, *([1] * nsp)) * plane
    local = (idx.to(torch.int64) - base).reshape(N * C, -1)
    if local.numel() and (local.min() < 0 or local.max() >= plane):
        raise Unsupported("indices outside their planes")
    y = torch.zeros(N * C, plane, dtype=x.dtype)
    y.scatter_(1, local, x.reshape(N * C, -1))
    return y.reshape(N, C, *shape)


# --------------------------------------------------------------------------------------------
# Dense, elementwise, activations
# --------------------------------------------------------------------------------------------


def op_gemm(node, ins, a, opset):
    A, B = ins[0], ins[1]
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    y = a.get("alpha", 1.0) * torch.matmul(A, B)
    if len(ins) > 2 and ins[2] is not None:
        y = y + a.get("beta", 1.0) * ins[2]
    return y


def op_softmax(node, ins, a, opset):
    x = ins[0]
    if opset >= 13:
        return torch.softmax(x, a.get("axis", -1))
    # opsets 1-12: the input coerced to 2-D at axis, softmax over the second dimension
    axis = a.get("axis", 1) % max(x.dim(), 1)
    shape = x.shape
    return torch.softmax(x.reshape(math.prod(shape[:axis]), -1), 1).reshape(shape)


def op_flatten(node, ins, a, opset):
    x = ins[0]
    axis = a.get("axis", 1)
    if axis < 0:
        axis += x.dim()
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def op_reshape(node, ins, a, opset):
    x, shape = ins[0], ints(ins[1])
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def op_concat(node, ins, a, opset):
    return torch.cat([t for t in ins if t is not None], dim=a["axis"])


def op_dropout(node, ins, a, opset):
    if opset >= 12 and len(ins) > 2 and ins[2] is not None and bool(ins[2]):
        raise Unsupported("training_mode true")
    if opset < 7 and not a.get("is_test", 0):
        raise Unsupported("is_test 0")
    x = ins[0]
    return x, torch.ones(x.shape, dtype=torch.bool)


def op_pad(node, ins, a, opset):
    x = ins[0]
    mode = a.get("mode", "constant")
    if mode != "constant":
        raise Unsupported("mode %s" % mode)
    if opset < 11:
        pads, value = list(a.get("pads", a.get("paddings"))), a.get("value", 0.0)
    else:
        if len(ins) > 3 and ins[3] is not None:
            raise Unsupported("axes")
        pads = ints(ins[1])
        value = float(ins[2]) if len(ins) > 2 and ins[2] is not None else 0.0
    r = x.dim()
    return F.pad(x, pad_list(pads[:r], pads[r:]), value=value)


def nearest(node, x, scales, sizes, coord, rounding):
    """Nearest-neighbour resize by integer scales (or sizes that are integer multiples)."""
    if sizes is not None:
        scales = [o / i for o, i in zip(sizes, x.shape)]
    if len(scales) != x.dim():
        raise Unsupported("%d scales for a %d-d input" % (len(scales), x.dim()))
    for d, s in enumerate(scales):
        if s != int(s) or s < 1 or (d < 2 and s != 1):
            raise Unsupported("scale %g on axis %d (integer scales of the spatial axes only)"
                              % (s, d))
    y = x
    for d in range(2, x.dim()):
        s, n = int(scales[d]), x.shape[d]
        m = n * s
        src = []
        for i in range(m):
            if coord == "asymmetric":
                f = i / s
            elif coord == "half_pixel":
                f = (i + 0.5) / s - 0.5
            elif coord == "pytorch_half_pixel":
                f = (i + 0.5) / s - 0.5 if m > 1 else 0.0
            elif coord == "align_corners":
                f = i * (n - 1) / (m - 1) if m > 1 else 0.0
            elif coord == "tf_half_pixel_for_nn":
                f = (i + 0.5) / s
            else:
                raise Unsupported("coordinate_transformation_mode %s" % coord)
            if rounding == "floor":
                j = math.floor(f)
            elif rounding == "ceil":
                j = math.ceil(f)
            elif rounding == "round_prefer_floor":
                j = math.ceil(f - 0.5)
            elif rounding == "round_prefer_ceil":
                j = math.floor(f + 0.5)
            else:
                raise Unsupported("nearest_mode %s" % rounding)
            src.append(min(max(j, 0), n - 1))
        y = y.index_select(d, torch.tensor(src, dtype=torch.int64))
    return y


def op_resize(node, ins, a, opset):
    if a.get("mode", "nearest") != "nearest":
        raise Unsupported("mode %s (nearest only)" % a.get("mode"))
    x = ins[0]
    if opset < 11:  # Resize-10: X, scales; as Upsample
        return nearest(node, x, ins[1].tolist(), None, "asymmetric", "floor")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    if coord == "tf_crop_and_resize":
        raise Unsupported(coord)
    scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].numel() else None
    sizes = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].numel() else None
    if (scales is None) == (sizes is None):
        raise Unsupported("give exactly one of scales and sizes")
    return nearest(node, x, None if scales is None else scales.tolist(),
                   None if sizes is None else ints(sizes), coord,
                   a.get("nearest_mode", "round_prefer_floor"))


def op_upsample(node, ins, a, opset):
    if a.get("mode", "nearest") != "nearest":
        raise Unsupported("mode %s (nearest only)" % a.get("mode"))
    scales = a["scales"] if opset < 9 else ins[1].tolist()
    return nearest(node, ins[0], scales, None, "asymmetric", "floor")


def op_constant(node, ins, a, opset):
    if "value" in a:
        return tensor_of(a["value"])
    if "value_float" in a:
        return torch.tensor(a["value_float"], dtype=torch.float32)
    if "value_floats" in a:
        return torch.tensor(a["value_floats"], dtype=torch.float32)
    if "value_int" in a:
        return torch.tensor(a["value_int"], dtype=torch.int64)
    if "value_ints" in a:
        return torch.tensor(a["value_ints"], dtype=torch.int64)
    raise Unsupported("Constant with %s" % sorted(a))


def op_pow(node, ins, a, opset):
    return torch.pow(ins[0], ins[1].to(ins[0].dtype))


# --------------------------------------------------------------------------------------------
# Shape arithmetic (integer tensors only)
# --------------------------------------------------------------------------------------------


def op_shape(node, ins, a, opset):
    s = list(ins[0].shape)
    return torch.tensor(s[a.get("start", 0):a.get("end", len(s))], dtype=torch.int64)


def op_gather(node, ins, a, opset):
    data, idx = ins
    need_int(node, data, "data")
    axis = a.get("axis", 0) % data.dim()
    i = idx.to(torch.int64).reshape(-1)
    i = torch.where(i < 0, i + data.shape[axis], i)
    out = data.index_select(axis, i)
    return out.reshape(tuple(data.shape[:axis]) + tuple(idx.shape) + tuple(data.shape[axis + 1:]))


def op_unsqueeze(node, ins, a, opset):
    x = ins[0]
    need_int(node, x)
    axes = a["axes"] if opset < 13 else ints(ins[1])
    r = x.dim() + len(axes)
    for ax in sorted(v % r for v in axes):
        x = x.unsqueeze(ax)
    return x


def op_constant_of_shape(node, ins, a, opset):
    value = tensor_of(a["value"]) if "value" in a else torch.zeros(1)
    need_int(node, value, "value")
    return torch.full(ints(ins[0]), value.reshape(-1)[0].item(), dtype=value.dtype)


def op_slice(node, ins, a, opset):
    x = ins[0]
    need_int(node, x, "data")
    if opset < 10:
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = ints(ins[1]), ints(ins[2])
        axes = ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= x.dim()
        n = x.shape[ax]
        s = s + n if s < 0 else s
        e = e + n if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
        x = x.index_select(ax, torch.tensor(list(range(s, e, st)), dtype=torch.int64))
    return x


def op_transpose(node, ins, a, opset):
    x = ins[0]
    need_int(node, x)
    return x.permute(*a.get("perm", list(reversed(range(x.dim())))))


def op_cast(node, ins, a, opset):
    need_int(node, ins[0])
    if a["to"] not in DTYPES:
        raise Unsupported("Cast to type %d" % a["to"])
    return ins[0].to(DTYPES[a["to"]])


OPS = {
    "Conv": op_conv,
    "ConvTranspose": op_conv_transpose,
    "BatchNormalization": op_batchnorm,
    "Relu": lambda n, i, a, o: F.relu(i[0]),
    "LeakyRelu": lambda n, i, a, o: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Elu": lambda n, i, a, o: F.elu(i[0], a.get("alpha", 1.0)),
    "Sigmoid": lambda n, i, a, o: torch.sigmoid(i[0]),
    "Tanh": lambda n, i, a, o: torch.tanh(i[0]),
    "Softmax": op_softmax,
    "MaxPool": op_maxpool,
    "AveragePool": op_avgpool,
    "LpPool": op_lppool,
    "GlobalAveragePool": op_global_avg,
    "GlobalMaxPool": op_global_max,
    "MaxUnpool": op_maxunpool,
    "Gemm": op_gemm,
    "MatMul": lambda n, i, a, o: torch.matmul(i[0], i[1]),
    "Add": lambda n, i, a, o: i[0] + i[1],
    "Mul": lambda n, i, a, o: i[0] * i[1],
    "Pow": op_pow,
    "Abs": lambda n, i, a, o: i[0].abs(),
    "Sign": lambda n, i, a, o: i[0].sign(),
    "Flatten": op_flatten,
    "Reshape": op_reshape,
    "Concat": op_concat,
    "Dropout": op_dropout,
    "Identity": lambda n, i, a, o: i[0],
    "Pad": op_pad,
    "Resize": op_resize,
    "Upsample": op_upsample,
    "Constant": op_constant,
    "Shape": op_shape,
    "Gather": op_gather,
    "Unsqueeze": op_unsqueeze,
    "ConstantOfShape": op_constant_of_shape,
    "Slice": op_slice,
    "Transpose": op_transpose,
    "Cast": op_cast,
}


# --------------------------------------------------------------------------------------------


def attributes(node):
    out = {}
    for at in node.attribute:
        v = onnx.helper.get_attribute_value(at)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list):
            v = [s.decode() if isinstance(s, bytes) else s for s in v]
        out[at.name] = v
    return out


def describe(i, node):
    return "node %d %r (%s)" % (i, node.name, node.op_type)


def opset_of(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    raise Unsupported("no opset of the default domain")


def run(model, x):
    """Evaluates model (an onnx.ModelProto) on x (a float32 tensor); returns the tensor of the
    graph's first output. Raises Unsupported naming the node."""
    opset = opset_of(model)
    g = model.graph
    env = {init.name: tensor_of(init) for init in g.initializer}
    inputs = [i for i in g.input if i.name not in env]
    if len(inputs) != 1:
        raise Unsupported("the graph has %d inputs, not 1" % len(inputs))
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != x.dim() or any(d.HasField("dim_value") and d.dim_value != n
                                   for d, n in zip(dims, x.shape)):
        raise Unsupported("input %r is %s, the array %s" % (
            inputs[0].name, [d.dim_value if d.HasField("dim_value") else d.dim_param
                             for d in dims], list(x.shape)))
    env[inputs[0].name] = x
    with torch.no_grad():
        for i, node in enumerate(g.node):
            f = OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if f is None:
                raise Unsupported("%s: unsupported operator %s%s" % (
                    describe(i, node), node.domain + "." if node.domain else "", node.op_type))
            try:
                ins = [env[n] if n else None for n in node.input]
                outs = f(node, ins, attributes(node), opset)
            except Unsupported as e:
                raise Unsupported("%s: %s" % (describe(i, node), e))
            except KeyError as e:
                raise Unsupported("%s: missing %s" % (describe(i, node), e))
            if not isinstance(outs, tuple):
                outs = (outs,)
            for name, v in zip(node.output, outs):
                if name:
                    env[name] = v
    return env[g.output[0].name]


def compare(got, want):
    """Returns (passed, max abs error, max relative error, failing count)."""
    if want.size == 0:
        return True, 0.0, 0.0, 0
    got, want = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got - want)
    bad = ~(diff <= ATOL + RTOL * np.abs(want))  # NaN fails
    rel = diff / np.maximum(np.abs(want), 1e-5)
    return not bad.any(), float(np.max(diff)), float(np.max(rel)), int(bad.sum())


def load_f32(path):
    a = np.load(path)
    if a.dtype != np.float32:
        raise Unsupported("%s: dtype %s, not float32" % (path, a.dtype))
    return np.ascontiguousarray(a)


def main(argv):
    args = argv[1:]
    save = None
    if "--save" in args:
        k = args.index("--save")
        save = args[k + 1] if k + 1 < len(args) else None
        del args[k:k + 2]
    if len(args) != 3 or save == "":
        print("usage: onnx_to_torch.py MODEL.onnx INPUT.npy EXPECTED.npy [--save OUT.npy]",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    path, xin, xexp = args
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        x = torch.from_numpy(load_f32(xin))
        want = load_f32(xexp)
        got = run(model, x).numpy()
    except (Unsupported, onnx.checker.ValidationError, OSError, ValueError) as e:
        print("onnx_to_torch: %s: %s" % (path, e), file=sys.stderr)
        return 2
    if save:
        np.save(save, np.ascontiguousarray(got.astype(np.float32)))
    if got.shape != want.shape:
        print("%s: FAIL: output %s, expected %s" % (path, list(got.shape), list(want.shape)))
        return 1
    ok, amax, rmax, nbad = compare(got, want)
    print("%s: %s  max abs err %.3g  max rel err %.3g  (%d of %d elements outside %g + %g|ref|)"
          % (path, "pass" if ok else "FAIL", amax, rmax, nbad, want.size, ATOL, RTOL))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
