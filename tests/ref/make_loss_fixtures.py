#!/usr/bin/python3
"""make_loss_fixtures.py - PyTorch reference fixtures for tests/test_loss_params.c: the
general cross-entropy, batch normalisation's batch statistics, and the names and shapes of
state_dict entries.

Run by hand from the repository root with Debian's Python, which has PyTorch and torchvision:

    /usr/bin/python3 tests/ref/make_loss_fixtures.py

It rewrites every tests/ref/api/*.bin (one file per case) and removes .bin files there of
cases that no longer exist. They live in their own folder, not beside make_fixtures.py's: that
script removes .bin files it did not write, and tests/test_ref.c runs every .bin of
tests/ref/. The files use make_fixtures.py's format (its write_fixture, imported), are
deterministic (each case seeds torch from its name, torch runs on one thread), and are
listed in tests/ref/README.md.

Types ("type" record):
  ce_ex       F.cross_entropy with reduction, weight, label_smoothing and ignore_index
  bn_stats    the batch mean and biased variance F.batch_norm normalises with in training
  state_dict  the state_dict keys, roles and shapes of a model libcnn builds with the same names
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm
from torchvision.models.resnet import BasicBlock

sys.dont_write_bytecode = True  # no __pycache__ in tests/ref from the import below
from make_fixtures import i32, seed_for, write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api")

# --------------------------------------------------------------------------------------------
# Cross-entropy: loss and d loss / d logits (for reduction none, d sum(losses) / d logits).
# --------------------------------------------------------------------------------------------


def ce_case(name, pixel, reduction, weighted, smoothing, ignore=None):
    seed_for(name)
    if pixel:
        n, k, shape = 2, 4, (3, 2)
    else:
        n, k, shape = 6, 5, ()
    # Drawn with the classes last, so that zf[e, c] is class c of element e (a sample, or a
    # pixel of one), then moved to PyTorch's (N, K, ...) layout.
    zl = torch.randn(n, *shape, k) * 2
    y = torch.randint(0, k, (n, *shape))
    zf, yf = zl.view(-1, k), y.view(-1)
    # Large logits, as in make_fixtures.py's loss cases: confident right and wrong answers
    # and an element whose logits are all very negative.
    zf[0, 2], yf[0] = 80.0, 2
    zf[1, 0], yf[1] = 80.0, 3
    zf[2, :], zf[2, 1] = -80.0, -79.0
    if ignore is not None:
        # A few elements carry the ignored label (which may also be a class).
        yf[3] = ignore
        yf[-1] = ignore
    w = torch.rand(k) * 2 + 0.25 if weighted else None
    z = zl.movedim(-1, 1).contiguous().requires_grad_()
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    if ignore is not None:
        kw["ignore_index"] = ignore
    loss = F.cross_entropy(z, y, **kw)
    (loss if reduction != "none" else loss.sum()).backward()
    rec = [("type", "ce_ex"), ("torch", torch.__version__), ("logits", z),
           ("labels", y.to(torch.int32)), ("reduction", reduction),
           ("smoothing", torch.tensor([smoothing]))]
    if w is not None:
        rec.append(("weights", w))
    if ignore is not None:
        rec.append(("ignore_index", i32(ignore)))
    rec += [("loss", loss.reshape(-1)), ("grad", z.grad)]
    return rec


def ce_cases():
    jobs = []
    for pixel in (0, 1):
        for reduction in ("mean", "sum", "none"):
            for weighted in (0, 1):
                for smoothing in (0.0, 0.2):
                    name = "ce_%s_%s%s%s" % ("pixel" if pixel else "cls", reduction,
                                             "_w" if weighted else "",
                                             "_s%g" % smoothing if smoothing else "")
                    jobs.append((name, (lambda n=name, a=(pixel, reduction, weighted,
                                                          smoothing): ce_case(n, *a))))
    # ignore_index: PyTorch's default -100, and a real class (1) ignored
    for name, args in [("ce_cls_mean_w_s0.2_ign-100", (0, "mean", 1, 0.2, -100)),
                       ("ce_cls_none_w_ign1", (0, "none", 1, 0.0, 1)),
                       ("ce_pixel_mean_ign-100", (1, "mean", 0, 0.0, -100)),
                       ("ce_pixel_mean_w_s0.1_ign1", (1, "mean", 1, 0.1, 1)),
                       ("ce_pixel_sum_w_s0.2_ign-100", (1, "sum", 1, 0.2, -100))]:
        jobs.append((name, (lambda n=name, a=args: ce_case(n, *a))))
    return jobs


# --------------------------------------------------------------------------------------------
# Batch statistics: the mean and the biased variance over (N, H, W) (or N, L; or N) that
# batch norm uses in training mode, checked here against the save_mean / save_invstd of
# torch.native_batch_norm, the op F.batch_norm runs.
# --------------------------------------------------------------------------------------------


def bn_case(name, spec, shape, batch, momentum):
    seed_for(name)
    c = shape[0]
    bn = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(c, momentum=momentum)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0.0, 0.5)
        bn.running_mean.normal_(0.0, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    state = torch.cat([bn.running_mean, bn.running_var])
    x = torch.randn(batch, *shape) * 2 + 0.5
    dims = [0] + list(range(2, x.dim()))
    mean = x.mean(dims)
    var = x.var(dims, unbiased=False)
    _, save_mean, save_invstd = torch.native_batch_norm(
        x, bn.weight, bn.bias, bn.running_mean.clone(), bn.running_var.clone(), True,
        momentum, bn.eps)
    assert torch.allclose(save_mean, mean, atol=1e-6)
    assert torch.allclose(save_invstd, 1 / torch.sqrt(var + bn.eps), rtol=1e-5)
    bn.train()
    y = bn(x)
    return [("type", "bn_stats"), ("torch", torch.__version__), ("spec", spec),
            ("batch", i32(batch)), ("x", x), ("w", torch.cat([bn.weight, bn.bias]).detach()),
            ("state", state), ("mean", mean), ("var", var), ("y", y.detach()),
            ("state_after", torch.cat([bn.running_mean, bn.running_var]))]


def bn_cases():
    X = "input x - shape="
    cases = [("bn_stats_2d", X + "3x4x5; batchnorm bn -", (3, 4, 5), 3, 0.1),
             ("bn_stats_1d", X + "4x6; batchnorm bn - momentum=0.3", (4, 6), 2, 0.3),
             ("bn_stats_flat", X + "5; batchnorm bn -", (5,), 4, 0.1),
             ("bn_stats_2d_batch1", X + "2x3x3; batchnorm bn - momentum=0.5", (2, 3, 3), 1,
              0.5)]
    return [(n, (lambda n=n, a=a: bn_case(n, *a))) for n, *a in cases]


# --------------------------------------------------------------------------------------------
# state_dict: for each model, the keys in state_dict order with their role (param: in
# parameters(), buffer: a buffer) and shape, as text lines "key role d0xd1x...". Models are
# torchvision's own (the zoo names its layers as torchvision's modules), or PyTorch modules
# whose attribute names are the layer names libcnn gives (the zoo's, or a spec's).
# --------------------------------------------------------------------------------------------


class Named(nn.Module):
    """Modules registered under libcnn's layer names, in the order the layers are added."""

    def __init__(self, mods):
        super().__init__()
        for name, m in mods:
            self.add_module(name, m)


