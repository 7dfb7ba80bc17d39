#!/usr/bin/python3
"""The PyTorch side of benchmark workloads 2, 3 and 4: the twin of bench/cnn_bench.c, with the
same workloads, options, work per step and output lines (bench/run.sh drives both).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_bench.py [--threads T] [--channels-last]
        [--runs R] [--batch B] [--warmup W] [--train-steps K] [--infer-steps K]
        [--latency-steps K] [--conv-seconds S] WORKLOAD...

    cifar-train   torchvision resnet18(num_classes=10) with conv1 a 3x3 stride-1 padding-1
                  convolution and maxpool an Identity (cnn's resnet18_cifar), 3x32x32, batch B:
                  training steps (zero_grad(set_to_none), forward, cross-entropy, backward,
                  SGD lr 0.01 momentum 0.9 weight decay 5e-4), images/s
    cifar-infer   the same network in eval mode under torch.inference_mode(), images/s
    latency       torchvision resnet18 (1000 classes), 3x224x224, batch 1, eval mode: ms per
                  forward pass
    conv          nn.Conv2d(64, 64, 3, padding=1, bias=False) on 56x56, batch 1 and 8: forward
                  (inference_mode) and forward + backward (input and weight gradients),
                  GFLOP/s counting 2*N*OC*OH*OW*IC*KH*KW per forward, 3x for forward + backward

Each workload runs W warm-up steps (latency: at least 3), then R repetitions of K steps (conv:
of as many calls as fill S seconds by the warm-up's pace), and prints one line
    RESULT workload=cifar-train framework=torch threads=1 layout=nchw value=V unit=img/s reps=...
with V the median of the repetitions (latency: each repetition is the median of its K passes).
Inputs are random (seeded). Timing: time.perf_counter. PyTorch is a reference here, never a
dependency of cnn.
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def resnet18_cifar():
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    return m


def report(a, workload, value, unit, reps):
    layout = "channels_last" if a.channels_last else "nchw"
    print(f"RESULT workload={workload} framework=torch threads={a.threads} layout={layout} "
          f"value={value:.4g} unit={unit} reps={','.join(f'{r:.4g}' for r in reps)}", flush=True)


def fmt(a, t):
    return t.contiguous(memory_format=torch.channels_last) if a.channels_last else t


def model(a, net):
    return net.to(memory_format=torch.channels_last) if a.channels_last else net


def bench_cifar(a, training):
    B = a.batch
    net = model(a, resnet18_cifar())
    x = fmt(a, torch.randn(B, 3, 32, 32))
    y = torch.randint(0, 10, (B,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        with torch.inference_mode():
            return net(x)

    if training:
        net.train()
        step, steps = train_step, a.train_steps
    else:
        net.eval()
        step, steps = infer_step, a.infer_steps
    out = None
    for _ in range(a.warmup):
        out = step()
    reps = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        for _ in range(steps):
            out = step()
        reps.append(B * steps / (time.perf_counter() - t0))
    if out is not None and not torch.isfinite(out).all():
        sys.exit("torch_bench: cifar: result not finite")
    report(a, "cifar-train" if training else "cifar-infer", statistics.median(reps), "img/s", reps)


def bench_latency(a):
    net = model(a, torchvision.models.resnet18(num_classes=1000)).eval()
    x = fmt(a, torch.randn(1, 3, 224, 224))
    with torch.inference_mode():
        for _ in range(max(a.warmup, 3)):
            out = net(x)
        reps = []
        for _ in range(a.runs):
            t = []
            for _ in range(a.latency_steps):
                t0 = time.perf_counter()
                out = net(x)
                t.append(1e3 * (time.perf_counter() - t0))
            reps.append(statistics.median(t))
    if not torch.isfinite(out).all():
        sys.exit("torch_bench: latency: output not finite")
    report(a, "latency", statistics.median(reps), "ms", reps)


def bench_conv(a):
    C, H, W, K = 64, 56, 56, 3
    for n in (1, 8):
        conv = model(a, nn.Conv2d(C, C, K, stride=1, padding=1, bias=False))
        x = fmt(a, torch.randn(n, C, H, W)).requires_grad_(True)
        gy = fmt(a, torch.randn(n, C, H, W))
        for backward in (False, True):
            def call():
                if backward:
                    x.grad = None
                    conv.weight.grad = None
                    y = conv(x)
                    y.backward(gy)
                    return x.grad
                with torch.inference_mode():
                    return conv(x)

            flops = 2.0 * n * C * H * W * C * K * K * (3 if backward else 1)
            calls, t0 = 0, time.perf_counter()
            while True:
                out = call()
                calls += 1
                el = time.perf_counter() - t0
                if calls >= 2 and el >= a.conv_seconds / 2:
                    break
            per = max(1, math.ceil(a.conv_seconds / (el / calls)))
            reps = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                for _ in range(per):
                    out = call()
                reps.append(flops * per / (time.perf_counter() - t0) / 1e9)
            if not torch.isfinite(out).all():
                sys.exit("torch_bench: conv: result not finite")
            report(a, f"conv-b{n}-{'fwdbwd' if backward else 'fwd'}", statistics.median(reps),
                   "GFLOP/s", reps)


def main():
    ap = argparse.ArgumentParser(description="PyTorch twin of bench/cnn_bench.c")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--infer-steps", type=int, default=3)
    ap.add_argument("--latency-steps", type=int, default=10)
    ap.add_argument("--conv-seconds", type=float, default=0.3)
    ap.add_argument("workloads", nargs="+",
                    choices=["cifar-train", "cifar-infer", "latency", "conv"])
    a = ap.parse_args()
    if a.runs < 1 or a.threads < 1 or a.batch < 1 or a.warmup < 0 or a.train_steps < 1 \
            or a.infer_steps < 1 or a.latency_steps < 1 or not a.conv_seconds > 0:
        ap.error("counts must be positive")
    torch.manual_seed(1)
    torch.set_num_threads(a.threads)
    for w in a.workloads:
        if w == "cifar-train":
            bench_cifar(a, True)
        elif w == "cifar-infer":
            bench_cifar(a, False)
        elif w == "latency":
            bench_latency(a)
        else:
            bench_conv(a)


if __name__ == "__main__":
    main()
