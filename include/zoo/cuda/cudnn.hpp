// zoo/cuda/cudnn.hpp — Conv2d and ConvTranspose2d through cuDNN, beside the im2col + cuBLAS
// path of cuda/conv.hpp (the reference, and the path of every build without cuDNN).
//
// Compiled where the build says it links cuDNN (-DZOO_CUDNN, nvcc: CMake's -DZOO_CUDA=ON
// adds it when the toolkit has libcudnn) and chosen at run time: conv_engine() starts from
// the environment variable ZOO_CUDA_CONV (im2col, the default, or cudnn) and a program may
// set it before its models' first batch. Per layer, the choice is made when a batch size
// is first seen (resize), with the descriptors, the algorithms and the workspace:
//   forward            cudnnConvolutionForward, then the bias by cudnnAddTensor
//   dW (accumulated)   cudnnConvolutionBackwardFilter, β = 1
//   dx (accumulated)   cudnnConvolutionBackwardData, β = 1
//   db                 the backend's own deterministic plane sums (cuda/conv.hpp)
// ConvTranspose2d is the adjoint: its forward is BackwardData, its dx is Forward, its dW is
// BackwardFilter with the roles of x and dy exchanged.
//
// Algorithms come from cuDNN's heuristics (the _v7 queries: no timing runs), keeping the
// first one cuDNN marks deterministic (two runs give the same bits, as on the im2col path)
// that is not FFT or Winograd (whose fp32 rounding is far from a direct sum's).
// Math is CUDNN_FMA_MATH (full fp32: the CPU backend's values to float rounding); TF32, which
// PyTorch allows for convolutions by default, is `conv_allow_tf32() = true` (or
// ZOO_CUDA_CONV_TF32=1).
//
// Status, 2026-12-06: compiled and linked by nvcc here (no GPU); not yet run on one, which
// is why im2col stays the default. scripts/gpu_check.sh runs the backend's tests and the
// training-step benchmark with ZOO_CUDA_CONV=cudnn as well.
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "runtime.hpp"

#if ZOO_CUDA_DEVICE && defined(ZOO_CUDNN)
#include <cudnn.h>
#define ZOO_HAS_CUDNN 1
#else
#define ZOO_HAS_CUDNN 0
#endif

