// One mistake, one error: a Conv2d after a Linear is the mistake; the MaxPool2d after it
// must not report a second error about the nonsense shape the Conv2d would have produced.
// expect-error: zoo::Conv2d: the input is flat features (F), but Conv2d takes images (C, H, W)
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Linear<64>, zoo::Conv2d<8, 3>, zoo::MaxPool2d<2>>;
zoo::Model<Net, zoo::Shape<10>> model;
