// Tests of the top-k ordering, the bounded accumulator and the merge of candidate lists, against
// sorting.
#include "core/top_k.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

namespace simile {
namespace {

// The reference: everything sorted by (score desc, index asc), truncated to k.
std::vector<ScoredIndex> SortedBest(std::vector<ScoredIndex> all, size_t k) {
  std::sort(all.begin(), all.end(), [](const ScoredIndex& a, const ScoredIndex& b) {
    return a.score != b.score ? a.score > b.score : a.index < b.index;
  });
  all.resize(std::min(k, all.size()));
  return all;
}

bool SamePairs(absl::Span<const ScoredIndex> a, const std::vector<ScoredIndex>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].score != b[i].score || a[i].index != b[i].index) return false;
  }
  return true;
}

// Scores from a small set so that ties are common.
std::vector<ScoredIndex> RandomPairs(size_t n, std::mt19937* rng, int distinct_scores) {
  std::uniform_int_distribution<int> level(0, distinct_scores - 1);
  std::vector<ScoredIndex> pairs(n);
  for (size_t i = 0; i < n; ++i) {
    pairs[i] = ScoredIndex{static_cast<float>(level(*rng)) / distinct_scores - 0.5f,
                           static_cast<uint32_t>(i)};
  }
  return pairs;
}

TEST_CASE("IsBetter prefers higher scores, then lower indices", "[top_k]") {
  CHECK(IsBetter(0.9f, 7, 0.5f, 1));
  CHECK_FALSE(IsBetter(0.5f, 1, 0.9f, 7));
  CHECK(IsBetter(0.5f, 1, 0.5f, 2));
  CHECK_FALSE(IsBetter(0.5f, 2, 0.5f, 1));
  CHECK_FALSE(IsBetter(0.5f, 3, 0.5f, 3));  // Irreflexive.
  CHECK(IsBetter(-0.0f, 1, 0.0f, 2));       // -0 == +0: the index decides.
  static_assert(IsBetter(1.0f, 0, -1.0f, 0));
}

TEST_CASE("TopKAccumulator keeps the k best pairs in any push order", "[top_k]") {
  std::mt19937 rng(1);
  for (size_t n : {1, 2, 10, 1000}) {
    for (size_t k : {size_t{1}, size_t{3}, n, n + 5}) {
      for (int distinct : {2, 50, 100000}) {
        std::vector<ScoredIndex> pairs = RandomPairs(n, &rng, distinct);
        std::shuffle(pairs.begin(), pairs.end(), rng);
        std::vector<ScoredIndex> storage(k);
        TopKAccumulator top(absl::MakeSpan(storage));
        for (const ScoredIndex& p : pairs) top.Push(p.score, p.index);
        CHECK(top.size() == std::min(n, k));
        INFO("n=" << n << " k=" << k << " distinct=" << distinct);
        CHECK(SamePairs(top.SortBestFirst(), SortedBest(pairs, k)));
      }
    }
  }
}

TEST_CASE("TopKAccumulator with all scores equal keeps the lowest indices", "[top_k]") {
  std::vector<ScoredIndex> storage(4);
  TopKAccumulator top(absl::MakeSpan(storage));
  for (uint32_t i : {9u, 3u, 7u, 1u, 8u, 2u, 6u, 0u, 5u, 4u}) top.Push(0.25f, i);
  const auto best = top.SortBestFirst();
  REQUIRE(best.size() == 4);
  for (uint32_t i = 0; i < 4; ++i) CHECK(best[i].index == i);
}

TEST_CASE("MergeTopK merges sorted lists into the global best k", "[top_k]") {
  std::mt19937 rng(2);
  for (size_t num_lists : {1, 2, 5, 8, 9, 40}) {  // 8 or fewer: linear scan; more: heap.
    for (size_t k : {1, 7, 100, 10000}) {
      std::vector<ScoredIndex> all = RandomPairs(num_lists * 60, &rng, 20);
      std::shuffle(all.begin(), all.end(), rng);
      // Deal the pairs into lists of uneven sizes (some empty), each sorted best first.
      std::vector<std::vector<ScoredIndex>> lists(num_lists);
      std::uniform_int_distribution<size_t> which(0, num_lists - 1);
      for (const ScoredIndex& p : all)
        lists[which(rng) * (which(rng) % 3 == 0 ? 0 : 1)].push_back(p);
      std::vector<absl::Span<const ScoredIndex>> spans;
      std::vector<std::vector<uint32_t>> soa_indices(num_lists);
      std::vector<std::vector<float>> soa_scores(num_lists);
      std::vector<TopKList> soa;
      for (size_t l = 0; l < num_lists; ++l) {
        lists[l] = SortedBest(lists[l], lists[l].size());
        spans.emplace_back(lists[l]);
        for (const ScoredIndex& p : lists[l]) {
          soa_indices[l].push_back(p.index);
          soa_scores[l].push_back(p.score);
        }
        soa.push_back(TopKList{soa_indices[l].data(), soa_scores[l].data(), lists[l].size()});
      }
      const std::vector<ScoredIndex> want = SortedBest(all, k);
      INFO("lists=" << num_lists << " k=" << k);
      for (int layout = 0; layout < 2; ++layout) {
        std::vector<uint32_t> idx(k, 0xffffffff);
        std::vector<float> val(k, -9.0f);
        const size_t got = layout == 0
                               ? MergeTopK(absl::MakeConstSpan(spans), k, idx.data(), val.data())
                               : MergeTopK(absl::MakeConstSpan(soa), k, idx.data(), val.data());
        REQUIRE(got == want.size());
        for (size_t i = 0; i < got; ++i) {
          CHECK(idx[i] == want[i].index);
          CHECK(val[i] == want[i].score);
        }
        for (size_t i = got; i < k; ++i)
          CHECK(idx[i] == 0xffffffff);  // Nothing written past the result.
      }
    }
  }
}

TEST_CASE("MergeTopK of no lists writes nothing", "[top_k]") {
  uint32_t idx = 5;
  float val = 0.5f;
  CHECK(MergeTopK(absl::Span<const TopKList>(), 3, &idx, &val) == 0);
  CHECK(idx == 5);
}

}  // namespace
}  // namespace simile
