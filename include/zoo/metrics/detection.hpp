// zoo/metrics/detection.hpp — detection metrics exactly as YOLOv5 v7.0 computes them
// (val.py's process_batch and statistics, utils/metrics.py's box_iou, ap_per_class,
// compute_ap, smooth, fitness), so that a zoo mAP and a YOLOv5 mAP are the same number.
//
//   iou(l, d)   = inter / (area_l + area_d − inter + 1e-7)                  (in T, as box_iou)
//   iouv        = linspace(0.5, 0.95, 10)
//   correct[d, t]: for threshold t, every (label, detection) pair of one class with
//                iou ≥ iouv[t]; each detection takes its best label (highest IoU), then each
//                label goes to the lowest-index detection that chose it. Not a greedy matcher:
//                a detection whose best label went to another detection is a false positive
//                even when it overlaps a free label.
//   per class c (sorted by −conf): tpc, fpc = cumsums of correct and of !correct,
//                recall = tpc / (n_l + 1e-16), precision = tpc / (tpc + fpc),
//                r(px) = interp(−px, −conf, recall[:, 0], left 0), p(px) likewise with left 1,
//                px = linspace(0, 1, 1000)
//   AP          = trapz(interp(linspace(0, 1, 101), [0, recall, 1], envelope([1, precision, 0])))
//                (101-point COCO interpolation; one perfect detection scores 0.995)
//   f1          = 2pr / (p + r + 1e-16); i = argmax smooth(mean over classes of f1, 0.1);
//                P, R per class at i; mp, mr, map50, map = means over the classes with labels
//   fitness     = 0.1·mAP@0.5 + 0.9·mAP@0.5:0.95
//
// Precision: IoUs and thresholds are computed in T (v7.0 does them in the tensors' dtype);
// the curves in double, as NumPy does on val.py's float32 stats. In double every result
// matches scripts/pytorch/yolo_metrics.py (NumPy's own interp, unique, convolve) to 1e-12.
//
// Ties (documented choices where v7.0's order is unspecified; with distinct values the
// results do not depend on them):
//   * detections of equal conf keep their order of arrival (v7.0: np.argsort's quicksort);
//   * pairs of equal IoU in process_batch: the later pair in (label, detection) row-major
//     order comes first, which is what v7.0's argsort()[::-1] gives whenever numpy's
//     quicksort is an insertion sort (≤ 16 pairs);
//   * interp at an x equal to several equal xp returns fp at the LAST of them, as np.interp
//     does (it finds the largest j with xp[j] ≤ x).
// xtensor has interp and argsort, but xt::interp returns `left` at x == xp[0] (NumPy: fp[0])
// and picks the first of equal xp, and xt::argsort is std::sort (unstable): plain loops here
// say exactly what NumPy does.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace zoo::metrics {

// One detection, as a row of non_max_suppression's output (x1, y1, x2, y2, conf, cls);
// pixels, x2 ≥ x1 and y2 ≥ y1 expected.
template <class T>
struct Detection {
  T x1, y1, x2, y2;
  T conf;
  int cls;
};

// One ground-truth box, as a row of val.py's labelsn (cls, x1, y1, x2, y2), in the same
// pixel space as the detections.
template <class T>
struct Label {
  int cls;
  T x1, y1, x2, y2;
};

inline constexpr std::size_t kNumIou = 10;     // iouv = 0.5:0.05:0.95
using Correct = std::array<bool, kNumIou>;     // one detection's row of val.py's `correct`

// np.linspace(start, stop, num): i·step + start with step = (stop − start)/(num − 1), the
// last point exactly stop.
inline std::vector<double> linspace(double start, double stop, std::size_t num) {
  std::vector<double> y(num);
  if (num == 0) return y;
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (std::size_t i = 0; i < num; ++i) y[i] = static_cast<double>(i) * step + start;
  y[num - 1] = stop;
  return y;
}

// val.py's iouv, computed like np.linspace in double and rounded to T (v7.0 uses
// torch.linspace in float32; the two differ by at most one float ulp).
template <class T>
std::array<T, kNumIou> iou_thresholds() {
  const std::vector<double> v = linspace(0.5, 0.95, kNumIou);
  std::array<T, kNumIou> t{};
  for (std::size_t i = 0; i < kNumIou; ++i) t[i] = static_cast<T>(v[i]);
  return t;
}

