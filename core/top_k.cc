#include "core/top_k.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace simile {

void TopKAccumulator::PushHeap(float score, uint32_t index) {
  size_t i = size_++;
  while (i > 0) {  // Sift up: the worst pair rises to the root.
    const size_t parent = (i - 1) / 2;
    if (!IsBetter(data_[parent].score, data_[parent].index, score, index)) break;
    data_[i] = data_[parent];
    i = parent;
  }
  data_[i] = ScoredIndex{score, index};
}

void TopKAccumulator::ReplaceWorst(float score, uint32_t index) {
  size_t i = 0;
  for (;;) {  // Sift down: move the worse child up while it is worse than the new pair.
    size_t child = 2 * i + 1;
    if (child >= size_) break;
    if (child + 1 < size_ && IsBetter(data_[child].score, data_[child].index,
                                      data_[child + 1].score, data_[child + 1].index)) {
      ++child;
    }
    if (!IsBetter(score, index, data_[child].score, data_[child].index)) break;
    data_[i] = data_[child];
    i = child;
  }
  data_[i] = ScoredIndex{score, index};
}

absl::Span<const ScoredIndex> TopKAccumulator::SortBestFirst() {
  // Heap sort: repeatedly move the worst pair to the end of the shrinking heap.
  const size_t n = size_;
  while (size_ > 1) {
    const ScoredIndex last = data_[--size_];
    data_[size_] = data_[0];
    ReplaceWorst(last.score, last.index);
  }
  size_ = n;
  return absl::Span<const ScoredIndex>(data_, n);
}

namespace {

// K-way merge of best-first lists. `Head(list, pos)` returns the (score, index) pair at `pos` of
// list `list`.
template <typename SizeFn, typename HeadFn>
size_t MergeSorted(size_t num_lists, SizeFn size_of, HeadFn head, size_t k, uint32_t* out_indices,
                   float* out_scores) {
  constexpr size_t kMaxLinearLists = 8;
  size_t written = 0;
  if (num_lists <= kMaxLinearLists) {  // Few lists: scan the heads, no allocation.
    size_t pos[kMaxLinearLists] = {};
    for (; written < k; ++written) {
      size_t best = num_lists;
      ScoredIndex best_pair;
      for (size_t l = 0; l < num_lists; ++l) {
        if (pos[l] == size_of(l)) continue;
        const ScoredIndex pair = head(l, pos[l]);
        if (best == num_lists ||
            IsBetter(pair.score, pair.index, best_pair.score, best_pair.index)) {
          best = l;
          best_pair = pair;
        }
      }
      if (best == num_lists) break;
      ++pos[best];
      out_indices[written] = best_pair.index;
      out_scores[written] = best_pair.score;
    }
    return written;
  }
  // Many lists: a heap of list cursors with the best head on top.
  struct Cursor {
    ScoredIndex pair;
    size_t list;
    size_t pos;
  };
  const auto worse = [](const Cursor& a, const Cursor& b) {
    return IsBetter(b.pair.score, b.pair.index, a.pair.score, a.pair.index);
  };
  std::vector<Cursor> heap;
  heap.reserve(num_lists);
  for (size_t l = 0; l < num_lists; ++l) {
    if (size_of(l) > 0) heap.push_back(Cursor{head(l, 0), l, 0});
  }
  std::make_heap(heap.begin(), heap.end(), worse);
  for (; written < k && !heap.empty(); ++written) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    Cursor& top = heap.back();
    out_indices[written] = top.pair.index;
    out_scores[written] = top.pair.score;
    if (++top.pos < size_of(top.list)) {
      top.pair = head(top.list, top.pos);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else {
      heap.pop_back();
    }
  }
  return written;
}

}  // namespace

size_t MergeTopK(absl::Span<const TopKList> lists, size_t k, uint32_t* out_indices,
                 float* out_scores) {
  return MergeSorted(
      lists.size(), [&](size_t l) { return lists[l].size; },
      [&](size_t l, size_t pos) {
        return ScoredIndex{lists[l].scores[pos], lists[l].indices[pos]};
      },
      k, out_indices, out_scores);
}

size_t MergeTopK(absl::Span<const absl::Span<const ScoredIndex>> lists, size_t k,
                 uint32_t* out_indices, float* out_scores) {
  return MergeSorted(
      lists.size(), [&](size_t l) { return lists[l].size(); },
      [&](size_t l, size_t pos) { return lists[l][pos]; }, k, out_indices, out_scores);
}

}  // namespace simile
