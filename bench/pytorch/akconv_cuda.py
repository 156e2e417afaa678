#!/usr/bin/env python3
"""bench/pytorch/akconv_cuda.py — PyTorch eager CUDA timings next to tests/cuda/akconv_cuda.cu
(scripts/gpu_check.sh runs both): the official AKConv(64, 128, num_param=5, stride=2) and the
plain Conv(64, 128, 3, 2) block on (16, 64, 40, 40), forward + backward with input gradient,
median ms per step over 5 repetitions of 50 steps after warm-up (CUDA-synchronized)."""
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from akconv import AKConvRef  # noqa: E402


class AKConvOnDevice(AKConvRef):
    """The reference builds its sampling grids with torch.arange on the CPU (the official
    code passes a CUDA tensor type as `dtype`); here they follow the module's device."""

    def _p_0(self, h, w, n, dtype):
        return super()._p_0(h, w, n, dtype).to(self.p_conv.weight.device)

    def _p_n(self, n, dtype):
        return super()._p_n(n, dtype).to(self.p_conv.weight.device)


def time_step(module, x, reps=5, steps=50):
    def step():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).sum().backward()
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        out.append((time.perf_counter() - t) / steps * 1e3)
    return statistics.median(out)


def main():
    if not torch.cuda.is_available():
        print("akconv_cuda.py: no CUDA device for PyTorch; nothing run")
        return 0
    dev = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.randn(16, 64, 40, 40, device=dev, requires_grad=True)
    ak = AKConvOnDevice(64, 128, 5, 2).to(dev)
    conv = nn.Sequential(nn.Conv2d(64, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128),
                         nn.SiLU()).to(dev)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    print(f"pytorch akconv_n5_s2 fwd+bwd (p_conv, gather, conv, BN, SiLU): {time_step(ak, x):.3f} ms")
    print(f"pytorch conv3x3_s2 fwd+bwd (Conv2d, BN, SiLU):                 {time_step(conv, x):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
