#!/usr/bin/python3
"""A model trained in PyTorch, imported by cnn: the same test accuracy, and Grad-CAM on it.

Trains a small CNN (conv-bn-relu x2, max pools, dense) on Fashion-MNIST with PyTorch 1.13 for
one epoch, on raw [0, 1] pixels, exports it to ONNX (batch norm folded, as PyTorch exports in
eval mode), then runs `cnn import`, `cnn eval` and `cnn viz gradcam` on it and compares cnn's
test accuracy and per-image predictions with PyTorch's. A slow check (PyTorch is needed):

    /usr/bin/python3 tests/ref/onnx_trained.py build/cnn OUTDIR

Exit status 0 when cnn's predictions equal PyTorch's on every test image.
"""
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    if raw[2] == 8 and raw[3] == 3:
        n, h, w = (int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(3))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255
    return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


def model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def main():
    cnn, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    torch.set_num_threads(2)
    x, y = torch.from_numpy(idx("train-images-idx3-ubyte.gz")), torch.from_numpy(idx("train-labels-idx1-ubyte.gz"))
    tx, ty = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz")), idx("t10k-labels-idx1-ubyte.gz")
    net = model()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t = time.time()
    net.train()
    for i in torch.randperm(len(x)).split(64):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        torch_pred = net(tx).argmax(1).numpy()
    print("PyTorch: 1 epoch in %.0f s, test top-1 %.2f%%" % (time.time() - t, 100 * (torch_pred == ty).mean()))
    path = os.path.join(out, "fashion_torch.onnx")
    torch.onnx.export(net, tx[:1], path, input_names=["input"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    ckpt = os.path.join(out, "fashion_torch.ckpt")
    subprocess.run([cnn, "import", path, "--out", ckpt, "--force"], check=True)
    ev = json.loads(subprocess.run([cnn, "eval", path, "--data", "fashion-mnist", "--json"], check=True,
                                   capture_output=True, text=True).stdout)
    print("cnn eval of the .onnx: test top-1 %.2f%%" % (100 * ev["top1"] if ev["top1"] <= 1 else ev["top1"]))
    # Per-image predictions: cnn infer on the whole test set.
    np.save(os.path.join(out, "test.npy"), tx.numpy())
    subprocess.run([cnn, "infer", ckpt, "--input", os.path.join(out, "test.npy"), "--output",
                    os.path.join(out, "cnn_logits.npy"), "--threads", "2"], check=True, capture_output=True)
    cnn_pred = np.load(os.path.join(out, "cnn_logits.npy")).argmax(1)
    same = int((cnn_pred == torch_pred).sum())
    print("predictions equal on %d of %d test images" % (same, len(ty)))
    boot = np.flatnonzero(ty == 9)[0]
    png = os.path.join(out, "boot.png")
    import zlib, struct
    img = (tx[boot, 0].numpy() * 255).round().astype(np.uint8)
    rows = b"".join(b"\0" + r.tobytes() for r in img)
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
    with open(png, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    subprocess.run([cnn, "viz", "gradcam", path, png, "--class", "9", "--out",
                    os.path.join(out, "onnx_gradcam.png")], check=True)
    sys.exit(0 if same == len(ty) else 1)


if __name__ == "__main__":
    main()
