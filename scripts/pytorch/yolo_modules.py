#!/usr/bin/python3
"""YOLOv5n (v7.0 definitions) and its AKConv variant as plain PyTorch modules: the reference
for zoo's yolov5n (issue 19), used by tests/fixtures/make_yolo_fixtures.py and the PyTorch side
of the training comparison. Written for this repository from the v7.0 definitions of
models/common.py and models/yolo.py (ultralytics/yolov5, tag v7.0); needs only torch.

  Conv(c1, c2, k, s, p)      Conv2d(bias=False, padding autopad = k//2) → BatchNorm2d → SiLU
  Bottleneck(c1, c2, sc, e)  cv1 1×1 to int(c2·e), cv2 3×3 to c2; + x when sc and c1 == c2
  C3(c1, c2, n, sc, e)       cv3(cat(m(cv1(x)), cv2(x))), m = n × Bottleneck(c_, c_, sc, 1.0)
  SPPF(c1, c2, k)            x = cv1(x); cv2(cat(x, m(x), m²(x), m³(x))), m = MaxPool2d(k, 1, k//2)
  Concat(d), nn.Upsample(None, 2, 'nearest')
  Detect(nc, anchors, ch)    per level a 1×1 Conv2d (bias) to na·(nc+5);
                             train: [(bs, na, ny, nx, no)]; eval: (cat of decoded, raw list),
                             xy = (2σ − 0.5 + cell)·stride, wh = (2σ)²·anchor (pixels), rest σ
  AKConv(inc, outc, N, s)    the official module (p_conv → p_0 + p_n + offset → bilinear →
                             Conv2d (N,1)/(N,1) → BN → SiLU) with sampling 'reference' (the
                             official arithmetic) or 'default' (zoo's clamp-to-edge bilinear);
                             arithmetic as tests/fixtures/make_akconv_fixtures.py
  Model(cfg, ch, nc)         v7.0 parse_model + DetectionModel.__init__ on a Python dict
  make_yolov5n(nc, akconv_n=None, sampling='default')

As in v7.0, Model.__init__ runs the stride-finding forward (zeros (1, 3, 256, 256), training
mode, PyTorch's BN defaults) BEFORE initialize_weights sets every BatchNorm2d to eps 1e-3,
momentum 0.03 — so a freshly built model's BN buffers have seen one batch (running_var 0.9,
num_batches_tracked 1), exactly as a fresh YOLOv5 model's do.

Counters: count_params(model), count_params_fused(model) (what v7.0 prints after fuse(), the
published 1,867,405 for yolov5n; unfused it is 1,872,157) and gflops(model, size) (2·MACs of
Conv2d/Linear, bias not counted, as thop ×2 reports them in v7.0's model_info; AKConv's
resampling is not counted — thop sees only its two convolutions). `python3 scripts/pytorch/yolo_modules.py` prints the
summaries of both variants.
"""
import math

import torch
import torch.nn as nn

ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]

