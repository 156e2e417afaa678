// Conv2d with Groups that does not divide the input's channels must fail with one sentence.
// expect-error: zoo::Conv2d: the input's channel count is not divisible by Groups
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Conv2d<6, 3, 1, 1, 1, 2>>;
zoo::Model<Net, zoo::Shape<3, 8, 8>> model;
