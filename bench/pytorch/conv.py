"""bench/pytorch/conv.py — the PyTorch side of bench/bench_conv.cpp (same names, same work).

Imported by bench/pytorch/torch_bench.py, which calls register(REGISTRY): every name maps to
a factory that builds the workload once and returns a callable doing one step.

Layers (x and the upstream gradient uniform in [-1, 1]; x.requires_grad, so backward also
computes the input gradient, as inside a network; gradients set to None every step):
  <name>_fwd      forward under torch.no_grad()
  <name>_fwdbwd   forward, then backward of (y * dy).sum()
for the conv autoencoder's five layers and DCGAN's four (batch 128) and Conv2d(64,64,3,1,1)
on 28x28 at batch 32. Steps:
  conv_ae_train   the seed ConvAutoencoder, F.mse_loss (mean), Adam(1e-3, weight_decay 1e-5)
  ddpm_train      ContextUnet(1, n_feat 64, 10, 28), batch 100: the training step of
                  scripts/pytorch/train_diffusion.py (t, eps, noising, 10% context drop, MSE,
                  backward, Adam 1e-3)
  ddpm_sample     one eval-mode network call under inference_mode + the DDPM update at t = 250
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(_ROOT, "scripts", "pytorch"))
import train_diffusion as diffusion  # noqa: E402  (the ContextUnet twin of zoo's model)

# name -> (module factory, input shape (C, H, W), batch)
LAYERS = {
    "conv2d_1to16_k3s3p1_28": (lambda: nn.Conv2d(1, 16, 3, 3, 1), (1, 28, 28), 128),
    "conv2d_16to8_k3s2p1_5": (lambda: nn.Conv2d(16, 8, 3, 2, 1), (16, 5, 5), 128),
    "convt_8to16_k3s2_2": (lambda: nn.ConvTranspose2d(8, 16, 3, 2), (8, 2, 2), 128),
    "convt_16to8_k5s3p1_5": (lambda: nn.ConvTranspose2d(16, 8, 5, 3, 1), (16, 5, 5), 128),
    "convt_8to1_k2s2p1_15": (lambda: nn.ConvTranspose2d(8, 1, 2, 2, 1), (8, 15, 15), 128),
    "conv2d_1to32_k5_28": (lambda: nn.Conv2d(1, 32, 5), (1, 28, 28), 128),
    "conv2d_32to64_k5_12": (lambda: nn.Conv2d(32, 64, 5), (32, 12, 12), 128),
    "convt_128to64_k4s2p1_7": (lambda: nn.ConvTranspose2d(128, 64, 4, 2, 1), (128, 7, 7), 128),
    "convt_64to1_k4s2p1_14": (lambda: nn.ConvTranspose2d(64, 1, 4, 2, 1), (64, 14, 14), 128),
    "conv2d_64to64_k3p1_28": (lambda: nn.Conv2d(64, 64, 3, 1, 1), (64, 28, 28), 32),
}


class Layer:
    def __init__(self, make, shape, batch):
        torch.manual_seed(0)
        self.m = make()
        self.x = (torch.rand(batch, *shape) * 2 - 1).requires_grad_(True)
        with torch.no_grad():
            self.dy = torch.rand_like(self.m(self.x)) * 2 - 1

    def fwd(self):
        with torch.no_grad():
            self.m(self.x)

    def fwdbwd(self):
        self.m.zero_grad(set_to_none=True)
        self.x.grad = None
        self.m(self.x).backward(self.dy)


class ConvAutoencoder(nn.Module):
    """The seed's conv autoencoder (scripts/pytorch/train_autoencoders.py has the same)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, stride=3, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2, stride=2),
                                     nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2, stride=1))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 16, 3, stride=2), nn.ReLU(),
                                     nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1), nn.Tanh())

    def forward(self, x):
        return self.decoder(self.encoder(x))


def conv_ae_train():
    torch.manual_seed(0)
    m = ConvAutoencoder()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-5, foreach=False)
    x = torch.rand(128, 1, 28, 28) * 2 - 1

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(m(x), x)
        loss.backward()
        opt.step()
    return step


class Ddpm:
    T, BATCH, NFEAT = 500, 100, 64

    def __init__(self):
        torch.manual_seed(0)
        self.m = diffusion.ContextUnet(1, self.NFEAT, 10, 28)
        self.b_t, self.a_t, self.ab_t = diffusion.schedule(self.T, dtype=torch.float32)
        self.x0 = torch.rand(self.BATCH, 1, 28, 28) * 2 - 1
        self.c = F.one_hot(torch.arange(self.BATCH) % 10, 10).float()

    def train(self):
        self.m.train()
        opt = torch.optim.Adam(self.m.parameters(), lr=1e-3, foreach=False)
        return lambda: diffusion.train_step(self.m, opt, self.x0, self.c, self.ab_t, self.T)

    def sample(self):
        self.m.eval()
        tt = torch.full((self.BATCH, 1), 250 / self.T)
        state = {"x": self.x0.clone()}

        def step():
            with torch.inference_mode():
                x = state["x"]
                eps = self.m(x, tt, self.c)
                state["x"] = diffusion.ddpm_step(self.b_t, self.a_t, self.ab_t, x, eps, 250,
                                                 torch.randn_like(x))
        return step


def register(registry):
    for name, (make, shape, batch) in LAYERS.items():
        registry[name + "_fwd"] = (lambda mk, sh, b: lambda: Layer(mk, sh, b).fwd)(make, shape, batch)
        registry[name + "_fwdbwd"] = (lambda mk, sh, b: lambda: Layer(mk, sh, b).fwdbwd)(make, shape, batch)
    registry["conv_ae_train"] = conv_ae_train
    registry["ddpm_train"] = lambda: Ddpm().train()
    registry["ddpm_sample"] = lambda: Ddpm().sample()
