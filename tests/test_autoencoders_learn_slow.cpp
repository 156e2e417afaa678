// The seed autoencoders learn on real data: a short run on a Fashion-MNIST subset
// (Debian's dataset-fashion-mnist, installed by scripts/setup.sh) must cut the
// held-out loss well below the untrained model's.
#include <doctest/doctest.h>

#include <zoo/data/idx.hpp>
#include <zoo/models/ae_training.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/vae.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {
const char* kFashion = "/usr/share/datasets/fashion-mnist";

// First `count` images of a split as (count, 784) in [0,1] or [−1,1].
Tensor<float> load(const char* split, std::size_t count, bool pm1, bool image = false) {
  const auto im = data::read_idx_images(std::string(kFashion) + "/" + split + "-images-idx3-ubyte.gz");
  REQUIRE(im.count >= count);
  Tensor<float> x;
  if (image) x.resize({count, 1, 28, 28});
  else x.resize({count, 784});
  for (std::size_t i = 0; i < count * 784; ++i) {
    const float v = im.pixels[i] / 255.0f;
    x[i] = pm1 ? 2 * v - 1 : v;
  }
  return x;
}

void batch_of(const Tensor<float>& all, std::size_t b, std::size_t bs, Tensor<float>& out) {
  std::array<std::size_t, 4> shape{bs, 1, 1, 1};
  for (std::size_t d = 1; d < all.rank(); ++d) shape[d] = all.dim(d);
  out.resize(std::span<const std::size_t>(shape.data(), all.rank()));
  std::copy(all.sample(b * bs), all.sample(b * bs) + bs * all.sample_size(), out.data());
}

template <class M, class Step>
void check_learns(M& m, Step& step, bool pm1, std::size_t bs, int epochs, double factor,
                  double weight_decay = 0) {
  constexpr bool image = M::input_shapes::size == 1 && type_at_t<0, typename M::input_shapes>::rank == 3;
  const Tensor<float> train = load("train", 3072, pm1, image), test = load("t10k", 512, pm1, image);
  Adam opt(m.parameters(), {.lr = 1e-3, .weight_decay = weight_decay});
  auto test_loss = [&] {
    if constexpr (requires { step.loss(m, test, false).total; }) return step.loss(m, test, false).total;
    else return step.loss(m, test, false);
  };
  const double before = test_loss();
  Tensor<float> xb;
  for (int e = 0; e < epochs; ++e)
    for (std::size_t b = 0; b < train.batch() / bs; ++b) {
      batch_of(train, b, bs, xb);
      step.step(m, opt, xb);
    }
  const double after = test_loss();
  MESSAGE("held-out loss per image: untrained " << before << ", trained " << after);
  CHECK(after < before / factor);
}
}  // namespace

TEST_CASE("MLP autoencoder: held-out MSE(sum)/image falls ≥ 3× in 5 epochs of 3k images") {
  Model<models::MlpAutoencoder, Shape<784>> m(1);
  models::AutoencoderStep<decltype(m)> step;
  check_learns(m, step, true, 128, 5, 3.0);
}

TEST_CASE("conv autoencoder: held-out MSE(mean) falls ≥ 2.5× in 5 epochs of 3k images") {
  Model<models::ConvAutoencoder, Shape<1, 28, 28>> m(1);
  models::AutoencoderStep<decltype(m)> step;
  step.reduction = Reduction::mean;
  check_learns(m, step, true, 128, 5, 2.5, 1e-5);
}

TEST_CASE("VAE (MSE): held-out loss falls ≥ 3×") {
  Model<models::VaeMse, Shape<784>> m(1);
  models::VaeStep<decltype(m)> step;
  step.recon = models::Recon::mse;
  check_learns(m, step, true, 128, 5, 3.0);
}

TEST_CASE("VAE (BCE): held-out loss falls ≥ 1.8×") {
  Model<models::VaeBce, Shape<784>> m(1);
  models::VaeStep<decltype(m)> step;
  step.recon = models::Recon::bce;
  check_learns(m, step, false, 64, 3, 1.8);
}
