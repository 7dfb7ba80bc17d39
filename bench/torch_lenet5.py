#!/usr/bin/python3
"""The PyTorch twin of `cnn train --model lenet5` on Fashion-MNIST: the same network, recipe and
data handling (batch 64, last partial batch dropped, 5000 training images held out for
validation, inputs normalised by the training part's mean and std), for docs/RESULTS.md.

    /usr/bin/python3 bench/torch_lenet5.py [--epochs 10] [--threads 1] [--seed 1]
        [--opt adam|adamw] [--lr 0.001] [--wd 0] [--cosine] [--hflip] [--channels-last]

--cosine anneals the learning rate per step to 0 over the run (cnn's --schedule cosine);
--hflip flips each training image left-right with probability 1/2 (cnn's --augment hflip).

PyTorch is a reference here, never a dependency of cnn.
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIR = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{DIR}/{name}.gz", "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.d1 = nn.Linear(16 * 5 * 5, 120)
        self.d2 = nn.Linear(120, 84)
        self.d3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = x.flatten(1)
        return self.d3(F.relu(self.d2(F.relu(self.d1(x)))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--opt", choices=["adam", "adamw"], default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--cosine", action="store_true")
    ap.add_argument("--hflip", action="store_true")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    x = torch.tensor(idx("train-images-idx3-ubyte"), dtype=torch.float32).unsqueeze(1) / 255
    y = torch.tensor(idx("train-labels-idx1-ubyte"), dtype=torch.int64)
    xt = torch.tensor(idx("t10k-images-idx3-ubyte"), dtype=torch.float32).unsqueeze(1) / 255
    yt = torch.tensor(idx("t10k-labels-idx1-ubyte"), dtype=torch.int64)
    perm = torch.randperm(len(x))
    val, tr = perm[:5000], perm[5000:]
    xv, yv, x, y = x[val], y[val], x[tr], y[tr]
    mean, std = x.mean().item(), x.std(unbiased=False).item()
    x, xv, xt = (x - mean) / std, (xv - mean) / std, (xt - mean) / std
    net = LeNet5()
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    make = torch.optim.AdamW if a.opt == "adamw" else torch.optim.Adam
    opt = make(net.parameters(), lr=a.lr, weight_decay=a.wd)
    B = 64
    steps = a.epochs * (len(x) // B)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if a.cosine else None

    def evaluate(xe, ye):
        net.eval()
        with torch.no_grad():
            z = torch.cat([net(xe[i:i + 1000]) for i in range(0, len(xe), 1000)])
        net.train()
        return F.cross_entropy(z, ye).item(), (z.argmax(1) == ye).float().mean().item()

    for epoch in range(a.epochs):
        t0 = time.time()
        order = torch.randperm(len(x))
        total, correct = 0.0, 0
        n = len(x) // B
        for b in range(n):
            idx_b = order[b * B:(b + 1) * B]
            xb = x[idx_b]
            if a.hflip:
                flip = torch.rand(B) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            z = net(xb)
            loss = F.cross_entropy(z, y[idx_b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            total += loss.item()
            correct += (z.argmax(1) == y[idx_b]).sum().item()
        secs = time.time() - t0
        vl, va = evaluate(xv, yv)
        print(f"epoch {epoch + 1:2d}/{a.epochs}  train loss {total / n:.4f} acc {100 * correct / (n * B):.2f}%  "
              f"val loss {vl:.4f} acc {100 * va:.2f}%  {secs:.1f}s  ({n * B / secs:.0f} img/s)", flush=True)
    tl, ta = evaluate(xt, yt)
    print(f"test: {len(xt)} samples, loss {tl:.4f}, top-1 {100 * ta:.2f}%")


if __name__ == "__main__":
    main()
