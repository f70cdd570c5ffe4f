#include "core/top_k_collector.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "core/top_k.h"

namespace simile {

TopKCollector::TopKCollector(uint32_t num_queries, uint32_t k, const ResultBuffers& out)
    : num_queries_(num_queries),
      k_(k),
      out_(out),
      chunk_indices_(static_cast<size_t>(num_queries) * k),
      chunk_scores_(static_cast<size_t>(num_queries) * k),
      merged_indices_(k),
      merged_scores_(k) {}

ChunkOutput TopKCollector::ChunkBuffers(uint32_t /*chunk_rows*/) {
  ChunkOutput out;
  out.top_indices = chunk_indices_.data();
  out.top_scores = chunk_scores_.data();
  return out;
}

void TopKCollector::Commit(uint32_t chunk_rows) {
  const uint32_t k_chunk = std::min(k_, chunk_rows);
  for (uint32_t q = 0; q < num_queries_; ++q) {
    uint32_t* running_idx = out_.top_indices.data() + static_cast<size_t>(q) * k_;
    float* running_scores = out_.top_scores.data() + static_cast<size_t>(q) * k_;
    const std::array<TopKList, 2> lists = {
        TopKList{running_idx, running_scores, have_},
        TopKList{chunk_indices_.data() + static_cast<size_t>(q) * k_chunk,
                 chunk_scores_.data() + static_cast<size_t>(q) * k_chunk, k_chunk}};
    const size_t n = MergeTopK(lists, k_, merged_indices_.data(), merged_scores_.data());
    std::memcpy(running_idx, merged_indices_.data(), n * sizeof(uint32_t));
    std::memcpy(running_scores, merged_scores_.data(), n * sizeof(float));
  }
  have_ = std::min(k_, have_ + k_chunk);
}

}  // namespace simile
