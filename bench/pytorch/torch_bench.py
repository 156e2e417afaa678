"""bench/pytorch/torch_bench.py — the PyTorch side of the benchmark harness.

Run by bench/run.py as a worker, one process per BLAS (the BLAS is chosen by
LD_LIBRARY_PATH before torch loads): it prints one JSON line describing itself
(torch version, the libblas / libopenblas / oneDNN / OpenMP files it mapped, a
quick sgemm rate), then answers requests, one JSON line each:
    {"name": "ae_train", "threads": 2, "min_time": 0.2, "reps": 5}
 -> {"name": ..., "threads": ..., "ms": median ms/step, "ms_min": ..., "cpu_ms": ..., "iters": ...}
or {"name": ..., "error": "..."} when the name is not registered here.

A benchmark is a function registered under the SAME name as its zoo benchmark
(bench/bench_*.cpp, "<name>/t<T>"): it builds the model once and returns a
callable doing one step. Timing mirrors Google Benchmark's: warm-up, then
`reps` repetitions of a loop of k steps with k chosen so a repetition lasts at
least min_time, reporting the median per-step time.

Run alone for a quick check:  /usr/bin/python3 bench/pytorch/torch_bench.py --once ae_train 1
"""
import ctypes
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 128
REGISTRY = {}


def bench(name):
    def deco(fn):
        REGISTRY[name] = fn
        return fn
    return deco


# ---------------------------------------------------------------- GEMM
# The same shapes as bench/bench_gemm.cpp: C(M×N) = op(A)·op(B).
GEMM_SHAPES = [("nn", 512, 512, 512), ("nn", 1024, 1024, 1024), ("nt", 128, 128, 784),
               ("tn", 128, 784, 128), ("nt", 128, 784, 128), ("nn", 128, 128, 784),
               ("nt", 128, 400, 784), ("nt", 128, 1024, 1024), ("tn", 1024, 1024, 128),
               ("nn", 128, 1024, 1024), ("nt", 128, 784, 1024)]


def _gemm_factory(op, m, n, k):
    def make():
        a = torch.rand(k, m) if op[0] == "t" else torch.rand(m, k)
        b = torch.rand(n, k) if op[1] == "t" else torch.rand(k, n)
        a = a.t() if op[0] == "t" else a
        b = b.t() if op[1] == "t" else b
        c = torch.empty(m, n)
        return lambda: torch.mm(a, b, out=c)
    return make


for _op, _m, _n, _k in GEMM_SHAPES:
    REGISTRY[f"gemm_{_op}_{_m}x{_n}x{_k}"] = _gemm_factory(_op, _m, _n, _k)


# ---------------------------------------------------------------- models
def _adam(params, **kw):
    # The per-parameter loop (1.13's CPU default) measured faster here than
    # foreach=True: AE step 4.3-4.4 ms against 4.8-5.2 ms, CPU time, 1 thread; on
    # 2026-12-02 (malloc tuned, 2 threads, 4 alternating runs) VAE 3.1-4.9 ms against
    # 3.5-5.2, MLP GAN 13.9-15.5 against 14.0-17.0. ZOO_TORCH_FOREACH=1 re-checks it.
    return torch.optim.Adam(params, foreach=os.environ.get("ZOO_TORCH_FOREACH") == "1", **kw)


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 12), nn.ReLU(), nn.Linear(12, 64), nn.ReLU(),
                                     nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784), nn.Tanh())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):  # pytorch/examples vae, with MSE and a Tanh output
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.tanh(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        return self.decode(z), mu, logvar


class VAEBCE(nn.Module):  # the seed BCE VAE: Sigmoid output, inputs in [0, 1]
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.fc_mu = nn.Linear(256, 20)
        self.fc_logvar = nn.Linear(256, 20)
        self.decoder = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Sigmoid())

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        return self.decode(z), mu, logvar


