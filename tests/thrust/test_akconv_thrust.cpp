// The Thrust path of AKConv's gather (zoo/cuda/akconv_thrust.hpp) against the CPU
// backend, ggml test-backend-ops style: the same inputs through both, compared by
// normalized error  Σ(a − b)² / Σ b²  with a per-output threshold, and sentinel values
// around every output buffer to catch writes past its end. Built by g++ with
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (tests/thrust/CMakeLists.txt), so
// thrust::device runs the functors on OpenMP threads; thrust::cpp::par (serial) as well.
#include <doctest/doctest.h>
#include <thrust/system/cpp/execution_policy.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>
#include <zoo/core/rng.hpp>
#include <zoo/cuda/akconv_thrust.hpp>

static_assert(THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP,
              "tests/thrust: build with -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP");

namespace {

using namespace zoo::kernels;
constexpr std::size_t kGuard = 16;

// A buffer with kGuard sentinels on each side.
template <class T>
struct Guarded {
  std::vector<T> v;
  T sentinel;
  Guarded(std::size_t n, T fill, T s) : v(n + 2 * kGuard, fill), sentinel(s) {
    for (std::size_t i = 0; i < kGuard; ++i) v[i] = v[v.size() - 1 - i] = s;
  }
  T* data() { return v.data() + kGuard; }
  const T* data() const { return v.data() + kGuard; }
  std::size_t size() const { return v.size() - 2 * kGuard; }
  bool intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (std::memcmp(&v[i], &sentinel, sizeof(T)) != 0 ||
          std::memcmp(&v[v.size() - 1 - i], &sentinel, sizeof(T)) != 0)
        return false;
    return true;
  }
};

template <class T>
double nmse(const T* a, const T* b, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d, den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? num / den : num;
}

template <class T, zoo::AKConvSampling Mode, class Policy>
void compare(const char* what, const Policy& policy, const AKConvGeom& g, zoo::index_t B,
             double max_err) {
  const std::size_t P = g.P(), nx = B * g.C * g.H * g.W, noff = B * 2 * g.N * P,
                    ncol = B * g.C * g.N * P, ntap = B * g.N * P;
  std::vector<T> x(nx), off(noff), dcol(ncol);
  zoo::Rng rng(17);
  rng.fill_uniform(x.data(), nx, -1, 1);
  rng.fill_uniform(off.data(), noff, -3.0 * g.H, 3.0 * g.H);  // many samples outside
  for (std::size_t i = 0; i < noff; i += 7) off[i] = T(int(i % 5));  // integer points too
  rng.fill_uniform(dcol.data(), ncol, -1, 1);

  struct Side {
    Guarded<AKConvTap<T>> taps;
    Guarded<T> col, doff, dx;
  };
  const AKConvTap<T> tap_sentinel{-7, -7, -7, -7, T(-7), T(-7), T(-7), T(-7), T(-7), T(-7)};
  auto make = [&] {
    return Side{Guarded<AKConvTap<T>>(ntap, AKConvTap<T>{}, tap_sentinel),
                Guarded<T>(ncol, T(0), T(-7)), Guarded<T>(noff, T(0), T(-7)),
                Guarded<T>(nx, T(0.25), T(-7))};
  };
  Side cpu = make(), thr = make();
  akconv_gather_forward<T, Mode>(CpuRun{}, g, B, x.data(), off.data(), cpu.taps.data(),
                                 cpu.col.data());
  akconv_gather_backward<T>(CpuRun{}, g, B, x.data(), cpu.taps.data(), dcol.data(),
                            cpu.doff.data(), cpu.dx.data());
  zoo::cuda::akconv_gather_forward<T, Mode>(policy, g, B, x.data(), off.data(), thr.taps.data(),
                                            thr.col.data());
  zoo::cuda::akconv_gather_backward<T>(policy, g, B, x.data(), thr.taps.data(), dcol.data(),
                                       thr.doff.data(), thr.dx.data());

  std::size_t tap_mismatch = 0;
  for (std::size_t i = 0; i < ntap; ++i) {
    const auto &a = cpu.taps.data()[i], &b = thr.taps.data()[i];
    tap_mismatch += !(a.i00 == b.i00 && a.i01 == b.i01 && a.i10 == b.i10 && a.i11 == b.i11 &&
                      a.wr0 == b.wr0 && a.wr1 == b.wr1 && a.wc0 == b.wc0 && a.wc1 == b.wc1 &&
                      a.mr == b.mr && a.mc == b.mc);
  }
  const double e_col = nmse(thr.col.data(), cpu.col.data(), ncol);
  const double e_doff = nmse(thr.doff.data(), cpu.doff.data(), noff);
  const double e_dx = nmse(thr.dx.data(), cpu.dx.data(), nx);
  std::printf("  %-34s col %.3g  doffset %.3g  dx %.3g  (max %.0e)\n", what, e_col, e_doff, e_dx,
              max_err);
  CHECK_MESSAGE(tap_mismatch == 0, what << ": " << tap_mismatch << " taps differ");
  CHECK_MESSAGE(e_col <= max_err, what << ": col nmse " << e_col);
  CHECK_MESSAGE(e_doff <= max_err, what << ": doffset nmse " << e_doff);
  CHECK_MESSAGE(e_dx <= max_err, what << ": dx nmse " << e_dx);
  // Taps in range: every corner inside the (H, W) plane.
  for (std::size_t i = 0; i < ntap; ++i) {
    const auto& t = thr.taps.data()[i];
    for (int q : {t.i00, t.i01, t.i10, t.i11}) REQUIRE((q >= 0 && q < g.H * g.W));
  }
  for (Side* s : {&cpu, &thr})
    CHECK((s->taps.intact() && s->col.intact() && s->doff.intact() && s->dx.intact()));
}

}  // namespace

TEST_CASE("Thrust (OMP and CPP systems) and the CPU backend agree on AKConv's gather") {
  const AKConvGeom square{8, 9, 9, 5, 5, 5, 2}, wide{6, 7, 12, 9, 7, 12, 1},
      tall{3, 11, 4, 3, 6, 2, 2}, one{4, 1, 6, 7, 1, 6, 1};
  using zoo::AKConvSampling;
  for (const auto& g : {square, wide, tall, one}) {
    compare<float, AKConvSampling::clamp_to_edge>("float clamp_to_edge omp", thrust::device, g,
                                                  3, 1e-12);
    compare<float, AKConvSampling::reference>("float reference omp", thrust::device, g, 3, 1e-12);
    compare<double, AKConvSampling::clamp_to_edge>("double clamp_to_edge cpp", thrust::cpp::par,
                                                   g, 2, 1e-24);
    compare<double, AKConvSampling::reference>("double reference omp", thrust::device, g, 2,
                                               1e-24);
  }
}

TEST_CASE("the Thrust path rejects non-finite offsets") {
  const AKConvGeom g{2, 4, 4, 3, 4, 4, 1};
  std::vector<float> x(2 * 16, 1.f), off(6 * 16, 0.f), col(2 * 3 * 16);
  std::vector<AKConvTap<float>> taps(3 * 16);
  off[40] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS((zoo::cuda::akconv_gather_forward<float, zoo::AKConvSampling::clamp_to_edge>(
                      thrust::device, g, 1, x.data(), off.data(), taps.data(), col.data())),
                  std::invalid_argument);
}
