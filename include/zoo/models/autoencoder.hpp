// zoo/models/autoencoder.hpp — the seed autoencoders, as their PyTorch originals.
//
// MlpAutoencoder: 784 → 128 → 64 → 12 → 3 (the code) → 12 → 64 → 128 → 784, ReLU
// between, Tanh out; inputs in [−1, 1]; trained with MSE(sum)/batch and Adam 1e-3.
// Outputs: the reconstruction, then the 3-d code (for the scatter plot).
//
//   encoder.0 Linear(784,128) .2 Linear(128,64) .4 Linear(64,12) .6 Linear(12,3)
//   decoder.0 Linear(3,12)    .2 Linear(12,64)  .4 Linear(64,128) .6 Linear(128,784), Tanh
//
// ConvAutoencoder: (1, 28, 28) → Conv2d(16,3,s3,p1) 10 → MaxPool(2,2) 5 → Conv2d(8,3,s2,p1) 3 →
// MaxPool(2,s1) 2 → ConvTranspose2d(16,3,s2) 5 → ConvTranspose2d(8,5,s3,p1) 15 →
// ConvTranspose2d(1,2,s2,p1) 28, Tanh; Adam 1e-3 with weight decay 1e-5, MSE (mean).
#pragma once
#include "../graph/graph.hpp"
#include "../graph/sequential.hpp"
#include "../layers/activations.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/linear.hpp"
#include "../layers/pool.hpp"

namespace zoo::models {

using MlpEncoder = Sequential<Linear<128>, ReLU, Linear<64>, ReLU, Linear<12>, ReLU, Linear<3>>;
using MlpDecoder =
    Sequential<Linear<12>, ReLU, Linear<64>, ReLU, Linear<128>, ReLU, Linear<28 * 28>, Tanh>;

using MlpAutoencoder = Graph<Node<"encoder", MlpEncoder>,    // (N, 3)
                             Node<"decoder", MlpDecoder>,    // (N, 784)
                             Outputs<"decoder", "encoder">>;

using ConvEncoder = Sequential<Conv2d<16, 3, 3, 1>, ReLU,        // (N, 16, 10, 10)
                               MaxPool2d<2, 2>,                  // (N, 16, 5, 5)
                               Conv2d<8, 3, 2, 1>, ReLU,         // (N, 8, 3, 3)
                               MaxPool2d<2, 1>>;                 // (N, 8, 2, 2)
using ConvDecoder = Sequential<ConvTranspose2d<16, 3, 2>, ReLU,     // (N, 16, 5, 5)
                               ConvTranspose2d<8, 5, 3, 1>, ReLU,   // (N, 8, 15, 15)
                               ConvTranspose2d<1, 2, 2, 1>, Tanh>;  // (N, 1, 28, 28)

using ConvAutoencoder = Graph<Node<"encoder", ConvEncoder>,  // (N, 8, 2, 2)
                              Node<"decoder", ConvDecoder>,  // (N, 1, 28, 28)
                              Outputs<"decoder", "encoder">>;

}  // namespace zoo::models
