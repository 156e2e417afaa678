// zoo/cuda/lt.hpp — a Linear layer's forward as one cuBLASLt matmul whose epilogue adds the
// bias (and applies ReLU when Sequential or Graph fuse a ReLU into the Linear):
//
//   y (n, O) = act(x (n, I) · Wᵀ + b)
//
// Without it the forward is three passes over y: the bias rows, the GEMM adding onto them
// (β = 1), the activation; with it, one. On an H100 a small MLP's step is launch-bound
// (docs/gpu_roofline.md), so the passes saved are most of the Linear's time there.
//
// cuBLASLt is column-major: row-major y is the column-major yᵀ (O × n), which is
// W (O × I) · xᵀ (I × n) — row-major W read as column-major is Wᵀ (I × O, ld I), hence
// TRANSA = T; row-major x read as column-major is xᵀ (I × n, ld I). The bias epilogue adds
// b[r] to row r of the column-major result: one value per output feature, as nn.Linear.
// Compute type CUBLAS_COMPUTE_32F (64F for double): full precision, no TF32, as cuda::gemm.
//
// cuBLASLt's heuristics assume 256-byte aligned operands unless told otherwise, and a Linear's
// weight sits wherever the flat parameter buffer puts it (often 4-byte aligned): each query
// says the operands' actual alignments, and a call whose pointers are less aligned than the
// chosen algorithm was asked for takes a new query.
// An algorithm is asked of cuBLASLt's heuristics again whenever the batch size changes (one
// entry is kept: a host query of microseconds, against the launches it saves). Where it offers none
// (a type or epilogue this cuBLASLt lacks), `forward` returns false and the layer takes
// the GEMM path, which is also the only path of builds with Thrust's host systems.
//
// Status, 2026-12-06: compiled and linked by nvcc here (no GPU); not yet run on one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "../layers/activations.hpp"
#include "blas.hpp"

#if ZOO_CUDA_DEVICE
#include <cublasLt.h>
#define ZOO_HAS_CUBLASLT 1
#else
#define ZOO_HAS_CUBLASLT 0
#endif

namespace zoo::cuda {

// What the matmul's epilogue does after the product.
enum class Epilogue { none, bias, relu, relu_bias };

// ReLU is the one fusible activation (y_only, so Sequential fuses it) that cuBLASLt has as
// an epilogue; Tanh, Sigmoid and LeakyReLU run as one pass over y after the bias epilogue.
template <class Fn>
constexpr bool lt_has_act() {
  return std::is_same_v<Fn, act::relu>;
}
template <class Fn, bool Bias>
constexpr Epilogue lt_epilogue() {
  if constexpr (lt_has_act<Fn>()) return Bias ? Epilogue::relu_bias : Epilogue::relu;
  else return Bias ? Epilogue::bias : Epilogue::none;
}

// ZOO_CUDA_LT's value read: unset, empty or "1" → cuBLASLt where it has an algorithm; "0" →
// the GEMM path always (to time what the epilogues save); anything else is an error.
inline bool parse_lt_enabled(const char* v) {
  if (!v || !*v || std::strcmp(v, "1") == 0) return true;
  if (std::strcmp(v, "0") == 0) return false;
  throw Error(std::string("ZOO_CUDA_LT='") + v + "': expected 0 or 1");
}
// Whether device Linear layers use cuBLASLt (first read from ZOO_CUDA_LT); a program may set it.
inline bool& lt_enabled() {
  static bool on = parse_lt_enabled(std::getenv("ZOO_CUDA_LT"));
  return on;
}

// The largest power of two ≤ 256 that divides the address (256 for none).
inline std::uint32_t lt_alignment(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t r = 256;
  while (r > 1 && a % r != 0) r /= 2;
  return r;
}

#if ZOO_HAS_CUBLASLT
// One cuBLASLt handle and one workspace per host thread (the backend runs on the default
// stream, so no two of a thread's matmuls use the workspace at once).
struct LtContext {
  static constexpr std::size_t workspace_bytes = std::size_t(4) << 20;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  LtContext() : workspace(device_alloc(workspace_bytes)) {
    const cublasStatus_t s = cublasLtCreate(&handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
      device_free(workspace);
      check(s, "cublasLtCreate");
    }
  }
  ~LtContext() {
    device_free(workspace);
    if (handle) cublasLtDestroy(handle);
  }
  LtContext(const LtContext&) = delete;
  LtContext& operator=(const LtContext&) = delete;
};
inline LtContext& lt_context() {
  thread_local LtContext c;
  return c;
}

template <class T>
class LtLinear {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "zoo::cuda::LtLinear: float or double");

 public:
  static constexpr cudaDataType_t type = std::is_same_v<T, double> ? CUDA_R_64F : CUDA_R_32F;
  static constexpr cublasComputeType_t compute =
      std::is_same_v<T, double> ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  LtLinear() = default;
  LtLinear(const LtLinear&) = delete;
  LtLinear& operator=(const LtLinear&) = delete;
  ~LtLinear() { release(); }