// utils/metrics.py box_iou for one pair, with its eps and its order of operations.
template <class T>
T box_iou(T ax1, T ay1, T ax2, T ay2, T bx1, T by1, T bx2, T by2) {
  const T eps = static_cast<T>(1e-7);
  const T iw = std::max(std::min(ax2, bx2) - std::max(ax1, bx1), T(0));
  const T ih = std::max(std::min(ay2, by2) - std::max(ay1, by1), T(0));
  const T inter = iw * ih;
  return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter + eps);
}
template <class T>
T box_iou(const Label<T>& l, const Detection<T>& d) {
  return box_iou(l.x1, l.y1, l.x2, l.y2, d.x1, d.y1, d.x2, d.y2);
}

// np.interp(x, xp, fp, left, right) for one x, with NumPy's arithmetic: j = the largest
// index with xp[j] ≤ x; x < xp[0] → left; x > xp[-1] → right; x == xp[j] or j the last →
// fp[j]; otherwise slope·(x − xp[j]) + fp[j] with slope = (fp[j+1] − fp[j])/(xp[j+1] − xp[j]).
// Equal xp never divide by zero: xp[j] ≤ x < xp[j+1] makes the chosen interval non-empty.
// xp must be non-decreasing (not checked here: the callers build it so).
inline double interp(double x, std::span<const double> xp, std::span<const double> fp, double left,
                     double right) {
  const std::size_t n = xp.size();
  if (x < xp[0]) return left;
  if (x > xp[n - 1]) return right;
  const std::size_t j =
      static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j == n - 1 || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

// utils/metrics.py smooth: a box filter of nf = round(len·f·2)//2 + 1 taps (odd; Python's
// round is half-to-even, as std::nearbyint), the ends padded with copies of the end values.
// Each output is a fresh sum of products in tap order, so equal windows give equal values.
inline std::vector<double> smooth(std::span<const double> y, double f = 0.05) {
  if (y.empty()) throw std::invalid_argument("zoo::metrics::smooth: empty input");
  const auto nf = static_cast<std::size_t>(std::nearbyint(static_cast<double>(y.size()) * f * 2)) / 2 + 1;
  const std::size_t pad = nf / 2;
  std::vector<double> yp;
  yp.reserve(y.size() + 2 * pad);
  yp.insert(yp.end(), pad, y.front());
  yp.insert(yp.end(), y.begin(), y.end());
  yp.insert(yp.end(), pad, y.back());
  const double w = 1.0 / static_cast<double>(nf);
  std::vector<double> out(yp.size() - nf + 1);
  for (std::size_t i = 0; i < out.size(); ++i) {
    double s = 0;
    for (std::size_t k = 0; k < nf; ++k) s += yp[i + k] * w;
    out[i] = s;
  }
  return out;
}

// utils/metrics.py compute_ap: the 101-point interpolated area under the precision
// envelope. recall must be non-decreasing (a cumulative recall is).
inline double compute_ap(std::span<const double> recall, std::span<const double> precision) {
  if (recall.size() != precision.size())
    throw std::invalid_argument("zoo::metrics::compute_ap: recall has " + std::to_string(recall.size()) +
                                " points, precision " + std::to_string(precision.size()));
  std::vector<double> mrec(recall.size() + 2), mpre(recall.size() + 2);
  mrec.front() = 0.0, mrec.back() = 1.0;
  mpre.front() = 1.0, mpre.back() = 0.0;
  std::copy(recall.begin(), recall.end(), mrec.begin() + 1);
  std::copy(precision.begin(), precision.end(), mpre.begin() + 1);
  for (std::size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);  // envelope
  const std::vector<double> x = linspace(0.0, 1.0, 101);
  std::vector<double> y(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) y[k] = interp(x[k], mrec, mpre, mpre.front(), mpre.back());
  double ap = 0;  // np.trapz: Σ (x[k+1] − x[k])·(y[k+1] + y[k]) / 2
  for (std::size_t k = 0; k + 1 < x.size(); ++k) ap += (x[k + 1] - x[k]) * (y[k + 1] + y[k]) / 2.0;
  return ap;
}

namespace detail {

template <class T>
bool finite_box(T x1, T y1, T x2, T y2) {
  return std::isfinite(x1) && std::isfinite(y1) && std::isfinite(x2) && std::isfinite(y2);
}

template <class T>
void check_detections(const char* who, std::span<const Detection<T>> dets, int nc) {
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const Detection<T>& d = dets[i];
    const std::string at = std::string("zoo::metrics::") + who + ": detection " + std::to_string(i);
    if (!finite_box(d.x1, d.y1, d.x2, d.y2)) throw std::invalid_argument(at + " has a non-finite box coordinate");
    if (!std::isfinite(d.conf)) throw std::invalid_argument(at + " has a non-finite confidence");
    if (d.cls < 0 || (nc > 0 && d.cls >= nc))
      throw std::invalid_argument(at + " has class " + std::to_string(d.cls) + ", outside [0, " +
                                  (nc > 0 ? std::to_string(nc) : std::string("∞")) + ")");
  }
}

template <class T>
void check_labels(const char* who, std::span<const Label<T>> labels, int nc) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const Label<T>& l = labels[i];
    const std::string at = std::string("zoo::metrics::") + who + ": label " + std::to_string(i);
    if (!finite_box(l.x1, l.y1, l.x2, l.y2)) throw std::invalid_argument(at + " has a non-finite box coordinate");
    if (l.cls < 0 || (nc > 0 && l.cls >= nc))
      throw std::invalid_argument(at + " has class " + std::to_string(l.cls) + ", outside [0, " +
                                  (nc > 0 ? std::to_string(nc) : std::string("∞")) + ")");
  }
}

}  // namespace detail

