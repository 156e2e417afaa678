// zoo/models/yolo/loss.hpp — YOLOv5 v7.0's training loss (utils/loss.py ComputeLoss, CIoU from
// utils/metrics.py bbox_iou, gains scaled as train.py does), its value, three parts and the gradient
// with respect to every raw prediction, derived by hand. Reference: scripts/pytorch/yolo_loss.py;
// docs/models/yolo_loss.md says the same in prose.
//
// Predictions: bs samples; a sample holds the levels one after another, level l as
// (na, ny, nx, 5 + nc) raw values (x, y, w, h, obj, classes) — a Detect layer's raw maps.
// Targets: (image, class, x, y, w, h), xywh normalised to [0, 1].
//
//  build_targets, per level (grid units: g = (x·nx, y·ny), gwh = (w·nx, h·ny)):
//    keep (anchor a, target t) when max(r, 1/r) < anchor_t for r = gw/aw and r = gh/ah;
//    each kept pair gives the centre cell, plus the left (up) cell when g % 1 < 0.5 and g > 1 on x (y),
//    plus the right (down) cell when the same holds for (nx, ny) − g. Order: offset (centre, left, up,
//    right, down), then anchor, then target. cell = trunc(g − offset), clamped to the grid;
//    tbox = (g − cell, gwh) with the clamped cell (v7.0 clamps gij in place before forming tbox).
//  per candidate: pxy = 2σ(p_xy) − 0.5, pwh = (2σ(p_wh))²·anchor,
//    CIoU = IoU − ρ²/c² − α·v,  v = 4/π²·(atan(w2/h2) − atan(w1/h1))²,  α = v/(v − IoU + 1 + ε) held
//    constant (no_grad), ε = 1e-7 in the union and c².
//  lbox = Σ_l mean(1 − CIoU);  lcls = Σ_l mean over (n, nc) of BCE(p_cls, one-hot) (none when nc == 1);
//  lobj = Σ_l balance_l · mean over (bs, na, ny, nx) of BCE(p_obj, tobj),
//    tobj[b, a, gj, gi] = (1 − gr) + gr·max(CIoU, 0) held constant, 0 elsewhere; candidates write
//    in order, so where two land on one (b, a, gj, gi) the LAST one's value stays (PyTorch's CPU
//    index_put does the same below 32768 candidates; on CUDA or in parallel its winner is unspecified).
//  parts = (box·lbox, obj·lobj, cls·lcls); total = (sum of parts)·bs, the value train.py backpropagates.
//
// Gradient conventions are autograd's on v7.0's expressions: clamp(0) passes gradient where its input
// is ≥ 0; min/max split it half and half on exact ties; α and tobj are constants. The gradient is
// WRITTEN (not added) over the whole prediction tensor: the objectness logit of every cell gets
// one, box and class logits only at candidate cells (summed over repeated candidates), 0 elsewhere.
//
// All buffers (candidates, tobj, α) live in the object and keep their capacity, so calls allocate
// nothing once a batch as large and as many targets have been seen.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace zoo::yolo {

// One labelled box, as a row of YOLOv5's targets tensor.
template <class T>
struct Target {
  std::size_t image;  // index in the batch
  int cls;
  T x, y, w, h;       // normalised centre and size
};

// The loss hyperparameters of hyp.scratch-low.yaml (focal loss off, no label smoothing,
// cls_pw = obj_pw = 1) and ComputeLoss's gr and balance.
struct LossHyp {
  double box = 0.05, obj = 1.0, cls = 0.5, anchor_t = 4.0;
  double gr = 1.0;              // tobj = (1 − gr) + gr·max(CIoU, 0)
  std::vector<double> balance;  // objectness weight per level; empty: default_balance(nl)

