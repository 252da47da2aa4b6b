// A minimal test harness for the engine's ctest suite: no framework to
// install, so the same tests build on the GPU machine. A failed CHECK prints
// the expression and location and marks the test failed; main() returns
// test_exit_code().
#pragma once

#include <cstdio>
#include <cstdlib>

namespace mfn_test {

inline int& failures() {
  static int count = 0;
  return count;
}

inline int test_exit_code() { return failures() == 0 ? 0 : 1; }

// Exit code ctest reads as "skipped" (SKIP_RETURN_CODE 77).
[[noreturn]] inline void skip(const char* reason) {
  std::printf("SKIPPED: %s\n", reason);
  std::fflush(stdout);
  std::exit(77);
}

}  // namespace mfn_test

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
      ++::mfn_test::failures();                                                  \
    }                                                                            \
  } while (0)

#define CHECK_MSG(cond, ...)                                                     \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);       \
      std::printf(__VA_ARGS__);                                                  \
      std::printf("\n");                                                         \
      ++::mfn_test::failures();                                                  \
    }                                                                            \
  } while (0)

// For checks after which the test cannot go on.
#define REQUIRE(cond)                                                            \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);     \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

// REQUIRE with a printf-style explanation.
#define REQUIRE_MSG(cond, ...)                                                   \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("%s:%d: REQUIRE failed: %s: ", __FILE__, __LINE__, #cond);     \
      std::printf(__VA_ARGS__);                                                  \
      std::printf("\n");                                                         \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)
