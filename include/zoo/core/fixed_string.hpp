// zoo/core/fixed_string.hpp — string literals as template arguments.
//
// Graph nodes are named (`Node<"down1", ...>`) the way a PyTorch module's
// attributes are, so state_dict keys come out right and wiring errors name
// the node instead of a numeric tag.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace zoo {

template <std::size_t N>
struct fixed_string {
  char value[N]{};
  constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, value); }
  constexpr std::string_view view() const { return {value, N - 1}; }
  constexpr operator std::string_view() const { return view(); }
  template <std::size_t M>
  constexpr bool operator==(const fixed_string<M>& o) const {
    return view() == o.view();
  }
};

}  // namespace zoo
