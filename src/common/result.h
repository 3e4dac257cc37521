// Result<T, E>: a value or the error that prevented it.
//
// Expected failures (bad input, no room on the cluster) are values in this
// project, not exceptions; see STYLE.md. std::expected arrives with C++23, which
// the toolchain on Debian 12 does not ship, so this is the small subset we use.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace ozy {

template <typename E>
struct Err {
  E error;
};

template <typename E>
Err<std::decay_t<E>> fail(E&& error) {
  return Err<std::decay_t<E>>{std::forward<E>(error)};
}

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <typename F>
  Result(Err<F> err) : state_(std::in_place_index<1>, std::move(err.error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  const E& error() const& {
    assert(!ok());
    return std::get<1>(state_);
  }
  E&& error() && {
    assert(!ok());
    return std::get<1>(std::move(state_));
  }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> state_;
};

}  // namespace ozy
