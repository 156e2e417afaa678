// zoo/cuda.hpp — the CUDA backend: include after (or instead of) <zoo/zoo.hpp> in a .cu
// file built by nvcc. The same network types train on the device through
// zoo::cuda::Model<Spec, Shape...> (docs/gpu.md). Built by a host compiler with
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP and CCCL's headers on the include path,
// the same code runs on the CPU (tests/thrust/).
#pragma once
#include "cuda/akconv_thrust.hpp"
#include "cuda/blas.hpp"
#include "cuda/conv.hpp"
#include "cuda/diffusion.hpp"
#include "cuda/elementwise.hpp"
#include "cuda/layers.hpp"
#include "cuda/losses.hpp"
#include "cuda/norm.hpp"
#include "cuda/model.hpp"
#include "cuda/optim.hpp"
#include "cuda/pool.hpp"
#include "cuda/runtime.hpp"
#include "cuda/scratch.hpp"
#include "cuda/tensor.hpp"
#include "cuda/yolo.hpp"
#include "cuda/yolo_train.hpp"
