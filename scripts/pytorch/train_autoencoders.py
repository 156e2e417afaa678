#!/usr/bin/python3
"""PyTorch reference runs of zoo's four seed autoencoders (issue: quality parity).

Trains the same architectures with the same hyperparameters and the same data-order
policy as `examples/autoencoders` (reshuffle each epoch, seeded; full batches plus the
last partial one) and prints the test loss per image after each epoch, so
docs/results.md can put both side by side.

  /usr/bin/python3 scripts/pytorch/train_autoencoders.py --model vae_bce --epochs 5 \
      --data /usr/share/datasets/fashion-mnist --threads 2
"""
import argparse, gzip, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class MlpAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 12), nn.ReLU(), nn.Linear(12, 64), nn.ReLU(),
                                     nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784), nn.Tanh())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, stride=3, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2, stride=2), nn.Conv2d(16, 8, 3, stride=2, padding=1),
                                     nn.ReLU(), nn.MaxPool2d(2, stride=1))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 16, 3, stride=2), nn.ReLU(),
                                     nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1), nn.Tanh())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VaeMse(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return torch.tanh(self.fc4(F.relu(self.fc3(z)))), mu, logvar


class VaeBce(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.fc_mu = nn.Linear(256, 20)
        self.fc_logvar = nn.Linear(256, 20)
        self.decoder = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


# name: (module, input range, flat?, batch, lr, weight decay)
MODELS = {
    "mlp_ae": (MlpAutoencoder, "pm1", True, 128, 1e-3, 0.0),
    "conv_ae": (ConvAutoencoder, "pm1", False, 128, 1e-3, 1e-5),
    "vae_mse": (VaeMse, "pm1", True, 128, 1e-3, 0.0),
    "vae_bce": (VaeBce, "01", True, 64, 1e-3, 0.0),
}


def loss_fn(name, model, x):
    """Loss per image, as zoo's models/ae_training.hpp computes it."""
    n = x.shape[0]
    if name == "mlp_ae":
        return F.mse_loss(model(x), x, reduction="sum") / n
    if name == "conv_ae":
        return F.mse_loss(model(x), x)
    y, mu, logvar = model(x)
    recon = F.mse_loss(y, x, reduction="sum") if name == "vae_mse" else F.binary_cross_entropy(y, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (recon + kl) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=MODELS, required=True)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    cls, rng_kind, flat, batch, lr, wd = MODELS[a.model]

    def load(prefix):
        x = torch.from_numpy(read_idx(f"{a.data}/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
        if rng_kind == "pm1":
            x = x * 2 - 1
        return x.reshape(-1, 784) if flat else x.reshape(-1, 1, 28, 28)

    xtr, xte = load("train"), load("t10k")
    model = cls()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        total, seen = 0.0, 0
        for i in range(0, xtr.shape[0], batch):
            xb = xtr[perm[i:i + batch]]
            opt.zero_grad()
            loss = loss_fn(a.model, model, xb)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        model.eval()
        with torch.no_grad():
            test = sum(loss_fn(a.model, model, xte[i:i + 1000]).item() * min(1000, xte.shape[0] - i)
                       for i in range(0, xte.shape[0], 1000)) / xte.shape[0]
        print(f"{a.model} epoch {epoch} train_loss {total / seen:.4f} test_loss {test:.4f} "
              f"time {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
