#!/usr/bin/python3
"""bench/pytorch/memory_peak.py — the PyTorch side of bench/memory_peak.cpp (issue 22).

    /usr/bin/python3 bench/pytorch/memory_peak.py <case>    # one line, as the zoo program:
        case=<name> peak_rss_mb=<ru_maxrss / 1024> baseline_rss_mb=<VmRSS before the model>
    /usr/bin/python3 bench/pytorch/memory_peak.py --list

One case per process (scripts/memory.sh starts a fresh one for each). baseline_rss_mb is
VmRSS after torch and the twin modules are imported and the threads set, before the case
builds its model: the interpreter + torch's libraries are in it. peak_rss_mb is
resource.getrusage(RUSAGE_SELF).ru_maxrss (KiB) / 1024, the process's high-water mark.
torch.set_num_threads(2) (and OpenBLAS's pool, when loaded: torch_bench.set_threads).

The models are the twins the timing benchmarks use, imported rather than rewritten:
bench/pytorch/torch_bench.py (MLP autoencoder, MSE VAE, BCE VAE, MLP GAN, YOLOv5n[-AKConv]
via scripts/pytorch/yolo_modules.py and yolo_loss.py), bench/pytorch/conv.py (conv
autoencoder, ContextUnet from scripts/pytorch/train_diffusion.py), bench/pytorch/gan.py
(DCGAN, conditional DCGAN from scripts/pytorch/train_gans.py). Written here, having no twin
elsewhere: the least-squares MLP GAN's losses (a subclass of torch_bench.GAN) and the LeNet
classifier (include/zoo/models/lenet.hpp's layers).

Cases, the same work as the zoo program:
  ddpm_guided_sample_eval  ContextUnet(1, 64, 10, 28).eval(), torch.inference_mode(): 200 images
                           (20 per class), classifier-free guidance w = 2 as ONE forward of the
                           doubled batch of 400 (x twice, c then zeros), 3 DDPM steps (t = 500..498).
  dcgan_generate_eval      the DCGAN generator .eval(), inference_mode, 10,000 samples in batches
                           of 64 (zoo's default) written into one (10000, 1, 28, 28) tensor
                           (zoo::models::generate); *_b500: in batches of 500.
  dcgan_generate_stream    the same 10,000 samples, each batch summed and dropped (zoo's
                           models::generate_each), never stored together.
  <model>_train            3 training steps at the examples' batch (see bench/memory_peak.cpp):
                           zero_grad(set_to_none=True), forward, loss, backward, optimizer step
                           (Adam / SGD foreach=False, 1.13's CPU default); GANs D step + G step.
The *_infer and *_shared zoo cases (zoo::InferenceModel) have the same PyTorch side as *_eval.
"""
import os
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_bench as tb  # noqa: E402  (also imports conv.py, gan.py, akconv.py: its plugins)
import conv as conv_twins  # noqa: E402  (ConvAutoencoder, Ddpm / ContextUnet)
import gan as gan_twins  # noqa: E402  (DCGAN, conditional DCGAN)

THREADS = 2
TRAIN_STEPS = 3


