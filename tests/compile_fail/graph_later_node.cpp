// A Graph node reads a node defined after it (a cycle or a forward reference).
// expect-error: zoo::Graph: a node reads itself or a node defined after it
// expect-error: name<'b'>, zoo::detail::name<'c'>
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Node<"a", zoo::Linear<8>>,
                       zoo::Node<"b", zoo::Linear<8>, zoo::from<"c">>,
                       zoo::Node<"c", zoo::Linear<8>, zoo::from<"a">>>;
zoo::Model<Net, zoo::Shape<4>> model;
