// Concatenating channels of a 4×4 and a 2×2 image.
// expect-error: zoo::Concat: inputs have different spatial sizes (H, W)
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Inputs<"a", "b">, zoo::Node<"cat", zoo::Concat, zoo::from<"a", "b">>>;
zoo::Model<Net, zoo::Shape<2, 4, 4>, zoo::Shape<3, 2, 2>> model;
