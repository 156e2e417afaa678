#!/usr/bin/python3
"""PyTorch reference for zoo's diffusion model (include/zoo/models/diffusion/).

The ContextUnet of DeepLearning.AI's "How Diffusion Models Work", with zoo's two fixes
(a learned 1x1 shortcut in the residual block when in != out, and to_vec pooling the
whole height/4 map), the linear DDPM schedule, noising, and the DDPM/DDIM samplers.
tests/fixtures/make_diffusion_fixtures.py imports the module from here, and the file
can also train and time the same model:

  /usr/bin/python3 scripts/pytorch/train_diffusion.py --time --threads 2      # step timings
  /usr/bin/python3 scripts/pytorch/train_diffusion.py --epochs 5 --n-feat 64  # train on data/mnist
"""
import argparse
import gzip
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, is_res=False):
        super().__init__()
        self.same_channels = in_channels == out_channels
        self.is_res = is_res
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, 1, 1),
                                   nn.BatchNorm2d(out_channels), nn.GELU())
        self.conv2 = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, 1, 1),
                                   nn.BatchNorm2d(out_channels), nn.GELU())
        if is_res and not self.same_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1)  # learned (the course's is not)

    def forward(self, x):
        x2 = self.conv2(self.conv1(x))
        if not self.is_res:
            return x2
        return ((x if self.same_channels else self.shortcut(x)) + x2) / 1.414


class UnetDown(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.model = nn.Sequential(ResidualConvBlock(in_channels, out_channels),
                                   ResidualConvBlock(out_channels, out_channels), nn.MaxPool2d(2))

    def forward(self, x):
        return self.model(x)


class UnetUp(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 2, 2),
                                   ResidualConvBlock(out_channels, out_channels),
                                   ResidualConvBlock(out_channels, out_channels))

    def forward(self, x, skip):
        return self.model(torch.cat((x, skip), 1))


