#!/usr/bin/python3
"""The PyTorch side of docs/RESULTS.md's time-budget recipes: the same network (by default
the zoo's fashion_fast), the same recipe and the same budget rule as

    cnn train --recipe fashion-10m      (cnn recipes prints its options)

that is: all 60,000 training images normalised by their mean and std; AdamW (lr 0.003, weight
decay 0.05: --wd, the hour recipe's 0.1), batch 128 (the last partial batch dropped), a linear
warm-up over the first epoch then a linear decay to 0 at the end of the run; cross-entropy with
label smoothing 0.1; random horizontal flips (and, with --augment hflip,translate=0.1 or
crop=2, whole-pixel translations of up to 10% of the side or 2 pixels, zero filled; with
erase[=P], random erasing as cnn's);
an exponential moving average (decay 0.999) of the parameters and batch norm's buffers,
evaluated and tested; test-time flips (the mean of the logits of an image and its mirror;
with --tta-shift S, also of both shifted by S pixels each way, as cnn's --tta-shift, and with
--tta-diagonal along the diagonals too, as cnn's --tta-diagonal). With --alternate-flips (cnn's),
each training image is mirrored in every other epoch, its phase drawn once, instead of by a draw
in each epoch. With --channels-last, the network and its inputs are held in channels-last layout
(NHWC), which bench/run.sh found to be PyTorch's faster layout for convolutions on this
project's hosts; the arithmetic is the same.

The budget rule is cnn's: time a few training steps (about 2% of the budget) and a test pass
over a slice, undo them, then train as many whole epochs as fit in what is left, the
schedule ending with the last; after each epoch, refit the epochs to the pace so far (cut
them when behind, add when one more fits with a quarter of an epoch to spare, keeping 1% of
the time fitted as margin, as cnn's trainer does), the schedule with them. The wall time printed
counts everything from the start of the script, data loading included.

With --members K, cnn's --ensemble K: K networks trained one after another (member k with
seed S + 1000000 k), member k with an equal share of what is left of the budget for it and
the members after it (the test pass reserved being the ensemble's, K networks'), then tested
together: the mean of their logits, each image's views averaged as above.

    /usr/bin/python3 bench/torch_recipe.py [--budget 600] [--threads 2] [--seed 1]
        [--epochs N]  (N: no budget, N epochs)  [--batch 128] [--lr 0.003] [--wd 0.05]
        [--widths 24,24,M,48,48,M,96,96,M]  (32,32,M,64,64,M,128,128,M: vgg_small)
        [--dropout 0]  (0.5: vgg_small)  [--augment hflip]  [--alternate-flips]
        [--tta-shift 0]  [--tta-diagonal]  [--channels-last]
        [--members 1]
        [--mixup 0] [--cutmix 0]  (cnn's --mixup and --cutmix)

PyTorch is a reference here, never a dependency of cnn.
"""
import argparse
import copy
import gzip
import math
import time

START = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{DIR}/{name}.gz", "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def plain_net(widths, dropout, classes=10):
    """A zoo plain stack as `cnn def` writes it for 1x28x28: widths of 3x3 conv-batchnorm-ReLU
    (no conv bias), "M" a 2x2 max pool, then dense 256, ReLU, [dropout,] dense classes. The
    zoo's vgg_small is 32,32,M,64,64,M,128,128,M with dropout 0.5; fashion_fast is
    24,24,M,48,48,M,96,96,M without."""
    layers, c, side = [], 1, 28
    for out in widths:
        if out == "M":
            layers.append(nn.MaxPool2d(2))
            side //= 2
            continue
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU(inplace=True)]
        c = out
    head = [nn.Flatten(), nn.Linear(c * side * side, 256), nn.ReLU(inplace=True)]
    head += [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*layers, *head, nn.Linear(256, classes))


def parse_augment(spec):
    """cnn's --augment list, of what it may hold here: hflip[=P], translate=FRAC, crop=PAD and
    erase[=P]. Returns (flip probability, largest shift in pixels, erase probability)."""
    hflip, shift, erase = 0.0, 0, 0.0
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key == "hflip":
            hflip = float(value) if value else 0.5
        elif key == "translate" and value:
            shift = int(float(value) * 28)
        elif key == "crop" and value:  # padded by PAD, cropped back: a shift of up to PAD
            shift = int(value)
        elif key == "erase":
            erase = float(value) if value else 0.5
        else:
            raise SystemExit(f"torch_recipe.py: --augment {spec}: {item} is not hflip[=P], "
                             "translate=FRAC, crop=PAD or erase[=P]")
    return hflip, shift, erase


