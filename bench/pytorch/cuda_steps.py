"""bench/pytorch/cuda_steps.py — PyTorch eager CUDA side of bench/cuda/train_steps.cu: the same
training steps on the same GPU, timed the same way (warm-up, then steps between two
synchronizations). The models are the twins the CPU benchmarks use (torch_bench.AE,
scripts/pytorch/train_gans.py's DCGAN), moved to the device; fp32 with TF32 off, as zoo's
cuBLAS calls (default math mode)."""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "pytorch"))
import train_diffusion as diffusion  # noqa: E402
import train_gans as tg  # noqa: E402

dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True


def ms_per_step(step, warm, iters):
    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / iters


def mlp_ae(iters):
    enc = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                        nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 3))
    dec = nn.Sequential(nn.Linear(3, 12), nn.ReLU(), nn.Linear(12, 64), nn.ReLU(),
                        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784), nn.Tanh())
    m = nn.Sequential(enc, dec).to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x = torch.rand(128, 784, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        F.mse_loss(m(x), x).backward()
        opt.step()
    return ms_per_step(step, 5, iters)


def dcgan(iters):
    G, D = tg.dc_generator().to(dev), tg.dc_discriminator().to(dev)
    adam = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_d, opt_g = torch.optim.Adam(D.parameters(), **adam), torch.optim.Adam(G.parameters(), **adam)
    real = torch.rand(128, 1, 28, 28, device=dev) * 2 - 1
    ones, zeros = torch.ones(128, 1, device=dev), torch.zeros(128, 1, device=dev)

    def step():
        z = (torch.rand(128, 96) * 2 - 1).to(dev)  # drawn on the host, as zoo's bench
        with torch.no_grad():
            fake = G(z)
        opt_d.zero_grad(set_to_none=True)
        (F.binary_cross_entropy_with_logits(D(real), ones) +
         F.binary_cross_entropy_with_logits(D(fake), zeros)).backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        z = (torch.rand(128, 96) * 2 - 1).to(dev)
        opt_g.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(D(G(z)), ones).backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)
    return ms_per_step(step, 3, iters)


def ddpm(iters):
    m = diffusion.ContextUnet(1, 64, 10, 28).to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    xt = torch.rand(100, 1, 28, 28, device=dev) * 2 - 1
    eps = torch.rand(100, 1, 28, 28, device=dev) * 2 - 1
    t = torch.rand(100, 1, device=dev)
    c = F.one_hot(torch.arange(100, device=dev) % 10, 10).float()

    def step():
        opt.zero_grad(set_to_none=True)
        F.mse_loss(m(xt, t, c), eps).backward()
        opt.step()
    return ms_per_step(step, 2, iters)


def conv3x3(iters):
    conv = nn.Conv2d(64, 64, 3, padding=1).to(dev)
    x = torch.rand(100, 64, 28, 28, device=dev, requires_grad=True)
    dy = torch.rand(100, 64, 28, 28, device=dev)

    def step():
        conv.zero_grad(set_to_none=True)
        x.grad = None
        conv(x).backward(dy)
    return ms_per_step(step, 3, iters)


def main():
    if not torch.cuda.is_available():
        print("cuda_steps: not run: torch.cuda.is_available() is False")
        return
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(f"PyTorch {torch.__version__} eager on {torch.cuda.get_device_name()}, {iters} steps each")
    for name, f in (("mlp_ae_train", mlp_ae), ("dcgan_train", dcgan), ("ddpm_train", ddpm),
                    ("conv3x3_64", conv3x3)):
        print(f"{name:14s} {f(iters):10.3f} ms/step")


if __name__ == "__main__":
    main()
