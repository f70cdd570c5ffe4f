#include "core/chunked_run.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/chunk_planner.h"
#include "core/top_k_collector.h"

namespace simile {
namespace {

class Runner {
 public:
  Runner(const ChunkedRunParams& p, ExecutionReport* report)
      : p_(p), task_(*p.task), report_(report) {}

  ChunkedRunResult Run();

 private:
  // Runs rows [begin, begin + count) on `backend`; checks the result count. On success the chunk's
  // results are in place (committed for top-k).
  absl::Status RunChunk(Backend* backend, uint32_t begin, uint32_t count);
  void CountDone(Backend* backend);
  absl::Status RunOnCpu(uint32_t begin, uint32_t count, absl::string_view why);

  const ChunkedRunParams& p_;
  const CosineTask& task_;
  ExecutionReport* const report_;
  std::unique_ptr<TopKCollector> collector_;  // Created when top-k needs more than one chunk.
  ChunkedRunResult result_;
};

absl::Status Runner::RunChunk(Backend* backend, uint32_t begin, uint32_t count) {
  ChunkArgs args;
  args.queries = task_.queries;
  args.targets = task_.targets.Slice(begin, count);
  args.target_offset = begin;
  args.top_k = task_.top_k;
  // Only the backend that made the resident copy reads it; the CPU fallback reads the host rows.
  if (backend == p_.primary && p_.resident != nullptr) args.resident = p_.resident;
  args.check_targets_finite = p_.check_targets_finite;
  const bool whole = begin == 0 && count == task_.targets.rows;
  if (task_.top_k == 0) {
    args.out.scores = p_.out.scores.data() + begin;
    args.out.ld = task_.targets.rows;
  } else if (whole) {
    args.out.top_indices = p_.out.top_indices.data();
    args.out.top_scores = p_.out.top_scores.data();
  } else {
    if (collector_ == nullptr) {
      collector_ = std::make_unique<TopKCollector>(task_.queries.rows, task_.top_k, p_.out);
    }
    args.out = collector_->ChunkBuffers(count);
  }
  absl::StatusOr<uint64_t> written = backend->Cosine(args);
  if (!written.ok()) return written.status();
  if (*written != args.ExpectedResults()) {
    return absl::InternalError(absl::StrCat(
        "the ", Name(backend->kind()), " backend wrote ", *written, " results for rows [", begin,
        ", ", begin + count, ") instead of ", args.ExpectedResults()));
  }
  if (collector_ != nullptr && !whole && task_.top_k > 0) collector_->Commit(count);
  return absl::OkStatus();
}

void Runner::CountDone(Backend* backend) {
  ++report_->chunks;
  if (backend->kind() == BackendKind::kGpu) {
    ++report_->gpu_chunks;
  } else {
    ++report_->cpu_chunks;
  }
  if (p_.counters != nullptr) p_.counters->CountChunk(backend->kind());
}

absl::Status Runner::RunOnCpu(uint32_t begin, uint32_t count, absl::string_view why) {
  if (absl::Status s = RunChunk(p_.cpu, begin, count); !s.ok()) {
    // Bad input, not a failure of the CPU path (see Backend's error contract).
    if (p_.check_targets_finite && s.code() == absl::StatusCode::kInvalidArgument) {
      result_.targets_non_finite = true;
      return s;
    }
    return absl::InternalError(absl::StrCat("the CPU backend failed on target rows [", begin, ", ",
                                            begin + count, ")", why, ": ", s.message()));
  }
  CountDone(p_.cpu);
  return absl::OkStatus();
}

ChunkedRunResult Runner::Run() {
  const uint32_t n = task_.targets.rows;
  const bool primary_is_cpu = p_.primary == p_.cpu;
  if (p_.check_targets_finite && (!primary_is_cpu || !p_.cpu->ChecksTargetsFinite())) {
    result_.status = absl::InternalError(
        "unchecked targets were about to reach a backend that does not check them");
    return result_;
  }
  bool use_primary = true;
  uint64_t primary_rows = std::max<uint64_t>(1, p_.primary_rows_per_chunk);
  const uint64_t cpu_rows = std::max<uint64_t>(1, p_.cpu_rows_per_chunk);
  uint32_t pos = 0;
  while (pos < n) {
    if (absl::Status s = CheckRequestContext(*p_.context, *p_.clock); !s.ok()) {
      result_.status = s;
      return result_;
    }
    const uint64_t limit = use_primary ? primary_rows : cpu_rows;
    const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(limit, n - pos));
    if (!use_primary || primary_is_cpu) {
      if (absl::Status s = RunOnCpu(pos, count, ""); !s.ok()) {
        result_.status = s;
        return result_;
      }
      pos += count;
      continue;
    }

    const absl::Status s = RunChunk(p_.primary, pos, count);
    if (s.ok()) {
      CountDone(p_.primary);
      ++result_.primary_chunks_ok;
      pos += count;
      continue;
    }
    if (result_.primary_error.empty()) result_.primary_error = std::string(s.message());

    if (s.code() ==
        absl::StatusCode::kResourceExhausted) {  // Out of device memory: split and retry.
      result_.primary_out_of_memory = true;
      if (p_.counters != nullptr) p_.counters->CountGpuOom();
      const RetrySplit split = SplitForRetry(count, p_.primary_min_rows);
      if (split.split) {
        primary_rows = split.rows;
        ++report_->chunk_retries;
        if (p_.counters != nullptr) p_.counters->CountChunkRetry();
        continue;
      }
      if (!p_.allow_fallback) {
        result_.status = absl::ResourceExhaustedError(
            absl::StrCat("the GPU ran out of memory even for a chunk of ", count,
                         " target rows: ", s.message()));
        return result_;
      }
      if (report_->fallback == FallbackReason::kNone) {
        report_->fallback = FallbackReason::kGpuOutOfMemory;
        report_->fallback_detail = std::string(s.message());
      }
      // This chunk on the CPU; the next chunk tries the GPU again at the floor size.
      if (absl::Status c = RunOnCpu(pos, count, " after a GPU out-of-memory error"); !c.ok()) {
        result_.status = c;
        return result_;
      }
      pos += count;
      continue;
    }

    // Any other GPU error: this chunk and every later one run on the CPU.
    result_.primary_failed = true;
    if (p_.counters != nullptr) p_.counters->CountGpuError();
    if (!p_.allow_fallback) {
      result_.status = absl::UnavailableError(absl::StrCat("the GPU failed: ", s.message()));
      return result_;
    }
    report_->fallback = FallbackReason::kGpuError;
    report_->fallback_detail = std::string(s.message());
    use_primary = false;
  }
  result_.status = absl::OkStatus();
  return result_;
}

}  // namespace

absl::Status CheckRequestContext(const RequestContext& context, const Clock& clock) {
  if (context.is_cancelled && context.is_cancelled()) {
    return absl::CancelledError("the caller cancelled the request");
  }
  if (clock.Now() >= context.deadline) {
    return absl::DeadlineExceededError("the request's deadline passed before its work was done");
  }
  return absl::OkStatus();
}

ChunkedRunResult RunChunked(const ChunkedRunParams& params, ExecutionReport* report) {
  return Runner(params, report).Run();
}

}  // namespace simile
