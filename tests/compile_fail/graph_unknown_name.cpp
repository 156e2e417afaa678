// A Graph node reads a name that is neither an input nor a node ("hiden" is misspelt).
// expect-error: zoo::Graph: a node reads a name that is neither a graph input nor a node
// expect-error: name<'o', 'u', 't'>, zoo::detail::name<'h', 'i', 'd', 'e', 'n'>
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Node<"hidden", zoo::Linear<8>>,
                       zoo::Node<"out", zoo::Linear<2>, zoo::from<"hiden">>>;
zoo::Model<Net, zoo::Shape<4>> model;
