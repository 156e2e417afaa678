// A rank that fails mid-step must end the whole job with its message, not leave the
// other ranks waiting in the gradient all-reduce. Rank 1 throws at step 3 of a training
// loop while the others are already inside the step's all-reduce:
//   fail_midstep catch       main catches it and calls World::fail (what the examples do)
//   fail_midstep terminate   nobody catches it: the terminate handler init() installed
// tests/mpi/check_failure.cmake runs it under mpirun and checks the exit status, the
// message and the time it took.
#include <zoo/zoo.hpp>
#include <zoo/distributed.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

using Net = zoo::Sequential<zoo::Linear<64>, zoo::ReLU, zoo::Linear<10>>;

static void train(zoo::distributed::World& w) {
  zoo::Model<Net, zoo::Shape<32>> m(1);
  zoo::distributed::replicate(w, m);
  zoo::SGD<float> opt(m.parameters(), {.lr = 0.01});
  zoo::Tensor<float> x({8, 32}), dy({8, 10});
  x.fill(0.5f), dy.fill(0.1f);
  for (int step = 0; step < 1000000; ++step) {
    w.begin_step(x.batch());
    m.zero_grad();
    m.forward(x);
    m.backward(dy);
    if (w.rank() == 1 && step == 3) throw std::runtime_error("injected failure at step 3");
    zoo::distributed::reduce(w, m);
    opt.step();
  }
}

int main(int argc, char** argv) {
  auto& w = zoo::distributed::init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "catch";
  if (mode == "terminate") {
    train(w);  // the exception escapes main
    return 0;
  }
  try {
    train(w);
  } catch (const std::exception& e) {
    w.fail(std::string("fail_midstep: ") + e.what());
    return 1;
  }
  return 0;
}
