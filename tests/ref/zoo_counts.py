#!/usr/bin/python3
"""zoo_counts.py - reference parameter counts and multiply-adds for the model zoo (src/models/).

Run by hand from the repository root with Debian's Python, which has PyTorch and torchvision:

    /usr/bin/python3 tests/ref/zoo_counts.py

It prints one C initialiser per model, ready to paste into the table of tests/test_zoo.c:

    {"name", C, H, W, classes, parameters, multiply-adds},

- The torchvision models (alexnet, vgg*, googlenet, resnet*, resnext50_32x4d, densenet*) are
  torchvision's own, at 1000 classes, with their parameters summed as
  sum(p.numel() for p in m.parameters()).
- The models torchvision does not have (lenet5, zfnet, resnet20, resnet18_cifar, vgg_small,
  fashion_fast, fashion_wide, unet, small_unet, segnet, googlenet_aux's auxiliary heads as
  libcnn builds them) are written below as plain PyTorch modules with the same layers as
  src/models/zoo.c, so that the two descriptions check each other.

Multiply-adds are counted with forward hooks on Conv2d, ConvTranspose2d and Linear for one
sample of the given shape (conv: out.numel() * in_channels / groups * kH * kW; transposed conv:
in.numel() * out_channels / groups * kH * kW; linear: in * out), as libcnn's
cnn_net_layer_macs counts those layers. Pooling, normalisation and activations are not counted.
"""
import torch
import torch.nn as nn
import torchvision.models as tvm


