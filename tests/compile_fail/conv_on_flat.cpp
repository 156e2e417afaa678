// A Conv2d after a flat input (here a Linear's output) must fail at bind time with one sentence.
// expect-error: zoo::Conv2d: the input is flat features (F), but Conv2d takes images (C, H, W)
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Linear<64>, zoo::Conv2d<8, 3>>;
zoo::Model<Net, zoo::Shape<10>> model;
