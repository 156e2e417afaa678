// zoo/models/vae.hpp — the two seed VAEs.
//
// Both output (reconstruction, μ, log σ²); the loss is reconstruction + KL:
//   KL = −½ Σ (1 + log σ² − μ² − σ²)          (zoo::kl_normal_loss, sum)
// and z = μ + σ·ε is zoo::Reparameterize. The decoder can be run alone on
// z ~ N(0, I) with Model::forward_node<"decoder"> (VaeBce) to sample the prior.
//
// VaeMse (inputs in [−1, 1], loss MSE(sum) + KL per image):
//   fc1 Linear(784,400) ReLU → fc21, fc22 Linear(400,20) → z → fc3 Linear(20,400) ReLU → fc4 Linear(400,784) Tanh
// VaeBce (inputs in [0, 1], loss BCE(sum) + KL, batch 64):
//   encoder Linear(784,512) ReLU Linear(512,256) ReLU → fc_mu, fc_logvar Linear(256,20) → z →
//   decoder Linear(20,256) ReLU Linear(256,512) ReLU Linear(512,784) Sigmoid
#pragma once
#include "../graph/graph.hpp"
#include "../graph/sequential.hpp"
#include "../layers/activations.hpp"
#include "../layers/linear.hpp"
#include "../layers/reparameterize.hpp"

namespace zoo::models {

template <std::size_t Latent = 20>
using VaeMseT = Graph<Node<"fc1", Linear<400>>, Node<"h1", ReLU>,          // (N, 400)
                      Node<"fc21", Linear<Latent>, from<"h1">>,            // μ (N, 20)
                      Node<"fc22", Linear<Latent>, from<"h1">>,            // log σ² (N, 20)
                      Node<"z", Reparameterize, from<"fc21", "fc22">>,     // (N, 20)
                      Node<"fc3", Linear<400>>, Node<"h3", ReLU>,          // (N, 400)
                      Node<"fc4", Linear<28 * 28>>, Node<"out", Tanh>,     // (N, 784)
                      Outputs<"out", "fc21", "fc22">>;
using VaeMse = VaeMseT<20>;

template <std::size_t Latent = 20>
using VaeBceDecoder = Sequential<Linear<256>, ReLU, Linear<512>, ReLU, Linear<28 * 28>, Sigmoid>;

template <std::size_t Latent = 20>
using VaeBceT = Graph<Node<"encoder", Sequential<Linear<512>, ReLU, Linear<256>, ReLU>>,  // (N, 256)
                      Node<"fc_mu", Linear<Latent>, from<"encoder">>,                     // (N, 20)
                      Node<"fc_logvar", Linear<Latent>, from<"encoder">>,                 // (N, 20)
                      Node<"z", Reparameterize, from<"fc_mu", "fc_logvar">>,              // (N, 20)
                      Node<"decoder", VaeBceDecoder<Latent>>,                             // (N, 784)
                      Outputs<"decoder", "fc_mu", "fc_logvar">>;
using VaeBce = VaeBceT<20>;

}  // namespace zoo::models
