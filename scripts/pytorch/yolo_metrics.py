"""YOLOv5 v7.0's NMS and detection metrics, as an importable NumPy/PyTorch reference.

Written from the formulas of v7.0's utils/general.py (non_max_suppression), val.py
(process_batch, the per-image statistics and their summary) and utils/metrics.py (box_iou,
ap_per_class, compute_ap, smooth, fitness); it needs numpy and torch, not torchvision (the
greedy NMS is written out with torchvision.ops.nms's semantics). zoo's C++ twins are
include/zoo/models/yolo/nms.hpp and include/zoo/metrics/detection.hpp; the golden fixture
tests/fixtures/yolo_metrics.txt is made from this module by
tests/fixtures/make_yolo_metrics_fixtures.py.

Where v7.0's result depends on an unstable sort (equal confidences, equal IoUs) this module
fixes the order, the same way as the C++ code:
  * candidates / detections of equal conf keep their order of arrival (stable sorts);
  * in process_batch, pairs of equal IoU: the later pair in (label, detection) row-major
    order first (a stable argsort reversed, which is what v7.0 gets for <= 16 pairs).
With distinct values the results are v7.0's.

Typical use (a validation loop):

    stats = DetectionStats(nc)
    for images, targets in loader:
        out = non_max_suppression(model(images), conf_thres=0.001, iou_thres=0.6, multi_label=True)
        for det, lab in zip(out, per_image_labels):   # lab: (m, 5) cls, x1, y1, x2, y2 in pixels
            stats.add(det, lab)
    m = stats.compute()   # dict: mp, mr, map50, map, fitness, per-class arrays
"""
import numpy as np
import torch

MAX_WH = 7680  # class offset of class-aware NMS, pixels
MAX_NMS = 30000  # boxes into the greedy pass


def iou_thresholds():
    """val.py's iouv (np.linspace here; v7.0 uses torch.linspace in float32)."""
    return np.linspace(0.5, 0.95, 10)


def xywh2xyxy(x):
    """(x, y, w, h) -> (x1, y1, x2, y2), torch or numpy."""
    y = x.clone() if isinstance(x, torch.Tensor) else np.copy(x)
    y[..., 0] = x[..., 0] - x[..., 2] / 2
    y[..., 1] = x[..., 1] - x[..., 3] / 2
    y[..., 2] = x[..., 0] + x[..., 2] / 2
    y[..., 3] = x[..., 1] + x[..., 3] / 2
    return y


def box_iou(box1, box2, eps=1e-7):
    """IoU matrix (N, M) of xyxy boxes (N, 4) and (M, 4), torch, with v7.0's eps."""
    a1, a2 = box1[:, None, :2], box1[:, None, 2:]
    b1, b2 = box2[None, :, :2], box2[None, :, 2:]
    inter = (torch.min(a2, b2) - torch.max(a1, b1)).clamp(0).prod(2)
    return inter / ((a2 - a1).prod(2) + (b2 - b1).prod(2) - inter + eps)


