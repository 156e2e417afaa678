"""YOLOv5 v7.0's training loss in PyTorch, written from its formulas: the reference that zoo's
include/zoo/models/yolo/loss.hpp is tested against (tests/fixtures/make_yolo_loss_fixtures.py)
and the loss of the PyTorch training script of the same recipe.

What it computes (v7.0 utils/loss.py ComputeLoss, utils/metrics.py bbox_iou with CIoU, train.py's
hyp scaling; see docs/models/yolo_loss.md):

  build_targets  per level, targets (image, class, x, y, w, h) normalised → grid units; keep an
                 (anchor, target) pair when max(r, 1/r) < anchor_t on w and h (r = gwh / anchor);
                 each kept pair also goes to the left/up neighbour cell when gxy % 1 < 0.5 and
                 gxy > 1, and to the right/down one when the same holds for (nx, ny) − gxy.
                 Candidates are ordered offset-major (centre, left, up, right, down), then anchor,
                 then target; cell = trunc(gxy − offset) clamped to the grid; tbox = (gxy − cell,
                 gwh) with the CLAMPED cell (v7.0 clamps gij in place before it forms tbox).
  box            pxy = 2σ − 0.5, pwh = (2σ)²·anchor; lbox += mean(1 − CIoU) per level.
  objectness     tobj[b, a, gj, gi] = (1 − gr) + gr·clamp(CIoU.detach(), 0), one write per
                 candidate in order (a later candidate on the same cell overwrites an earlier one);
                 lobj += BCE-with-logits mean over (bs, na, ny, nx) · balance[level].
  class          BCE-with-logits mean over (n, nc), targets 1 / 0; skipped when nc == 1.
  result         (box·lbox + obj·lobj + cls·lcls)·bs, and the three gained parts before ·bs.

Works in float32 (training) and float64 (golden values), on any device.
"""
import math

import torch
import torch.nn.functional as F

# v7.0 Detect anchors in pixels for P3/8, P4/16, P5/32.
YOLOV5_ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
YOLOV5_STRIDES = [8, 16, 32]

