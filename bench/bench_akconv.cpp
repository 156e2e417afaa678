// bench/bench_akconv.cpp — AKConv(64 → 128, N = 5, stride 2) on (16, 64, 40, 40), forward
// and forward+backward (with the input gradient, as inside a network), next to a plain
// 3×3 stride-2 Conv+BN+SiLU of the same channels. Names pair with bench/pytorch/akconv.py
// (the official PyTorch AKConv and nn.Sequential(Conv2d, BatchNorm2d, SiLU)):
//   akconv_n5_s2_fwd, akconv_n5_s2_fwdbwd, conv3x3_s2_fwd, conv3x3_s2_fwdbwd   "/t<threads>"
// Counters: flops = forward FLOPs (fwd) or ≈3× forward (fwdbwd) per second; items = images/s.
#include <memory>

#include "bench_common.hpp"
#include "zoo/graph/model.hpp"
#include "zoo/graph/sequential.hpp"
#include "zoo/layers/akconv.hpp"

namespace {

constexpr std::size_t kBatch = 16;
using In = zoo::Shape<64, 40, 40>;
using AK = zoo::AKConv<128, 5, 2>;
using Plain = zoo::Sequential<zoo::Conv2d<128, 3, 2, 1, 1, 1, false>, zoo::BatchNorm, zoo::SiLU>;

template <class Spec>
struct Step {
  zoo::Model<Spec, In> model{1};
  zoo::Tensor<float> x{kBatch, 64, 40, 40}, dy;
  Step() {
    zoo_bench::fill(x, 2);
    model.requires_input_grad(true);
    const auto& y = model.forward(x);
    dy.resize(y.shape());
    zoo_bench::fill(dy, 3);
  }
  void fwd() { model.forward(x); }
  void fwdbwd() {
    model.forward(x);
    model.zero_grad();
    model.backward(dy);
  }
};

template <class Spec>
void register_spec(const std::string& name) {
  using M = zoo::Model<Spec, In>;
  zoo_bench::register_threads(name + "_fwd", [](benchmark::State& s, int) {
    auto st = std::make_unique<Step<Spec>>();
    for (int i = 0; i < 2; ++i) st->fwd();
    for (auto _ : s) {
      st->fwd();
      benchmark::ClobberMemory();
    }
    zoo_bench::set_counters(s, M::flops * kBatch, kBatch, kBatch);
  });
  zoo_bench::register_threads(name + "_fwdbwd", [](benchmark::State& s, int) {
    auto st = std::make_unique<Step<Spec>>();
    for (int i = 0; i < 2; ++i) st->fwdbwd();
    for (auto _ : s) {
      st->fwdbwd();
      benchmark::ClobberMemory();
    }
    zoo_bench::set_counters(s, 3 * M::flops * kBatch, kBatch, kBatch);
  });
}

const bool registered = [] {
  register_spec<AK>("akconv_n5_s2");
  register_spec<Plain>("conv3x3_s2");
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