namespace zoo::cuda {

enum class ConvEngine { im2col, cudnn };

// Whether this build can run convolutions through cuDNN.
inline constexpr bool cudnn_built = ZOO_HAS_CUDNN != 0;

// ZOO_CUDA_CONV's value read: unset, empty or "im2col" → im2col; "cudnn" → cudnn, which a
// build without cuDNN refuses (an error, not a silent fallback); anything else is an error.
inline ConvEngine parse_conv_engine(const char* v) {
  if (!v || !*v || std::strcmp(v, "im2col") == 0) return ConvEngine::im2col;
  if (std::strcmp(v, "cudnn") == 0) {
    if (!cudnn_built)
      throw Error("ZOO_CUDA_CONV=cudnn, but this build has no cuDNN (compile with -DZOO_CUDNN and link "
                  "-lcudnn; CMake does so with -DZOO_CUDA=ON where the toolkit has it)");
    return ConvEngine::cudnn;
  }
  throw Error(std::string("ZOO_CUDA_CONV='") + v + "': expected im2col or cudnn");
}
// The engine of convolution layers resized from now on (first read from ZOO_CUDA_CONV).
inline ConvEngine& conv_engine() {
  static ConvEngine e = parse_conv_engine(std::getenv("ZOO_CUDA_CONV"));
  return e;
}
// TF32 in cuDNN's convolutions (first read from ZOO_CUDA_CONV_TF32=1): off, full fp32.
inline bool& conv_allow_tf32() {
  static bool on = [] {
    const char* v = std::getenv("ZOO_CUDA_CONV_TF32");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

#if ZOO_HAS_CUDNN
inline void check_dnn(cudnnStatus_t s, const char* call) {
  if (s != CUDNN_STATUS_SUCCESS) throw Error(std::string(call) + ": " + cudnnGetErrorString(s));
}
// One handle per host thread, on the default stream as the rest of the backend.
inline cudnnHandle_t dnn_handle() {
  struct Handle {
    cudnnHandle_t h = nullptr;
    Handle() { check_dnn(cudnnCreate(&h), "cudnnCreate"); }
    ~Handle() {
      if (h) cudnnDestroy(h);
    }
  };
  thread_local Handle handle;
  return handle.h;
}

// One convolution's descriptors, algorithms and workspace. Geometry in the terms of the
// forward convolution: x (n, C, H, W) ⋆ w (O, C/groups, KH, KW) → y (n, O, OH, OW).
template <class T>
class DnnConv {
 public:
  static constexpr cudnnDataType_t type = std::is_same_v<T, double> ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  DnnConv() = default;  // descriptors are made by the first setup: an im2col layer has none
  DnnConv(const DnnConv&) = delete;
  DnnConv& operator=(const DnnConv&) = delete;
  ~DnnConv() {
    if (x_) cudnnDestroyTensorDescriptor(x_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (b_) cudnnDestroyTensorDescriptor(b_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (c_) cudnnDestroyConvolutionDescriptor(c_);
  }

  // For a batch of n; picks the algorithms and grows the workspace (kept between calls).
  void setup(index_t n, index_t C, index_t H, index_t W, index_t O, index_t OH, index_t OW, index_t KH,
             index_t KW, index_t SH, index_t SW, index_t PH, index_t PW, index_t DH, index_t DW,
             index_t groups) {
    n_ = 0;  // until this setup has finished
    if (!x_) check_dnn(cudnnCreateTensorDescriptor(&x_), "cudnnCreateTensorDescriptor");
    if (!y_) check_dnn(cudnnCreateTensorDescriptor(&y_), "cudnnCreateTensorDescriptor");
    if (!b_) check_dnn(cudnnCreateTensorDescriptor(&b_), "cudnnCreateTensorDescriptor");
    if (!w_) check_dnn(cudnnCreateFilterDescriptor(&w_), "cudnnCreateFilterDescriptor");
    if (!c_) check_dnn(cudnnCreateConvolutionDescriptor(&c_), "cudnnCreateConvolutionDescriptor");
    auto i = [](index_t v) { return static_cast<int>(v); };
    check_dnn(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, type, i(n), i(C), i(H), i(W)),
              "cudnnSetTensor4dDescriptor(x)");
    check_dnn(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, type, i(n), i(O), i(OH), i(OW)),
              "cudnnSetTensor4dDescriptor(y)");
    check_dnn(cudnnSetTensor4dDescriptor(b_, CUDNN_TENSOR_NCHW, type, 1, i(O), 1, 1),
              "cudnnSetTensor4dDescriptor(bias)");
    check_dnn(cudnnSetFilter4dDescriptor(w_, type, CUDNN_TENSOR_NCHW, i(O), i(C / groups), i(KH), i(KW)),
              "cudnnSetFilter4dDescriptor");
    check_dnn(cudnnSetConvolution2dDescriptor(c_, i(PH), i(PW), i(SH), i(SW), i(DH), i(DW),
                                              CUDNN_CROSS_CORRELATION, type),
              "cudnnSetConvolution2dDescriptor");
    check_dnn(cudnnSetConvolutionGroupCount(c_, i(groups)), "cudnnSetConvolutionGroupCount");
    check_dnn(cudnnSetConvolutionMathType(c_, conv_allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
              "cudnnSetConvolutionMathType");
    int dims[4] = {};
    check_dnn(cudnnGetConvolutionNdForwardOutputDim(c_, x_, w_, 4, dims), "cudnnGetConvolutionNdForwardOutputDim");
    if (dims[0] != i(n) || dims[1] != i(O) || dims[2] != i(OH) || dims[3] != i(OW))
      throw Error("zoo::cuda cuDNN convolution: cuDNN computes an output of " + std::to_string(dims[2]) + "x" +
                  std::to_string(dims[3]) + ", the layer " + std::to_string(OH) + "x" + std::to_string(OW));
    const cudnnHandle_t h = dnn_handle();
    std::size_t ws = 0;
    {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int got = 0;
      check_dnn(cudnnGetConvolutionForwardAlgorithm_v7(h, x_, w_, c_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf),
                "cudnnGetConvolutionForwardAlgorithm_v7");
      fwd_ = perf[pick(perf, got, "forward")].algo;
      std::size_t b = 0;
      check_dnn(cudnnGetConvolutionForwardWorkspaceSize(h, x_, w_, c_, y_, fwd_, &b),
                "cudnnGetConvolutionForwardWorkspaceSize");
      ws = std::max(ws, b);
    }
    {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int got = 0;
      check_dnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w_, y_, c_, x_, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                            &got, perf),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      bwd_data_ = perf[pick(perf, got, "backward data")].algo;
      std::size_t b = 0;
      check_dnn(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w_, y_, c_, x_, bwd_data_, &b),
                "cudnnGetConvolutionBackwardDataWorkspaceSize");
      ws = std::max(ws, b);
    }
    {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int got = 0;
      check_dnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x_, y_, c_, w_,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
      bwd_filter_ = perf[pick(perf, got, "backward filter")].algo;
      std::size_t b = 0;
      check_dnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x_, y_, c_, w_, bwd_filter_, &b),
                "cudnnGetConvolutionBackwardFilterWorkspaceSize");
      ws = std::max(ws, b);
    }
    ws_.resize(ws);
    n_ = n;
  }
  index_t batch() const { return n_; }