class Steps:
    """fwd / fwdbwd / opt / train / infer of one model, as bench/models.hpp."""

    def __init__(self, model, params, loss_fn, x, lr):
        self.model, self.loss_fn, self.x = model, loss_fn, x
        self.opt_ = _adam(params, lr=lr)
        for _ in range(3):
            self.train()

    def fwd(self):
        return self.loss_fn(self.model, self.x)

    def fwdbwd(self):
        self.opt_.zero_grad(set_to_none=True)
        self.fwd().backward()

    def opt(self):
        self.opt_.step()

    def train(self):
        self.fwdbwd()
        self.opt()


def ae_loss(m, x):
    return F.mse_loss(m(x), x, reduction="sum") / x.shape[0]


def vae_loss(m, x):
    recon, mu, logvar = m(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (F.mse_loss(recon, x, reduction="sum") + kl) / x.shape[0]


def vae_bce_loss(m, x):
    recon, mu, logvar = m(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (F.binary_cross_entropy(recon, x, reduction="sum") + kl) / x.shape[0]


def _data(batch=None):
    torch.manual_seed(0)
    return torch.rand(batch or BATCH, 784) * 2 - 1


def _data01(batch):
    torch.manual_seed(0)
    return torch.rand(batch, 784)


VAE_BCE_BATCH = 64  # the seed's batch (bench/bench_models.cpp uses the same)


def _model_steps(prefix, make_model, loss_fn, data=_data):
    def steps():
        m = make_model()
        return Steps(m, m.parameters(), loss_fn, data(), 1e-3)

    REGISTRY[prefix + "_train"] = lambda: steps().train
    REGISTRY[prefix + "_fwd"] = lambda: steps().fwd
    REGISTRY[prefix + "_fwdbwd"] = lambda: steps().fwdbwd
    REGISTRY[prefix + "_opt"] = lambda: steps().opt


_model_steps("ae", AE, ae_loss)
_model_steps("vae", VAE, vae_loss)
_model_steps("vae_bce", VAEBCE, vae_bce_loss, lambda: _data01(VAE_BCE_BATCH))


@bench("ae_infer")
def ae_infer():
    m, x = AE().eval(), _data()

    def step():
        with torch.inference_mode():
            return m(x)
    return step


@bench("vae_infer")
def vae_infer():
    m, x = VAE().eval(), _data()

    def step():
        with torch.inference_mode():
            return m.decode(m.encode(x)[0])
    return step


@bench("vae_bce_infer")
def vae_bce_infer():
    m, x = VAEBCE().eval(), _data01(VAE_BCE_BATCH)

    def step():
        with torch.inference_mode():
            return m.decode(m.encode(x)[0])
    return step


class GAN:
    def __init__(self):
        self.D = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256),
                               nn.LeakyReLU(0.2), nn.Linear(256, 1))
        self.G = nn.Sequential(nn.Linear(96, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                               nn.Linear(1024, 784), nn.Tanh())
        self.opt_d = _adam(self.D.parameters(), lr=3e-4, betas=(0.5, 0.999))
        self.opt_g = _adam(self.G.parameters(), lr=3e-4, betas=(0.5, 0.999))
        self.real = _data()
        self.ones = torch.ones(BATCH, 1)
        self.zeros = torch.zeros(BATCH, 1)
        for _ in range(3):
            self.train()

    def noise(self):
        return torch.rand(BATCH, 96) * 2 - 1

    def d_step(self):
        with torch.no_grad():  # D's step needs no graph through G
            fake = self.G(self.noise())
        self.opt_d.zero_grad(set_to_none=True)
        loss = (F.binary_cross_entropy_with_logits(self.D(self.real), self.ones) +
                F.binary_cross_entropy_with_logits(self.D(fake), self.zeros))
        loss.backward()
        self.opt_d.step()

    def g_step(self):
        for p in self.D.parameters():  # gradients flow through D, D's own are not needed
            p.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(self.D(self.G(self.noise())), self.ones)
        loss.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)

    def train(self):
        self.d_step()
        self.g_step()

    def infer(self):
        with torch.inference_mode():
            return self.G(self.noise())