def erase_one(img, gen):
    """Random erasing as cnn's (torchvision's RandomErasing(scale=(0.02, 0.33),
    ratio=(0.3, 3.3), value=0)): up to ten draws of a rectangle; the first that fits is zeroed."""
    h, w = img.shape[-2:]
    lo, hi = math.log(0.3), math.log(3.3)
    for _ in range(10):
        u = torch.rand(4, generator=gen).tolist()
        area = h * w * (0.02 + 0.31 * u[0])
        aspect = math.exp(lo + (hi - lo) * u[1])
        eh, ew = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if eh < 1 or ew < 1 or eh >= h or ew >= w:
            continue
        top, left = int(u[2] * (h - eh + 1)), int(u[3] * (w - ew + 1))
        img[..., top:top + eh, left:left + ew] = 0
        return


def augment(x, gen, hflip, m, erase, flip=None):
    """Random horizontal flips (probability hflip; or the images where flip is True, when
    given), whole-pixel shifts of up to m pixels each way, zero filled (cnn's translate and
    crop), and random erasing (probability erase), one draw per image, in cnn's order."""
    n = x.shape[0]
    if flip is None:
        flip = torch.rand(n, generator=gen) < hflip
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if m > 0:
        shifts = torch.randint(-m, m + 1, (n, 2), generator=gen)
        out = torch.zeros_like(x)
        for i in range(n):
            dy, dx = int(shifts[i, 0]), int(shifts[i, 1])
            ys, yd = (slice(0, 28 - dy), slice(dy, 28)) if dy >= 0 else (slice(-dy, 28), slice(0, 28 + dy))
            xs, xd = (slice(0, 28 - dx), slice(dx, 28)) if dx >= 0 else (slice(-dx, 28), slice(0, 28 + dx))
            out[i, :, yd, xd] = x[i, :, ys, xs]
        x = out
    if erase > 0:
        for i in torch.nonzero(torch.rand(n, generator=gen) < erase).flatten().tolist():
            erase_one(x[i], gen)
    return x


