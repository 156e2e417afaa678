// zoo/core/gemm.hpp — the one GEMM every dense and convolution layer calls.
//
//   C(M×N) = alpha · op(A)(M×K) · op(B)(K×N) + beta · C,  all row-major,
//   op(X) = X or Xᵀ, leading dimensions as BLAS.
//
// Default: Eigen's GEMM (OpenMP-threaded when built with -fopenmp). With
// ZOO_USE_CBLAS defined, float/double go to cblas_sgemm/dgemm instead (link a
// BLAS such as OpenBLAS); docs/performance.md says which measured faster.
#pragma once
#include <Eigen/Core>
#include <cstddef>

#include "config.hpp"

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

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    detail::MMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
    if (beta == T(0)) c.setZero();
    else c *= beta;
    return;
  }
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
  using detail::CMap;
  const CMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const CMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) detail::gemm_eigen(M, N, alpha, a, b, beta, C, ldc);
  else if (!trans_a && trans_b) detail::gemm_eigen(M, N, alpha, a, b.transpose(), beta, C, ldc);
  else if (trans_a && !trans_b) detail::gemm_eigen(M, N, alpha, a.transpose(), b, beta, C, ldc);
  else detail::gemm_eigen(M, N, alpha, a.transpose(), b.transpose(), beta, C, ldc);
}

}  // namespace zoo