REGISTRY["gan_train"] = lambda: GAN().train
REGISTRY["gan_infer"] = lambda: GAN().infer
REGISTRY["gan_dstep"] = lambda: GAN().d_step
REGISTRY["gan_gstep"] = lambda: GAN().g_step


# ---------------------------------------------------------------- YOLOv5n (issue 19)
# scripts/pytorch/yolo_modules.py's yolov5n (Conv, or AKConv N = 3 / 5 on the stride-2 rows)
# and yolo_loss.py's v7.0 loss, as bench/models.hpp's YoloTrain: 128×128, batch 16, one
# step = forward (train mode), loss on fixed targets, backward, SGD nesterov (momentum 0.937,
# train.py's three groups: biases, conv weights with decay 5e-4, BN weights). foreach=False:
# 1.13's CPU default (the per-parameter loop). Model and batch in channels_last: PyTorch's faster
# layout here (2026-12-04, 1 thread, CPU time, malloc tuned: Conv 100 against 118 ms per step,
# AKConv N = 3 163 against 166); ZOO_TORCH_CONTIGUOUS=1 re-checks the default layout.
YOLO_BATCH, YOLO_SIZE = 16, 128


def _import_script(name):
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "scripts", "pytorch", name + ".py")
    spec = importlib.util.spec_from_file_location("zoo_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def yolo_targets(batch):
    """(nt, 6) rows image, class, x, y, w, h: bench/models.hpp's yolo_bench_targets()."""
    rows = []
    for b in range(batch):
        for k in range(3 + b % 2):
            side = (14 + (b * 7 + k * 11) % 43) / 128.0
            rows.append([b, (b * 4 + k) % 10, 0.125 + 0.25 * k + 0.01 * (b % 7),
                         0.2 + 0.2 * ((b + k) % 4) + 0.005 * b, 0.75 * side, side])
    return torch.tensor(rows, dtype=torch.float32)


def _yolo_train(akconv_n):
    def make():
        mods, lossmod = _import_script("yolo_modules"), _import_script("yolo_loss")
        torch.manual_seed(0)
        model = mods.make_yolov5n(10, akconv_n=akconv_n).train()
        det = model.model[-1]
        hyp = lossmod.scaled_hyp(det.nl, det.nc, YOLO_SIZE)
        loss_fn = lossmod.YoloLoss(det.nc, det.anchors.detach().clone(), hyp)
        g_bias, g_w, g_bn = [], [], []
        for mod in model.modules():
            for pname, p in mod.named_parameters(recurse=False):
                if pname == "bias":
                    g_bias.append(p)
                elif isinstance(mod, nn.BatchNorm2d):
                    g_bn.append(p)
                else:
                    g_w.append(p)
        opt = torch.optim.SGD(g_bias, lr=0.01, momentum=0.937, nesterov=True, foreach=False)
        opt.add_param_group({"params": g_w, "weight_decay": 5e-4})
        opt.add_param_group({"params": g_bn, "weight_decay": 0.0})
        torch.manual_seed(7)
        x = torch.rand(YOLO_BATCH, 3, YOLO_SIZE, YOLO_SIZE)
        if os.environ.get("ZOO_TORCH_CONTIGUOUS") != "1":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        targets = yolo_targets(YOLO_BATCH)

        def step():
            opt.zero_grad(set_to_none=True)
            loss, _ = loss_fn(model(x), targets)
            loss.backward()
            opt.step()
            return loss
        return step
    return make


REGISTRY["yolo_train"] = _yolo_train(None)
REGISTRY["yolo_akconv3_train"] = _yolo_train(3)
REGISTRY["yolo_akconv5_train"] = _yolo_train(5)


# ---------------------------------------------------------------- other files
# Any other module in bench/pytorch/ with a register(registry) function adds its
# workloads here (e.g. akconv.py), so a new benchmark file needs no edit of this one.
def _load_plugins():
    import importlib
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    for f in sorted(os.listdir(here)):
        if f.endswith(".py") and f != os.path.basename(__file__) and not f.startswith("_"):
            mod = importlib.import_module(f[:-3])
            if hasattr(mod, "register"):
                mod.register(REGISTRY)


_load_plugins()


# ---------------------------------------------------------------- worker
def _mapped():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if re.search(r"blas|lapack|dnnl|gomp|mkl", path):
                libs.add(path)
    return sorted(libs)


_openblas = None


def set_threads(t):
    """torch's intra-op pool, and OpenBLAS's own pool when OpenBLAS is loaded."""
    global _openblas
    torch.set_num_threads(t)
    if _openblas is None:
        _openblas = False
        for p in _mapped():
            if "openblas" in p:
                try:
                    lib = ctypes.CDLL(p)
                    lib.openblas_set_num_threads
                    _openblas = lib
                    break
                except (OSError, AttributeError):
                    pass
    if _openblas:
        _openblas.openblas_set_num_threads(t)


def describe():
    libs = _mapped()
    blas = next((p for p in libs if "libblas.so" in p), "?")
    if "/blas/" in blas:
        kind = "reference"
    elif "openblas-openmp" in blas:
        kind = "openblas-openmp"
    elif "openblas-pthread" in blas:
        kind = "openblas-pthread"
    else:
        kind = blas
    set_threads(1)
    a, b, c = torch.rand(256, 256), torch.rand(256, 256), torch.empty(256, 256)
    torch.mm(a, b, out=c)
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.1:
        torch.mm(a, b, out=c)
        k += 1
    rate = 2 * 256 ** 3 * k / (time.perf_counter() - t0) / 1e9
    core = None  # OpenBLAS's kernel (OPENBLAS_CORETYPE decides it; see bench/run.py)
    if _openblas:
        try:
            _openblas.openblas_get_corename.restype = ctypes.c_char_p
            core = _openblas.openblas_get_corename().decode()
        except AttributeError:
            pass
    return {"torch": torch.__version__, "blas": kind, "libblas": blas, "openblas_core": core,
            "onednn": any("dnnl" in p for p in libs), "libs": libs,
            "sgemm256_gflops_1t": round(rate, 2)}


def measure(fn, threads, min_time=0.2, reps=5):
    set_threads(threads)
    step = fn()
    t0 = time.perf_counter()
    step()
    once = time.perf_counter() - t0
    warm = 0
    while time.perf_counter() - t0 < min(0.1, 10 * once) or warm < 2:
        step()
        warm += 1
    # One repetition lasts at least min_time, like --benchmark_min_time.
    t1 = time.perf_counter()
    for _ in range(3):
        step()
    per = (time.perf_counter() - t1) / 3
    k = max(1, int(min_time / max(per, 1e-9)))
    times, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(k):
            step()
        times.append((time.perf_counter() - t) / k)
        cpu.append((time.process_time() - c) / k)
    # CPU time of the process: on 1 thread, the time the step really ran, however
    # long other processes kept it waiting (what Google Benchmark's cpu_time is).
    return {"ms": statistics.median(times) * 1e3, "ms_min": min(times) * 1e3,
            "cpu_ms": statistics.median(cpu) * 1e3, "iters": k * reps}


def worker():
    print(json.dumps(describe()), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        name = req["name"]
        out = {"name": name, "threads": req["threads"]}
        if name not in REGISTRY:
            out["error"] = "not registered in torch_bench.py"
        else:
            out.update(measure(REGISTRY[name], req["threads"], req.get("min_time", 0.2),
                               req.get("reps", 5)))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--once":
        print(json.dumps(describe()))
        print(json.dumps(measure(REGISTRY[sys.argv[2]], int(sys.argv[3]))))
    else:
        worker()
