#!/usr/bin/env python3
"""The step-time model of docs/DISTRIBUTED.md: predicted throughput and efficiency of
data-parallel training on N machines, from a measured compute time per step and a measured
(or assumed) network.

    step(N) = compute + comm(N) - hidden
    comm(N) = tree:  2 ceil(log2 N) (latency + bytes / bandwidth)     (cnn: binomial reduce,
                                                                        then broadcast)
              ring:  2 (N - 1) / N  bytes / bandwidth + 2 (N - 1) latency  (Horovod, NCCL)
    hidden  = the part of comm that backward covers when buckets are started during it:
              at most the backward time (about 2/3 of compute) less the last bucket's sum.

Weak scaling: every machine keeps a batch of `batch` samples (the global batch grows with N),
as Horovod's figures are given. Run with the measured inputs:

    python3 bench/mpi_model.py COMPUTE_S_PER_STEP PARAM_BYTES BATCH LATENCY_US [NAME]
"""
import math
import sys


def predict(compute, nbytes, batch, latency, bandwidth, n, algo, overlap):
    if n == 1:
        return batch / compute, 1.0
    if algo == "tree":
        comm = 2 * math.ceil(math.log2(n)) * (latency + nbytes / bandwidth)
    else:
        comm = 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency
    hidden = 0.0
    if overlap:
        bucket = min(nbytes, 1 << 20)
        last = comm * bucket / nbytes
        hidden = max(0.0, min(comm - last, 2 / 3 * compute))
    step = compute + comm - hidden
    return n * batch / step, compute / step


def main():
    compute, nbytes, batch, latency = (float(a) for a in sys.argv[1:5])
    name = sys.argv[5] if len(sys.argv) > 5 else "model"
    latency *= 1e-6
    print(f"{name}: {compute * 1e3:.1f} ms compute per step of {int(batch)} samples, "
          f"{nbytes / 1e6:.2f} MB of gradients, {latency * 1e6:.0f} us latency per message")
    print("| network | N | tree, one sum after backward | tree, buckets in backward (cnn) | ring, buckets in backward |")
    print("|---|---:|---:|---:|---:|")
    for gbit in (10, 100):
        bw = gbit * 1e9 / 8 * 0.9  # 90% of the line rate
        for n in (4, 16, 64):
            cells = []
            for algo, overlap in (("tree", False), ("tree", True), ("ring", True)):
                ips, eff = predict(compute, nbytes, batch, latency, bw, n, algo, overlap)
                cells.append(f"{ips:,.0f} img/s ({100 * eff:.0f}%)")
            print(f"| {gbit} Gbit/s | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
