"""bench/pytorch/gan.py — PyTorch side of bench/bench_gan.cpp: one DCGAN / conditional
DCGAN training iteration (D step, then G step through D), batch 128, written as a careful
user would (no graph through G in the D step, D's requires_grad off in the G step,
zero_grad(set_to_none=True), Adam foreach=False). Models as scripts/pytorch/train_gans.py."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "pytorch"))
import train_gans as tg  # noqa: E402

BATCH = 128


class DCGAN:
    def __init__(self, cond):
        self.cond = cond
        self.G = tg.CondGenerator() if cond else tg.dc_generator()
        self.D = tg.CondDiscriminator() if cond else tg.dc_discriminator()
        adam = dict(lr=3e-4, betas=(0.5, 0.999), foreach=False)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **adam)
        self.opt_g = torch.optim.Adam(self.G.parameters(), **adam)
        self.real = torch.rand(BATCH, 1, 28, 28) * 2 - 1
        self.y = F.one_hot(torch.arange(BATCH) % 10, 10).float()
        self.ones, self.zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
        for _ in range(3):
            self.train()

    def g(self, z, y):
        return self.G(z, y) if self.cond else self.G(z)

    def d(self, x, y):
        return self.D(x, y) if self.cond else self.D(x)

    def draw(self):
        return torch.rand(BATCH, 96) * 2 - 1, F.one_hot(torch.randint(0, 10, (BATCH,)), 10).float()

    def train(self):
        z, yf = self.draw()
        with torch.no_grad():
            fake = self.g(z, yf)
        self.opt_d.zero_grad(set_to_none=True)
        loss = (F.binary_cross_entropy_with_logits(self.d(self.real, self.y), self.ones) +
                F.binary_cross_entropy_with_logits(self.d(fake, yf), self.zeros))
        loss.backward()
        self.opt_d.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        z, yf = self.draw()
        self.opt_g.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(self.d(self.g(z, yf), yf), self.ones)
        loss.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)


def register(registry):
    registry["dcgan_train"] = lambda: DCGAN(False).train
    registry["cdcgan_train"] = lambda: DCGAN(True).train
