// Add given one input instead of two.
// expect-error: zoo: this layer is given the wrong number of inputs
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Node<"a", zoo::Linear<8>>, zoo::Node<"s", zoo::Add, zoo::from<"a">>>;
zoo::Model<Net, zoo::Shape<4>> model;