  // v7.0: {3: [4.0, 1.0, 0.4]}.get(nl, [4.0, 1.0, 0.25, 0.06, 0.02])
  static std::vector<double> default_balance(std::size_t nl) {
    if (nl == 3) return {4.0, 1.0, 0.4};
    if (nl == 0 || nl > 5)
      throw std::invalid_argument("zoo::yolo::LossHyp: no default objectness balance for " +
                                  std::to_string(nl) + " levels (v7.0 has them for 1 to 5); set balance");
    const double all[5] = {4.0, 1.0, 0.25, 0.06, 0.02};
    return std::vector<double>(all, all + nl);
  }
  // The defaults after train.py's `hyp['box'] *= 3 / nl`, `hyp['cls'] *= nc / 80 * 3 / nl`,
  // `hyp['obj'] *= (imgsz / 640) ** 2 * 3 / nl` (same evaluation order, so the same doubles).
  static LossHyp scaled(std::size_t nl, std::size_t nc, std::size_t imgsz) {
    if (nl == 0) throw std::invalid_argument("zoo::yolo::LossHyp::scaled: nl must be positive");
    LossHyp h;
    const double l = static_cast<double>(nl);
    const double q = static_cast<double>(imgsz) / 640.0;
    h.box *= 3.0 / l;
    h.cls *= static_cast<double>(nc) / 80.0 * 3.0 / l;
    h.obj *= q * q * 3.0 / l;
    return h;
  }
};

struct LevelGeom {
  std::size_t ny, nx;
};

template <class T>
struct LossParts {
  T box, obj, cls;  // each times its gain, before ·bs (v7.0's loss_items)
  T total;          // (box + obj + cls)·bs
};

// One row of build_targets' result for a level.
template <class T>
struct Candidate {
  std::size_t image, anchor, gj, gi;  // the prediction cell it is matched to
  int cls;
  T tx, ty, tw, th;  // tbox: centre relative to the (clamped) cell, size, grid units
  std::size_t target;  // its row in the targets span
};

namespace detail {
template <class T>
T sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
// BCE-with-logits of one logit: max(x, 0) − x·y + log(1 + e^{−|x|}).
template <class T>
double bce_logits(T x, T y) {
  return static_cast<double>(std::max(x, T(0)) - x * y + std::log1p(std::exp(-std::abs(x))));
}
// autograd's share of d min(a, b)/da and d max(a, b)/da (torch.minimum/maximum: half on a tie)
template <class T>
T min_share(T a, T b) {
  return a < b ? T(1) : (a == b ? T(0.5) : T(0));
}
template <class T>
T max_share(T a, T b) {
  return a > b ? T(1) : (a == b ? T(0.5) : T(0));
}
}  // namespace detail

template <class T>
class ComputeLoss {
 public:
  ComputeLoss(std::size_t nc, std::size_t na, std::vector<LevelGeom> levels,
              std::vector<T> anchors,  // (nl, na, 2) grid units (pixels / stride), as Detect.anchors
              LossHyp hyp)
      : nc_(nc), na_(na), levels_(std::move(levels)), anchors_(std::move(anchors)), hyp_(std::move(hyp)) {
    const std::string who = "zoo::yolo::ComputeLoss: ";
    if (nc_ == 0) throw std::invalid_argument(who + "nc must be at least 1");
    if (na_ == 0) throw std::invalid_argument(who + "na must be at least 1");
    if (levels_.empty()) throw std::invalid_argument(who + "no levels given");
    for (std::size_t l = 0; l < levels_.size(); ++l)
      if (levels_[l].ny == 0 || levels_[l].nx == 0)
        throw std::invalid_argument(who + "level " + std::to_string(l) + " has an empty grid");
    if (anchors_.size() != levels_.size() * na_ * 2)
      throw std::invalid_argument(who + "expected nl·na·2 = " + std::to_string(levels_.size() * na_ * 2) +
                                  " anchor values, got " + std::to_string(anchors_.size()));
    for (std::size_t i = 0; i < anchors_.size(); ++i)
      if (!(std::isfinite(anchors_[i]) && anchors_[i] > T(0)))
        throw std::invalid_argument(who + "anchor value " + std::to_string(i) + " is not a positive number");
    if (hyp_.balance.empty()) hyp_.balance = LossHyp::default_balance(levels_.size());
    if (hyp_.balance.size() < levels_.size())
      throw std::invalid_argument(who + "balance has " + std::to_string(hyp_.balance.size()) +
                                  " weights for " + std::to_string(levels_.size()) + " levels");
    if (!(hyp_.anchor_t > 0)) throw std::invalid_argument(who + "anchor_t must be positive");

    std::size_t off = 0;
    for (const auto& g : levels_) {
      level_offset_.push_back(off);
      off += na_ * g.ny * g.nx * no();
    }
    sample_size_ = off;
    candidates_.resize(levels_.size());
    tobj_.resize(levels_.size());
    alpha_.resize(levels_.size());
  }