def nms(boxes, scores, iou_thres):
    """Greedy NMS with torchvision.ops.nms's semantics: indices of the kept boxes, by score
    descending. IoU without eps; a later box is suppressed when IoU > iou_thres (compared in
    double, as torchvision's kernel does)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = (x2 - x1) * (y2 - y1)
    n = b.shape[0]
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if i + 1 == n:
            break
        w = (torch.min(x2[i], x2[i + 1:]) - torch.max(x1[i], x1[i + 1:])).clamp(min=0)
        h = (torch.min(y2[i], y2[i + 1:]) - torch.max(y1[i], y1[i + 1:])).clamp(min=0)
        inter = w * h
        ovr = inter / (area[i] + area[i + 1:] - inter)
        suppressed[i + 1:] |= (ovr.double() > iou_thres).numpy()
    return order[torch.tensor(keep, dtype=torch.long)]


def non_max_suppression(prediction, conf_thres=0.25, iou_thres=0.45, agnostic=False, multi_label=False,
                        max_det=300):
    """v7.0's non_max_suppression on the decoded Detect output (bs, n, 5 + nc): xywh in pixels,
    obj, class probabilities. Returns a list of (k, 6) tensors (x1, y1, x2, y2, conf, cls)."""
    assert 0 <= conf_thres <= 1, f"conf_thres {conf_thres} outside [0, 1]"
    assert 0 <= iou_thres <= 1, f"iou_thres {iou_thres} outside [0, 1]"
    if prediction.dim() == 2:
        prediction = prediction[None]
    bs, nc = prediction.shape[0], prediction.shape[2] - 5
    multi_label &= nc > 1
    out = [torch.zeros((0, 6), dtype=prediction.dtype, device=prediction.device)] * bs
    for xi, x in enumerate(prediction):
        x = x[x[:, 4] > conf_thres]
        if not x.shape[0]:
            continue
        conf_all = x[:, 5:] * x[:, 4:5]
        box = xywh2xyxy(x[:, :4])
        if multi_label:
            i, j = (conf_all > conf_thres).nonzero(as_tuple=False).T
            x = torch.cat((box[i], conf_all[i, j, None], j[:, None].to(x.dtype)), 1)
        else:
            conf, j = conf_all.max(1, keepdim=True)
            x = torch.cat((box, conf, j.to(x.dtype)), 1)[conf.view(-1) > conf_thres]
        if not x.shape[0]:
            continue
        x = x[torch.sort(x[:, 4], descending=True, stable=True).indices[:MAX_NMS]]
        c = x[:, 5:6] * (0 if agnostic else MAX_WH)
        keep = nms(x[:, :4] + c, x[:, 4], iou_thres)[:max_det]
        out[xi] = x[keep]
    return out


def process_batch(detections, labels, iouv=None):
    """val.py process_batch: (n, 10) bool of true positives. detections (n, 6) x1, y1, x2, y2,
    conf, cls; labels (m, 5) cls, x1, y1, x2, y2 (torch)."""
    iouv = torch.as_tensor(iou_thresholds() if iouv is None else iouv, dtype=detections.dtype)
    correct = np.zeros((detections.shape[0], iouv.shape[0]), dtype=bool)
    if labels.shape[0] == 0 or detections.shape[0] == 0:
        return torch.tensor(correct)
    iou = box_iou(labels[:, 1:], detections[:, :4])
    same_class = labels[:, 0:1] == detections[:, 5]
    for t in range(len(iouv)):
        x = torch.where((iou >= iouv[t]) & same_class)  # row-major (label, detection)
        if x[0].shape[0]:
            matches = torch.cat((torch.stack(x, 1).to(iou.dtype), iou[x[0], x[1]][:, None]), 1).numpy()
            if x[0].shape[0] > 1:
                matches = matches[matches[:, 2].argsort(kind="stable")[::-1]]
                matches = matches[np.unique(matches[:, 1], return_index=True)[1]]  # each detection's best label
                matches = matches[np.unique(matches[:, 0], return_index=True)[1]]  # each label once
            correct[matches[:, 1].astype(int), t] = True
    return torch.tensor(correct)


def smooth(y, f=0.05):
    """Box filter of fraction f (odd number of taps), ends padded with the end values."""
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def compute_ap(recall, precision):
    """101-point interpolated AP of one recall/precision curve; returns (ap, mpre, mrec)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return np.trapz(np.interp(x, mrec, mpre), x), mpre, mrec


