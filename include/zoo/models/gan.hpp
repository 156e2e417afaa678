// zoo/models/gan.hpp — the seed GANs, as their PyTorch originals: parameter names are
// the originals' state_dict keys (nn.Sequential indices, "0.weight", "3.bias", …, under
// the attribute that holds each Sequential).
//
// MLP (vanilla and least-squares GAN), images flat (784) in [−1, 1], noise (96) ~ U[−1, 1]:
//   MlpDiscriminator  0 Linear(784,256) LeakyReLU(0.2) 2 Linear(256,256) LeakyReLU(0.2) 4 Linear(256,1)
//   MlpGenerator      0 Linear(96,1024) ReLU 2 Linear(1024,1024) ReLU 4 Linear(1024,784) Tanh
// DCGAN, images (1, 28, 28); two halves, self.conv and self.fc, as the reference modules:
//   DcDiscriminator   conv  0 Conv2d(1,32,5) LeakyReLU(0.01) MaxPool(2,2)     (32, 12, 12)
//                           3 Conv2d(32,64,5) LeakyReLU(0.01) MaxPool(2,2)    (64, 4, 4)
//                     x.view(N, -1)                                          (1024)
//                     fc    0 Linear(1024,1024) LeakyReLU(0.01) 2 Linear(1024,1)
//                     keys: conv.0.weight, conv.3.weight, fc.0.weight, fc.2.weight (+ biases)
//   DcGenerator       fc    0 Linear(96,1024) ReLU 2 BatchNorm1d
//                           3 Linear(1024,6272) ReLU 5 BatchNorm1d
//                     x.view(-1, 128, 7, 7)                                  (128, 7, 7)
//                     conv  0 ConvTranspose2d(128,64,4,2,1) ReLU 2 BatchNorm2d (64, 14, 14)
//                           3 ConvTranspose2d(64,1,4,2,1) Tanh                (1, 28, 28)
//                     keys: fc.0.weight, fc.2.running_mean, fc.3.weight, fc.5.*, conv.0.weight,
//                           conv.2.*, conv.3.weight
//   The view nodes have no parameters, so they add no keys. Each half is a Sequential,
//   which fuses each Linear with the ReLU/LeakyReLU after it (architecture.md §4).
// Conditional DCGAN (inputs z, y with y the class one-hot (10)):
//   CondDcGenerator      zy = cat(z, y) (106) → net = DcGenerator          "net.fc.0.weight", …
//   CondDcDiscriminator  ymap = y expanded to (10, 28, 28); xy = cat(x, ymap) (11, 28, 28)
//                        → net = DcDiscriminator (first conv takes 11 channels) "net.conv.0.weight", …
// The training steps are in gan_training.hpp.
#pragma once
#include "../graph/graph.hpp"
#include "../graph/sequential.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/concat.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/expand.hpp"
#include "../layers/linear.hpp"
#include "../layers/pool.hpp"
#include "../layers/reshape.hpp"

namespace zoo::models {

inline constexpr std::size_t gan_noise_dim = 96;
inline constexpr std::size_t gan_num_classes = 10;

using MlpDiscriminator = Sequential<Linear<256>, LeakyReLU<1, 5>,  // (N, 256)
                                    Linear<256>, LeakyReLU<1, 5>,  // (N, 256)
                                    Linear<1>>;                   // (N, 1) logits
using MlpGenerator = Sequential<Linear<1024>, ReLU,               // (N, 1024)
                                Linear<1024>, ReLU,               // (N, 1024)
                                Linear<28 * 28>, Tanh>;           // (N, 784)

using DcDiscriminator =
    Graph<Node<"conv", Sequential<Conv2d<32, 5>, LeakyReLU<1, 100>,   // (N, 32, 24, 24)
                                  MaxPool2d<2, 2>,                    // (N, 32, 12, 12)
                                  Conv2d<64, 5>, LeakyReLU<1, 100>,   // (N, 64, 8, 8)
                                  MaxPool2d<2, 2>>>,                  // (N, 64, 4, 4)
          Node<"flatten", Flatten>,                                   // (N, 1024)
          Node<"fc", Sequential<Linear<1024>, LeakyReLU<1, 100>,      // (N, 1024)
                                Linear<1>>>>;                         // (N, 1) logits
using DcGenerator =
    Graph<Node<"fc", Sequential<Linear<1024>, ReLU, BatchNorm,          // (N, 1024)
                                Linear<7 * 7 * 128>, ReLU, BatchNorm>>, // (N, 6272)
          Node<"view", Reshape<128, 7, 7>>,                             // (N, 128, 7, 7)
          Node<"conv", Sequential<ConvTranspose2d<64, 4, 2, 1>, ReLU, BatchNorm,  // (N, 64, 14, 14)
                                  ConvTranspose2d<1, 4, 2, 1>, Tanh>>>;           // (N, 1, 28, 28)

using CondDcGenerator = Graph<Inputs<"z", "y">,
                              Node<"zy", Concat, from<"z", "y">>,  // (N, 106)
                              Node<"net", DcGenerator>>;           // (N, 1, 28, 28)
using CondDcDiscriminator = Graph<Inputs<"x", "y">,
                                  Node<"ymap", Expand2d<28, 28>, from<"y">>,  // (N, 10, 28, 28)
                                  Node<"xy", Concat, from<"x", "ymap">>,      // (N, 11, 28, 28)
                                  Node<"net", DcDiscriminator>>;              // (N, 1)

}  // namespace zoo::models
