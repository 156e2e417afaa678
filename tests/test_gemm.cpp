// zoo::gemm against a naive product: every transpose, padded leading dimensions,
// β = 0 and β ≠ 0, on 1 and 2 threads — shapes big enough to take the split path
// (one block of C per thread) along M, along N, and on ties.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "zoo/core/gemm.hpp"
#include "zoo/core/parallel.hpp"
#include "zoo/core/rng.hpp"

namespace {

template <class T>
void check_gemm(bool ta, bool tb, zoo::index_t M, zoo::index_t N, zoo::index_t K, T beta, int threads) {
  const zoo::index_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
  std::vector<T> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc);
  zoo::Rng rng(static_cast<std::uint64_t>(M * 7 + N * 3 + K + ta * 2 + tb));
  rng.fill_uniform(A.data(), A.size(), -1.0, 1.0);
  rng.fill_uniform(B.data(), B.size(), -1.0, 1.0);
  rng.fill_uniform(C.data(), C.size(), -1.0, 1.0);
  std::vector<T> want = C;
  const T alpha = T(0.75);
  for (zoo::index_t i = 0; i < M; ++i)
    for (zoo::index_t j = 0; j < N; ++j) {
      double s = 0;
      for (zoo::index_t k = 0; k < K; ++k)
        s += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
      want[i * ldc + j] = T(alpha * s + (beta == T(0) ? 0.0 : double(beta) * C[i * ldc + j]));
    }
  zoo::set_num_threads(threads);
  zoo::gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  zoo::set_num_threads(1);
  const double tol = std::is_same_v<T, float> ? 1e-4 * std::sqrt(double(K)) : 1e-11 * K;
  double worst = 0;
  for (zoo::index_t i = 0; i < M; ++i)
    for (zoo::index_t j = 0; j < N; ++j) worst = std::max(worst, std::abs(double(C[i * ldc + j] - want[i * ldc + j])));
  // The padding between rows of C is never written.
  bool pad_kept = true;
  for (zoo::index_t i = 0; i < M; ++i)
    for (zoo::index_t j = N; j < ldc; ++j) pad_kept = pad_kept && C[i * ldc + j] == want[i * ldc + j];
  INFO("ta " << ta << " tb " << tb << " " << M << "x" << N << "x" << K << " beta " << beta
            << " threads " << threads);
  CHECK(worst < tol);
  CHECK(pad_kept);
}

}  // namespace

TEST_CASE_TEMPLATE("gemm equals the naive product on 1 and 2 threads", T, float, double) {
  // 2·M·N·K ≥ 6 MFLOP for all but the last: the threaded (split) path on 2 threads.
  const zoo::index_t shapes[][3] = {{301, 129, 97}, {129, 301, 97}, {200, 200, 80}, {64, 1000, 50},
                                    {130, 130, 900}, {64, 100, 2000}, {17, 33, 9}};
  for (auto& s : shapes)
    for (int threads : {1, 2})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (T beta : {T(0), T(0.5)}) check_gemm<T>(ta, tb, s[0], s[1], s[2], beta, threads);
}

TEST_CASE("gemm_blocks: every element of C sees `before` once, the product, then `after` once") {
  // C = after(before(C) + A·Bᵀ) with before(c) = c + row + 1000·col, after(c) = 2c − 1,
  // on the split path (along N, along M) and the serial one.
  const zoo::index_t shapes[][3] = {{128, 400, 300}, {400, 128, 300}, {9, 11, 5}};
  for (auto& s : shapes)
    for (int threads : {1, 2}) {
      const zoo::index_t M = s[0], N = s[1], K = s[2], ldc = N + 3;
      std::vector<double> A(M * K), B(N * K), C(M * ldc);
      zoo::Rng rng(static_cast<std::uint64_t>(M + N));
      rng.fill_uniform(A.data(), A.size(), -1.0, 1.0);
      rng.fill_uniform(B.data(), B.size(), -1.0, 1.0);
      rng.fill_uniform(C.data(), C.size(), -1.0, 1.0);
      std::vector<double> want = C;
      for (zoo::index_t i = 0; i < M; ++i)
        for (zoo::index_t j = 0; j < N; ++j) {
          double p = 0;
          for (zoo::index_t k = 0; k < K; ++k) p += A[i * K + k] * B[j * K + k];
          want[i * ldc + j] = 2 * (C[i * ldc + j] + double(i) + 1000.0 * double(j) + p) - 1;
        }
      zoo::set_num_threads(threads);
      zoo::gemm_blocks<double>(
          false, true, M, N, K, 1.0, A.data(), K, B.data(), K, 1.0, C.data(), ldc,
          [](double* c, zoo::index_t rows, zoo::index_t cols, zoo::index_t ld, zoo::index_t r0,
             zoo::index_t c0) {
            for (zoo::index_t i = 0; i < rows; ++i)
              for (zoo::index_t j = 0; j < cols; ++j) c[i * ld + j] += double(r0 + i) + 1000.0 * double(c0 + j);
          },
          [](double* c, zoo::index_t rows, zoo::index_t cols, zoo::index_t ld, zoo::index_t,
             zoo::index_t) {
            for (zoo::index_t i = 0; i < rows; ++i)
              for (zoo::index_t j = 0; j < cols; ++j) c[i * ld + j] = 2 * c[i * ld + j] - 1;
          });
      zoo::set_num_threads(1);
      double worst = 0;
      for (zoo::index_t i = 0; i < M; ++i)
        for (zoo::index_t j = 0; j < ldc; ++j) worst = std::max(worst, std::abs(C[i * ldc + j] - want[i * ldc + j]));
      INFO(M << "x" << N << "x" << K << " threads " << threads);
      CHECK(worst < 1e-9);
    }
}