def ap_per_class(tp, conf, pred_cls, target_cls, eps=1e-16, return_index=False):
    """utils/metrics.py ap_per_class (no plots). tp (n, 10) bool, conf (n), pred_cls (n),
    target_cls (m). Returns tp, fp, p, r, f1, ap (nc, 10), classes (+ the px index i)."""
    i = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[i], conf[i], pred_cls[i]
    unique_classes, nt = np.unique(target_cls, return_counts=True)
    nc = unique_classes.shape[0]
    px = np.linspace(0, 1, 1000)
    ap, p, r = np.zeros((nc, tp.shape[1])), np.zeros((nc, 1000)), np.zeros((nc, 1000))
    for ci, c in enumerate(unique_classes):
        i = pred_cls == c
        n_l, n_p = nt[ci], i.sum()
        if n_p == 0 or n_l == 0:
            continue
        fpc = (1 - tp[i]).cumsum(0)
        tpc = tp[i].cumsum(0)
        recall = tpc / (n_l + eps)
        r[ci] = np.interp(-px, -conf[i], recall[:, 0], left=0)
        precision = tpc / (tpc + fpc)
        p[ci] = np.interp(-px, -conf[i], precision[:, 0], left=1)
        for j in range(tp.shape[1]):
            ap[ci, j], _, _ = compute_ap(recall[:, j], precision[:, j])
    f1 = 2 * p * r / (p + r + eps)
    i = smooth(f1.mean(0), 0.1).argmax()
    p, r, f1 = p[:, i], r[:, i], f1[:, i]
    tp = (r * nt).round()
    fp = (tp / (p + eps) - tp).round()
    res = (tp, fp, p, r, f1, ap, unique_classes.astype(int))
    return res + (int(i),) if return_index else res


def fitness(map50, map):
    """utils/metrics.py fitness: 0.1 mAP@0.5 + 0.9 mAP@0.5:0.95 (P and R weigh 0)."""
    return 0.1 * map50 + 0.9 * map


class DetectionStats:
    """val.py's per-image statistics and their summary."""

    def __init__(self, nc):
        self.nc = nc
        self.stats = []  # (correct, conf, pred_cls, target_cls) per image
        self.seen = 0

    def add(self, det, labels):
        """det (n, 6) from non_max_suppression; labels (m, 5) cls, x1, y1, x2, y2 in det's space."""
        det, labels = torch.as_tensor(det), torch.as_tensor(labels)
        self.seen += 1
        nl, npr = labels.shape[0], det.shape[0]
        if npr == 0:
            if nl:
                self.stats.append((np.zeros((0, 10), dtype=bool), np.zeros(0), np.zeros(0), labels[:, 0].numpy()))
            return
        correct = process_batch(det, labels) if nl else torch.zeros(npr, 10, dtype=torch.bool)
        self.stats.append((correct.numpy(), det[:, 4].numpy(), det[:, 5].numpy(), labels[:, 0].numpy()))

    def arrays(self):
        """The concatenated (correct, conf, pred_cls, target_cls)."""
        if not self.stats:
            return np.zeros((0, 10), dtype=bool), np.zeros(0), np.zeros(0), np.zeros(0)
        return [np.concatenate(x, 0) for x in zip(*self.stats)]

    def compute(self):
        tp, conf, pcls, tcls = self.arrays()
        res = dict(mp=0.0, mr=0.0, map50=0.0, map=0.0, classes=np.zeros(0, dtype=int), p=np.zeros(0),
                   r=np.zeros(0), ap50=np.zeros(0), ap=np.zeros(0), ap_all=np.zeros((0, 10)), best_index=0,
                   images=self.seen, labels_per_class=np.bincount(tcls.astype(int), minlength=self.nc))
        if len(tp) and tp.any():
            _, _, p, r, _, ap, classes, i = ap_per_class(tp, conf, pcls, tcls, return_index=True)
            ap50, apm = ap[:, 0], ap.mean(1)
            res.update(mp=p.mean(), mr=r.mean(), map50=ap50.mean(), map=apm.mean(), classes=classes, p=p, r=r,
                       ap50=ap50, ap=apm, ap_all=ap, best_index=i)
        res["fitness"] = fitness(res["map50"], res["map"])
        return res
