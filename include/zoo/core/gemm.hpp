// zoo/core/gemm.hpp — the one GEMM every dense and convolution layer calls.
//
//   C(M×N) = alpha · op(A)(M×K) · op(B)(K×N) + beta · C,  all row-major,
//   op(X) = X or Xᵀ, leading dimensions as BLAS.
//
// Default: Eigen's GEMM (OpenMP-threaded when built with -fopenmp). With
// ZOO_USE_CBLAS defined, float/double go to cblas_sgemm/dgemm instead (link a
// BLAS such as OpenBLAS); docs/performance.md says which measured faster.
//
// Threading: a call below kGemmParallelFlops runs on the calling thread
// (SerialScope), whatever the thread count; above it, on OpenBLAS, zoo splits C
// into one block per thread, each a serial sgemm (faster on 2 cores than
// OpenBLAS's own threading, see below); on Eigen, Eigen splits it. Called inside
// a parallel region, every GEMM is serial (both libraries check omp_in_parallel / omp_get_num_threads).
#pragma once
#include "vendor.hpp"  // Eigen, xsimd, intrinsics
#include <algorithm>
#include <cstddef>
#include <optional>

#include "config.hpp"
#include "parallel.hpp"

#if defined(ZOO_USE_CBLAS)
#include <cblas.h>
#endif

namespace zoo {

namespace detail {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using CMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T, class LA, class LB>
void gemm_eigen(index_t M, index_t N, T alpha, const LA& a, const LB& b, T beta, T* C,
                index_t ldc) {
  MMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) {
    if (alpha == T(1))
      c.noalias() = a * b;
    else
      c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    if (alpha == T(1))
      c.noalias() += a * b;
    else
      c.noalias() += alpha * (a * b);
  }
}
}  // namespace detail

// 2·M·N·K from which a GEMM may use more than one thread: ~60 µs of work on one
// core of this machine (~100 GFLOP/s). Below it, waking a second thread costs
// as much as it saves on an idle machine, and a scheduler slice on a busy one;
// OpenBLAS's own cut-off (M·N·K > 262144, 0.5 MFLOP) would thread the MLP
// autoencoder's 128×64×128 layers, each a separate parallel region.
inline constexpr double kGemmParallelFlops = 6.0e6;

namespace detail {
struct NoBlockHook {
  template <class T>
  void operator()(T*, index_t, index_t, index_t, index_t, index_t) const {}
};

// One GEMM on the calling thread: OpenBLAS's OpenMP build and Eigen both run
// single-threaded inside a parallel region or a SerialScope.
template <class T>
void gemm_call(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
               index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
#if defined(ZOO_USE_CBLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    const auto ta = trans_a ? CblasTrans : CblasNoTrans;
    const auto tb = trans_b ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  const CMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const CMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) gemm_eigen(M, N, alpha, a, b, beta, C, ldc);
  else if (!trans_a && trans_b) gemm_eigen(M, N, alpha, a, b.transpose(), beta, C, ldc);
  else if (trans_a && !trans_b) gemm_eigen(M, N, alpha, a.transpose(), b, beta, C, ldc);
  else gemm_eigen(M, N, alpha, a.transpose(), b.transpose(), beta, C, ldc);
}
}  // namespace detail

// gemm with a hook on each side of every block of C:
//   before(Cb, rows, cols, ldc, row0, col0)   on the block, before the product is added
//   after (Cb, rows, cols, ldc, row0, col0)   on the block, once it is final
// called by the thread that computes the block, so a Linear layer writes its bias
// rows and applies its activation while the block is still in that core's cache
// (on this VM the two vCPUs share no cache: a pass by the other thread over the
// same rows costs a transfer per line). On one thread the block is the whole of C.
template <class T, class Before, class After>
void gemm_blocks(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                 index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc, Before&& before,
                 After&& after) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    before(C, M, N, ldc, index_t{0}, index_t{0});
    if (beta != T(1)) {
      detail::MMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
      if (beta == T(0)) c.setZero();
      else c *= beta;
    }
    after(C, M, N, ldc, index_t{0}, index_t{0});
    return;
  }
  std::optional<SerialScope> serial;
  if (2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) <
      kGemmParallelFlops)
    serial.emplace();
#if defined(ZOO_USE_CBLAS) && defined(_OPENMP)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    // One block of C per thread, each a serial BLAS call (OpenBLAS's OpenMP build
    // runs single-threaded inside a parallel region), split along the longer side,
    // M on ties; long-K GEMMs (a conv's dW over batch×pixels) keep OpenBLAS's own
    // threading. Measured on 2 threads against OpenBLAS's threading: sgemm 512³
    // 307 → 348–379 GFLOP/s, 1024×1024×128 (Aᵀ) 250 → 366–378, the MLP shapes
    // 5–25% faster, and no job-array malloc per call (docs/performance.md).
    if (!serial && omp_get_max_threads() > 1 && !omp_in_parallel() && K <= 8 * std::max(M, N)) {
      const bool by_n = N > M;
      const index_t len = by_n ? N : M;
      ZOO_PROFILE_REGION;
#pragma omp parallel
      {
        const index_t t = omp_get_thread_num(), k = omp_get_num_threads();
        index_t b = len * t / k, e = len * (t + 1) / k;
        if (by_n) b = b / 16 * 16, e = t + 1 == k ? len : e / 16 * 16;  // whole SIMD columns
        if (b < e) {
          if (by_n) {
            before(C + b, M, e - b, ldc, index_t{0}, b);
            detail::gemm_call<T>(trans_a, trans_b, M, e - b, K, alpha, A, lda,
                                 trans_b ? B + b * ldb : B + b, ldb, beta, C + b, ldc);
            after(C + b, M, e - b, ldc, index_t{0}, b);
          } else {
            before(C + b * ldc, e - b, N, ldc, b, index_t{0});
            detail::gemm_call<T>(trans_a, trans_b, e - b, N, K, alpha,
                                 trans_a ? A + b : A + b * lda, lda, B, ldb, beta, C + b * ldc,
                                 ldc);
            after(C + b * ldc, e - b, N, ldc, b, index_t{0});
          }
        }
      }
      return;
    }
  }
#endif
  before(C, M, N, ldc, index_t{0}, index_t{0});
  detail::gemm_call<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  after(C, M, N, ldc, index_t{0}, index_t{0});
}

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  gemm_blocks<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                 detail::NoBlockHook{}, detail::NoBlockHook{});
}

}  // namespace zoo
