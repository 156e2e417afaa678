// zoo/cuda/akconv_thrust.hpp — AKConv's gather and its backward run by Thrust: the
// same ZOO_HD functors as the CPU backend (zoo/kernels/akconv_gather.hpp), launched by
// thrust::for_each over a counting iterator. Under nvcc with Thrust's CUDA system this is
// the CUDA specialization (pointers are device pointers); with g++ and
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or CPP) the same code runs on the CPU,
// which is how tests/thrust/ compares it with the CPU backend on machines with no GPU.
//
//   gather_forward:  offsets (B, 2N, P) → taps (B, N, P), col (B, C·N, P)
//   gather_backward: dcol (B, C·N, P) → doffset (B, 2N, P) (assigned), dx (B, C, H, W) (added):
//                    one index per (b, c) plane (deterministic), or with `atomic` one per
//                    (b, c, k, pos) with atomic adds (more parallel; order varies run to run)
// Non-finite offsets throw std::invalid_argument (counted on the device first).
// Needs Thrust (CCCL) headers; include only from units built with them.
#pragma once
#include <thrust/count.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <stdexcept>
#include <string>

#include "../kernels/akconv_gather.hpp"

namespace zoo::cuda {

// A runner for kernels::akconv_gather_forward/backward: one thrust::for_each per functor.
template <class Policy>
struct ThrustRun {
  static constexpr bool wide = false;  // schedule for many narrow threads, as on a GPU
  Policy policy;
  template <class F>
  void operator()(index_t n, const F& f, index_t) const {
    thrust::for_each(policy, thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(n), f);
  }
};

template <class T>
struct IsNonFinite {
  // v − v is 0 for every finite v and NaN for ±Inf and NaN (no <cmath> needed on the device).
  ZOO_HD bool operator()(T v) const { return !(v - v == T(0)); }
};

template <class T, AKConvSampling Mode, class Policy>
void akconv_gather_forward(const Policy& policy, const kernels::AKConvGeom& g, index_t B,
                           const T* x, const T* offset, kernels::AKConvTap<T>* taps, T* col) {
  const index_t n_off = B * 2 * g.N * g.P();
  const auto bad = thrust::count_if(policy, offset, offset + n_off, IsNonFinite<T>{});
  if (bad != 0)
    throw std::invalid_argument("zoo::cuda::akconv_gather_forward: " + std::to_string(bad) +
                                " non-finite offsets; the input or p_conv's parameters contain "
                                "NaN/Inf or have overflowed");
  kernels::akconv_gather_forward<T, Mode>(ThrustRun<Policy>{policy}, g, B, x, offset, taps, col);
}

template <class T, class Policy>
void akconv_gather_backward(const Policy& policy, const kernels::AKConvGeom& g, index_t B,
                            const T* x, const kernels::AKConvTap<T>* taps, const T* dcol,
                            T* doffset, T* dx, bool atomic = false) {
  kernels::akconv_gather_backward<T>(ThrustRun<Policy>{policy}, g, B, x, taps, dcol, doffset, dx,
                                     atomic);
}

}  // namespace zoo::cuda
