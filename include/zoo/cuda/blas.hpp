// zoo/cuda/blas.hpp — the one GEMM of the CUDA backend, row-major as zoo::gemm:
//
//   C(M×N) = alpha · op(A)(M×K) · op(B)(K×N) + beta · C
//
// On a GPU it is cuBLAS. cuBLAS is column-major, and a row-major matrix is its transpose in
// column-major order, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: the operands
// swap and the leading dimensions stay. Under Thrust's host systems (tests) it is
// zoo::gemm on the same pointers.
#pragma once
#include <type_traits>

#include "runtime.hpp"

#if ZOO_CUDA_DEVICE
#include <cublas_v2.h>
#else
#include "../core/gemm.hpp"
#endif

namespace zoo::cuda {

#if ZOO_CUDA_DEVICE
inline const char* blas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}
inline void check(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("zoo::cuda: ") + call + " failed: " + blas_status_name(s));
}
// One handle for the process, made on first use (a handle costs milliseconds to create).
// Math mode: default (full fp32), so results stay comparable with the CPU backend;
// TF32 is a choice a caller makes with cublasSetMathMode on this handle (for every GEMM but
// a Linear's forward, which goes through cuBLASLt on its own compute type: cuda/lt.hpp).
inline cublasHandle_t blas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t r = nullptr;
    check(cublasCreate(&r), "cublasCreate");
    return r;
  }();
  return h;
}
#endif

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M == 0 || N == 0) return;
#if ZOO_CUDA_DEVICE
  const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const auto i = [](index_t v) { return static_cast<int>(v); };
  if constexpr (std::is_same_v<T, float>)
    check(cublasSgemm(blas_handle(), tb, ta, i(N), i(M), i(K), &alpha, B, i(ldb), A, i(lda), &beta,
                      C, i(ldc)),
          "cublasSgemm");
  else
    check(cublasDgemm(blas_handle(), tb, ta, i(N), i(M), i(K), &alpha, B, i(ldb), A, i(lda), &beta,
                      C, i(ldc)),
          "cublasDgemm");
#else
  zoo::gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

// `count` products C_i = alpha · op(A_i) · op(B_i) + beta · C_i, A_i = A + i·stride_a (and so
// on; a stride of 0 shares one operand): one cublas<t>gemmStridedBatched launch for what
// would be `count` small GEMMs (AKConv's per-image products). The C_i must not overlap.
template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                          index_t lda, index_t stride_a, const T* B, index_t ldb, index_t stride_b, T beta,
                          T* C, index_t ldc, index_t stride_c, index_t count) {
  if (M == 0 || N == 0 || count == 0) return;
#if ZOO_CUDA_DEVICE
  const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const auto i = [](index_t v) { return static_cast<int>(v); };
  const auto l = [](index_t v) { return static_cast<long long>(v); };
  if constexpr (std::is_same_v<T, float>)
    check(cublasSgemmStridedBatched(blas_handle(), tb, ta, i(N), i(M), i(K), &alpha, B, i(ldb), l(stride_b), A,
                                    i(lda), l(stride_a), &beta, C, i(ldc), l(stride_c), i(count)),
          "cublasSgemmStridedBatched");
  else
    check(cublasDgemmStridedBatched(blas_handle(), tb, ta, i(N), i(M), i(K), &alpha, B, i(ldb), l(stride_b), A,
                                    i(lda), l(stride_a), &beta, C, i(ldc), l(stride_c), i(count)),
          "cublasDgemmStridedBatched");
#else
  for (index_t b = 0; b < count; ++b)
    zoo::gemm<T>(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta,
                 C + b * stride_c, ldc);
#endif
}

}  // namespace zoo::cuda