  // y = epilogue(x · Wᵀ); false, with nothing written, when cuBLASLt offers no algorithm.
  bool forward(const T* x, const T* w, const T* b, T* y, index_t n, index_t in, index_t out, Epilogue e) {
    if (!lt_enabled()) return false;
    if (n == 0) return true;
    const Align al{lt_alignment(w), lt_alignment(x), lt_alignment(y), lt_alignment(b)};
    if (n != n_ || e != e_ || in != in_ || out != out_ || !al.at_least(align_)) setup(n, in, out, e, al, b);
    if (!ok_) return false;
    if (e == Epilogue::bias || e == Epilogue::relu_bias)
      check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b),
            "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    const T alpha = T(1), beta = T(0);
    LtContext& c = lt_context();
    check(cublasLtMatmul(c.handle, op_, &alpha, w, a_, x, b_, &beta, y, d_, y, d_, &algo_, c.workspace,
                         LtContext::workspace_bytes, cudaStream_t{}),
          "cublasLtMatmul");
    return true;
  }

 private:
  struct Align {
    std::uint32_t w = 256, x = 256, y = 256, b = 256;
    bool at_least(const Align& o) const { return w >= o.w && x >= o.x && y >= o.y && b >= o.b; }
  };
  // The cache key (n_ …) is written last: a setup that throws leaves none, so the next
  // call asks again instead of taking the GEMM path for good.
  void setup(index_t n, index_t in, index_t out, Epilogue e, const Align& al, const T* bias) {
    release();
    check(cublasLtMatmulDescCreate(&op_, compute, type), "cublasLtMatmulDescCreate");
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
          "cublasLtMatmulDescSetAttribute(TRANSA)");
    check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
          "cublasLtMatmulDescSetAttribute(TRANSB)");
    const cublasLtEpilogue_t epi = e == Epilogue::bias        ? CUBLASLT_EPILOGUE_BIAS
                                   : e == Epilogue::relu_bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                   : e == Epilogue::relu      ? CUBLASLT_EPILOGUE_RELU
                                                              : CUBLASLT_EPILOGUE_DEFAULT;
    check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi),
          "cublasLtMatmulDescSetAttribute(EPILOGUE)");
    if (e == Epilogue::bias || e == Epilogue::relu_bias) {
      // The bias is of y's type (the default BIAS_DATA_TYPE). There is no alignment
      // preference for it: the heuristic reads the pointer's value instead.
      check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
            "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    }
    const auto u = [](index_t v) { return static_cast<std::uint64_t>(v); };
    check(cublasLtMatrixLayoutCreate(&a_, type, u(in), u(out), static_cast<std::int64_t>(in)),
          "cublasLtMatrixLayoutCreate(W)");
    check(cublasLtMatrixLayoutCreate(&b_, type, u(in), u(n), static_cast<std::int64_t>(in)),
          "cublasLtMatrixLayoutCreate(x)");
    check(cublasLtMatrixLayoutCreate(&d_, type, u(out), u(n), static_cast<std::int64_t>(out)),
          "cublasLtMatrixLayoutCreate(y)");
    cublasLtMatmulPreference_t pref = nullptr;
    check(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    const std::uint64_t ws = LtContext::workspace_bytes;
    cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &ws, sizeof ws);
    // A is W, B is x, C and D are y (cuBLASLt's operand names).
    const std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al.w},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al.x},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al.y},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al.y}};
    for (const auto& [attr, v] : aligns)
      if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof v);
    cublasLtMatmulHeuristicResult_t r{};
    int found = 0;
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulAlgoGetHeuristic(lt_context().handle, op_, a_, b_, d_, d_, pref, 1, &r, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    // NOT_SUPPORTED or INVALID_VALUE (no algorithm for this type, epilogue or alignment)
    // sends the layer to the GEMM path, whose result is the same; any other failure is an error.
    const bool none = s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE ||
                      (s == CUBLAS_STATUS_SUCCESS && found == 0);
    if (!none) {
      check(s, "cublasLtMatmulAlgoGetHeuristic");
      algo_ = r.algo;
    }
    ok_ = !none;
    n_ = n, in_ = in, out_ = out, e_ = e, align_ = al;
  }
  void release() {
    if (a_) cublasLtMatrixLayoutDestroy(a_);
    if (b_) cublasLtMatrixLayoutDestroy(b_);
    if (d_) cublasLtMatrixLayoutDestroy(d_);
    if (op_) cublasLtMatmulDescDestroy(op_);
    a_ = b_ = d_ = nullptr, op_ = nullptr, n_ = -1, ok_ = false;
  }
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  index_t n_ = -1, in_ = 0, out_ = 0;
  Epilogue e_ = Epilogue::none;
  Align align_;
  bool ok_ = false;
};
#endif

}  // namespace zoo::cuda
