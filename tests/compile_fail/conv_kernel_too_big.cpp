// A kernel larger than the padded input (5×5 on 4×4, no padding) must fail with one sentence.
// expect-error: zoo::Conv2d: the (dilated) kernel is larger than the padded input
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Conv2d<8, 5>>;
zoo::Model<Net, zoo::Shape<1, 4, 4>> model;
