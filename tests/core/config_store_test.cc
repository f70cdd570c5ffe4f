// ConfigStore: validated, versioned, atomic replacement; in-flight holders keep their
// configuration.
#include "core/config_store.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace simile {
namespace {

TEST_CASE("ConfigStore publishes a valid replacement with the next version", "[config]") {
  ConfigStore store(ServingConfig{});
  const std::shared_ptr<const ServingConfig> before = store.Current();
  CHECK(before->version == 1);
  ServingConfig next;
  next.limits.max_dim = 128;
  REQUIRE(store.Replace(next).ok());
  CHECK(store.Current()->version == 2);
  CHECK(store.Current()->limits.max_dim == 128);
  // A request that took the old configuration keeps it.
  CHECK(before->limits.max_dim == Limits{}.max_dim);
}

TEST_CASE("ConfigStore rejects an invalid replacement and keeps the current one", "[config]") {
  ConfigStore store(ServingConfig{});
  ServingConfig bad;
  bad.limits.max_result_elements = 0;
  const absl::Status s = store.Replace(bad);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(s.message()), Catch::Contains("limits.max_result_elements"));
  CHECK(store.Current()->version == 1);
  CHECK(store.Current()->limits.max_result_elements == Limits{}.max_result_elements);
}

TEST_CASE("ConfigStore readers always see a complete configuration while writers replace it",
          "[config]") {
  ConfigStore store(ServingConfig{});
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<int> torn{0};
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const auto c = store.Current();
        // Every published configuration has max_queries == max_dim (set together below).
        if (c->limits.max_queries != c->limits.max_dim) torn.fetch_add(1);
      }
    });
  }
  ServingConfig base;
  base.limits.max_dim = base.limits.max_queries = 10;
  REQUIRE(store.Replace(base).ok());
  for (uint32_t v = 11; v < 2000; ++v) {
    ServingConfig next;
    next.limits.max_dim = next.limits.max_queries = v;
    REQUIRE(store.Replace(next).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(torn.load() == 0);
  CHECK(store.Current()->version == 1991);
}

}  // namespace
}  // namespace simile