  std::size_t nc() const { return nc_; }
  std::size_t na() const { return na_; }
  std::size_t nl() const { return levels_.size(); }
  std::size_t no() const { return nc_ + 5; }                  // values per anchor and cell
  std::size_t sample_size() const { return sample_size_; }    // na·Σ ny·nx·no
  std::size_t level_offset(std::size_t l) const { return level_offset_.at(l); }  // in a sample
  const LossHyp& hyp() const { return hyp_; }

  // Matching only (also run by operator()): fills candidates(l) for every level.
  void build_targets(std::size_t bs, std::span<const Target<T>> targets) {
    validate(bs, targets);
    for (std::size_t l = 0; l < nl(); ++l) build_level(l, targets);
  }
  std::span<const Candidate<T>> candidates(std::size_t l) const { return candidates_.at(l); }
  // The objectness target of the last call, (bs, na, ny, nx) for level l.
  std::span<const T> objectness_target(std::size_t l) const { return tobj_.at(l); }

  // While on, calls reuse the last call's α and objectness targets instead of recomputing them:
  // the function whose derivative the analytic gradient is (for finite-difference checks). The
  // batch size and targets must not change meanwhile.
  void freeze_detached(bool on) { frozen_ = on; }

  // The loss of raw predictions `pred` (bs · sample_size() values); writes d total / d pred into
  // `dpred` (same size) unless it is nullptr.
  LossParts<T> operator()(const T* pred, T* dpred, std::size_t bs, std::span<const Target<T>> targets) {
    if (pred == nullptr) throw std::invalid_argument("zoo::yolo::ComputeLoss: pred is null");
    build_targets(bs, targets);
    double lbox = 0, lobj = 0, lcls = 0;
    for (std::size_t l = 0; l < nl(); ++l) level_loss(l, pred, dpred, bs, lbox, lobj, lcls);
    LossParts<T> r;
    r.box = static_cast<T>(lbox);
    r.obj = static_cast<T>(lobj);
    r.cls = static_cast<T>(lcls);
    r.total = static_cast<T>((lbox + lobj + lcls) * static_cast<double>(bs));
    return r;
  }
  // Size-checked form.
  LossParts<T> operator()(std::span<const T> pred, std::span<T> dpred, std::size_t bs,
                          std::span<const Target<T>> targets) {
    if (pred.size() != bs * sample_size_)
      throw std::invalid_argument("zoo::yolo::ComputeLoss: pred holds " + std::to_string(pred.size()) +
                                  " values; bs·sample_size() = " + std::to_string(bs * sample_size_));
    if (!dpred.empty() && dpred.size() != pred.size())
      throw std::invalid_argument("zoo::yolo::ComputeLoss: dpred holds " + std::to_string(dpred.size()) +
                                  " values, pred " + std::to_string(pred.size()));
    return (*this)(pred.data(), dpred.empty() ? nullptr : dpred.data(), bs, targets);
  }

 private:
  struct Kept {  // an (anchor, target) pair that passed the ratio test
    std::size_t anchor, target;
    T gx, gy;
    bool use[5];  // centre, left, up, right, down
  };