def vm_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- inference
def ddpm_guided_sample_eval():
    diffusion = conv_twins.diffusion
    T, n_class, per_class, w, steps = 500, 10, 20, 2.0, 3
    n = n_class * per_class
    torch.manual_seed(0)
    m = diffusion.ContextUnet(1, 64, n_class, 28).eval()
    b_t, a_t, ab_t = diffusion.schedule(T, dtype=torch.float32)
    c = F.one_hot(torch.arange(n) // per_class, n_class).float()
    with torch.inference_mode():
        x = torch.randn(n, 1, 28, 28)
        cc = torch.cat([c, torch.zeros_like(c)])
        for t in range(T, T - steps, -1):
            tt = torch.full((2 * n, 1), t / T)
            y = m(torch.cat([x, x]), tt, cc)
            eps = (1 + w) * y[:n] - w * y[n:]
            x = diffusion.ddpm_step(b_t, a_t, ab_t, x, eps, t, torch.randn_like(x))
    return x


GEN_BATCH = 64  # zoo::models::kGenerateBatch


def dcgan_generate_eval(batch=GEN_BATCH):
    torch.manual_seed(0)
    g = gan_twins.tg.dc_generator().eval()
    n = 10000
    with torch.inference_mode():
        out = torch.empty(n, 1, 28, 28)
        for b in range(0, n, batch):
            k = min(batch, n - b)
            out[b:b + k] = g(torch.rand(k, 96) * 2 - 1)
    return out


def dcgan_generate_stream(batch=GEN_BATCH):
    torch.manual_seed(0)
    g = gan_twins.tg.dc_generator().eval()
    n = 10000
    total = 0.0
    with torch.inference_mode():
        for b in range(0, n, batch):
            total += g(torch.rand(min(batch, n - b), 96) * 2 - 1).sum().item()
    return total


# ---------------------------------------------------------------- training
def _adam_steps(model, loss_fn, x, **adam):
    opt = torch.optim.Adam(model.parameters(), foreach=False, **adam)
    for _ in range(TRAIN_STEPS):
        opt.zero_grad(set_to_none=True)
        loss_fn(model, x).backward()
        opt.step()


def mlp_ae_train():
    torch.manual_seed(0)
    _adam_steps(tb.AE(), tb.ae_loss, torch.rand(128, 784) * 2 - 1, lr=1e-3)


def conv_ae_train():
    step = conv_twins.conv_ae_train()  # batch 128, Adam(1e-3, weight_decay 1e-5)
    for _ in range(TRAIN_STEPS):
        step()


def vae_mse_train():
    torch.manual_seed(0)
    _adam_steps(tb.VAE(), tb.vae_loss, torch.rand(128, 784) * 2 - 1, lr=1e-3)


def vae_bce_train():
    torch.manual_seed(0)
    _adam_steps(tb.VAEBCE(), tb.vae_bce_loss, torch.rand(tb.VAE_BCE_BATCH, 784), lr=1e-3)


def gan_train():
    tb.GAN()  # batch 128; its constructor runs 3 iterations (D step + G step)


class LsGAN(tb.GAN):
    """The least-squares MLP GAN (zoo's GanObjective::least_squares):
    L_D = ½ mean((D(x) − 1)²) + ½ mean(D(G(z))²), L_G = ½ mean((D(G(z)) − 1)²)."""

    def d_step(self):
        with torch.no_grad():
            fake = self.G(self.noise())
        self.opt_d.zero_grad(set_to_none=True)
        loss = 0.5 * ((self.D(self.real) - 1) ** 2).mean() + 0.5 * (self.D(fake) ** 2).mean()
        loss.backward()
        self.opt_d.step()

    def g_step(self):
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        loss = 0.5 * ((self.D(self.G(self.noise())) - 1) ** 2).mean()
        loss.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)


def ls_gan_train():
    LsGAN()  # its constructor runs 3 iterations


def dcgan_train():
    gan_twins.DCGAN(False)  # batch 128; the constructor runs 3 iterations


def cdcgan_train():
    gan_twins.DCGAN(True)


def ddpm_train():
    step = conv_twins.Ddpm().train()  # ContextUnet n_feat 64, batch 100, Adam 1e-3
    for _ in range(TRAIN_STEPS):
        step()


class LeNet(nn.Module):
    """include/zoo/models/lenet.hpp: features (conv, pool, conv, pool, fc 120, fc 84), classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                      nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())
        self.classifier = nn.Linear(84, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def lenet_train():
    torch.manual_seed(0)
    n = 64
    labels = torch.arange(n) % 10
    _adam_steps(LeNet().train(), lambda m, x: F.cross_entropy(m(x), labels),
                torch.rand(n, 1, 28, 28) * 2 - 1, lr=1e-3)


def _yolo(akconv_n):
    def run():
        step = tb._yolo_train(akconv_n)()  # batch 16, 128x128, channels_last as the benchmark
        for _ in range(TRAIN_STEPS):
            step()
    return run


CASES = {
    "ddpm_guided_sample_eval": ddpm_guided_sample_eval,
    "ddpm_guided_sample_infer": ddpm_guided_sample_eval,
    "dcgan_generate_eval": dcgan_generate_eval,
    "dcgan_generate_infer": dcgan_generate_eval,
    "ddpm_guided_sample_shared": ddpm_guided_sample_eval,
    "dcgan_generate_shared": dcgan_generate_eval,
    "dcgan_generate_stream": dcgan_generate_stream,
    "dcgan_generate_infer_b500": lambda: dcgan_generate_eval(500),
    "dcgan_generate_stream_b500": lambda: dcgan_generate_stream(500),
    "mlp_ae_train": mlp_ae_train,
    "conv_ae_train": conv_ae_train,
    "vae_mse_train": vae_mse_train,
    "vae_bce_train": vae_bce_train,
    "gan_train": gan_train,
    "ls_gan_train": ls_gan_train,
    "dcgan_train": dcgan_train,
    "cdcgan_train": cdcgan_train,
    "ddpm_train": ddpm_train,
    "lenet_train": lenet_train,
    "yolo_train": _yolo(None),
    "yolo_akconv_train": _yolo(3),
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: memory_peak.py <case> | --list")
    name = sys.argv[1]
    if name == "--list":
        print("\n".join(CASES))
        return
    if name not in CASES:
        sys.exit(f"memory_peak.py: no case '{name}' (--list names them)")
    tb.set_threads(THREADS)
    baseline = vm_rss_mb()
    CASES[name]()
    print(f"case={name} peak_rss_mb={peak_rss_mb():.1f} baseline_rss_mb={baseline:.1f}", flush=True)


if __name__ == "__main__":
    main()