// val.py process_batch: which detections are true positives at each IoU threshold.
// An image without labels gives all-false rows (val.py does not call process_batch then).
template <class T>
std::vector<Correct> process_batch(std::span<const Detection<T>> dets, std::span<const Label<T>> labels) {
  detail::check_detections<T>("process_batch", dets, 0);
  detail::check_labels<T>("process_batch", labels, 0);
  const std::size_t n = dets.size(), m = labels.size();
  std::vector<Correct> correct(n, Correct{});
  if (n == 0 || m == 0) return correct;

  std::vector<T> iou(m * n);  // (labels, detections), as box_iou(labels, detections)
  for (std::size_t l = 0; l < m; ++l)
    for (std::size_t d = 0; d < n; ++d) iou[l * n + d] = box_iou(labels[l], dets[d]);

  struct Pair {
    std::size_t label, det, pos;  // pos: row-major rank, torch.where's order
    T iou;
  };
  const std::array<T, kNumIou> iouv = iou_thresholds<T>();
  std::vector<Pair> pairs;
  std::vector<std::size_t> best_label(n);
  std::vector<bool> label_taken(m);
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  for (std::size_t t = 0; t < kNumIou; ++t) {
    pairs.clear();
    for (std::size_t l = 0; l < m; ++l)
      for (std::size_t d = 0; d < n; ++d)
        if (iou[l * n + d] >= iouv[t] && labels[l].cls == dets[d].cls)
          pairs.push_back({l, d, pairs.size(), iou[l * n + d]});
    // matches[argsort(iou)[::-1]]: IoU descending; equal IoUs, later pair first.
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
      return a.iou > b.iou || (a.iou == b.iou && a.pos > b.pos);
    });
    // np.unique(matches[:, 1], return_index): each detection's first (best) pair; the
    // survivors come out ordered by detection index.
    std::fill(best_label.begin(), best_label.end(), none);
    for (const Pair& p : pairs)
      if (best_label[p.det] == none) best_label[p.det] = p.label;
    // np.unique(matches[:, 0], return_index) on that detection-ordered list: each label to
    // the lowest-index detection that chose it.
    std::fill(label_taken.begin(), label_taken.end(), false);
    for (std::size_t d = 0; d < n; ++d) {
      const std::size_t l = best_label[d];
      if (l == none || label_taken[l]) continue;
      label_taken[l] = true;
      correct[d][t] = true;
    }
  }
  return correct;
}

// utils/metrics.py ap_per_class, for the classes that have labels (np.unique(target_cls)).
struct ApPerClass {
  std::vector<int> classes;                    // (nc) classes with labels, ascending
  std::vector<std::size_t> labels;             // (nc) labels of each
  std::vector<double> p, r, f1;                // (nc) at the confidence of max smoothed mean F1
  std::vector<double> tp, fp;                  // (nc) round(r·n_l), round(tp/(p + 1e-16) − tp)
  std::vector<std::array<double, kNumIou>> ap; // (nc, 10) AP at each IoU threshold
  std::size_t best_index = 0;                  // i, into px = linspace(0, 1, 1000)
  double best_conf = 0;                        // px[i]
};

