// Helpers shared by the privileged BPF tests (tests/bpf/*_test.cc).
#pragma once

#include <memory>
#include <utility>

#include <gtest/gtest.h>

#include "loader/loader.h"

namespace fraiseql::loader {

// Base of a fixture whose tests share one production Loader (the BPF objects are loaded
// once per suite). `Suite` (CRTP) gives each fixture its own loader_. The derived
// SetUpTestSuite decides what to do without root, then calls OpenLoader; the loader is
// destroyed by TearDownTestSuite.
template <typename Suite>
class SharedLoaderTest : public ::testing::Test {
 protected:
  static void OpenLoader(const LoaderOptions& options) {
    auto l = Loader::Open(options);
    ASSERT_TRUE(l.ok()) << l.status().message();
    loader_ = std::move(l.value()).release();
  }
  static void TearDownTestSuite() {
    delete loader_;
    loader_ = nullptr;
  }
  static inline Loader* loader_ = nullptr;
};

}  // namespace fraiseql::loader
