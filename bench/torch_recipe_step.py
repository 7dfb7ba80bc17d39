#!/usr/bin/python3
"""Where an epoch of bench/torch_recipe.py goes: the median (and best) time of each part of its
training step over 20 steps at 2 threads, for the hour recipe's network (fashion_wide's widths)
at batch 128, with contiguous and with channels-last tensors. The parts: the augmentation
(flips, shifts of up to 2 pixels, random erasing: the script's own Python), the forward and
backward passes with AdamW, and the update of the average of the weights. Times 468 (the
steps of an epoch) say how much of an epoch each takes. Compare with cnn's step in the same
minutes:

    /usr/bin/python3 bench/torch_recipe_step.py
    build/cnn summary fashion_wide --input 1x28x28 --profile train --batch 128 --threads 2

PyTorch is a reference here, never a dependency of cnn.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch_recipe as tr  # noqa: E402

STEPS_PER_EPOCH = 60000 // 128


def median_best(f, n=20):
    """The median and best of n timed calls of f (after two untimed), in ms."""
    f(), f()
    ts = []
    for _ in range(n):
        t = time.monotonic()
        f()
        ts.append(time.monotonic() - t)
    ts.sort()
    return 1000 * ts[len(ts) // 2], 1000 * ts[0]


def main():
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    for name, fmt in (("contiguous", torch.contiguous_format),
                      ("channels_last", torch.channels_last)):
        torch.manual_seed(1)
        model = tr.plain_net([40, 40, "M", 80, 80, "M", 160, 160, "M"], 0.0).to(memory_format=fmt)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=0.003, weight_decay=0.1)
        ema = tr.averaged(model)

        def step():
            loss = F.cross_entropy(model(x.contiguous(memory_format=fmt)), y,
                                   label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss)

        parts = (("augment", lambda: tr.augment(x, gen, 0.5, 2, 0.5)),
                 ("fwd+bwd+AdamW", step),
                 ("EMA update", lambda: ema.update_parameters(model)))
        for part, f in parts:
            med, best = median_best(f)
            print(f"{name:14s} {part:14s} median {med:7.2f} ms  best {best:7.2f} ms"
                  f"  (an epoch's {STEPS_PER_EPOCH} steps: {med * STEPS_PER_EPOCH / 1000:.1f} s)")


if __name__ == "__main__":
    main()
