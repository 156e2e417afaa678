// zoo/models/yolo/nms.hpp — non-maximum suppression as YOLOv5 v7.0's
// utils/general.py non_max_suppression, on the decoded Detect output.
//
// Input: (bs, n, 5 + nc) rows (x, y, w, h in pixels, obj, p_0 … p_{nc−1}), the
// probabilities already passed through the sigmoid. Per image:
//   1. keep rows with obj > conf_thres;
//   2. conf_c = p_c · obj; box = (x − w/2, y − h/2, x + w/2, y + h/2);
//   3. multi_label (and nc > 1): one candidate per (row, class) with conf_c > conf_thres,
//      in (row, class) order; otherwise the best class (the first of equal maxima) if its
//      conf > conf_thres;
//   4. sort by conf descending, keep the first max_nms (30000);
//   5. greedy NMS as torchvision.ops.nms on boxes offset by cls·max_wh (7680) — so boxes of
//      different classes never overlap — unless agnostic: in sorted order keep a box,
//      suppress every later box with IoU > iou_thres, IoU = inter / (area_a + area_b − inter)
//      without eps, computed on the offset boxes;
//   6. keep the first max_det (300).
// Output per image: {x1, y1, x2, y2, conf, cls} (original boxes, not offset) in the kept
// order, i.e. by conf descending.
//
// Arithmetic is in T as PyTorch's is in the tensor's dtype; conf_thres is compared in T
// (PyTorch casts the Python float to the tensor's dtype), iou_thres in double (torchvision's
// kernel compares a scalar_t IoU with a double threshold).
// Ties: candidates of equal conf keep their (row, class) order — a stable sort. PyTorch's
// argsort(descending=True) is not stable, so v7.0's order of equal confs is unspecified;
// with distinct confs the two agree exactly. v7.0's wall-clock time limit is not mirrored.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../core/tensor.hpp"
#include "../../metrics/detection.hpp"

namespace zoo::yolo {

using metrics::Detection;

struct NmsOptions {
  double conf_thres = 0.25;    // val.py uses 0.001
  double iou_thres = 0.45;     // val.py uses 0.6
  bool agnostic = false;       // class-agnostic NMS (val.py: single_cls)
  bool multi_label = false;    // val.py uses true
  std::size_t max_det = 300;   // detections kept per image
  std::size_t max_nms = 30000; // boxes into the greedy pass
  double max_wh = 7680;        // class offset in pixels
};

namespace detail {

inline void check_nms_options(const NmsOptions& o) {
  if (!(o.conf_thres >= 0 && o.conf_thres <= 1))
    throw std::invalid_argument("zoo::yolo::non_max_suppression: conf_thres must be in [0, 1], got " +
                                std::to_string(o.conf_thres));
  if (!(o.iou_thres >= 0 && o.iou_thres <= 1))
    throw std::invalid_argument("zoo::yolo::non_max_suppression: iou_thres must be in [0, 1], got " +
                                std::to_string(o.iou_thres));
  if (!(o.max_wh > 0)) throw std::invalid_argument("zoo::yolo::non_max_suppression: max_wh must be positive");
}

}  // namespace detail

// One image: pred is (n, 5 + nc), row-major.
template <class T>
std::vector<Detection<T>> non_max_suppression_image(const T* pred, std::size_t n, std::size_t nc,
                                                    const NmsOptions& opt = {}) {
  detail::check_nms_options(opt);
  if (nc == 0) throw std::invalid_argument("zoo::yolo::non_max_suppression: nc must be at least 1");
  const std::size_t no = 5 + nc;
  for (std::size_t i = 0; i < n * no; ++i)
    if (!std::isfinite(pred[i]))
      throw std::invalid_argument("zoo::yolo::non_max_suppression: prediction row " + std::to_string(i / no) +
                                  ", column " + std::to_string(i % no) + " is not finite (" +
                                  std::to_string(static_cast<double>(pred[i])) + ")");
  const T conf_thres = static_cast<T>(opt.conf_thres);
  const bool multi_label = opt.multi_label && nc > 1;

  std::vector<Detection<T>> cand;
  for (std::size_t i = 0; i < n; ++i) {
    const T* x = pred + i * no;
    const T obj = x[4];
    if (!(obj > conf_thres)) continue;
    const T hw = x[2] / 2, hh = x[3] / 2;
    const T x1 = x[0] - hw, y1 = x[1] - hh, x2 = x[0] + hw, y2 = x[1] + hh;
    if (multi_label) {
      for (std::size_t c = 0; c < nc; ++c) {
        const T conf = x[5 + c] * obj;
        if (conf > conf_thres) cand.push_back({x1, y1, x2, y2, conf, static_cast<int>(c)});
      }
    } else {
      std::size_t best = 0;
      T best_conf = x[5] * obj;
      for (std::size_t c = 1; c < nc; ++c) {
        const T conf = x[5 + c] * obj;
        if (conf > best_conf) best_conf = conf, best = c;
      }
      if (best_conf > conf_thres) cand.push_back({x1, y1, x2, y2, best_conf, static_cast<int>(best)});
    }
  }
  // Descending confidence, ties in arrival order (a stable sort, written as std::sort with
  // the index as tie-break: std::stable_sort's buffer is deprecated API under clang 19).
  {
    std::vector<std::size_t> idx(cand.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
      return cand[a].conf > cand[b].conf || (cand[a].conf == cand[b].conf && a < b);
    });
    std::vector<Detection<T>> sorted;
    sorted.reserve(cand.size());
    for (const std::size_t i : idx) sorted.push_back(cand[i]);
    cand.swap(sorted);
  }
  if (cand.size() > opt.max_nms) cand.resize(opt.max_nms);