# yolov5n.yaml (v7.0) as a Python list: [from, number, module, args]
YOLOV5N = {
    "nc": 80, "depth_multiple": 0.33, "width_multiple": 0.25, "anchors": ANCHORS,
    "backbone": [
        [-1, 1, "Conv", [64, 6, 2, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 3, "C3", [128]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 6, "C3", [256]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 9, "C3", [512]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 3, "C3", [1024]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ],
    "head": [
        [-1, 1, "Conv", [512, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],  # cat backbone P4
        [-1, 3, "C3", [512, False]],  # 13
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],  # cat backbone P3
        [-1, 3, "C3", [256, False]],  # 17 (P3/8-small)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 14], 1, "Concat", [1]],  # cat head P4
        [-1, 3, "C3", [512, False]],  # 20 (P4/16-medium)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],  # cat head P5
        [-1, 3, "C3", [1024, False]],  # 23 (P5/32-large)
        [[17, 20, 23], 1, "Detect", ["nc", "anchors"]],  # Detect(P3, P4, P5)
    ],
}
STRIDED_ROWS = (1, 3, 5, 7, 18, 21)  # the stride-2 3×3 Convs the AKConv yaml replaces


def autopad(k, p=None, d=1):
    """'same' padding for odd k (k//2), with dilation folded into the kernel extent."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


def make_divisible(x, divisor):
    return math.ceil(x / divisor) * divisor


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        # registration order cv1, cv2, cv3, m is v7.0's, and so is the state_dict order
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


class Detect(nn.Module):
    stride = None  # set by Model after the stride-finding forward

    def __init__(self, nc=80, anchors=(), ch=(), inplace=True):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.grid = [torch.empty(0) for _ in range(self.nl)]
        self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]
        # pixels here; Model divides by the strides, so the buffer holds grid units
        self.register_buffer("anchors", torch.tensor(anchors).float().view(self.nl, -1, 2))
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.inplace = inplace

    def forward(self, x):
        x = list(x)
        z = []
        for i in range(self.nl):
            x[i] = self.m[i](x[i])
            bs, _, ny, nx = x[i].shape
            x[i] = x[i].view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            if not self.training:
                if self.grid[i].shape[2:4] != x[i].shape[2:4] or self.grid[i].dtype != x[i].dtype:
                    self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
                xy, wh, conf = x[i].sigmoid().split((2, 2, self.nc + 1), 4)
                xy = (xy * 2 + self.grid[i]) * self.stride[i]
                wh = (wh * 2) ** 2 * self.anchor_grid[i]
                z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return x if self.training else (torch.cat(z, 1), x)

    def _make_grid(self, nx, ny, i):
        d, t = self.anchors[i].device, self.anchors[i].dtype
        shape = 1, self.na, ny, nx, 2
        yv, xv = torch.meshgrid(torch.arange(ny, device=d, dtype=t),
                                torch.arange(nx, device=d, dtype=t), indexing="ij")
        grid = torch.stack((xv, yv), 2).expand(shape) - 0.5  # cell − 0.5, so xy = 2σ + grid
        anchor_grid = (self.anchors[i] * self.stride[i]).view((1, self.na, 1, 1, 2)).expand(shape)
        return grid, anchor_grid


# ---- AKConv: the official module's structure; sampling arithmetic as make_akconv_fixtures.py ----
def _p_n(num, dtype, device):
    """Initial sampling shape: round(√N) points per row, 'ij' order, anchored top-left."""
    base = round(math.sqrt(num))
    rows, mod = num // base, num % base
    r, c = torch.meshgrid(torch.arange(0, rows), torch.arange(0, base), indexing="ij")
    r, c = r.flatten(), c.flatten()
    if mod > 0:
        mr, mc = torch.meshgrid(torch.arange(rows, rows + 1), torch.arange(0, mod), indexing="ij")
        r, c = torch.cat([r, mr.flatten()]), torch.cat([c, mc.flatten()])
    return r.to(dtype=dtype, device=device), c.to(dtype=dtype, device=device)


def _gather(x, qr, qc):
    """x (B, C, H, W) at integer corners (B, N, h, w) → (B, C, h, w, N)."""
    b, c = x.shape[:2]
    num, h, w = qr.shape[1:]
    idx = (qr * x.shape[3] + qc).permute(0, 2, 3, 1).reshape(b, 1, -1).expand(-1, c, -1)
    return x.reshape(b, c, -1).gather(-1, idx).view(b, c, h, w, num)


def _resample_reference(x, pr, pc):
    """The official code: taps from the unclamped floor (clamped), weights from the clamped p."""
    hx, wx = x.shape[2], x.shape[3]
    fr, fc = pr.detach().floor(), pc.detach().floor()
    lr, lc = fr.clamp(0, hx - 1).long(), fc.clamp(0, wx - 1).long()
    hr, hc = (fr + 1).clamp(0, hx - 1).long(), (fc + 1).clamp(0, wx - 1).long()
    prc, pcc = pr.clamp(0, hx - 1), pc.clamp(0, wx - 1)
    t = prc.dtype
    g_lt = (1 + (lr.to(t) - prc)) * (1 + (lc.to(t) - pcc))
    g_rb = (1 - (hr.to(t) - prc)) * (1 - (hc.to(t) - pcc))
    g_lb = (1 + (lr.to(t) - prc)) * (1 - (hc.to(t) - pcc))
    g_rt = (1 - (hr.to(t) - prc)) * (1 + (lc.to(t) - pcc))
    e = lambda g: g.permute(0, 2, 3, 1).unsqueeze(1)  # (B, 1, h, w, N)
    return (e(g_lt) * _gather(x, lr, lc) + e(g_rb) * _gather(x, hr, hc) +
            e(g_lb) * _gather(x, lr, hc) + e(g_rt) * _gather(x, hr, lc))


def _axis_default(p, m):
    """clamp-to-edge linear taps along one axis of extent m (weights sum to 1)."""
    pc = p.clamp(0, m - 1)
    if m == 1:
        z = torch.zeros_like(p, dtype=torch.long)
        return z, z, torch.ones_like(pc), torch.zeros_like(pc)
    lo = pc.detach().floor().clamp(max=m - 2)
    w1 = pc - lo
    return lo.long(), lo.long() + 1, 1 - w1, w1


def _resample_default(x, pr, pc):
    r0, r1, wr0, wr1 = _axis_default(pr, x.shape[2])
    c0, c1, wc0, wc1 = _axis_default(pc, x.shape[3])
    e = lambda g: g.permute(0, 2, 3, 1).unsqueeze(1)
    return (e(wr0 * wc0) * _gather(x, r0, c0) + e(wr0 * wc1) * _gather(x, r0, c1) +
            e(wr1 * wc0) * _gather(x, r1, c0) + e(wr1 * wc1) * _gather(x, r1, c1))


class AKConv(nn.Module):
    def __init__(self, inc, outc, num_param, stride=1, bias=None, sampling="default"):
        super().__init__()
        if sampling not in ("default", "reference"):
            raise ValueError("AKConv sampling must be 'default' or 'reference', got %r" % (sampling,))
        self.num_param = num_param
        self.stride = stride
        self.sampling = sampling
        # conv before p_conv: the official registration (and state_dict) order
        self.conv = nn.Sequential(
            nn.Conv2d(inc, outc, kernel_size=(num_param, 1), stride=(num_param, 1), bias=bias),
            nn.BatchNorm2d(outc), nn.SiLU())
        self.p_conv = nn.Conv2d(inc, 2 * num_param, kernel_size=3, padding=1, stride=stride)
        nn.init.constant_(self.p_conv.weight, 0)
        # The official module also registers a full backward hook on p_conv meant to scale its
        # gradients by 0.1; the hook builds generators and returns None, so it changes nothing
        # and is left out.

    def offsets(self, x):
        return self.p_conv(x)

    def forward(self, x):
        offset = self.p_conv(x)
        num = self.num_param
        b, _, h, w = offset.shape
        pr_n, pc_n = _p_n(num, offset.dtype, offset.device)
        r0, c0 = torch.meshgrid(torch.arange(0, h * self.stride, self.stride, device=x.device),
                                torch.arange(0, w * self.stride, self.stride, device=x.device),
                                indexing="ij")
        pr = (r0.to(offset.dtype).view(1, 1, h, w) + pr_n.view(1, num, 1, 1)) + offset[:, :num]
        pc = (c0.to(offset.dtype).view(1, 1, h, w) + pc_n.view(1, num, 1, 1)) + offset[:, num:]
        resample = _resample_reference if self.sampling == "reference" else _resample_default
        xo = resample(x, pr, pc)  # (B, C, h, w, N)
        bb, c, hh, ww, n = xo.shape
        xo = xo.permute(0, 1, 2, 4, 3).reshape(bb, c, hh * n, ww)  # 'b c h w n -> b c (h n) w'
        return self.conv(xo)


# ---- the model ----
_MODULES = {"Conv": Conv, "C3": C3, "SPPF": SPPF, "Concat": Concat, "Detect": Detect,
            "AKConv": AKConv, "nn.Upsample": nn.Upsample, "Bottleneck": Bottleneck}


def parse_model(d, ch, sampling="default"):
    """v7.0 parse_model for the modules above. Returns (nn.Sequential, save list, rows)
    where rows = [(i, from, n, module name, args as built, params)]."""
    anchors, nc, gd, gw = d["anchors"], d["nc"], d["depth_multiple"], d["width_multiple"]
    na = len(anchors[0]) // 2
    no = na * (nc + 5)
    layers, save, rows, c2 = [], [], [], ch[-1]
    for i, (f, n, name, args) in enumerate(d["backbone"] + d["head"]):
        m = _MODULES[name]
        args = [d[a] if isinstance(a, str) and a in ("nc", "anchors") else a for a in args]
        n = n_ = max(round(n * gd), 1) if n > 1 else n
        if m in (Conv, C3, SPPF, AKConv, Bottleneck):
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if m is C3:
                args.insert(2, n)
                n = 1
        elif m is Concat:
            c2 = sum(ch[x] for x in f)
        elif m is Detect:
            args.append([ch[x] for x in f])
        else:
            c2 = ch[f]
        kw = {"sampling": sampling} if m is AKConv else {}
        m_ = nn.Sequential(*(m(*args, **kw) for _ in range(n))) if n > 1 else m(*args, **kw)
        m_.i, m_.f = i, f
        np_ = sum(x.numel() for x in m_.parameters())
        shown = args if m is not Detect else [args[0], "anchors", args[2]]
        rows.append((i, f, n_, name, shown, np_))
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(m_)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(save), rows


def initialize_weights(model):
    """v7.0 utils/torch_utils.initialize_weights: PyTorch's default init is kept; every
    BatchNorm2d gets eps 1e-3 and momentum 0.03."""
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.eps = 1e-3
            m.momentum = 0.03


class Model(nn.Module):
    def __init__(self, cfg, ch=3, nc=None, sampling="default"):
        super().__init__()
        import copy
        self.yaml = copy.deepcopy(cfg)
        if nc is not None:
            self.yaml["nc"] = nc
        self.model, self.save, self.rows = parse_model(self.yaml, [ch], sampling)
        m = self.model[-1]
        s = 256  # 2× the largest stride
        with torch.no_grad():  # v7.0 runs it with grad on; no parameter changes either way
            outs = self.forward(torch.zeros(1, ch, s, s))
        m.stride = torch.tensor([s / x.shape[-2] for x in outs])
        m.anchors /= m.stride.view(-1, 1, 1)  # check_anchor_order: already ascending here
        self.stride = m.stride
        self._initialize_biases()
        initialize_weights(self)

    def forward(self, x):
        y = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x

    def _initialize_biases(self):
        m = self.model[-1]
        for mi, s in zip(m.m, m.stride):
            b = mi.bias.view(m.na, -1)
            b.data[:, 4] += math.log(8 / (640 / s) ** 2)  # obj: 8 objects per 640² image
            b.data[:, 5:5 + m.nc] += math.log(0.6 / (m.nc - 0.99999))  # cls
            mi.bias = nn.Parameter(b.view(-1), requires_grad=True)


def yolov5n_cfg(nc=80, akconv_n=None):
    """The yolov5n dict; with akconv_n = N every stride-2 3×3 Conv row becomes
    [from, 1, AKConv, [c2, N, 2]] (the official AKConv yaml: c2 is width-scaled by
    parse_model like Conv's, N and the stride are not)."""
    import copy
    d = copy.deepcopy(YOLOV5N)
    d["nc"] = nc
    if akconv_n is not None:
        layers = d["backbone"] + d["head"]
        for i in STRIDED_ROWS:
            f, n, name, args = layers[i]
            assert name == "Conv" and args[1:] == [3, 2], (i, layers[i])
            layers[i][2], layers[i][3] = "AKConv", [args[0], akconv_n, 2]
    return d


def make_yolov5n(nc=80, akconv_n=None, sampling="default"):
    return Model(yolov5n_cfg(nc, akconv_n), ch=3, nc=nc, sampling=sampling)


# ---- counters ----
def count_params(model):
    return sum(p.numel() for p in model.parameters())


def count_params_fused(model):
    """The count v7.0 prints after model.fuse() (its published summaries): fuse() folds the BN
    of every Conv module into its conv (−2 per channel, +1 conv bias per channel); AKConv's
    internal BatchNorm is not a Conv's and stays."""
    return count_params(model) - sum(m.bn.num_features for m in model.modules() if isinstance(m, Conv))


def gflops(model, size=640, ch=3):
    """2·MACs (bias not counted) of every Conv2d and Linear for one (1, ch, size, size) image,
    in GFLOPs. Runs in eval mode; the model's mode is restored."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            macs[0] += out.numel() // out.shape[0] * k
        else:
            macs[0] += out.numel() // out.shape[0] * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    p = next(model.parameters())
    with torch.no_grad():
        model(torch.zeros(1, ch, *size, dtype=p.dtype, device=p.device))
    model.train(was)
    for h in hs:
        h.remove()
    return 2 * macs[0] / 1e9


def print_summary(model, label, sizes=(640,)):
    print("%s" % label)
    print("%3s %18s %3s %10s  %-10s %s" % ("", "from", "n", "params", "module", "arguments"))
    for i, f, n, name, args, np_ in model.rows:
        print("%3d %18s %3d %10d  %-10s %s" % (i, f, n, np_, name, args))
    p = count_params(model)
    print("params %d (fused %d), " % (p, count_params_fused(model)) +
          ", ".join("%.3f GFLOPs at %d" % (gflops(model, s), s) for s in sizes))


if __name__ == "__main__":
    torch.manual_seed(0)
    for nc, size in ((80, 640), (10, 128)):
        for n in (None, 3, 5, 9):
            print_summary(make_yolov5n(nc, n), "yolov5n nc=%d %s" % (nc, "conv" if n is None else "AKConv N=%d" % n),
                          (size,))
            print()
