// zoo/optim/schedule.hpp — learning-rate schedules: lr(step) for a given base lr.
//
// LinearDecay reproduces the diffusion course's `lr = base·(1 − epoch/epochs)`
// when stepped per epoch; stepped per iteration it is the smooth version.
#pragma once
#include <algorithm>
#include <cstdint>

namespace zoo {

struct ConstantLR {
  double base;
  double operator()(std::int64_t) const { return base; }
};

struct LinearDecay {
  double base;
  std::int64_t total;  // steps until lr reaches `end`
  double end = 0.0;
  double operator()(std::int64_t step) const {
    if (total <= 0) return base;
    const double f = std::clamp(static_cast<double>(step) / static_cast<double>(total), 0.0, 1.0);
    return base + (end - base) * f;
  }
};

}  // namespace zoo