def lenet5_named(c, h, w, classes):
    pad = 2 if min(h, w) < 32 else 0
    size = lambda n: ((n + 2 * pad - 4) // 2 - 4) // 2
    return Named([("conv1", nn.Conv2d(c, 6, 5, padding=pad)), ("conv2", nn.Conv2d(6, 16, 5)),
                  ("fc1", nn.Linear(16 * size(h) * size(w), 120)), ("fc2", nn.Linear(120, 84)),
                  ("fc3", nn.Linear(84, classes))])


def cifar_resnet_named(c, classes, widths, blocks):
    """He et al.'s CIFAR ResNet with option B shortcuts, in torchvision's module names."""
    mods = [("conv1", nn.Conv2d(c, widths[0], 3, 1, 1, bias=False)),
            ("bn1", nn.BatchNorm2d(widths[0]))]
    cin = widths[0]
    for s, (wd, nb) in enumerate(zip(widths, blocks)):
        layer = []
        for b in range(nb):
            stride = 2 if s > 0 and b == 0 else 1
            down = None
            if stride != 1 or cin != wd:
                down = nn.Sequential(nn.Conv2d(cin, wd, 1, stride, bias=False),
                                     nn.BatchNorm2d(wd))
            layer.append(BasicBlock(cin, wd, stride, down))
            cin = wd
        mods.append(("layer%d" % (s + 1), nn.Sequential(*layer)))
    mods.append(("fc", nn.Linear(cin, classes)))
    return Named(mods)


SPEC_2D = ("input x - shape=4x8x8; conv2d c1 - out=6 kernel=3x2 groups=2 bias=0; "
           "batchnorm b1 - affine=0; conv_transpose2d t1 - out=4 kernel=3 stride=2 groups=2; "
           "batchnorm b2 -; flatten f -; dense d - out=5")
SPEC_1D = ("input x - shape=4x9; conv1d k1 - out=6 kernel=3 groups=2; batchnorm n1 -; "
           "conv1d k2 - out=3 kernel=2 bias=0; flatten f -; dense d - out=5 bias=0")


def spec_2d():
    return Named([("c1", nn.Conv2d(4, 6, (3, 2), groups=2, bias=False)),
                  ("b1", nn.BatchNorm2d(6, affine=False)),
                  ("t1", nn.ConvTranspose2d(6, 4, 3, stride=2, groups=2)),
                  ("b2", nn.BatchNorm2d(4)), ("d", nn.Linear(4 * 15 * 13, 5))])


def spec_1d():
    return Named([("k1", nn.Conv1d(4, 6, 3, groups=2)), ("n1", nn.BatchNorm1d(6)),
                  ("k2", nn.Conv1d(6, 3, 2, bias=False)), ("d", nn.Linear(3 * 6, 5, bias=False))])


def state_dict_case(name, model, source, chw=None, classes=None):
    m = model()
    params = {k for k, _ in m.named_parameters()}
    lines = ["%s %s %s" % (k, "param" if k in params else "buffer",
                           "x".join(str(d) for d in v.shape) if v.dim() else "scalar")
             for k, v in m.state_dict().items()]
    rec = [("type", "state_dict"), ("torch", torch.__version__), ("source", source)]
    if chw is not None:
        rec += [("input", torch.tensor(chw, dtype=torch.int32)), ("classes", i32(classes))]
    return rec + [("keys", "\n".join(lines) + "\n")]


def state_dict_cases():
    # source: "model NAME" (cnn_model_build for input and classes) or "spec SPEC" (t_net)
    cases = [
        ("state_dict_lenet5", lambda: lenet5_named(1, 28, 28, 10), "model lenet5", (1, 28, 28),
         10),
        ("state_dict_resnet20", lambda: cifar_resnet_named(3, 10, [16, 32, 64], [3, 3, 3]),
         "model resnet20", (3, 32, 32), 10),
        ("state_dict_resnet18", lambda: tvm.resnet18(num_classes=1000), "model resnet18",
         (3, 224, 224), 1000),
        ("state_dict_densenet121", lambda: tvm.densenet121(num_classes=1000),
         "model densenet121", (3, 224, 224), 1000),
        ("state_dict_spec_2d", spec_2d, "spec " + SPEC_2D),
        ("state_dict_spec_1d", spec_1d, "spec " + SPEC_1D),
    ]
    return [(n, (lambda n=n, a=a: state_dict_case(n, *a))) for n, *a in cases]


# --------------------------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    jobs = ce_cases() + bn_cases() + state_dict_cases()
    names = [n for n, _ in jobs]
    assert len(set(names)) == len(names), "duplicate case names"
    written, total = set(), 0
    for fname, job in jobs:
        size = write_fixture(os.path.join(OUT, fname + ".bin"), job())
        total += size
        written.add(fname + ".bin")
        print("%-44s %6d bytes" % ("api/" + fname + ".bin", size))
    for f in sorted(os.listdir(OUT)):
        if f.endswith(".bin") and f not in written:
            os.remove(os.path.join(OUT, f))
            print("removed stale", f)
    print("%d fixtures, %d bytes, torch %s" % (len(jobs), total, torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