template <class T>
ApPerClass ap_per_class(std::span<const Correct> tp, std::span<const T> conf, std::span<const int> pred_cls,
                        std::span<const int> target_cls) {
  const std::size_t n = tp.size();
  if (conf.size() != n || pred_cls.size() != n)
    throw std::invalid_argument("zoo::metrics::ap_per_class: " + std::to_string(n) + " rows of tp but " +
                                std::to_string(conf.size()) + " confidences and " +
                                std::to_string(pred_cls.size()) + " predicted classes");
  for (std::size_t k = 0; k < n; ++k)
    if (!std::isfinite(conf[k]))
      throw std::invalid_argument("zoo::metrics::ap_per_class: confidence " + std::to_string(k) + " is not finite");
  constexpr double eps = 1e-16;
  constexpr std::size_t npx = 1000;

  // i = argsort(−conf), stable.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return conf[a] > conf[b] || (conf[a] == conf[b] && a < b); });

  ApPerClass out;
  std::vector<int> tc(target_cls.begin(), target_cls.end());
  std::sort(tc.begin(), tc.end());
  for (std::size_t k = 0; k < tc.size();) {
    std::size_t e = k;
    while (e < tc.size() && tc[e] == tc[k]) ++e;
    out.classes.push_back(tc[k]);
    out.labels.push_back(e - k);
    k = e;
  }
  const std::size_t nc = out.classes.size();
  const std::vector<double> px = linspace(0.0, 1.0, npx);
  std::vector<std::vector<double>> p(nc, std::vector<double>(npx, 0.0)), r = p;
  out.ap.assign(nc, {});

  std::vector<double> xp, recall0, precision0, recall, precision;
  std::vector<std::size_t> rows;
  for (std::size_t ci = 0; ci < nc; ++ci) {
    rows.clear();
    for (const std::size_t k : order)
      if (pred_cls[k] == out.classes[ci]) rows.push_back(k);
    const std::size_t n_p = rows.size();
    const double n_l = static_cast<double>(out.labels[ci]);
    if (n_p == 0) continue;

    xp.resize(n_p);  // −conf, ascending
    for (std::size_t k = 0; k < n_p; ++k) xp[k] = -static_cast<double>(conf[rows[k]]);
    recall.resize(n_p);
    precision.resize(n_p);
    for (std::size_t t = 0; t < kNumIou; ++t) {
      double tpc = 0, fpc = 0;
      for (std::size_t k = 0; k < n_p; ++k) {
        (tp[rows[k]][t] ? tpc : fpc) += 1;
        recall[k] = tpc / (n_l + eps);
        precision[k] = tpc / (tpc + fpc);
      }
      if (t == 0) recall0 = recall, precision0 = precision;
      out.ap[ci][t] = compute_ap(recall, precision);
    }
    for (std::size_t k = 0; k < npx; ++k) {
      r[ci][k] = interp(-px[k], xp, recall0, 0.0, recall0.back());
      p[ci][k] = interp(-px[k], xp, precision0, 1.0, precision0.back());
    }
  }

  // f1 per class and its mean over classes (classes without detections count as 0).
  std::vector<std::vector<double>> f1(nc, std::vector<double>(npx));
  std::vector<double> f1_mean(npx, 0.0);
  for (std::size_t ci = 0; ci < nc; ++ci)
    for (std::size_t k = 0; k < npx; ++k) {
      f1[ci][k] = 2 * p[ci][k] * r[ci][k] / (p[ci][k] + r[ci][k] + eps);
      f1_mean[k] += f1[ci][k];
    }
  if (nc > 0) {
    for (double& v : f1_mean) v /= static_cast<double>(nc);
    const std::vector<double> s = smooth(f1_mean, 0.1);
    out.best_index = static_cast<std::size_t>(std::max_element(s.begin(), s.end()) - s.begin());
  }
  out.best_conf = px[out.best_index];
  const std::size_t i = out.best_index;
  for (std::size_t ci = 0; ci < nc; ++ci) {
    out.p.push_back(p[ci][i]);
    out.r.push_back(r[ci][i]);
    out.f1.push_back(f1[ci][i]);
    const double tpi = std::nearbyint(r[ci][i] * static_cast<double>(out.labels[ci]));
    out.tp.push_back(tpi);
    out.fp.push_back(std::nearbyint(tpi / (p[ci][i] + eps) - tpi));
  }
  return out;
}

