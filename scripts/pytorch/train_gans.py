#!/usr/bin/python3
"""PyTorch reference runs of zoo's DCGAN and conditional DCGAN (issue 6: quality parity).

Same architectures, initialization family (PyTorch's defaults), optimizer (Adam 3e-4,
betas (0.5, 0.999), one per network), objective (BCE with logits), noise (U[-1, 1], 96),
batch (128, full batches only, reshuffled each epoch), images in [-1, 1], and the same
iteration as zoo's GanTrainer: D once on a real batch and a fresh fake batch (G in train
mode, detached), then G once on fresh noise through D. The conditional models take the
one-hot label: G concatenates it to the noise, D gets it as 10 constant image channels;
fakes are drawn for uniformly random labels.

At the end, G (eval mode) draws `--samples` images (labels i % 10 for the conditional
model), quantized to bytes as zoo does, into IDX files that zoo's classifier scores with
the same code as zoo's own samples. The networks are the reference modules (two halves,
self.fc and self.conv), so their state_dict keys are zoo's (fc.0.weight, conv.2.running_mean,
net.fc.0.weight for the conditional ones) and `zoo::load_pt` reads generator.pt and
discriminator.pt into zoo's models:

  /usr/bin/python3 scripts/pytorch/train_gans.py --variant dc --epochs 5 --out runs/torch_dcgan
  build/release/examples/classifier --data mnist --score runs/torch_dcgan/samples
"""
import argparse, gzip, os, struct, time
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


def find(d, stem):
    for p in (f"{d}/{stem}.gz", f"{d}/{stem}"):
        if os.path.exists(p):
            return p
    raise SystemExit(f"train_gans.py: no {stem}(.gz) in {d}")


def write_idx_u8(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    with open(path + ".tmp", "wb") as f:
        f.write(bytes([0, 0, 0x08, arr.ndim]))
        f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.tobytes())
    os.replace(path + ".tmp", path)


class Discriminator(nn.Module):  # zoo's DcDiscriminator: conv, flatten, fc
    def __init__(self, in_channels=1):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, 32, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
                                  nn.Conv2d(32, 64, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2))
        self.fc = nn.Sequential(nn.Linear(4 * 4 * 64, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))

    def forward(self, x):
        x = self.conv(x)
        x = x.view(x.shape[0], -1)
        return self.fc(x)


class Generator(nn.Module):  # zoo's DcGenerator: fc, view, conv
    def __init__(self, noise_dim=96):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                                nn.Linear(1024, 7 * 7 * 128), nn.ReLU(), nn.BatchNorm1d(7 * 7 * 128))
        self.conv = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                                  nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        x = self.fc(z)
        x = x.view(-1, 128, 7, 7)
        return self.conv(x)


def dc_discriminator(in_channels=1):
    return Discriminator(in_channels)


def dc_generator(noise_dim=96):
    return Generator(noise_dim)


class CondGenerator(nn.Module):  # zoo's CondDcGenerator: zy = cat(z, y); net
    def __init__(self):
        super().__init__()
        self.net = dc_generator(96 + 10)

    def forward(self, z, y):
        return self.net(torch.cat([z, y], 1))


class CondDiscriminator(nn.Module):  # zoo's CondDcDiscriminator: ymap, xy = cat(x, ymap); net
    def __init__(self):
        super().__init__()
        self.net = dc_discriminator(1 + 10)

    def forward(self, x, y):
        ymap = y[:, :, None, None].expand(-1, -1, 28, 28)
        return self.net(torch.cat([x, ymap], 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["dc", "cdc"], default="dc")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--iters", type=int, default=0, help="stop after this many iterations (0: epochs)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--samples", type=int, default=0, help="samples for the metrics (0: test set size)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    out = a.out or f"runs/torch_{a.variant}gan"
    os.makedirs(out, exist_ok=True)
    x = torch.from_numpy(read_idx(find(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 127.5 - 1)
    x = x[:, None]  # (N, 1, 28, 28) in [-1, 1]
    labels = torch.from_numpy(read_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64))
    n_test = len(read_idx(find(a.data, "t10k-labels-idx1-ubyte")))
    cond = a.variant == "cdc"
    G = CondGenerator() if cond else dc_generator()
    D = CondDiscriminator() if cond else dc_discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=3e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=3e-4, betas=(0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    g_of = (lambda z, y: G(z, y)) if cond else (lambda z, y: G(z))
    d_of = (lambda im, y: D(im, y)) if cond else (lambda im, y: D(im))

    def draw(n):
        z = torch.rand(n, 96) * 2 - 1
        y = F.one_hot(torch.randint(0, 10, (n,)), 10).float()
        return z, y

    print(f"{a.variant} GAN (PyTorch {torch.__version__}, {torch.get_num_threads()} threads) on {a.data}: "
          f"{len(x)} images, batch {a.batch}, {a.epochs} epochs", flush=True)
    it, t0 = 0, time.time()
    with open(f"{out}/loss.csv", "w") as csv:
        csv.write("iteration,epoch,d_loss,g_loss\n")
        for epoch in range(1, a.epochs + 1):
            perm = torch.randperm(len(x))
            for b in range(len(x) // a.batch):  # full batches only
                idx = perm[b * a.batch:(b + 1) * a.batch]
                real, y_real = x[idx], F.one_hot(labels[idx], 10).float()
                n = len(idx)
                # D step
                z, y_fake = draw(n)
                fake = g_of(z, y_fake).detach()
                opt_d.zero_grad()
                lr, lf = d_of(real, y_real), d_of(fake, y_fake)
                d_loss = bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf))
                d_loss.backward()
                opt_d.step()
                # G step (D's parameters get gradients here but D's optimizer does not step;
                # they are zeroed before D's next step)
                z, y_fake = draw(n)
                opt_g.zero_grad()
                lg = d_of(g_of(z, y_fake), y_fake)
                g_loss = bce(lg, torch.ones_like(lg))
                g_loss.backward()
                opt_g.step()
                it += 1
                csv.write(f"{it},{epoch},{d_loss.item()},{g_loss.item()}\n")
                if it % 50 == 0:
                    print(f"iter {it} (epoch {epoch})  D {d_loss.item():.4f}  G {g_loss.item():.4f}  "
                          f"({(time.time() - t0) / it:.3f} s/iter)", flush=True)
                if a.iters and it >= a.iters:
                    break
            if a.iters and it >= a.iters:
                break
    secs = time.time() - t0
    torch.save(G.state_dict(), f"{out}/generator.pt")
    torch.save(D.state_dict(), f"{out}/discriminator.pt")
    n = a.samples or n_test
    asked = np.arange(n) % 10
    G.eval()
    with torch.no_grad():
        ims = []
        for s in range(0, n, 500):
            m = min(500, n - s)
            z = torch.rand(m, 96) * 2 - 1
            y = F.one_hot(torch.from_numpy(asked[s:s + m]).long(), 10).float()
            ims.append(g_of(z, y))
        im = torch.cat(ims).numpy().reshape(n, 28, 28)
    q = np.clip(np.rint((im + 1) * 127.5), 0, 255).astype(np.uint8)
    write_idx_u8(f"{out}/samples-images-idx3-ubyte", q)
    if cond:
        write_idx_u8(f"{out}/samples-labels-idx1-ubyte", asked.astype(np.uint8))
    print(f"trained {it} iterations in {secs:.1f} s ({secs / max(it, 1):.3f} s/iter); "
          f"wrote {n} samples to {out}/samples-*-idx*-ubyte", flush=True)


if __name__ == "__main__":
    main()
