// TopKCollector: keeps a request's running top-k across target chunks. Each chunk's backend writes
// its min(k, chunk rows) best candidates per query into the collector's scratch; Commit() merges
// them into the running results, which live in the caller's result buffers. A chunk that is retried
// or moved to another backend simply overwrites the scratch: nothing is committed until the chunk
// has succeeded.
//
// Thread safety: not synchronized; one collector per request, used by one thread at a time.
#ifndef SIMILE_CORE_TOP_K_COLLECTOR_H_
#define SIMILE_CORE_TOP_K_COLLECTOR_H_

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/cosine_task.h"

namespace simile {

class TopKCollector {
 public:
  // `out` holds Q * k indices and scores; k >= 1.
  TopKCollector(uint32_t num_queries, uint32_t k, const ResultBuffers& out);

  // Where a chunk of `chunk_rows` rows writes its candidates (k_eff = min(k, chunk_rows) per
  // query).
  [[nodiscard]] ChunkOutput ChunkBuffers(uint32_t chunk_rows);

  // Merges the candidates of the chunk last given ChunkBuffers(chunk_rows) into the running
  // results.
  void Commit(uint32_t chunk_rows);

 private:
  const uint32_t num_queries_;
  const uint32_t k_;
  const ResultBuffers out_;
  uint32_t have_ = 0;  // Results per query committed so far (min(k, rows committed)).
  std::vector<uint32_t> chunk_indices_;
  std::vector<float> chunk_scores_;
  std::vector<uint32_t> merged_indices_;
  std::vector<float> merged_scores_;
};

}  // namespace simile

#endif  // SIMILE_CORE_TOP_K_COLLECTOR_H_
