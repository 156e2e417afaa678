// Mul of a one-channel (1, 2, 2) map with a (4, 2, 2) image: torch would broadcast the map
// over channels, which zoo's per-channel broadcasting does not do. It used to compile
// (4 values = 4 channels) and silently scale channel c by map value c.
// expect-error: zoo::Add/zoo::Mul: the two inputs must have the same shape, or one must hold one value per channel
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Inputs<"mask", "x">, zoo::Node<"y", zoo::Mul, zoo::from<"mask", "x">>>;
zoo::Model<Net, zoo::Shape<1, 2, 2>, zoo::Shape<4, 2, 2>> model;
