// examples/device.hpp — `--device cpu|cuda` for the example programs.
//
// A program built with the CUDA backend (ZOO_EXAMPLE_CUDA=1: nvcc with -DZOO_CUDA=ON, or
// g++ with Thrust's OpenMP device system, which is how CI runs the device path on a
// machine without a GPU) runs its models as zoo::cuda::Models under `--device cuda`: the
// same network types, the trainers of models/*_training.hpp, batches copied to the
// device, checkpoints through the host (zoo/cuda/checkpoint.hpp, the CPU's file format).
// Any other build, or a machine with no GPU or driver, says so in one line.
//
//   device::option(app, a.device);           // in parse()
//   device::check(app, a.device, ranks::size());  // after parsing; exits 2 (or 1: no GPU)
//   using GM = device::model_t<Cuda, G, Noise>;  // zoo::Model or zoo::cuda::Model
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <zoo/zoo.hpp>

#include "cli.hpp"

#ifndef ZOO_EXAMPLE_CUDA
#define ZOO_EXAMPLE_CUDA 0
#endif
#if ZOO_EXAMPLE_CUDA
#include <zoo/cuda.hpp>
#include <zoo/cuda/checkpoint.hpp>
#endif

namespace device {

inline constexpr bool built_with_cuda = ZOO_EXAMPLE_CUDA != 0;

inline CLI::Option* option(CLI::App& app, std::string& v) {
  return app
      .add_option("--device", v,
                  "where the models train: cpu, or cuda (an NVIDIA GPU; needs a build with "
                  "-DZOO_CUDA=ON, docs/gpu.md)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

// --device cuda where this program cannot use it: one line on stderr, then exit 2 (a
// build without the backend; a device run under mpirun) or 1 (no GPU or no driver).
inline void check(const CLI::App& app, const std::string& dev, int processes) {
  if (dev != "cuda") return;
  if constexpr (!built_with_cuda) {
    cli::fail(app, "--device cuda: this build of " + app.get_name() +
                       " has no CUDA backend (configure with -DZOO_CUDA=ON where nvcc is; docs/gpu.md)");
  } else {
    if (processes > 1)
      cli::fail(app, "--device cuda runs in one process: data-parallel device training (NCCL) is not "
                     "wired into the examples yet");
#if ZOO_EXAMPLE_CUDA
    std::string why;
    if (!zoo::cuda::device_available(&why)) {
      std::fprintf(stderr, "%s: --device cuda, but %s\n", app.get_name().c_str(), why.c_str());
      std::exit(1);
    }
#endif
  }
}

// What the run's first line says about where it trains.
inline std::string where(bool cuda) {
#if ZOO_EXAMPLE_CUDA
  if (cuda) return "device " + zoo::cuda::device_name();
#endif
  (void)cuda;
  return "CPU";
}

template <bool Cuda, class Spec, class... Ins>
struct model_of {
  using type = zoo::Model<Spec, Ins...>;
};
#if ZOO_EXAMPLE_CUDA
template <class Spec, class... Ins>
struct model_of<true, Spec, Ins...> {
  using type = zoo::cuda::Model<Spec, Ins...>;
};
#endif
template <bool Cuda, class Spec, class... Ins>
using model_t = typename model_of<Cuda, Spec, Ins...>::type;

// The model's own summary table: a device model's is its host mirror's.
template <class M>
std::string summary(M& m) {
  if constexpr (requires { m.host(); }) return m.host().summary();
  else return m.summary();
}
// The CPU model behind m: m itself, or a device model's host mirror (its noise stream,
// names; its values are the device's as of the last to_host()).
template <class M>
auto& host_of(M& m) {
  if constexpr (requires { m.host(); }) return m.host();
  else return m;
}
// The same, its values brought up to date from the device first: for pictures, codes
// and weight files, which the CPU makes.
template <class M>
auto& on_host(M& m) {
  if constexpr (requires { m.to_host(); }) m.to_host();
  return host_of(m);
}
// After weights were loaded into host_of(m): the device takes them.
template <class M>
void host_changed(M& m) {
  if constexpr (requires { m.to_device(); }) m.to_device();
}
// A host copy of a model's output (a device tensor is downloaded).
template <class Tn>
auto host_copy(const Tn& t) {
  if constexpr (requires { t.to_host(); }) return t.to_host();
  else return t;
}

// A host batch where the model reads it: zoo::Staged (graph/model.hpp).
template <class M>
using Staged = zoo::Staged<M>;

}  // namespace device
