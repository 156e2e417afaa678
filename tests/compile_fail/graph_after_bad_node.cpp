// One mistake, one error, in a Graph: node "conv" is the mistake (a Conv2d on flat
// features); "pool" reads it and "sum" adds it to a Linear: neither may report more.
// expect-error: zoo::Conv2d: the input is flat features (F), but Conv2d takes images (C, H, W)
#include <zoo/zoo.hpp>

using Net = zoo::Graph<zoo::Node<"fc", zoo::Linear<64>>,
                       zoo::Node<"conv", zoo::Conv2d<8, 3>>,
                       zoo::Node<"pool", zoo::MaxPool2d<2>>,
                       zoo::Node<"other", zoo::Linear<3>, zoo::from<"fc">>,
                       zoo::Node<"sum", zoo::Add, zoo::from<"pool", "other">>>;
zoo::Model<Net, zoo::Shape<10>> model;
