// TargetSetStore: staged uploads publish all at once, versions are immutable under concurrent appends and
// deletes, the memory cap holds across concurrent uploads, and names are checked.
#include "core/target_set_store.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace simile {
namespace {

std::vector<float> Rows(uint32_t rows, uint32_t dim, float first) {
  std::vector<float> v(size_t{rows} * dim);
  for (size_t i = 0; i < v.size(); ++i) v[i] = first + static_cast<float>(i);
  return v;
}

TEST_CASE("A set is visible only once its upload is committed, with its norms", "[target_sets]") {
  TargetSetStore store(1 << 20);
  absl::StatusOr<TargetSetUpload> upload = store.BeginCreate("s", 2);
  REQUIRE(upload.ok());
  const std::vector<float> rows = {3, 4, 0, 0};
  REQUIRE(upload->AddRows(MatrixView{rows.data(), 2, 2}).ok());
  CHECK(store.Find("s") == nullptr);
  CHECK(store.GetStats().reserved_bytes == 6 * sizeof(float));
  absl::StatusOr<std::shared_ptr<const TargetSetVersion>> v = store.Commit(*std::move(upload));
  REQUIRE(v.ok());
  CHECK((*v)->version == 1);
  CHECK((*v)->rows() == 2);
  CHECK((*v)->norms == std::vector<float>{5, 0});
  CHECK(store.Find("s") == *v);
  const TargetSetStore::Stats stats = store.GetStats();
  CHECK(stats.sets == 1);
  CHECK(stats.bytes == 6 * sizeof(float));
  CHECK(stats.reserved_bytes == 0);
}

TEST_CASE("An abandoned upload releases its reservation and publishes nothing", "[target_sets]") {
  TargetSetStore store(1 << 20);
  {
    absl::StatusOr<TargetSetUpload> upload = store.BeginCreate("gone", 4);
    REQUIRE(upload.ok());
    const std::vector<float> rows = Rows(3, 4, 1);
    REQUIRE(upload->AddRows(MatrixView{rows.data(), 3, 4}).ok());
    CHECK(store.GetStats().reserved_bytes > 0);
  }
  CHECK(store.GetStats().reserved_bytes == 0);
  CHECK(store.Find("gone") == nullptr);
  // A commit with no rows is refused.
  absl::StatusOr<TargetSetUpload> empty = store.BeginCreate("empty", 4);
  REQUIRE(empty.ok());
  CHECK(store.Commit(*std::move(empty)).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store.Find("empty") == nullptr);
}

TEST_CASE("Rows are checked: dim, finiteness, the cap", "[target_sets]") {
  TargetSetStore store(99 * sizeof(float));
  absl::StatusOr<TargetSetUpload> upload = store.BeginCreate("s", 4);
  REQUIRE(upload.ok());
  const std::vector<float> three = Rows(1, 3, 0);
  CHECK(upload->AddRows(MatrixView{three.data(), 1, 3}).code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> inf = Rows(1, 4, 0);
  inf[3] = std::numeric_limits<float>::infinity();
  CHECK(upload->AddRows(MatrixView{inf.data(), 1, 4}).message() ==
        "rows row 0 has a non-finite value (Inf) at column 3");
  const std::vector<float> ok = Rows(19, 4, 0);  // 19 * 5 floats = 95 of the 99 allowed.
  REQUIRE(upload->AddRows(MatrixView{ok.data(), 19, 4}).ok());
  const std::vector<float> one_more = Rows(1, 4, 0);
  CHECK(upload->AddRows(MatrixView{one_more.data(), 1, 4}).code() == absl::StatusCode::kResourceExhausted);
  CHECK(upload->staged_rows() == 19);  // The failed calls added nothing.
  // A second upload competes for the same cap.
  absl::StatusOr<TargetSetUpload> other = store.BeginCreate("t", 4);
  REQUIRE(other.ok());
  CHECK(other->AddRows(MatrixView{one_more.data(), 1, 4}).code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(store.Commit(*std::move(upload)).ok());
  CHECK(store.GetStats().bytes == 95 * sizeof(float));
}

TEST_CASE("Names are checked and clashes refused at begin and at commit", "[target_sets]") {
  TargetSetStore store(1 << 20);
  CHECK(TargetSetStore::ValidateName("a-Z_0.9").ok());
  CHECK(TargetSetStore::ValidateName("").code() == absl::StatusCode::kInvalidArgument);
  CHECK(TargetSetStore::ValidateName(std::string(129, 'a')).code() == absl::StatusCode::kInvalidArgument);
  CHECK(TargetSetStore::ValidateName("a/b").code() == absl::StatusCode::kInvalidArgument);
  CHECK(store.BeginAppend("none").status().code() == absl::StatusCode::kNotFound);

  const std::vector<float> rows = Rows(2, 2, 1);
  absl::StatusOr<TargetSetUpload> first = store.BeginCreate("x", 2);
  absl::StatusOr<TargetSetUpload> second = store.BeginCreate("x", 2);  // Both begin before either commits.
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(first->AddRows(MatrixView{rows.data(), 2, 2}).ok());
  REQUIRE(second->AddRows(MatrixView{rows.data(), 2, 2}).ok());
  REQUIRE(store.Commit(*std::move(first)).ok());
  CHECK(store.Commit(*std::move(second)).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(store.BeginCreate("x", 2).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(store.GetStats().reserved_bytes == 0);
  CHECK(store.GetStats().uploads_failed == 1);
  REQUIRE(store.Delete("x").ok());
  CHECK(store.Delete("x").code() == absl::StatusCode::kNotFound);
  CHECK(store.GetStats().bytes == 0);
}

TEST_CASE("Readers keep their version while appends and deletes run", "[target_sets]") {
  constexpr uint32_t kDim = 16;
  TargetSetStore store(uint64_t{1} << 30);
  {
    absl::StatusOr<TargetSetUpload> upload = store.BeginCreate("live", kDim);
    REQUIRE(upload.ok());
    const std::vector<float> rows = Rows(10, kDim, 0);
    REQUIRE(upload->AddRows(MatrixView{rows.data(), 10, kDim}).ok());
    REQUIRE(store.Commit(*std::move(upload)).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const std::shared_ptr<const TargetSetVersion> v = store.Find("live");
        if (v == nullptr) continue;
        // Version k has 10 + 5 (k - 1) rows: the first 10 as created (row r starts with r * dim), then zeros.
        if (v->rows() != 10 + 5 * (v->version - 1) || v->norms.size() != v->rows()) bad.fetch_add(1);
        for (uint32_t r = 0; r < v->rows(); ++r) {
          const float want = r < 10 ? static_cast<float>(r * kDim) : 0.0f;
          if (v->data[size_t{r} * kDim] != want) bad.fetch_add(1);
        }
      }
    });
  }
  std::vector<std::thread> appenders;
  for (int t = 0; t < 2; ++t) {
    appenders.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<TargetSetUpload> upload = store.BeginAppend("live");
        if (!upload.ok()) continue;
        const std::vector<float> rows(5 * kDim, 0.0f);  // Each append adds 5 zero rows.
        // Counted, not REQUIREd: Catch2's assertions are not thread-safe (TSan reports them from threads).
        if (!upload->AddRows(MatrixView{rows.data(), 5, kDim}).ok()) bad.fetch_add(1);
        if (!store.Commit(*std::move(upload)).ok()) bad.fetch_add(1);
      }
    });
  }
  for (std::thread& t : appenders) t.join();
  REQUIRE(store.Delete("live").ok());
  stop.store(true);
  for (std::thread& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(store.Find("live") == nullptr);
  CHECK(store.GetStats().bytes == 0);
  CHECK(store.GetStats().uploads_committed == 41);
}

}  // namespace
}  // namespace simile