class EmbedFC(nn.Module):
    def __init__(self, input_dim, emb_dim):
        super().__init__()
        self.input_dim = input_dim
        self.model = nn.Sequential(nn.Linear(input_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, x):
        return self.model(x.view(-1, self.input_dim))


class ContextUnet(nn.Module):
    def __init__(self, in_channels, n_feat=64, n_cfeat=10, height=28):
        super().__init__()
        assert height % 4 == 0
        self.in_channels, self.n_feat, self.n_cfeat, self.h = in_channels, n_feat, n_cfeat, height
        self.init_conv = ResidualConvBlock(in_channels, n_feat, is_res=True)
        self.down1 = UnetDown(n_feat, n_feat)
        self.down2 = UnetDown(n_feat, 2 * n_feat)
        self.to_vec = nn.Sequential(nn.AvgPool2d(height // 4), nn.GELU())
        self.timeembed1 = EmbedFC(1, 2 * n_feat)
        self.timeembed2 = EmbedFC(1, n_feat)
        self.contextembed1 = EmbedFC(n_cfeat, 2 * n_feat)
        self.contextembed2 = EmbedFC(n_cfeat, n_feat)
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * n_feat, 2 * n_feat, height // 4, height // 4),
                                 nn.GroupNorm(8, 2 * n_feat), nn.ReLU())
        self.up1 = UnetUp(4 * n_feat, n_feat)
        self.up2 = UnetUp(2 * n_feat, n_feat)
        self.out = nn.Sequential(nn.Conv2d(2 * n_feat, n_feat, 3, 1, 1), nn.GroupNorm(8, n_feat), nn.ReLU(),
                                 nn.Conv2d(n_feat, in_channels, 3, 1, 1))

    def forward(self, x, t, c=None):
        x = self.init_conv(x)
        down1 = self.down1(x)
        down2 = self.down2(down1)
        hiddenvec = self.to_vec(down2)
        if c is None:
            c = torch.zeros(x.shape[0], self.n_cfeat).to(x)
        cemb1 = self.contextembed1(c).view(-1, self.n_feat * 2, 1, 1)
        temb1 = self.timeembed1(t).view(-1, self.n_feat * 2, 1, 1)
        cemb2 = self.contextembed2(c).view(-1, self.n_feat, 1, 1)
        temb2 = self.timeembed2(t).view(-1, self.n_feat, 1, 1)
        up1 = self.up0(hiddenvec)
        up2 = self.up1(cemb1 * up1 + temb1, down2)
        up3 = self.up2(cemb2 * up2 + temb2, down1)
        return self.out(torch.cat((up3, x), 1))


def schedule(T=500, beta1=1e-4, beta2=0.02, dtype=torch.float64):
    b_t = (beta2 - beta1) * torch.linspace(0, 1, T + 1, dtype=dtype) + beta1
    a_t = 1 - b_t
    ab_t = torch.cumsum(a_t.log(), dim=0).exp()
    ab_t[0] = 1
    return b_t, a_t, ab_t


def add_noise(ab_t, x0, eps, t):
    ab = ab_t[t].view(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def ddpm_step(b_t, a_t, ab_t, x, eps, t, z=None):
    mean = (x - eps * ((1 - a_t[t]) / (1 - ab_t[t]).sqrt())) / a_t[t].sqrt()
    return mean if z is None else mean + b_t[t].sqrt() * z


def ddim_step(ab_t, x, eps, t, t_prev):
    ab, ab_prev = ab_t[t], ab_t[t_prev]
    return ab_prev.sqrt() / ab.sqrt() * (x - (1 - ab).sqrt() * eps) + (1 - ab_prev).sqrt() * eps


def ddim_timesteps(T, n):
    k = max(1, T // n)
    ts = list(range(T, 0, -k))
    return ts + [0]


def load_idx(path):
    op = gzip.open if path.endswith('.gz') else open
    with op(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('>I', data[:4])[0]
    if magic == 2051:
        n, r, c = struct.unpack('>III', data[4:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(n, 1, r, c)
    n = struct.unpack('>I', data[4:8])[0]
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8)[:n].long()


def find(d, stem):
    for p in (os.path.join(d, stem + '.gz'), os.path.join(d, stem)):
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(d, stem))


def train_step(model, opt, x0, c, ab_t, T):
    n = x0.shape[0]
    t = torch.randint(1, T + 1, (n,))
    eps = torch.randn_like(x0)
    xt = add_noise(ab_t.to(x0.dtype), x0, eps, t)
    mask = (torch.rand(n) >= 0.1).to(x0.dtype).unsqueeze(1)
    pred = model(xt, (t.to(x0.dtype) / T).view(-1, 1), c * mask)
    loss = F.mse_loss(pred, eps)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='data/mnist')
    ap.add_argument('--n-feat', type=int, default=64)
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--time', action='store_true', help='time a training step and a sampling step')
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    T = 500
    _, _, ab_t = schedule(T, dtype=torch.float32)
    model = ContextUnet(1, a.n_feat, 10, 28)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    if a.time:
        x0 = torch.rand(a.batch, 1, 28, 28) * 2 - 1
        c = F.one_hot(torch.randint(0, 10, (a.batch,)), 10).float()
        model.train()
        train_step(model, opt, x0, c, ab_t, T)  # warm-up
        ts, tc = [], 0.0
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            train_step(model, opt, x0, c, ab_t, T)
            tc += (time.process_time() - c0) / a.reps
            ts.append(time.perf_counter() - t0)
        model.eval()
        tt = torch.full((a.batch, 1), 0.5)
        with torch.no_grad():
            model(x0, tt, c)
            ss, sc = [], 0.0
            b_t, a_t, _ = schedule(T, dtype=torch.float32)
            x = x0.clone()
            for _ in range(a.reps):
                t0, c0 = time.perf_counter(), time.process_time()
                eps = model(x, tt, c)
                x = ddpm_step(b_t, a_t, ab_t, x, eps, 250, torch.randn_like(x))
                sc += (time.process_time() - c0) / a.reps
                ss.append(time.perf_counter() - t0)
        print(f'pytorch {torch.__version__} threads {torch.get_num_threads()} n_feat {a.n_feat} batch {a.batch}: '
              f'train step median {sorted(ts)[len(ts) // 2] * 1e3:.0f} ms (min {min(ts) * 1e3:.0f}, CPU {tc * 1e3:.0f}), '
              f'sampling step median {sorted(ss)[len(ss) // 2] * 1e3:.0f} ms (min {min(ss) * 1e3:.0f}, CPU {sc * 1e3:.0f})')
        return
    x = load_idx(find(a.data, 'train-images-idx3-ubyte')).float() / 127.5 - 1
    y = load_idx(find(a.data, 'train-labels-idx1-ubyte'))
    steps = 0
    for epoch in range(a.epochs):
        for g in opt.param_groups:
            g['lr'] = a.lr * (1 - epoch / a.epochs)
        perm = torch.randperm(x.shape[0])
        tot, cnt, t0 = 0.0, 0, time.perf_counter()
        for i in range(0, x.shape[0], a.batch):
            idx = perm[i:i + a.batch]
            tot += train_step(model, opt, x[idx], F.one_hot(y[idx], 10).float(), ab_t, T) * len(idx)
            cnt += len(idx)
            steps += 1
        print(f'epoch {epoch + 1}: loss {tot / cnt:.4f} ({time.perf_counter() - t0:.1f} s)')


if __name__ == '__main__':
    main()