def count_macs(model, shape, train=False):
    """Multiply-adds of conv, transposed conv and linear layers for one sample of shape."""
    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += out.numel() * (m.in_channels // m.groups) * k

    def convt_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += inp[0].numel() * (m.out_channels // m.groups) * k

    def linear_hook(m, inp, out):
        total[0] += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(convt_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    model.train(train)
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# The models torchvision does not have, layer for layer as src/models/zoo.c builds them
# --------------------------------------------------------------------------------------------


def lenet5(c, h, w, classes):
    pad = 2 if min(h, w) < 32 else 0
    size = lambda n: ((n + 2 * pad - 4) // 2 - 4) // 2
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * size(h) * size(w), 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))


def zfnet(c, h, w, classes):
    """Zeiler & Fergus 2013, fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6."""
    return nn.Sequential(
        nn.Conv2d(c, 96, 7, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, classes))


def conv_bn(cin, cout, k=3, stride=1, padding=1, bias=False):
    return [nn.Conv2d(cin, cout, k, stride, padding, bias=bias), nn.BatchNorm2d(cout)]


class Basic(nn.Module):
    """The basic block of ResNet-18/34 and of the CIFAR ResNets (with option B shortcuts)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU(),
                                  *conv_bn(cout, cout))
        self.down = (nn.Sequential(*conv_bn(cin, cout, 1, stride, 0))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.down(x))


def cifar_resnet(c, classes, stem, widths, blocks):
    layers = [*conv_bn(c, stem), nn.ReLU()]
    cin = stem
    for i, (wd, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            layers.append(Basic(cin, wd, 2 if b == 0 and i > 0 else 1))
            cin = wd
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def resnet20(c, h, w, classes):
    return cifar_resnet(c, classes, 16, [16, 32, 64], [3, 3, 3])


def resnet18_cifar(c, h, w, classes):
    return cifar_resnet(c, classes, 64, [64, 128, 256, 512], [2, 2, 2, 2])


def vgg_small(c, h, w, classes, widths=(32, 32, "M", 64, 64, "M", 128, 128, "M"), dropout=True):
    layers, cin = [], c
    for v in widths:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [*conv_bn(cin, v), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * (h // 8) * (w // 8), 256),
                         nn.ReLU(), *([nn.Dropout()] if dropout else []),
                         nn.Linear(256, classes))


def fashion_fast(c, h, w, classes):
    return vgg_small(c, h, w, classes, (24, 24, "M", 48, 48, "M", 96, 96, "M"), dropout=False)


def fashion_wide(c, h, w, classes):
    return vgg_small(c, h, w, classes, (40, 40, "M", 80, 80, "M", 160, 160, "M"), dropout=False)


class UNet(nn.Module):
    """widths[i] channels at level i, the last one the bottom; 'same' 3x3 convolutions, 2x2
    max pools, 2x2 stride-2 transposed convolutions up, skip concatenation, a 1x1 head."""

    def __init__(self, c, classes, widths, bn, dropout):
        super().__init__()

        def double(cin, cout):
            if bn:
                return nn.Sequential(*conv_bn(cin, cout), nn.ReLU(), *conv_bn(cout, cout),
                                     nn.ReLU())
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())

        self.down = nn.ModuleList()
        cin = c
        for wd in widths:
            self.down.append(double(cin, wd))
            cin = wd
        self.drop = nn.Dropout(0.5) if dropout else nn.Identity()
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for wd in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(cin, wd, 2, stride=2))
            self.dec.append(double(2 * wd, wd))
            cin = wd
        self.head = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        skips = []
        for i, d in enumerate(self.down):
            if i:
                x = nn.functional.max_pool2d(x, 2)
            x = d(x)
            skips.append(x)
        x = self.drop(x)
        for up, dec, skip in zip(self.ups, self.dec, reversed(skips[:-1])):
            x = dec(torch.cat([skip, up(x)], 1))
        return self.head(x)


def unet(c, h, w, classes):
    return UNet(c, classes, [64, 128, 256, 512, 1024], bn=False, dropout=True)


def small_unet(c, h, w, classes):
    return UNet(c, classes, [16, 32, 64], bn=True, dropout=False)


class SegNet(nn.Module):
    """VGG16-bn encoder (3x3 conv with bias, BN, ReLU; 2x2 max pools keeping their indices),
    mirrored decoder (unpool with those indices, conv-BN-ReLU), a 3x3 conv to the classes."""

    ENC = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]

    def __init__(self, c, classes):
        super().__init__()
        self.enc = nn.ModuleList()
        cin = c
        for block in self.ENC:
            layers = []
            for v in block:
                layers += [*conv_bn(cin, v, bias=True), nn.ReLU()]
                cin = v
            self.enc.append(nn.Sequential(*layers))
        self.dec = nn.ModuleList()
        for i, block in enumerate(reversed(self.ENC)):
            # Each decoder block ends at the channels of the encoder block above it; the first
            # block's last convolution is the head.
            last = len(self.ENC) - 1
            outs = block[:-1] + ([self.ENC[last - 1 - i][-1]] if i < last else [])
            layers = []
            for v in outs:
                layers += [*conv_bn(cin, v, bias=True), nn.ReLU()]
                cin = v
            self.dec.append(nn.Sequential(*layers))
        self.head = nn.Conv2d(cin, classes, 3, padding=1)

    def forward(self, x):
        pools = []
        for e in self.enc:
            x = e(x)
            size = x.shape[-2:]
            x, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
            pools.append((idx, size))
        for d, (idx, size) in zip(self.dec, reversed(pools)):
            x = d(nn.functional.max_unpool2d(x, idx, 2, output_size=size))
        return self.head(x)


def segnet(c, h, w, classes):
    return SegNet(c, classes)


# --------------------------------------------------------------------------------------------


def tv(fn, **kw):
    return lambda c, h, w, classes: fn(num_classes=classes, **kw)


# name, builder, C, H, W, classes, count multiply-adds in training mode (aux heads run)
MODELS = [
    ("lenet5", lenet5, 1, 28, 28, 10),
    ("lenet5", lenet5, 3, 32, 32, 10),
    ("alexnet", tv(tvm.alexnet), 3, 224, 224, 1000),
    ("zfnet", zfnet, 3, 224, 224, 1000),
]
for _d in [11, 13, 16, 19]:
    MODELS.append(("vgg%d" % _d, tv(getattr(tvm, "vgg%d" % _d)), 3, 224, 224, 1000))
for _d in [11, 13, 16, 19]:
    MODELS.append(("vgg%d_bn" % _d, tv(getattr(tvm, "vgg%d_bn" % _d)), 3, 224, 224, 1000))
MODELS += [
    ("googlenet", tv(tvm.googlenet, aux_logits=False, init_weights=False), 3, 224, 224, 1000),
    ("googlenet_aux", tv(tvm.googlenet, aux_logits=True, init_weights=False), 3, 224, 224,
     1000),
]
for _d in [18, 34, 50, 101, 152]:
    MODELS.append(("resnet%d" % _d, tv(getattr(tvm, "resnet%d" % _d)), 3, 224, 224, 1000))
MODELS += [
    ("resnext50_32x4d", tv(tvm.resnext50_32x4d), 3, 224, 224, 1000),
    ("densenet121", tv(tvm.densenet121), 3, 224, 224, 1000),
    ("densenet169", tv(tvm.densenet169), 3, 224, 224, 1000),
    ("densenet201", tv(tvm.densenet201), 3, 224, 224, 1000),
    ("unet", unet, 1, 64, 64, 2),
    ("segnet", segnet, 3, 64, 64, 12),
    ("resnet20", resnet20, 3, 32, 32, 10),
    ("resnet18_cifar", resnet18_cifar, 3, 32, 32, 10),
    ("vgg_small", vgg_small, 1, 28, 28, 10),
    ("vgg_small", vgg_small, 3, 32, 32, 10),
    ("fashion_fast", fashion_fast, 1, 28, 28, 10),
    ("fashion_wide", fashion_wide, 1, 28, 28, 10),
    ("small_unet", small_unet, 1, 28, 28, 2),
]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    print("/* torch %s; generated by tests/ref/zoo_counts.py */" % torch.__version__)
    for name, build, c, h, w, classes in MODELS:
        m = build(c, h, w, classes)
        # googlenet_aux: the auxiliary heads run only in training mode; count them there.
        macs = count_macs(m, (c, h, w), train=(name == "googlenet_aux"))
        print('    {"%s", %d, %d, %d, %d, %dull, %dull},'
              % (name, c, h, w, classes, count_params(m), macs))


if __name__ == "__main__":
    main()