  // Messages are built only on failure: a valid call allocates nothing.
  void validate(std::size_t bs, std::span<const Target<T>> targets) const {
    if (bs == 0) throw std::invalid_argument("zoo::yolo::ComputeLoss: batch size must be positive");
    auto fail = [](std::size_t i, const std::string& what) {
      throw std::invalid_argument("zoo::yolo::ComputeLoss: target " + std::to_string(i) + ": " + what);
    };
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const Target<T>& t = targets[i];
      if (t.image >= bs)
        fail(i, "image " + std::to_string(t.image) + " is not in a batch of " + std::to_string(bs));
      if (t.cls < 0 || static_cast<std::size_t>(t.cls) >= nc_)
        fail(i, "class " + std::to_string(t.cls) + " is outside [0, " + std::to_string(nc_) + ")");
      if (!std::isfinite(t.x) || !std::isfinite(t.y)) fail(i, "centre (x, y) is not finite");
      if (!(std::isfinite(t.w) && t.w > T(0) && std::isfinite(t.h) && t.h > T(0)))
        fail(i, "width and height must be finite and positive, got w = " +
                    std::to_string(static_cast<double>(t.w)) + ", h = " + std::to_string(static_cast<double>(t.h)));
    }
  }

  // trunc(v) clamped to [0, n − 1], without converting values out of range
  static std::size_t cell_index(T v, std::size_t n) {
    if (!(v < static_cast<T>(n))) return n - 1;
    if (v < T(1)) return 0;  // trunc toward zero of (−1, 1) is 0; below −1 clamps to 0
    return static_cast<std::size_t>(v);
  }
  static T frac(T v) { return v - std::floor(v); }  // torch's `v % 1` (sign of the divisor)

  void build_level(std::size_t l, std::span<const Target<T>> targets) {
    const T nx = static_cast<T>(levels_[l].nx), ny = static_cast<T>(levels_[l].ny);
    const T* anc = anchors_.data() + l * na_ * 2;
    const T limit = static_cast<T>(hyp_.anchor_t), half = T(0.5), one = T(1);
    kept_.clear();
    for (std::size_t a = 0; a < na_; ++a)
      for (std::size_t t = 0; t < targets.size(); ++t) {
        const Target<T>& tg = targets[t];
        const T rw = tg.w * nx / anc[2 * a], rh = tg.h * ny / anc[2 * a + 1];
        if (!(std::max(std::max(rw, one / rw), std::max(rh, one / rh)) < limit)) continue;
        Kept k{a, t, tg.x * nx, tg.y * ny, {true, false, false, false, false}};
        const T fx = nx - k.gx, fy = ny - k.gy;  // distance to the right / bottom edge
        k.use[1] = frac(k.gx) < half && k.gx > one;
        k.use[2] = frac(k.gy) < half && k.gy > one;
        k.use[3] = frac(fx) < half && fx > one;
        k.use[4] = frac(fy) < half && fy > one;
        kept_.push_back(k);
      }
    static constexpr double off[5][2] = {{0, 0}, {0.5, 0}, {0, 0.5}, {-0.5, 0}, {0, -0.5}};
    auto& out = candidates_[l];
    out.clear();
    for (std::size_t o = 0; o < 5; ++o)
      for (const Kept& k : kept_) {
        if (!k.use[o]) continue;
        const Target<T>& tg = targets[k.target];
        Candidate<T> c;
        c.image = tg.image;
        c.anchor = k.anchor;
        c.gi = cell_index(k.gx - static_cast<T>(off[o][0]), levels_[l].nx);
        c.gj = cell_index(k.gy - static_cast<T>(off[o][1]), levels_[l].ny);
        c.cls = tg.cls;
        c.tx = k.gx - static_cast<T>(c.gi);
        c.ty = k.gy - static_cast<T>(c.gj);
        c.tw = tg.w * nx;
        c.th = tg.h * ny;
        c.target = k.target;
        out.push_back(c);
      }
  }

  // One level: adds its box, obj and cls terms (gains applied) and writes its part of dpred.
  void level_loss(std::size_t l, const T* pred, T* dpred, std::size_t bs, double& lbox, double& lobj,
                  double& lcls) {
    const std::size_t ny = levels_[l].ny, nx = levels_[l].nx, no_ = no();
    const std::size_t cells = na_ * ny * nx;      // per sample
    const std::size_t span = cells * no_;          // this level's values per sample
    const std::size_t base = level_offset_[l];
    const T* anc = anchors_.data() + l * na_ * 2;
    const auto& cand = candidates_[l];
    const std::size_t n = cand.size();
    auto& tobj = tobj_[l];
    auto& alpha = alpha_[l];
    if (!frozen_) {
      tobj.assign(bs * cells, T(0));
      alpha.resize(n);
    } else if (tobj.size() != bs * cells || alpha.size() != n) {
      throw std::logic_error("zoo::yolo::ComputeLoss: freeze_detached is on but the batch or targets changed");
    }

    if (dpred)
      for (std::size_t b = 0; b < bs; ++b) std::fill_n(dpred + b * sample_size_ + base, span, T(0));

    // box (CIoU) and class terms, candidate by candidate; tobj written in candidate order
    if (n > 0) {
      const T g_ciou = static_cast<T>(-hyp_.box * static_cast<double>(bs) / static_cast<double>(n));
      const T g_cls = static_cast<T>(hyp_.cls * static_cast<double>(bs) / static_cast<double>(n * nc_));
      double sum_box = 0, sum_cls = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const Candidate<T>& c = cand[k];
        const std::size_t cell = (c.anchor * ny + c.gj) * nx + c.gi;
        const T* p = pred + c.image * sample_size_ + base + cell * no_;
        T* dp = dpred ? dpred + c.image * sample_size_ + base + cell * no_ : nullptr;
        const T ciou = box_term(p, dp, c, anc[2 * c.anchor], anc[2 * c.anchor + 1], alpha[k], g_ciou);
        sum_box += static_cast<double>(T(1) - ciou);
        if (!frozen_) {
          const T s = std::max(ciou, T(0));
          tobj[c.image * cells + cell] =
              hyp_.gr < 1 ? static_cast<T>(1.0 - hyp_.gr) + static_cast<T>(hyp_.gr) * s : s;
        }
        if (nc_ > 1)
          for (std::size_t j = 0; j < nc_; ++j) {
            const T x = p[5 + j], y = static_cast<int>(j) == c.cls ? T(1) : T(0);
            sum_cls += detail::bce_logits(x, y);
            if (dp) dp[5 + j] += (detail::sigmoid(x) - y) * g_cls;
          }
      }
      lbox += hyp_.box * (sum_box / static_cast<double>(n));
      if (nc_ > 1) lcls += hyp_.cls * (sum_cls / static_cast<double>(n * nc_));
    }

    // objectness over every cell
    const double w = hyp_.balance[l];
    const T g_obj = static_cast<T>(hyp_.obj * w * static_cast<double>(bs) / static_cast<double>(bs * cells));
    double sum_obj = 0;
    for (std::size_t b = 0; b < bs; ++b) {
      const T* p = pred + b * sample_size_ + base + 4;
      T* dp = dpred ? dpred + b * sample_size_ + base + 4 : nullptr;
      const T* to = tobj.data() + b * cells;
      for (std::size_t i = 0; i < cells; ++i) {
        const T x = p[i * no_];
        sum_obj += detail::bce_logits(x, to[i]);
        if (dp) dp[i * no_] = (detail::sigmoid(x) - to[i]) * g_obj;
      }
    }
    lobj += hyp_.obj * (w * (sum_obj / static_cast<double>(bs * cells)));
  }

  // CIoU of one candidate's predicted box against its tbox; when dp is given, adds
  // g·dCIoU/d(raw x, y, w, h) into dp[0..4). α is computed (or, frozen, read) in `alpha`.
  T box_term(const T* p, T* dp, const Candidate<T>& c, T aw, T ah, T& alpha, T g) const {
    using std::atan;
    const T eps = T(1e-7), half = T(0.5), two = T(2);
    const T sx = detail::sigmoid(p[0]), sy = detail::sigmoid(p[1]);
    const T sw = detail::sigmoid(p[2]), sh = detail::sigmoid(p[3]);
    const T x1 = sx * two - half, y1 = sy * two - half;
    const T uw = sw * two, uh = sh * two;
    const T w1 = uw * uw * aw, h1 = uh * uh * ah;
    const T x2 = c.tx, y2 = c.ty, w2 = c.tw, h2 = c.th;
    const T hw1 = w1 / two, hh1 = h1 / two, hw2 = w2 / two, hh2 = h2 / two;
    const T l1 = x1 - hw1, r1 = x1 + hw1, t1 = y1 - hh1, b1 = y1 + hh1;
    const T l2 = x2 - hw2, r2 = x2 + hw2, t2 = y2 - hh2, b2 = y2 + hh2;
    const T ow = std::min(r1, r2) - std::max(l1, l2);  // overlap before clamp(0)
    const T oh = std::min(b1, b2) - std::max(t1, t2);
    const T owc = std::max(ow, T(0)), ohc = std::max(oh, T(0));
    const T inter = owc * ohc;
    const T uni = w1 * h1 + w2 * h2 - inter + eps;
    const T iou = inter / uni;
    const T ew = std::max(r1, r2) - std::min(l1, l2);  // enclosing box
    const T eh = std::max(b1, b2) - std::min(t1, t2);
    const T c2 = ew * ew + eh * eh + eps;
    const T dx = l2 + r2 - l1 - r1, dy = t2 + b2 - t1 - b1;
    const T rho2 = (dx * dx + dy * dy) / T(4);
    const T k4 = static_cast<T>(4.0 / (std::numbers::pi * std::numbers::pi));
    const T q1 = w1 / h1;
    const T da = atan(w2 / h2) - atan(q1);
    const T v = k4 * (da * da);
    if (!frozen_) alpha = v / (v - iou + static_cast<T>(1.0 + 1e-7));
    const T ciou = iou - (rho2 / c2 + v * alpha);
    if (!dp) return ciou;

    // backward, g = d total / d CIoU
    const T g_iou = g, g_rho2 = -g / c2, g_c2 = g * rho2 / (c2 * c2), g_v = -g * alpha;
    T g_l1 = 0, g_r1 = 0, g_t1 = 0, g_b1 = 0, g_w1 = 0, g_h1 = 0;
    // 1. v = k4·(atan(w2/h2) − atan(w1/h1))²
    const T g_q1 = -(g_v * k4 * two * da) / (T(1) + q1 * q1);
    g_w1 += g_q1 / h1;
    g_h1 += -g_q1 * w1 / (h1 * h1);
    // 2. ρ² = (dx² + dy²)/4, dx = l2 + r2 − l1 − r1
    const T g_dx = g_rho2 * dx / two, g_dy = g_rho2 * dy / two;
    g_l1 -= g_dx, g_r1 -= g_dx, g_t1 -= g_dy, g_b1 -= g_dy;
    // 3. c² = ew² + eh² + ε, ew = max(r1, r2) − min(l1, l2)
    const T g_ew = g_c2 * two * ew, g_eh = g_c2 * two * eh;
    g_r1 += g_ew * detail::max_share(r1, r2);
    g_l1 -= g_ew * detail::min_share(l1, l2);
    g_b1 += g_eh * detail::max_share(b1, b2);
    g_t1 -= g_eh * detail::min_share(t1, t2);
    // 4. IoU = inter / (w1·h1 + w2·h2 − inter + ε), inter = clamp(ow, 0)·clamp(oh, 0)
    const T g_uni = -g_iou * inter / (uni * uni);
    T g_inter = g_iou / uni - g_uni;
    g_w1 += g_uni * h1;
    g_h1 += g_uni * w1;
    const T g_ow = ow >= T(0) ? g_inter * ohc : T(0);
    const T g_oh = oh >= T(0) ? g_inter * owc : T(0);
    g_r1 += g_ow * detail::min_share(r1, r2);
    g_l1 -= g_ow * detail::max_share(l1, l2);
    g_b1 += g_oh * detail::min_share(b1, b2);
    g_t1 -= g_oh * detail::max_share(t1, t2);
    // 5. corners → centre and size, then → raw logits
    const T g_x1 = g_l1 + g_r1, g_y1 = g_t1 + g_b1;
    g_w1 += (g_r1 - g_l1) / two;
    g_h1 += (g_b1 - g_t1) / two;
    dp[0] += g_x1 * two * sx * (T(1) - sx);
    dp[1] += g_y1 * two * sy * (T(1) - sy);
    dp[2] += g_w1 * two * uw * aw * two * sw * (T(1) - sw);  // w1 = (2σ)²·aw
    dp[3] += g_h1 * two * uh * ah * two * sh * (T(1) - sh);
    return ciou;
  }

  std::size_t nc_, na_;
  std::vector<LevelGeom> levels_;
  std::vector<T> anchors_;
  LossHyp hyp_;
  std::vector<std::size_t> level_offset_;
  std::size_t sample_size_ = 0;
  bool frozen_ = false;
  std::vector<Kept> kept_;                         // build_targets' scratch
  std::vector<std::vector<Candidate<T>>> candidates_;  // per level
  std::vector<std::vector<T>> tobj_;                // per level, (bs, na, ny, nx)
  std::vector<std::vector<T>> alpha_;               // per level, per candidate
};

}  // namespace zoo::yolo
