// Top-k selection shared by the CPU kernel and the chunked executor: the one ordering of (score,
// index) pairs, a bounded accumulator that keeps the k best pairs pushed into it, and a merge of
// several best-first candidate lists of one query into its k best.
//
// Ordering: a higher score is better; among equal scores the lower index is better. Scores must not
// be NaN.
//
// Thread safety: IsBetter and MergeTopK are pure functions. A TopKAccumulator is not synchronized:
// use one per thread (or guard it externally).
#ifndef SIMILE_CORE_TOP_K_H_
#define SIMILE_CORE_TOP_K_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace simile {

// True when (score_a, index_a) ranks strictly before (score_b, index_b).
[[nodiscard]] constexpr bool IsBetter(float score_a, uint32_t index_a, float score_b,
                                      uint32_t index_b) {
  return score_a > score_b || (score_a == score_b && index_a < index_b);
}

struct ScoredIndex {
  float score = 0.0f;
  uint32_t index = 0;
};

// Keeps the k best pairs pushed so far in caller-provided storage of k elements (no allocation).
//
// Example:
//   std::vector<ScoredIndex> storage(k);
//   TopKAccumulator top(absl::MakeSpan(storage));
//   for (uint32_t t = 0; t < n; ++t) top.Push(score[t], t);
//   absl::Span<const ScoredIndex> best = top.SortBestFirst();
class TopKAccumulator {
 public:
  // storage.size() is k; k >= 1. The storage must outlive the accumulator.
  explicit TopKAccumulator(absl::Span<ScoredIndex> storage)
      : data_(storage.data()), capacity_(storage.size()) {}

  // Offers one pair: O(1) when it does not make the k best, O(log k) otherwise.
  void Push(float score, uint32_t index) {
    if (size_ < capacity_) {
      PushHeap(score, index);
    } else if (IsBetter(score, index, data_[0].score, data_[0].index)) {
      ReplaceWorst(score, index);
    }
  }

  [[nodiscard]] size_t size() const { return size_; }

  // Sorts the kept pairs best first and returns them. Ends the accumulation: no Push after this.
  absl::Span<const ScoredIndex> SortBestFirst();

 private:
  // The storage is a binary heap with the worst kept pair at data_[0].
  void PushHeap(float score, uint32_t index);
  void ReplaceWorst(float score, uint32_t index);

  ScoredIndex* data_;
  size_t capacity_;
  size_t size_ = 0;
};

// One best-first candidate list of a query, as structure-of-arrays (the layout CpuCosineTopK
// writes).
struct TopKList {
  const uint32_t* indices = nullptr;
  const float* scores = nullptr;
  size_t size = 0;
};

// Merges best-first candidate lists of one query (disjoint indices) into its min(k, total) best,
// best first, written to out_indices[0..) and out_scores[0..) (room for k each). Returns how many
// were written.
size_t MergeTopK(absl::Span<const TopKList> lists, size_t k, uint32_t* out_indices,
                 float* out_scores);

// The same for lists of ScoredIndex, each sorted best first (e.g. from
// TopKAccumulator::SortBestFirst).
size_t MergeTopK(absl::Span<const absl::Span<const ScoredIndex>> lists, size_t k,
                 uint32_t* out_indices, float* out_scores);

}  // namespace simile

#endif  // SIMILE_CORE_TOP_K_H_
