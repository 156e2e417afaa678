#!/usr/bin/python3
"""bench/pytorch/akconv.py — the PyTorch side of bench/bench_akconv.cpp, and a driver that
runs both in one process tree, interleaved, so machine load hits both alike.

    /usr/bin/python3 bench/pytorch/akconv.py [--zoo build/<dir>/bench/bench_akconv]
                                             [--threads 1] [--reps 5] [--min-time 0.5]

Workloads (batch 16, input (16, 64, 40, 40), fresh gradients each step, input gradient on):
  akconv_n5_s2_fwd / _fwdbwd   the official AKConv(64, 128, num_param=5, stride=2): p_conv,
                               p = p_0 + p_n + offset, floor/clamp, four x.gather calls over
                               an index expanded to C channels, rearrange, Conv2d (N,1),
                               BatchNorm2d, SiLU (einops' rearrange written as permute+reshape)
  conv3x3_s2_fwd / _fwdbwd     nn.Sequential(Conv2d(64, 128, 3, 2, 1, bias=False), BN, SiLU)
Each is timed as Google Benchmark does it: warm-up, then `reps` repetitions of a loop lasting
at least min_time; the median per-step wall time and CPU time (process_time) are reported.
With --zoo, every PyTorch workload is followed by zoo's benchmark of the same name and the
same thread count, and the table shows both and the ratio PyTorch / zoo (> 1: zoo faster).
Also importable: register(registry) adds the four workloads to bench/pytorch/torch_bench.py's
REGISTRY-style dict (name -> factory returning a step callable).
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 16


class AKConvRef(nn.Module):
    """The official AKConv, with its arithmetic (not its text): 'ij' grids, clamped p,
    corners from floor(p) clamped, weights g_lt/g_rb/g_lb/g_rt, gathers over H·W."""

    def __init__(self, inc, outc, num_param, stride=1):
        super().__init__()
        self.num_param, self.stride = num_param, stride
        self.conv = nn.Sequential(nn.Conv2d(inc, outc, kernel_size=(num_param, 1),
                                            stride=(num_param, 1), bias=False),
                                  nn.BatchNorm2d(outc), nn.SiLU())
        self.p_conv = nn.Conv2d(inc, 2 * num_param, kernel_size=3, padding=1, stride=stride)
        nn.init.constant_(self.p_conv.weight, 0)

    def _p_n(self, n, dtype):
        base = round(math.sqrt(n))
        rows, mod = n // base, n % base
        r, c = torch.meshgrid(torch.arange(0, rows), torch.arange(0, base), indexing="ij")
        r, c = r.flatten(), c.flatten()
        if mod > 0:
            mr, mc = torch.meshgrid(torch.arange(rows, rows + 1), torch.arange(0, mod),
                                    indexing="ij")
            r, c = torch.cat([r, mr.flatten()]), torch.cat([c, mc.flatten()])
        return torch.cat([r, c], 0).view(1, 2 * n, 1, 1).type(dtype)

    def _p_0(self, h, w, n, dtype):
        r, c = torch.meshgrid(torch.arange(0, h * self.stride, self.stride),
                              torch.arange(0, w * self.stride, self.stride), indexing="ij")
        r = r.flatten().view(1, 1, h, w).repeat(1, n, 1, 1)
        c = c.flatten().view(1, 1, h, w).repeat(1, n, 1, 1)
        return torch.cat([r, c], 1).type(dtype)

    @staticmethod
    def _x_q(x, q, n):
        b, h, w, _ = q.size()
        c, width = x.size(1), x.size(3)
        x = x.contiguous().view(b, c, -1)
        index = q[..., :n] * width + q[..., n:]  # (b, h, w, N) into the flattened H·W
        index = index.contiguous().unsqueeze(1).expand(-1, c, -1, -1, -1).contiguous().view(b, c, -1)
        return x.gather(dim=-1, index=index).contiguous().view(b, c, h, w, n)

    def forward(self, x):
        offset = self.p_conv(x)
        n, h, w = offset.size(1) // 2, offset.size(2), offset.size(3)
        p = self._p_0(h, w, n, offset.dtype) + self._p_n(n, offset.dtype) + offset
        p = p.contiguous().permute(0, 2, 3, 1)
        H, W = x.size(2), x.size(3)
        q_lt = p.detach().floor()
        q_rb = q_lt + 1
        q_lt = torch.cat([q_lt[..., :n].clamp(0, H - 1), q_lt[..., n:].clamp(0, W - 1)], -1).long()
        q_rb = torch.cat([q_rb[..., :n].clamp(0, H - 1), q_rb[..., n:].clamp(0, W - 1)], -1).long()
        q_lb = torch.cat([q_lt[..., :n], q_rb[..., n:]], -1)
        q_rt = torch.cat([q_rb[..., :n], q_lt[..., n:]], -1)
        p = torch.cat([p[..., :n].clamp(0, H - 1), p[..., n:].clamp(0, W - 1)], -1)
        g_lt = (1 + (q_lt[..., :n].type_as(p) - p[..., :n])) * (1 + (q_lt[..., n:].type_as(p) - p[..., n:]))
        g_rb = (1 - (q_rb[..., :n].type_as(p) - p[..., :n])) * (1 - (q_rb[..., n:].type_as(p) - p[..., n:]))
        g_lb = (1 + (q_lb[..., :n].type_as(p) - p[..., :n])) * (1 - (q_lb[..., n:].type_as(p) - p[..., n:]))
        g_rt = (1 - (q_rt[..., :n].type_as(p) - p[..., :n])) * (1 + (q_rt[..., n:].type_as(p) - p[..., n:]))
        x_off = (g_lt.unsqueeze(1) * self._x_q(x, q_lt, n) + g_rb.unsqueeze(1) * self._x_q(x, q_rb, n)
                 + g_lb.unsqueeze(1) * self._x_q(x, q_lb, n) + g_rt.unsqueeze(1) * self._x_q(x, q_rt, n))
        b, c, h, w, n = x_off.size()
        x_off = x_off.permute(0, 1, 2, 4, 3).reshape(b, c, h * n, w)  # 'b c h w n -> b c (h n) w'
        return self.conv(x_off)


class Workload:
    def __init__(self, module):
        torch.manual_seed(0)
        self.m = module
        self.x = torch.rand(BATCH, 64, 40, 40) * 2 - 1
        self.x.requires_grad_(True)
        with torch.no_grad():
            self.dy = torch.rand_like(self.m(self.x)) * 2 - 1

    def fwd(self):
        with torch.no_grad():
            self.m(self.x)

    def fwdbwd(self):
        self.m.zero_grad(set_to_none=True)
        self.x.grad = None
        (self.m(self.x) * self.dy).sum().backward()


def modules():
    return {"akconv_n5_s2": lambda: AKConvRef(64, 128, 5, 2),
            "conv3x3_s2": lambda: nn.Sequential(nn.Conv2d(64, 128, 3, 2, 1, bias=False),
                                                nn.BatchNorm2d(128), nn.SiLU())}


def register(registry):
    for name, make in modules().items():
        registry[name + "_fwd"] = (lambda mk: lambda: Workload(mk()).fwd)(make)
        registry[name + "_fwdbwd"] = (lambda mk: lambda: Workload(mk()).fwdbwd)(make)


def time_step(step, min_time, reps):
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    step()
    one = max(time.perf_counter() - t0, 1e-6)
    k = max(1, math.ceil(min_time / one))
    wall, cpu = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(k):
            step()
        wall.append((time.perf_counter() - w0) / k * 1e3)
        cpu.append((time.process_time() - c0) / k * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def run_zoo(binary, name, threads, min_time, reps):
    out = subprocess.run([binary, f"--benchmark_filter=^{name}/t{threads}/",
                          f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={reps}",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         capture_output=True, text=True, check=True)
    for b in json.loads(out.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"us": 1e-3, "ms": 1.0, "ns": 1e-6}[b["time_unit"]]
            return b["real_time"] * scale, b["cpu_time"] * scale
    raise RuntimeError("no median for " + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", help="path of the bench_akconv program")
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5)
    a = ap.parse_args()
    print(f"# torch {torch.__version__}, batch {BATCH}, input (16, 64, 40, 40); "
          f"times in ms per step, median of {a.reps}")
    print(f"{'name':<22} {'thr':>3} {'torch wall':>10} {'torch cpu':>10} {'zoo wall':>9} "
          f"{'zoo cpu':>8} {'ratio wall':>10} {'ratio cpu':>9}")
    for t in a.threads:
        torch.set_num_threads(t)
        for name, make in modules().items():
            for kind in ("fwd", "fwdbwd"):
                wl = Workload(make())
                tw, tc = time_step(getattr(wl, kind), a.min_time, a.reps)
                row = f"{name + '_' + kind:<22} {t:>3} {tw:>10.2f} {tc:>10.2f}"
                if a.zoo:
                    zw, zc = run_zoo(a.zoo, f"{name}_{kind}", t, a.min_time, a.reps)
                    row += f" {zw:>9.2f} {zc:>8.2f} {tw / zw:>10.2f} {tc / zc:>9.2f}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
