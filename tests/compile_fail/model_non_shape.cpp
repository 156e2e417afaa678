// Model given a plain type instead of a zoo::Shape<...> for its input.
// expect-error: zoo::Model<Spec, Shape...>: the arguments after the spec must be zoo::Shape<...>
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::Linear<10>>;
zoo::Model<Net, int> model;
