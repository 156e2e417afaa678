// Linear after an image shape, without a Flatten.
// expect-error: zoo::Linear: the input is an image (C, H, W), but Linear takes flat features
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Reshape<1, 28, 28>, zoo::Linear<10>>;
zoo::Model<Net, zoo::Shape<784>> model;