def mix(x, y, rng, mixup, cutmix):
    """cnn's cnn_mix_batch: samples 2j and 2j+1 are a pair, l ~ Beta(a, a) per pair; mixup
    blends them (x = l a + (1 - l) b), CutMix swaps a rectangle with sides sqrt(1 - l) times
    the image's, its centre uniform, clipped (l then the share left); with both, either with
    equal odds. Returns the images, each sample's partner label and its own share (the draws
    are numpy's, not cnn's: the same distributions, not the same numbers)."""
    x, n = x.clone(), len(x) // 2 * 2
    yb, lam = y.clone(), torch.ones(len(x))
    yb[0:n:2], yb[1:n:2] = y[1:n:2], y[0:n:2]
    H, W = x.shape[-2:]
    for a in range(0, n, 2):
        cut = cutmix > 0 and (mixup == 0 or rng.random() < 0.5)
        alpha = cutmix if cut else mixup
        share = float(rng.beta(alpha, alpha))
        if cut:
            side = math.sqrt(1 - share)
            ch, cw = int(side * H), int(side * W)
            cy, cx = int(rng.integers(H)), int(rng.integers(W))
            y0, y1 = min(max(cy - ch // 2, 0), H), min(max(cy - ch // 2 + ch, 0), H)
            x0, x1 = min(max(cx - cw // 2, 0), W), min(max(cx - cw // 2 + cw, 0), W)
            box = x[a, :, y0:y1, x0:x1].clone()
            x[a, :, y0:y1, x0:x1] = x[a + 1, :, y0:y1, x0:x1]
            x[a + 1, :, y0:y1, x0:x1] = box
            share = 1 - (y1 - y0) * (x1 - x0) / (H * W)
        else:
            xa, xb = x[a].clone(), x[a + 1].clone()
            x[a], x[a + 1] = share * xa + (1 - share) * xb, share * xb + (1 - share) * xa
        lam[a] = lam[a + 1] = share
    return x, yb, lam


def lr_at(step, base, warmup, total):
    if step < warmup:
        return base * (step + 1) / warmup
    span = total - warmup
    return base * max(0.0, 1.0 - (step - warmup) / span) if span > 0 else 0.0


def shifted(x, s, dy, dx, fill):
    """x shifted: out[y][i] = x[y + dy][i + dx], fill outside (|dy|, |dx| <= s)."""
    h, w = x.shape[2], x.shape[3]
    p = F.pad(x, (s, s, s, s), value=fill)
    return p[:, :, s + dy:s + dy + h, s + dx:s + dx + w]


@torch.no_grad()
def evaluate(models, x, y, shift=0, fill=0.0, diagonal=False, fmt=torch.contiguous_format,
             batch=128):
    """Top-1 with test-time flips: the mean of the logits of each image and its mirror, and
    with shift S > 0 of both shifted by S pixels up, down, left and right (cnn's
    --tta-shift: the pixels shifted in hold fill, a black pixel's normalised value), and with
    diagonal by (+-S, +-S) too (cnn's --tta-diagonal), averaged
    over the models (an ensemble; one model alone otherwise). Batches
    of 128: PyTorch 1.13's forward pass of the recipes' networks at a batch of 1000 ran at
    about 270 images/s here against about 1,400 at 64-128 (fourteenth session), and the time
    budget reserves what the test pass takes. fmt: the inputs' memory format (the models')."""
    for model in models:
        model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        views = [xb]
        if shift:
            ways = [(shift, 0), (-shift, 0), (0, shift), (0, -shift)]
            if diagonal:
                ways += [(dy, dx) for dy in (shift, -shift) for dx in (shift, -shift)]
            views += [shifted(xb, shift, dy, dx, fill) for dy, dx in ways]
        views += [v.flip(3) for v in views]
        views = [v.contiguous(memory_format=fmt) for v in views]
        z = sum(sum(model(v) for v in views) / len(views) for model in models) / len(models)
        correct += int((z.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of wall time")
    ap.add_argument("--epochs", type=int, default=0, help="a fixed number of epochs instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--wd", type=float, default=0.05, help="AdamW's weight decay")
    ap.add_argument("--widths", default="24,24,M,48,48,M,96,96,M",
                    help="the plain stack's convolution widths and pools (M)")
    ap.add_argument("--dropout", type=float, default=0.0, help="before the last layer")
    ap.add_argument("--augment", default="hflip",
                    help="hflip[=P][,translate=FRAC][,crop=PAD][,erase[=P]]")
    ap.add_argument("--alternate-flips", action="store_true",
                    help="each image mirrored in every other epoch (cnn's --alternate-flips)")
    ap.add_argument("--tta-shift", type=int, default=0,
                    help="test-time views shifted by this many pixels too (cnn's --tta-shift)")
    ap.add_argument("--tta-diagonal", action="store_true",
                    help="and along the diagonals (cnn's --tta-diagonal)")
    ap.add_argument("--mixup", type=float, default=0.0, help="mixup's Beta parameter (0: off)")
    ap.add_argument("--cutmix", type=float, default=0.0, help="CutMix's Beta parameter (0: off)")
    ap.add_argument("--channels-last", action="store_true",
                    help="the network and its inputs in channels-last layout (NHWC)")
    ap.add_argument("--members", type=int, default=1,
                    help="an ensemble of this many networks (cnn's --ensemble)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    xtr = torch.tensor(idx("train-images-idx3-ubyte"), dtype=torch.float32)[:, None] / 255
    ytr = torch.tensor(idx("train-labels-idx1-ubyte"), dtype=torch.long)
    xte = torch.tensor(idx("t10k-images-idx3-ubyte"), dtype=torch.float32)[:, None] / 255
    yte = torch.tensor(idx("t10k-labels-idx1-ubyte"), dtype=torch.long)
    mean, std = xtr.mean(), xtr.std(unbiased=False)
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    black = float((0 - mean) / std)  # what the test-time shifts fill with
    data = (xtr, ytr, xte, yte, black)
    models, total = [], 0
    for k in range(a.members):
        seed = (a.seed + 1000000 * k) % 2**31
        if a.members > 1:
            print(f"member {k + 1} of {a.members}: seed {seed}", flush=True)
        model, epochs = train_member(a, seed, k, data)
        models.append(model)
        total += epochs
    acc = evaluate(models, xte, yte, a.tta_shift, black, a.tta_diagonal, layout(a))
    what = f"an ensemble of {a.members}, " if a.members > 1 else ""
    print(f"test top-1 {100 * acc:.2f}% ({what}EMA, test-time flips{' and shifts' if a.tta_shift else ''}{' with diagonals' if a.tta_diagonal else ''}), wall {time.monotonic() - START:.0f} s,"
          f" {total} epochs, seed {a.seed}, {a.threads} threads"
          f"{', channels-last' if a.channels_last else ''}")


def layout(a):
    """The memory format of the network and its inputs (--channels-last)."""
    return torch.channels_last if a.channels_last else torch.contiguous_format


def averaged(model):
    """The recipe's average of the weights: decay 0.999 over the parameters and batch norm's
    buffers (cnn's --ema 0.999)."""
    return torch.optim.swa_utils.AveragedModel(
        model, avg_fn=lambda avg, p, n: 0.999 * avg + 0.001 * p, use_buffers=True)


def train_member(a, seed, k, data):
    """Trains member k (of a.members; the only network when 1) from seed; returns its
    averaged weights' model and the epochs it ran."""
    xtr, ytr, xte, yte, black = data
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    mixer = np.random.default_rng(seed)  # mixup and CutMix's draws
    steps = len(xtr) // a.batch

    model = plain_net([w if w == "M" else int(w) for w in a.widths.split(",")], a.dropout)
    model = model.to(memory_format=layout(a))
    hflip, shift, erase = parse_augment(a.augment)
    if a.alternate_flips and hflip != 0.5:
        raise SystemExit(f"torch_recipe.py: --alternate-flips needs hflip=0.5, not {hflip}")
    # Alternate flips: whether each image is mirrored in the even epochs (the odd: the others).
    phase = torch.rand(len(xtr), generator=gen) < 0.5 if a.alternate_flips else None
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd)
    ema = averaged(model)

    def train_step(xb, yb, lr, flip=None):
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr
        xb = augment(xb, gen, hflip, shift, erase, flip).contiguous(memory_format=layout(a))
        if a.mixup > 0 or a.cutmix > 0:  # each sample's two labels, weighted by its shares
            xb, yb2, lam = mix(xb, yb, mixer, a.mixup, a.cutmix)
            out = model(xb)
            loss = (lam * F.cross_entropy(out, yb, label_smoothing=0.1, reduction="none") +
                    (1 - lam) * F.cross_entropy(out, yb2, label_smoothing=0.1,
                                                reduction="none")).mean()
        else:
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update_parameters(model)
        return float(loss)

    epochs, test_time = a.epochs, 0.0
    if not epochs:  # the budget rule: time, undo, fit
        saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()),
                 copy.deepcopy(ema.state_dict()), gen.get_state(), torch.get_rng_state())
        train_step(xtr[:a.batch], ytr[:a.batch], 0.0)
        t0, n = time.monotonic(), 0
        while n < 3 or time.monotonic() - t0 < 0.02 * a.budget:
            i = (n + 1) * a.batch
            train_step(xtr[i:i + a.batch], ytr[i:i + a.batch], 0.0)
            n += 1
        per_step = (time.monotonic() - t0) / n
        t1 = time.monotonic()
        evaluate([ema.module], xte[:1024], yte[:1024], a.tta_shift, black, a.tta_diagonal,
                 layout(a))
        test_time = (time.monotonic() - t1) * len(xte) / 1024 * a.members
        model.load_state_dict(saved[0]), opt.load_state_dict(saved[1])
        ema.load_state_dict(saved[2]), gen.set_state(saved[3]), torch.set_rng_state(saved[4])
        fitted = time.monotonic()
        left = (a.budget - (fitted - START) - test_time) / (a.members - k)
        epochs = int(left // (steps * per_step))
        share = " (this member's share)" if a.members > 1 else ""
        print(f"budget {a.budget:.0f} s: {epochs} epochs{share} of about {steps * per_step:.1f} s "
              f"(measured), {test_time:.1f} s for the test set", flush=True)
        if epochs < 1:
            raise SystemExit("the budget fits no epoch")

    warmup, step, e = steps, 0, 0
    begin = time.monotonic()
    deadline, margin = (fitted + left, 0.01 * left) if not a.epochs else (0, 0)
    while e < epochs:
        perm = torch.randperm(len(xtr), generator=gen)
        t0, losses = time.monotonic(), 0.0
        for b in range(steps):
            i = perm[b * a.batch:(b + 1) * a.batch]
            flip = None if phase is None else phase[i] ^ bool(e % 2)
            losses += train_step(xtr[i], ytr[i], lr_at(step, a.lr, warmup, epochs * steps), flip)
            step += 1
        e += 1
        print(f"epoch {e}/{epochs} loss {losses / steps:.4f} {time.monotonic() - t0:.1f}s",
              flush=True)
        if not a.epochs and e < epochs:  # cnn's refit: cut when behind, grow when ahead
            now = time.monotonic()
            pace, left = (now - begin) / e, deadline - now - margin
            fit = max(0, int(left // pace))
            grow = max(0, math.floor(left / pace - 0.25))
            new = e + fit if e + fit < epochs else max(epochs, e + grow)
            if new != epochs:
                print(f"{'behind' if new < epochs else 'ahead of'} the plan: {new} epochs "
                      f"instead of {epochs}", flush=True)
                epochs = new
    return ema.module, epochs


if __name__ == "__main__":
    main()