# Neighbour offsets in grid cells, in v7.0's order: centre, left, up, right, down.
_OFFSETS = [[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [-0.5, 0.0], [0.0, -0.5]]


def grid_anchors(pixel_anchors=YOLOV5_ANCHORS, strides=YOLOV5_STRIDES, dtype=None):
    """Anchors in grid units (pixels / stride), shape (nl, na, 2), as Detect.anchors after Model()."""
    a = torch.tensor(pixel_anchors, dtype=dtype or torch.get_default_dtype()).view(len(strides), -1, 2)
    return a / torch.tensor(strides, dtype=a.dtype).view(-1, 1, 1)


def scaled_hyp(nl, nc, imgsz, box=0.05, obj=1.0, cls=0.5, anchor_t=4.0):
    """hyp.scratch-low's gains after train.py's `hyp[...] *= ...` lines (same evaluation order)."""
    return {
        "box": box * (3 / nl),
        "cls": cls * (nc / 80 * 3 / nl),
        "obj": obj * ((imgsz / 640) ** 2 * 3 / nl),
        "anchor_t": anchor_t,
        "cls_pw": 1.0,
        "obj_pw": 1.0,
    }


def default_balance(nl):
    """v7.0's objectness weights per level: [4, 1, 0.4] for three levels, else P3..P7's list."""
    return [4.0, 1.0, 0.4] if nl == 3 else [4.0, 1.0, 0.25, 0.06, 0.02][:nl]


def bbox_ciou(box1, box2, eps=1e-7):
    """Complete IoU of matching rows of two (n, 4) xywh tensors; alpha carries no gradient."""
    x1, y1, w1, h1 = box1.unbind(1)
    x2, y2, w2, h2 = box2.unbind(1)
    hw1, hh1, hw2, hh2 = w1 / 2, h1 / 2, w2 / 2, h2 / 2
    l1, r1, t1, b1 = x1 - hw1, x1 + hw1, y1 - hh1, y1 + hh1
    l2, r2, t2, b2 = x2 - hw2, x2 + hw2, y2 - hh2, y2 + hh2
    overlap_w = (torch.minimum(r1, r2) - torch.maximum(l1, l2)).clamp(0)
    overlap_h = (torch.minimum(b1, b2) - torch.maximum(t1, t2)).clamp(0)
    inter = overlap_w * overlap_h
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    # smallest enclosing box: squared diagonal, and squared distance of the centres
    enc_w = torch.maximum(r1, r2) - torch.minimum(l1, l2)
    enc_h = torch.maximum(b1, b2) - torch.minimum(t1, t2)
    diag2 = enc_w ** 2 + enc_h ** 2 + eps
    dist2 = ((l2 + r2 - l1 - r1) ** 2 + (t2 + b2 - t1 - b1) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (dist2 / diag2 + v * alpha)


class YoloLoss:
    """ComputeLoss of v7.0 without a model: nc classes, anchors (nl, na, 2) in grid units, hyp as
    scaled_hyp() returns. Call with p = [level tensors (bs, na, ny, nx, 5 + nc)] and targets
    (nt, 6) rows (image, class, x, y, w, h), normalised; returns (loss·bs, (3,) detached parts).
    After a call, self.tobj holds each level's objectness target (for tests)."""

    def __init__(self, nc, anchors, hyp, balance=None, gr=1.0):
        self.nc = nc
        self.anchors = anchors
        self.nl, self.na = anchors.shape[0], anchors.shape[1]
        self.hyp = hyp
        self.balance = list(balance) if balance is not None else default_balance(self.nl)
        self.gr = gr
        self.tobj = []

    def build_targets(self, p, targets):
        """Per level a dict of b, a, gj, gi (long), tbox (M, 4), anch (M, 2), tcls (long)."""
        nt = targets.shape[0]
        dev, dt = targets.device, targets.dtype
        out = []
        for i, pi in enumerate(p):
            ny, nx = pi.shape[2], pi.shape[3]
            anchors = self.anchors[i].to(dev, dt)  # (na, 2)
            scale = torch.tensor([nx, ny], dtype=dt, device=dev)
            if nt == 0:
                empty = torch.zeros(0, dtype=torch.long, device=dev)
                out.append(dict(b=empty, a=empty, gj=empty, gi=empty, tcls=empty,
                                tbox=torch.zeros(0, 4, dtype=dt, device=dev),
                                anch=torch.zeros(0, 2, dtype=dt, device=dev)))
                continue
            gxy_all = targets[:, 2:4] * scale  # (nt, 2)
            gwh_all = targets[:, 4:6] * scale
            ratio = gwh_all[None] / anchors[:, None]  # (na, nt, 2)
            keep = torch.maximum(ratio, 1 / ratio).amax(2) < self.hyp["anchor_t"]  # (na, nt)
            # kept pairs, anchor-major then target (boolean indexing walks (na, nt) row-major)
            a_idx = torch.arange(self.na, device=dev)[:, None].expand(self.na, nt)[keep]
            t_idx = torch.arange(nt, device=dev)[None, :].expand(self.na, nt)[keep]
            gxy = gxy_all[t_idx]
            flipped = scale - gxy
            low = (gxy % 1 < 0.5) & (gxy > 1)  # (M, 2): x, y towards the left / up cell
            high = (flipped % 1 < 0.5) & (flipped > 1)  # towards the right / down cell
            use = torch.stack([torch.ones_like(low[:, 0]), low[:, 0], low[:, 1], high[:, 0], high[:, 1]])
            m = gxy.shape[0]
            offs = torch.tensor(_OFFSETS, dtype=dt, device=dev)[:, None, :].expand(5, m, 2)[use]
            a_sel = a_idx[None].expand(5, m)[use]
            t_sel = t_idx[None].expand(5, m)[use]
            g = gxy_all[t_sel]
            cell = (g - offs).long()  # truncation toward zero
            # v7.0 clamps its gij in place (gi, gj are views of gij.T), so tbox uses the clamped cell
            cell[:, 0].clamp_(0, nx - 1)
            cell[:, 1].clamp_(0, ny - 1)
            out.append(dict(b=targets[t_sel, 0].long(), a=a_sel, gj=cell[:, 1], gi=cell[:, 0],
                            tcls=targets[t_sel, 1].long(),
                            tbox=torch.cat((g - cell, gwh_all[t_sel]), 1), anch=anchors[a_sel]))
        return out

    def __call__(self, p, targets):
        dev, dt = p[0].device, p[0].dtype
        lbox = torch.zeros((), dtype=dt, device=dev)
        lobj = torch.zeros((), dtype=dt, device=dev)
        lcls = torch.zeros((), dtype=dt, device=dev)
        cls_pw = torch.tensor([self.hyp.get("cls_pw", 1.0)], dtype=dt, device=dev)
        obj_pw = torch.tensor([self.hyp.get("obj_pw", 1.0)], dtype=dt, device=dev)
        self.tobj = []
        for i, (pi, c) in enumerate(zip(p, self.build_targets(p, targets.to(dev, dt)))):
            tobj = torch.zeros(pi.shape[:4], dtype=dt, device=dev)
            n = c["b"].shape[0]
            if n:
                ps = pi[c["b"], c["a"], c["gj"], c["gi"]]  # (n, 5 + nc)
                pxy = ps[:, 0:2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * c["anch"]
                ciou = bbox_ciou(torch.cat((pxy, pwh), 1), c["tbox"])
                lbox = lbox + (1.0 - ciou).mean()
                score = ciou.detach().clamp(0)
                if self.gr < 1:
                    score = (1.0 - self.gr) + self.gr * score
                tobj[c["b"], c["a"], c["gj"], c["gi"]] = score  # duplicates: the last one stays (CPU)
                if self.nc > 1:
                    onehot = torch.zeros_like(ps[:, 5:])
                    onehot[torch.arange(n, device=dev), c["tcls"]] = 1.0
                    lcls = lcls + F.binary_cross_entropy_with_logits(ps[:, 5:], onehot, pos_weight=cls_pw)
            lobj = lobj + F.binary_cross_entropy_with_logits(pi[..., 4], tobj, pos_weight=obj_pw) * self.balance[i]
            self.tobj.append(tobj)
        lbox = lbox * self.hyp["box"]
        lobj = lobj * self.hyp["obj"]
        lcls = lcls * self.hyp["cls"]
        bs = p[0].shape[0]
        return (lbox + lobj + lcls) * bs, torch.stack((lbox, lobj, lcls)).detach()