  // torchvision.ops.nms on the offset boxes, in the (already descending) score order.
  const std::size_t m = cand.size();
  std::vector<T> bx1(m), by1(m), bx2(m), by2(m), area(m);
  for (std::size_t k = 0; k < m; ++k) {
    const T off = opt.agnostic ? T(0) : static_cast<T>(cand[k].cls) * static_cast<T>(opt.max_wh);
    bx1[k] = cand[k].x1 + off, by1[k] = cand[k].y1 + off;
    bx2[k] = cand[k].x2 + off, by2[k] = cand[k].y2 + off;
    area[k] = (bx2[k] - bx1[k]) * (by2[k] - by1[k]);
  }
  std::vector<bool> suppressed(m, false);
  std::vector<Detection<T>> out;
  for (std::size_t a = 0; a < m && out.size() < opt.max_det; ++a) {
    if (suppressed[a]) continue;
    out.push_back(cand[a]);
    for (std::size_t b = a + 1; b < m; ++b) {
      if (suppressed[b]) continue;
      const T w = std::max(T(0), std::min(bx2[a], bx2[b]) - std::max(bx1[a], bx1[b]));
      const T h = std::max(T(0), std::min(by2[a], by2[b]) - std::max(by1[a], by1[b]));
      const T inter = w * h;
      const T ovr = inter / (area[a] + area[b] - inter);  // 0/0 (two empty boxes) is NaN: kept
      if (static_cast<double>(ovr) > opt.iou_thres) suppressed[b] = true;
    }
  }
  return out;
}

// A batch: pred is (bs, n, 5 + nc), row-major.
template <class T>
std::vector<std::vector<Detection<T>>> non_max_suppression(const T* pred, std::size_t bs, std::size_t n,
                                                           std::size_t nc, const NmsOptions& opt = {}) {
  std::vector<std::vector<Detection<T>>> out(bs);
  for (std::size_t b = 0; b < bs; ++b) {
    try {
      out[b] = non_max_suppression_image(pred + b * n * (5 + nc), n, nc, opt);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " (image " + std::to_string(b) + ")");
    }
  }
  return out;
}

// A tensor (bs, n, 5 + nc), or (n, 5 + nc) for one image; nc is what the caller's model
// predicts, checked against the last dimension.
template <class T>
std::vector<std::vector<Detection<T>>> non_max_suppression(const Tensor<T>& pred, std::size_t nc,
                                                           const NmsOptions& opt = {}) {
  const auto s = pred.shape();
  if (s.size() != 2 && s.size() != 3)
    throw std::invalid_argument("zoo::yolo::non_max_suppression: prediction must be (bs, n, 5 + nc) or (n, 5 + nc), got rank " +
                                std::to_string(s.size()));
  if (s.back() != 5 + nc)
    throw std::invalid_argument("zoo::yolo::non_max_suppression: prediction rows have " + std::to_string(s.back()) +
                                " values but nc = " + std::to_string(nc) + " needs 5 + nc = " +
                                std::to_string(5 + nc));
  const std::size_t bs = s.size() == 3 ? s[0] : 1, n = s[s.size() - 2];
  return non_max_suppression(pred.data(), bs, n, nc, opt);
}

}  // namespace zoo::yolo
