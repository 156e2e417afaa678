// An outside program: trains y = 2x − 1 with one Linear layer and checks it learned —
// through zoo::distributed, which is a world of one here (MPI or not: no launcher).
#include <zoo/distributed.hpp>
#include <zoo/zoo.hpp>

#include <cmath>
#include <cstdio>

int main(int argc, char** argv) {
  auto& world = zoo::distributed::init(argc, argv);
  zoo::Model<zoo::Linear<1>, zoo::Shape<1>> m(7);
  zoo::distributed::replicate(world, m);
  zoo::Adam opt(m.parameters(), {.lr = 0.05});
  zoo::Tensor<float> x({32, 1}), y({32, 1}), dy;
  for (int i = 0; i < 32; ++i) x[i] = i / 16.0f - 1, y[i] = 2 * x[i] - 1;
  float loss = 0;
  for (int step = 0; step < 500; ++step) {
    m.zero_grad();
    loss = zoo::mse_loss(m.forward(x), y, &dy);
    m.backward(dy);
    zoo::distributed::reduce(world, m);
    opt.step();
  }
  std::printf("package app: final loss %g\n", loss);
  return loss < 1e-4 ? 0 : 1;
}
