// A Reshape whose sizes do not multiply out to the input's: 10 values into (3, 2, 2).
// expect-error: zoo::Reshape: the target shape does not hold the same number of values as the input
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Linear<10>, zoo::Reshape<3, 2, 2>>;
zoo::Model<Net, zoo::Shape<4>> model;
