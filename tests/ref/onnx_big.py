#!/usr/bin/python3
"""onnx_big.py - the slow check of cnn's ONNX import against PyTorch on torchvision's big models.

    /usr/bin/python3 tests/ref/onnx_big.py CNN_BINARY OUTDIR [--models resnet18,googlenet]
        [--static]

For each model (resnet18, googlenet with transform_input=False, aux_logits=False,
init_weights=True, densenet121; all weights=None, random batch-norm running statistics, seeded
from a CRC of the name) it writes to OUTDIR:

    NAME.onnx      torch.onnx.export in eval mode, opset 13, constant folding; exported with a
                   1x3x224x224 example and a symbolic batch dimension "N" (with --static: a
                   fixed batch of 2)
    NAME.in.npy    a batch of 2 random normal 3x224x224 images, float32
    NAME.out.npy   PyTorch's output on it (eval, one thread)
    NAME.cnn.npy   what `CNN_BINARY infer NAME.onnx --input NAME.in.npy --output NAME.cnn.npy`
                   computed

then prints a Markdown table: operators present, parameters, the largest absolute and
relative (|cnn - torch| / max(|torch|, 1e-5)) errors, the times of PyTorch and of cnn, and pass
or fail, an element passing when |cnn - torch| <= 1e-5 + 1e-4 |torch|. It exits 1 when a model
fails or cnn fails, 2 on a usage error. PyTorch and torchvision: Debian's python3-torch and
python3-torchvision; the files take about 110 MB.
"""
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import onnx
import torch
import torchvision

ATOL, RTOL = 1e-5, 1e-4

MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "googlenet": lambda: torchvision.models.googlenet(weights=None, transform_input=False,
                                                      aux_logits=False, init_weights=True),
    "densenet121": lambda: torchvision.models.densenet121(weights=None),
}


# The fixtures' seeding and batch-norm randomisation, shared with make_onnx_fixtures.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_onnx_fixtures import randomise_bn, seed_for  # noqa: E402


def compare(got, want):
    """(passed, max abs error, max relative error); NaN fails."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got - want)
    ok = bool(np.all(diff <= ATOL + RTOL * np.abs(want)))
    rel = diff / np.maximum(np.abs(want), 1e-5)
    return ok, float(np.max(diff)), float(np.max(rel))


def run_one(name, cnn, outdir, static):
    """Returns a table row (a dict); 'ok' False on any failure, 'note' says why."""
    seed_for(name)
    m = MODELS[name]()
    randomise_bn(m)
    m.eval()
    x = torch.randn(2, 3, 224, 224)
    path = os.path.join(outdir, name + ".onnx")
    xin, xout, xcnn = (os.path.join(outdir, name + s) for s in (".in.npy", ".out.npy",
                                                                 ".cnn.npy"))
    example = x if static else torch.randn(1, 3, 224, 224)
    kw = {} if static else dict(dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (example,), path, opset_version=13, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.EVAL, input_names=["input"],
                          output_names=["output"], **kw)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    row = dict(model=name, ops=" ".join(sorted({n.op_type for n in model.graph.node})),
               params=sum(p.numel() for p in m.parameters()), abs="-", rel="-", ok=False,
               note="", t_torch="-", t_cnn="-")
    t = time.perf_counter()
    with torch.no_grad():
        y = m(x)
    row["t_torch"] = "%.2f" % (time.perf_counter() - t)
    np.save(xin, np.ascontiguousarray(x.numpy(), dtype=np.float32))
    np.save(xout, np.ascontiguousarray(y.numpy(), dtype=np.float32))
    if os.path.exists(xcnn):
        os.remove(xcnn)
    cmd = [cnn, "infer", path, "--input", xin, "--output", xcnn]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        row["note"] = "cannot run %s: %s" % (cnn, e)
        return row
    row["t_cnn"] = "%.2f" % (time.perf_counter() - t)
    if r.returncode != 0:
        err = (r.stderr.strip() or r.stdout.strip()).splitlines()
        row["note"] = "cnn exited %d%s" % (r.returncode, ": " + err[-1] if err else "")
        return row
    try:
        got = np.load(xcnn)
    except (OSError, ValueError) as e:
        row["note"] = "cannot read %s: %s" % (xcnn, e)
        return row
    want = y.numpy()
    if got.dtype != np.float32 or got.shape != want.shape:
        row["note"] = "cnn gave %s %s, PyTorch %s float32" % (got.dtype, list(got.shape),
                                                             list(want.shape))
        return row
    row["ok"], a, rel = compare(got, want)
    row["abs"], row["rel"] = "%.3g" % a, "%.3g" % rel
    return row


def main(argv):
    args = argv[1:]
    names = list(MODELS)
    static = "--static" in args
    args = [a for a in args if a != "--static"]
    if "--models" in args:
        k = args.index("--models")
        if k + 1 >= len(args):
            args = []
        else:
            names = [s for s in args[k + 1].split(",") if s]
            del args[k:k + 2]
    unknown = [n for n in names if n not in MODELS]
    if len(args) != 2 or unknown or not names:
        if unknown:
            print("onnx_big: unknown model %s (models: %s)" % (", ".join(unknown),
                                                              ",".join(MODELS)),
                  file=sys.stderr)
        print("usage: onnx_big.py CNN_BINARY OUTDIR [--models %s] [--static]"
              % ",".join(MODELS), file=sys.stderr)
        return 2
    cnn, outdir = args
    torch.set_num_threads(1)
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for name in names:
        print("%s ..." % name, file=sys.stderr, flush=True)
        rows.append(run_one(name, cnn, outdir, static))
        if rows[-1]["note"]:
            print("  %s" % rows[-1]["note"], file=sys.stderr)
    print("| model | ops present | params | max abs err | max rel err | torch s | cnn s | "
          "result |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print("| %s | %s | %d | %s | %s | %s | %s | %s |"
              % (r["model"], r["ops"], r["params"], r["abs"], r["rel"], r["t_torch"],
                 r["t_cnn"], "pass" if r["ok"] else "FAIL" + (": " + r["note"] if r["note"]
                                                              else "")))
    bad = [r["model"] for r in rows if not r["ok"]]
    print("\n%s (criterion |cnn - torch| <= %g + %g |torch|, torch %s, torchvision %s)"
          % ("FAILED: " + ", ".join(bad) if bad else "all passed", ATOL, RTOL,
             torch.__version__, torchvision.__version__))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
