// Small helpers for running Beast/Asio operations synchronously with a
// deadline, shared by the HTTP clients (TCP/TLS and unix socket).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string_view>

namespace ozy::http::detail {

// Beast in Boost 1.74 speaks boost::string_view.
inline std::string_view toStd(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

// Starts one operation through `start(handler)` and runs the io_context
// until it completes; returns the operation's error. The stream's own
// expiry (beast::basic_stream) bounds the wait.
template <class Start>
boost::system::error_code await(boost::asio::io_context& ioc, Start&& start) {
  boost::system::error_code result;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// Like await(), for a wait that may last long: every `every`, `giveUp()` is
// asked whether to wait on. When it says so, `abort()` must make the
// operation complete (closing the socket does), and the result is nullopt.
template <class Start, class GiveUp, class Abort>
std::optional<boost::system::error_code> awaitUnless(boost::asio::io_context& ioc,
                                                     std::chrono::milliseconds every, Start&& start,
                                                     GiveUp&& giveUp, Abort&& abort) {
  boost::system::error_code result;
  bool done = false;
  start([&result, &done](boost::system::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  while (!done) {
    ioc.restart();
    ioc.run_for(every);  // returns early once the operation completed
    if (!done && giveUp()) {
      abort();
      ioc.restart();
      ioc.run();
      return std::nullopt;
    }
  }
  return result;
}

}  // namespace ozy::http::detail
