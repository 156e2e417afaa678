// ConvTranspose2d with output_padding ≥ stride must fail, as PyTorch refuses it.
// expect-error: zoo::ConvTranspose2d: OutputPadding must be smaller than the stride or the dilation
#include <zoo/zoo.hpp>

using Net = zoo::Sequential<zoo::ConvTranspose2d<8, 3, 2, 1, 2>>;
zoo::Model<Net, zoo::Shape<4, 5, 5>> model;