// What val.py reports: per class (classes with labels) and the means.
struct DetectionMetrics {
  std::vector<int> classes;          // classes with labels, ascending (empty: no true positive at all)
  std::vector<std::size_t> labels;   // labels of each
  std::vector<double> p, r, ap50, ap;  // ap = mean AP over the 10 thresholds
  std::vector<std::array<double, kNumIou>> ap_all;
  double mp = 0, mr = 0, map50 = 0, map = 0;
  std::size_t images = 0;            // val.py's `seen`
  std::vector<std::size_t> labels_per_class;  // (nc) np.bincount(target_cls, minlength = nc)
  std::size_t best_index = 0;        // index into px of the P/R operating point
  // utils/metrics.py fitness: weights [0, 0, 0.1, 0.9] on [P, R, mAP@0.5, mAP@0.5:0.95].
  double fitness() const { return 0.1 * map50 + 0.9 * map; }
  // val.py's `maps`: AP@0.5:0.95 per class of all nc, map for the classes without labels.
  std::vector<double> class_maps() const {
    std::vector<double> m(labels_per_class.size(), map);
    for (std::size_t i = 0; i < classes.size(); ++i) m[static_cast<std::size_t>(classes[i])] = ap[i];
    return m;
  }
};

inline double fitness(const DetectionMetrics& m) { return m.fitness(); }

// val.py's per-image statistics, accumulated over a validation set: per detection its
// `correct` row, conf and class; per label its class. An image with labels and no
// detections adds its labels (misses); one with detections and no labels adds false
// positives; one with neither adds nothing but counts in `images`.
template <class T>
class DetectionStats {
 public:
  explicit DetectionStats(int nc) : nc_(nc) {
    if (nc <= 0) throw std::invalid_argument("zoo::metrics::DetectionStats: nc must be positive, got " + std::to_string(nc));
  }

  void add(std::span<const Detection<T>> dets, std::span<const Label<T>> labels) {
    detail::check_detections<T>("DetectionStats::add", dets, nc_);
    detail::check_labels<T>("DetectionStats::add", labels, nc_);
    ++images_;
    for (const Label<T>& l : labels) target_cls_.push_back(l.cls);
    if (dets.empty()) return;
    const std::vector<Correct> c = process_batch(dets, labels);
    correct_.insert(correct_.end(), c.begin(), c.end());
    for (const Detection<T>& d : dets) {
      conf_.push_back(d.conf);
      pred_cls_.push_back(d.cls);
    }
  }
  void clear() {
    correct_.clear(), conf_.clear(), pred_cls_.clear(), target_cls_.clear();
    images_ = 0;
  }

  // val.py's tail: ap_per_class when any detection is correct at any threshold, else zeros.
  DetectionMetrics compute() const {
    DetectionMetrics m;
    m.images = images_;
    m.labels_per_class.assign(static_cast<std::size_t>(nc_), 0);
    for (const int c : target_cls_) ++m.labels_per_class[static_cast<std::size_t>(c)];
    const bool any = std::any_of(correct_.begin(), correct_.end(), [](const Correct& c) {
      return std::any_of(c.begin(), c.end(), [](bool b) { return b; });
    });
    if (!any) return m;
    const ApPerClass a = ap_per_class<T>(correct_, conf_, pred_cls_, target_cls_);
    m.classes = a.classes;
    m.labels = a.labels;
    m.p = a.p;
    m.r = a.r;
    m.ap_all = a.ap;
    m.best_index = a.best_index;
    const double nc = static_cast<double>(a.classes.size());
    for (std::size_t i = 0; i < a.classes.size(); ++i) {
      double s = 0;
      for (const double v : a.ap[i]) s += v;
      m.ap50.push_back(a.ap[i][0]);
      m.ap.push_back(s / static_cast<double>(kNumIou));
      m.mp += a.p[i], m.mr += a.r[i], m.map50 += m.ap50.back(), m.map += m.ap.back();
    }
    m.mp /= nc, m.mr /= nc, m.map50 /= nc, m.map /= nc;
    return m;
  }

  int num_classes() const { return nc_; }
  std::size_t images() const { return images_; }
  const std::vector<Correct>& correct() const { return correct_; }
  const std::vector<T>& conf() const { return conf_; }
  const std::vector<int>& pred_cls() const { return pred_cls_; }
  const std::vector<int>& target_cls() const { return target_cls_; }

 private:
  int nc_;
  std::size_t images_ = 0;
  std::vector<Correct> correct_;
  std::vector<T> conf_;
  std::vector<int> pred_cls_, target_cls_;
};

}  // namespace zoo::metrics
