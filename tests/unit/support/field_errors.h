// Test support shared by the validators' tests (job files, cluster files):
// readable failure output for FieldError, and a matcher that names the field
// path exactly and a part of the message.
#pragma once

#include <gmock/gmock.h>

#include <ostream>
#include <string>

#include "problem/problem.h"

namespace ozy {

// GoogleTest prints a FieldError (and a list of them) as the user would see it.
inline void PrintTo(const FieldError& error, std::ostream* out) {
  *out << '{' << error.toString() << '}';
}

namespace testing_support {

// Matches an error at exactly `path` whose message contains `messagePart`.
inline ::testing::Matcher<const FieldError&> fieldError(const std::string& path,
                                                        const std::string& messagePart) {
  return ::testing::AllOf(
      ::testing::Field("path", &FieldError::path, ::testing::Eq(path)),
      ::testing::Field("message", &FieldError::message, ::testing::HasSubstr(messagePart)));
}

}  // namespace testing_support
}  // namespace ozy
