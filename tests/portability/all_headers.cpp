// Every public header of zoo in one translation unit: the portability checks compile it
// with clang 14 and clang 19, warning-free (tests/portability; nvcc sees every header
// through tests/cuda/models_step.cu).
// zoo/cuda/ is left out: it needs CUDA's runtime headers or Thrust's CPU systems, and has
// tests of its own (tests/thrust, tests/cuda).
#include <zoo/zoo.hpp>

#include <zoo/core/collective.hpp>
#include <zoo/core/xtensor.hpp>
#include <zoo/cpu/batch_parallel.hpp>
#include <zoo/cpu/dense.hpp>
#include <zoo/cpu/direct_conv.hpp>
#include <zoo/cpu/im2col.hpp>
#include <zoo/cpu/winograd.hpp>
#include <zoo/data/detection.hpp>
#include <zoo/distributed.hpp>
#include <zoo/data/idx.hpp>
#include <zoo/data/loader.hpp>
#include <zoo/io/error.hpp>
#include <zoo/io/file.hpp>
#include <zoo/io/image.hpp>
#include <zoo/io/json.hpp>
#include <zoo/io/png.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/io/state_dict.hpp>
#include <zoo/io/torch_pt.hpp>
#include <zoo/kernels/akconv_gather.hpp>
#include <zoo/metrics/classifier.hpp>
#include <zoo/metrics/detection.hpp>
#include <zoo/metrics/fid.hpp>
#include <zoo/metrics/sample_quality.hpp>
#include <zoo/models/ae_training.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/blocks.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>
#include <zoo/models/lenet.hpp>
#include <zoo/models/vae.hpp>
#include <zoo/models/yolo/loss.hpp>
#include <zoo/models/yolo/modules.hpp>
#include <zoo/models/yolo/nms.hpp>
#include <zoo/models/yolo/train.hpp>
#include <zoo/models/yolo/yolov5.hpp>

int main() { return 0; }
