// zoo/models/autoencoder.hpp — the seed autoencoders, as their PyTorch originals.
//
// MlpAutoencoder: 784 → 128 → 64 → 12 → 3 (the code) → 12 → 64 → 128 → 784, ReLU
// between, Tanh out; inputs in [−1, 1]; trained with MSE(sum)/batch and Adam 1e-3.
// Outputs: the reconstruction, then the 3-d code (for the scatter plot).
//
//   encoder.0 Linear(784,128) .2 Linear(128,64) .4 Linear(64,12) .6 Linear(12,3)
//   decoder.0 Linear(3,12)    .2 Linear(12,64)  .4 Linear(64,128) .6 Linear(128,784), Tanh
#pragma once
#include "../graph/graph.hpp"
#include "../graph/sequential.hpp"
#include "../layers/activations.hpp"
#include "../layers/linear.hpp"

namespace zoo::models {

using MlpEncoder = Sequential<Linear<128>, ReLU, Linear<64>, ReLU, Linear<12>, ReLU, Linear<3>>;
using MlpDecoder =
    Sequential<Linear<12>, ReLU, Linear<64>, ReLU, Linear<128>, ReLU, Linear<28 * 28>, Tanh>;

using MlpAutoencoder = Graph<Node<"encoder", MlpEncoder>,    // (N, 3)
                             Node<"decoder", MlpDecoder>,    // (N, 784)
                             Outputs<"decoder", "encoder">>;

}  // namespace zoo::models
