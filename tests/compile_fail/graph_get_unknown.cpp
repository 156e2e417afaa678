// get<"name"> of a name no node has, neither in the graph nor in a "_..." node it nests
// ("fist" is misspelt).
// expect-error: no node has this name (here or in a
#include <zoo/zoo.hpp>

using Stage = zoo::Graph<zoo::Node<"first", zoo::Linear<8>>, zoo::Node<"second", zoo::Linear<4>>>;
using Net = zoo::Graph<zoo::Node<"_stage", Stage>, zoo::Node<"out", zoo::Linear<2>>>;
zoo::Model<Net, zoo::Shape<4>> model;
auto& first = model.net().get<"fist">();
