#!/usr/bin/python3
"""PyTorch reference run of zoo's YOLOv5n training (issue 19): the same network, loss, recipe
and data as the C++ program, for the Conv vs AKConv table of docs/results.md.

  network   scripts/pytorch/yolo_modules.py make_yolov5n(10, akconv_n=N): yolov5n (v7.0), Conv or
            AKConv N on the stride-2 rows; a fresh model has seen the stride-finding batch, as v7.0's
  data      a YOLO-format set (--data, default data/digits-det): images/{train,val}/*.png and
            labels/{train,val}/*.txt (`cls x y w h`, normalised), read once into memory; pixels / 255;
            shuffled each epoch, a last partial batch dropped, no augmentation unless --translate /
            --scale (examples/yolo.cpp's defaults and flags; --keep-last keeps the partial batch, as
            v7.0's loader does)
  loss      scripts/pytorch/yolo_loss.py YoloLoss: v7.0 ComputeLoss with train.py's gain scaling
            (box·3/nl, cls·nc/80·3/nl, obj·(S/640)²·3/nl); the (lbox + lobj + lcls)·bs is backpropagated
  optimizer v7.0 smart_optimizer + train.py: SGD nesterov, momentum 0.937, three groups in v7.0's
            order — 0 biases (no decay), 1 conv / linear weights (decay 5e-4·bs·accumulate/64),
            2 BatchNorm weights (no decay)
  schedule  lr of epoch e = lr0·lf(e), lf(e) = (1 − e/E)(1 − lrf) + lrf, lr0 = 0.01, lrf = 0.01;
            warm-up over nw = max(round(3·nb), 100) iterations (ni counted from the start):
            group 0 lr 0.1 → lr0·lf(e), groups 1, 2 lr 0 → lr0·lf(e), momentum 0.8 → 0.937,
            accumulate 1 → 64/bs (np.interp, rounded); an optimizer step when ni − last ≥ accumulate;
            grads are zeroed at the start of each epoch; before each step the gradient norm is clipped
            at 10 (clip_grad_norm_), all three as v7.0's train.py and examples/yolo.cpp (--clip 0: off)
  EMA       v7.0 ModelEMA: d = 0.9999·(1 − exp(−updates/2000)), every floating-point state_dict entry
            (parameters, running statistics), updated after each optimizer step
  eval      after every epoch, the EMA in eval mode on the val set (batch 32): decoded output →
            yolo_metrics.non_max_suppression(conf 0.001, iou 0.6, multi_label=True, max_det 300) →
            DetectionStats (v7.0 val.py: labels in pixels, xyxy) → P, R, mAP50, mAP50-95, fitness;
            the val loss parts from the raw maps, as val.py's
  timing    ms per training step = the epoch's wall time / its steps (batching included), as
            examples/yolo.cpp; ms_per_step_compute = forward, loss, backward and the optimizer step
            alone; ms per image of the EMA's eval forward (batch 32, no NMS)

Budget: --epochs E fixes the schedule; --minutes M also stops the run once M minutes of wall time
(evaluations included, as examples/yolo.cpp counts them) have passed, mid-epoch if need be, and
evaluates that last partial epoch.
Writes a JSON of the run and its per-epoch results to --out; --save PATH writes the best EMA's
state_dict (by fitness = 0.1·mAP50 + 0.9·mAP50-95).

  /usr/bin/python3 scripts/pytorch/train_yolo.py --epochs 30 --out runs/torch_yolo.json
  /usr/bin/python3 scripts/pytorch/train_yolo.py --akconv 3 --epochs 30 --out runs/torch_yolo_ak3.json
  /usr/bin/python3 scripts/pytorch/train_yolo.py --minutes 1 --train-limit 200 --val-limit 100 --out /tmp/t.json
"""
import argparse
import copy
import glob
import importlib.util
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def _import(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ym = _import("yolo_modules")
yl = _import("yolo_loss")
ymet = _import("yolo_metrics")


# ---------------------------------------------------------------- data
def read_split(root, split, size, limit=None):
    """(N, 3, S, S) uint8 images and a list of (m, 5) float arrays (cls, x, y, w, h)."""
    from PIL import Image
    files = sorted(glob.glob(os.path.join(root, "images", split, "*.png")) +
                   glob.glob(os.path.join(root, "images", split, "*.jpg")))
    if not files:
        raise SystemExit(f"train_yolo.py: no images in {os.path.join(root, 'images', split)}; "
                         "write the digits set first (the C++ program does: zoo::data::ensure_digit_detection)")
    if limit:
        files = files[:limit]
    imgs = np.empty((len(files), 3, size, size), dtype=np.uint8)
    labels = []
    for i, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        if im.size != (size, size):
            raise SystemExit(f"train_yolo.py: {f} is {im.size[0]}x{im.size[1]}, expected {size}x{size}")
        imgs[i] = np.asarray(im).transpose(2, 0, 1)
        # v7.0's img2label_paths: the last /images/ becomes /labels/, the extension .txt
        head, _, tail = f.rpartition(os.sep + "images" + os.sep)
        lf = head + os.sep + "labels" + os.sep + os.path.splitext(tail)[0] + ".txt"
        rows = []
        if os.path.exists(lf):
            with open(lf) as fh:
                for ln, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    v = line.split()
                    if len(v) != 5:
                        raise SystemExit(f"train_yolo.py: {lf}:{ln}: expected 5 fields, got {len(v)}")
                    rows.append([float(x) for x in v])
        labels.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
    return torch.from_numpy(imgs), labels


def batches(n, bs, gen=None, drop_last=False):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for s in range(0, n - bs + 1 if drop_last else n, bs):
        yield order[s:s + bs]


def batch_of(imgs, labels, idx):
    """Images / 255 and the (nt, 6) target rows (image in batch, cls, x, y, w, h)."""
    x = imgs[idx].float().div_(255.0)
    rows = [np.concatenate([np.full((len(labels[j]), 1), k, np.float32), labels[j]], 1)
            for k, j in enumerate(idx.tolist()) if len(labels[j])]
    t = torch.from_numpy(np.concatenate(rows, 0)) if rows else torch.zeros(0, 6)
    return x, t


def augment(x, t, translate, scale, gen):
    """examples/yolo.cpp's --translate / --scale (zoo::data::AugmentOptions) on a batch: per image
    p' = s·(p − c) + c + t with c the centre, s uniform in [1 − scale, 1 + scale], t uniform in
    ±translate·S per axis; bilinear, zeros outside; boxes mapped, clipped to the image and dropped
    when under 40 % of the mapped area stays inside or a clipped side is under 2 px. Its own
    random stream (not zoo's), the same distribution."""
    if translate == 0 and scale == 0:
        return x, t
    B, S = x.shape[0], x.shape[-1]
    s = 1 - scale + 2 * scale * torch.rand(B, generator=gen, dtype=torch.float64)
    tr = translate * (2 * torch.rand(B, 2, generator=gen, dtype=torch.float64) - 1)  # fraction of S
    theta = torch.zeros(B, 2, 3, dtype=torch.float64)  # output → source, normalised [-1, 1]
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = -2 * tr / s[:, None]
    grid = torch.nn.functional.affine_grid(theta.float(), list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                        align_corners=False)
    if len(t) == 0:
        return x, t
    b = t[:, 0].long()
    sb, txb, tyb = s[b].float(), tr[b, 0].float(), tr[b, 1].float()
    cx = sb * (t[:, 2] - 0.5) + 0.5 + txb
    cy = sb * (t[:, 3] - 0.5) + 0.5 + tyb
    w, h = sb * t[:, 4], sb * t[:, 5]
    x1, y1 = (cx - w / 2).clamp(0, 1), (cy - h / 2).clamp(0, 1)
    x2, y2 = (cx + w / 2).clamp(0, 1), (cy + h / 2).clamp(0, 1)
    keep = ((x2 > x1) & (y2 > y1) & ((x2 - x1) * (y2 - y1) >= 0.4 * w * h) &
            ((x2 - x1) * S >= 2) & ((y2 - y1) * S >= 2))
    t = torch.stack([t[:, 0], t[:, 1], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)[keep]
    return x, t


# ---------------------------------------------------------------- recipe
def param_groups(model):
    """v7.0 smart_optimizer's split: biases, weights (decay), normalization weights."""
    bias, weights, bn = [], [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if name == "bias":
                bias.append(p)
            elif name == "weight" and isinstance(mod, nn.BatchNorm2d):
                bn.append(p)
            else:
                weights.append(p)
    return bias, weights, bn


class ModelEMA:
    """v7.0 utils/torch_utils.ModelEMA."""

    def __init__(self, model, decay=0.9999, tau=2000):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.updates = 0
        self.decay = lambda x: decay * (1 - math.exp(-x / tau))

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay(self.updates)
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1 - d) * msd[k].detach()


@torch.no_grad()
def evaluate(model, loss_fn, imgs, labels, size, bs=32, conf=0.001, iou=0.6):
    model.eval()
    nc = model.model[-1].nc
    stats = ymet.DetectionStats(nc)
    vloss = torch.zeros(3)
    t_fwd, nb = 0.0, 0
    for idx in batches(len(imgs), bs):
        x, t = batch_of(imgs, labels, idx)
        t0 = time.perf_counter()
        out, raw = model(x)
        t_fwd += time.perf_counter() - t0
        vloss += loss_fn([r.float() for r in raw], t)[1]
        nb += 1
        dets = ymet.non_max_suppression(out, conf_thres=conf, iou_thres=iou, multi_label=True, max_det=300)
        for k, det in enumerate(dets):
            lab = t[t[:, 0] == k]
            tb = ymet.xywh2xyxy(lab[:, 2:6] * size)
            stats.add(det, torch.cat([lab[:, 1:2], tb], 1))
    m = stats.compute()
    return {"P": float(m["mp"]), "R": float(m["mr"]), "mAP50": float(m["map50"]), "mAP50-95": float(m["map"]),
            "fitness": float(m["fitness"]), "val_box": float(vloss[0] / nb), "val_obj": float(vloss[1] / nb),
            "val_cls": float(vloss[2] / nb), "ms_per_image_infer": 1e3 * t_fwd / len(imgs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/digits-det")
    ap.add_argument("--akconv", type=int, default=None, help="AKConv N on the stride-2 rows (default: Conv)")
    ap.add_argument("--sampling", default="default", choices=["default", "reference"],
                    help="AKConv resampling: zoo's clamp-to-edge (default) or the official arithmetic")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=None, help="also stop after this much training time")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--lr0", type=float, default=0.01)
    ap.add_argument("--lrf", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.937)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--warmup-epochs", type=float, default=3.0)
    ap.add_argument("--clip", type=float, default=10.0,
                    help="clip_grad_norm_ max norm before each step (v7.0's and examples/yolo.cpp's 10); 0: off")
    ap.add_argument("--keep-last", action="store_true", help="keep a last partial batch (v7.0)")
    ap.add_argument("--translate", type=float, default=0.0,
                    help="augmentation: random shift, fraction of the image (as examples/yolo)")
    ap.add_argument("--scale", type=float, default=0.0,
                    help="augmentation: random scale in [1 - s, 1 + s] (as examples/yolo)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=None, help="first N train images only")
    ap.add_argument("--val-limit", type=int, default=None, help="first N val images only")
    ap.add_argument("--log-every", type=int, default=50, help="print the running loss every N steps")
    ap.add_argument("--out", default="runs/torch_yolo.json")
    ap.add_argument("--save", default=None, help="write the best EMA state_dict here (.pt)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    S, bs, nbs = a.imgsz, a.batch, 64
    t_load = time.time()
    tr_imgs, tr_labels = read_split(a.data, "train", S, a.train_limit)
    va_imgs, va_labels = read_split(a.data, "val", S, a.val_limit)
    print(f"data: {len(tr_imgs)} train, {len(va_imgs)} val images of {S}x{S} from {a.data} "
          f"({time.time() - t_load:.1f} s)", flush=True)

    model = ym.make_yolov5n(10, akconv_n=a.akconv, sampling=a.sampling).train()
    det = model.model[-1]
    nc, nl = det.nc, det.nl
    for lab in tr_labels + va_labels:
        if len(lab) and (lab[:, 0].max() >= nc or lab[:, 0].min() < 0):
            raise SystemExit(f"train_yolo.py: a label's class is outside [0, {nc})")
    variant = "conv" if a.akconv is None else f"akconv{a.akconv}"
    params = ym.count_params(model)
    gfl = ym.gflops(model, S)
    model.train()
    print(f"yolov5n {variant}: {params} parameters, {gfl:.3f} GFLOPs at {S}x{S}", flush=True)

    loss_fn = yl.YoloLoss(nc, det.anchors.detach().clone(), yl.scaled_hyp(nl, nc, S))
    nb = math.ceil(len(tr_imgs) / bs) if a.keep_last else len(tr_imgs) // bs
    if nb == 0:
        raise SystemExit(f"train_yolo.py: {len(tr_imgs)} train images make no batch of {bs}")
    nw = max(round(a.warmup_epochs * nb), 100)
    accumulate = max(round(nbs / bs), 1)
    decay = a.weight_decay * bs * accumulate / nbs
    g_bias, g_w, g_bn = param_groups(model)
    opt = torch.optim.SGD(g_bias, lr=a.lr0, momentum=a.momentum, nesterov=True)
    opt.add_param_group({"params": g_w, "weight_decay": decay})
    opt.add_param_group({"params": g_bn, "weight_decay": 0.0})
    lf = lambda e: (1 - e / a.epochs) * (1.0 - a.lrf) + a.lrf  # noqa: E731
    ema = ModelEMA(model)

    gen = torch.Generator().manual_seed(a.seed)
    results, best, last_opt_step = [], None, -1
    t_start = time.perf_counter()
    train_time, steps, step_time = 0.0, 0, 0.0
    stop = False
    for epoch in range(a.epochs):
        model.train()
        opt.zero_grad(set_to_none=True)
        mloss, n_in_epoch = torch.zeros(3), 0
        t_ep = time.perf_counter()
        for i, idx in enumerate(batches(len(tr_imgs), bs, gen, drop_last=not a.keep_last)):
            ni = i + nb * epoch
            x, targets = batch_of(tr_imgs, tr_labels, idx)
            x, targets = augment(x, targets, a.translate, a.scale, gen)
            t0 = time.perf_counter()
            base = a.lr0 * lf(epoch)
            if ni <= nw:
                xi = [0, nw]
                accumulate = max(1, np.interp(ni, xi, [1, nbs / bs]).round())
                for j, g in enumerate(opt.param_groups):
                    g["lr"] = np.interp(ni, xi, [0.1 if j == 0 else 0.0, base])
                    g["momentum"] = np.interp(ni, xi, [0.8, a.momentum])
            else:
                for g in opt.param_groups:
                    g["lr"], g["momentum"] = base, a.momentum
            loss, items = loss_fn(model(x), targets)
            loss.backward()
            if ni - last_opt_step >= accumulate:
                if a.clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=a.clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                ema.update(model)
                last_opt_step = ni
            dt = time.perf_counter() - t0
            step_time += dt
            train_time += dt
            steps += 1
            mloss = (mloss * n_in_epoch + items) / (n_in_epoch + 1)
            n_in_epoch += 1
            if a.log_every and steps % a.log_every == 0:
                print(f"  epoch {epoch} step {i + 1}/{nb}: box {mloss[0]:.4f} obj {mloss[1]:.4f} "
                      f"cls {mloss[2]:.4f} ({1e3 * step_time / steps:.0f} ms/step)", flush=True)
            if a.minutes is not None and time.perf_counter() - t_start >= 60 * a.minutes:
                stop = True
                break
        ep_time = time.perf_counter() - t_ep
        r = {"epoch": epoch, "steps_in_epoch": n_in_epoch, "train_box": float(mloss[0]),
             "train_obj": float(mloss[1]), "train_cls": float(mloss[2]), "lr": float(opt.param_groups[1]["lr"]),
             "ms_per_step": 1e3 * ep_time / max(n_in_epoch, 1),
             "ms_per_step_compute": 1e3 * step_time / max(steps, 1), "epoch_s": ep_time, "train_s": train_time}
        r.update(evaluate(ema.ema, loss_fn, va_imgs, va_labels, S))
        results.append(r)
        print(f"epoch {epoch}: loss box {r['train_box']:.4f} obj {r['train_obj']:.4f} cls {r['train_cls']:.4f} | "
              f"val P {r['P']:.3f} R {r['R']:.3f} mAP50 {r['mAP50']:.4f} mAP50-95 {r['mAP50-95']:.4f} | "
              f"{r['ms_per_step']:.0f} ms/step, {r['ms_per_image_infer']:.2f} ms/image inference", flush=True)
        if best is None or r["fitness"] > best["fitness"]:
            best = r
            if a.save:
                os.makedirs(os.path.dirname(os.path.abspath(a.save)), exist_ok=True)
                torch.save(ema.ema.state_dict(), a.save)
        if stop:
            print(f"stopped after {(time.perf_counter() - t_start) / 60:.2f} minutes (--minutes {a.minutes})",
                  flush=True)
            break

    summary = {"framework": f"PyTorch {torch.__version__}", "variant": variant, "params": params,
               "gflops": gfl, "imgsz": S, "batch": bs, "threads": a.threads, "epochs_planned": a.epochs,
               "minutes": a.minutes, "train_images": len(tr_imgs), "val_images": len(va_imgs),
               "steps": steps, "train_s": train_time, "wall_s": time.perf_counter() - t_start, "clip": a.clip,
               "seed": a.seed, "data": a.data,
               "best": best, "epochs": results}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"best epoch {best['epoch']}: P {best['P']:.3f} R {best['R']:.3f} mAP50 {best['mAP50']:.4f} "
          f"mAP50-95 {best['mAP50-95']:.4f}; wrote {a.out}", flush=True)


if __name__ == "__main__":
    main()