  // y = x ⋆ w (+ b), or y += x ⋆ w (ConvTranspose2d's dx).
  void forward(const T* x, const T* w, const T* b, T* y, bool accumulate = false) {
    const T one = 1, beta = accumulate ? T(1) : T(0);
    check_dnn(cudnnConvolutionForward(dnn_handle(), &one, x_, x, w_, w, c_, fwd_, ws_.data(), ws_.size(), &beta,
                                      y_, y),
              "cudnnConvolutionForward");
    if (b) check_dnn(cudnnAddTensor(dnn_handle(), &one, b_, b, &one, y_, y), "cudnnAddTensor");
  }
  // dx += the adjoint of x ↦ x ⋆ w applied to dy (also: ConvTranspose2d's forward, β = 0).
  void backward_data(const T* w, const T* dy, T* dx, bool accumulate = true) {
    const T one = 1, beta = accumulate ? T(1) : T(0);
    check_dnn(cudnnConvolutionBackwardData(dnn_handle(), &one, w_, w, y_, dy, c_, bwd_data_, ws_.data(), ws_.size(),
                                           &beta, x_, dx),
              "cudnnConvolutionBackwardData");
  }
  // dw += dL/dw for input x and output gradient dy.
  void backward_filter(const T* x, const T* dy, T* dw) {
    const T one = 1;
    check_dnn(cudnnConvolutionBackwardFilter(dnn_handle(), &one, x_, x, y_, dy, c_, bwd_filter_, ws_.data(),
                                             ws_.size(), &one, w_, dw),
              "cudnnConvolutionBackwardFilter");
  }
  // ConvTranspose2d: its bias goes on the tensor that is x in these terms, of C channels.
  void set_bias_on_x(index_t C) {
    check_dnn(cudnnSetTensor4dDescriptor(b_, CUDNN_TENSOR_NCHW, type, 1, static_cast<int>(C), 1, 1),
              "cudnnSetTensor4dDescriptor(bias)");
  }
  void add_bias_x(const T* b, T* x) {
    const T one = 1;
    check_dnn(cudnnAddTensor(dnn_handle(), &one, b_, b, &one, x_, x), "cudnnAddTensor");
  }

 private:
  // FFT and Winograd algorithms round differently from a direct or GEMM convolution (fp32
  // errors far above im2col's); they are left out, so both engines agree to float rounding.
  static bool transform_based(cudnnConvolutionFwdAlgo_t a) {
    return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
  }
  static bool transform_based(cudnnConvolutionBwdDataAlgo_t a) {
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
  }
  static bool transform_based(cudnnConvolutionBwdFilterAlgo_t a) {
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }
  // The first algorithm cuDNN ranks that ran its query, is deterministic and is not FFT or
  // Winograd.
  template <class Perf>
  static int pick(const Perf* perf, int got, const char* what) {
    for (int k = 0; k < got; ++k)
      if (perf[k].status == CUDNN_STATUS_SUCCESS && perf[k].determinism == CUDNN_DETERMINISTIC &&
          !transform_based(perf[k].algo))
        return k;
    throw Error(std::string("zoo::cuda cuDNN convolution: no deterministic ") + what +
                " algorithm for this geometry (set ZOO_CUDA_CONV=im2col)");
  }
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, b_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t c_ = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_{};
  DeviceBuffer<unsigned char> ws_;
  index_t n_ = 0;
};
#endif

}  // namespace zoo::cuda
