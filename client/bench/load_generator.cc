#include "client/bench/load_generator.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/grpc_status.h"
#include "client/random_matrix.h"
#include "client/request_builder.h"
#include "client/simile_client.h"

namespace simile::client {
namespace {

struct WorkerResult {
  std::vector<double> latencies_us;
  std::map<std::string, uint64_t> errors;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

absl::StatusOr<LoadReport> RunLoad(const LoadConfig& config, const ProgressFn& progress) {
  if (config.concurrency < 1 || config.channels < 1) {
    return absl::InvalidArgumentError("concurrency and channels must be >= 1");
  }
  if (config.q == 0 || config.n == 0 || config.dim == 0) {
    return absl::InvalidArgumentError("q, n and dim must be >= 1");
  }
  // One prebuilt request, sent by every worker: the generator measures the server, not request building.
  const std::vector<float> queries = RandomMatrix(config.q, config.dim, config.seed);
  const std::vector<float> targets = RandomMatrix(config.n, config.dim, config.seed + 1);
  CosineArgs args;
  args.queries = queries;
  args.q = config.q;
  if (config.target_set.empty()) {
    args.targets = targets;
    args.n = config.n;
  } else {
    args.target_set = config.target_set;
  }
  args.dim = config.dim;
  args.top_k = config.top_k;
  args.placement = config.placement;
  args.encoding = config.encoding;
  v1::CosineRequest request;
  if (absl::Status s = BuildCosineRequest(args, &request); !s.ok()) return s;

  ClientOptions options;
  options.default_deadline = config.call_deadline;
  std::vector<std::unique_ptr<SimileClient>> clients;
  for (int i = 0; i < config.channels; ++i) {
    absl::StatusOr<std::unique_ptr<SimileClient>> c = SimileClient::Create(config.address, options);
    if (!c.ok()) return c.status();
    clients.push_back(*std::move(c));
  }
  if (!config.target_set.empty()) {  // Upload once, before the warm-up; replaces a set left by an earlier run.
    (void)clients.front()->DeleteTargetSet(config.target_set);
    absl::StatusOr<v1::TargetSetInfo> info =
        clients.front()->UploadTargetSet(config.target_set, targets, config.n, config.dim);
    if (!info.ok()) {
      return absl::Status(info.status().code(), absl::StrCat("uploading the target set failed: ",
                                                             info.status().message()));
    }
  }
  // Warm-up: connects every channel and warms the server's caches; not counted.
  const absl::Time warmup_end = absl::Now() + config.warmup;
  for (auto& c : clients) {
    v1::CosineResponse response;
    if (absl::Status s = c->CosineProto(request, &response, std::nullopt); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("warm-up call failed: ", s.message()));
    }
  }

  std::atomic<bool> measuring{false};  // Relaxed: a flag sampled per call; a call counts if it started after.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok_count{0}, error_count{0}, issued{0};
  std::vector<WorkerResult> results(static_cast<size_t>(config.concurrency));
  std::vector<std::thread> workers;
  for (int w = 0; w < config.concurrency; ++w) {
    workers.emplace_back([&, w] {
      SimileClient& client = *clients[static_cast<size_t>(w % config.channels)];
      WorkerResult& result = results[static_cast<size_t>(w)];
      v1::CosineResponse response;
      while (!stop.load(std::memory_order_relaxed)) {
        const bool counted = measuring.load(std::memory_order_relaxed);
        if (counted && config.requests > 0 &&
            issued.fetch_add(1, std::memory_order_relaxed) >= config.requests) {
          break;
        }
        const absl::Time start = absl::Now();
        const absl::Status s = client.CosineProto(request, &response, std::nullopt);
        const double us = absl::ToDoubleMicroseconds(absl::Now() - start);
        if (!counted) continue;
        if (s.ok()) {
          result.latencies_us.push_back(us);
          ok_count.fetch_add(1, std::memory_order_relaxed);
        } else {
          ++result.errors[std::string(absl::StatusCodeToString(s.code()))];
          error_count.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  absl::SleepFor(std::max(absl::ZeroDuration(), warmup_end - absl::Now()));
  measuring.store(true, std::memory_order_relaxed);
  const absl::Time start = absl::Now();
  const absl::Time end = start + config.duration;
  absl::Time next_progress = start + absl::Seconds(1);
  while (absl::Now() < end) {
    if (config.requests > 0 && issued.load(std::memory_order_relaxed) >= config.requests &&
        ok_count.load() + error_count.load() >= config.requests) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
    if (progress && absl::Now() >= next_progress) {
      progress(ok_count.load(), error_count.load(), absl::Now() - start);
      next_progress += absl::Seconds(1);
    }
  }
  stop.store(true);
  for (std::thread& t : workers) t.join();
  const absl::Duration elapsed = absl::Now() - start;

  LoadReport report;
  report.request_bytes = request.ByteSizeLong();
  report.elapsed = elapsed;
  std::vector<double> all;
  for (WorkerResult& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (const auto& [code, count] : r.errors) report.errors[code] += count;
  }
  std::sort(all.begin(), all.end());
  report.ok = all.size();
  const double seconds = absl::ToDoubleSeconds(elapsed);
  report.qps = seconds > 0 ? static_cast<double>(report.ok) / seconds : 0;
  report.targets_per_s = report.qps * config.n;
  report.p50_us = Percentile(all, 0.50);
  report.p90_us = Percentile(all, 0.90);
  report.p99_us = Percentile(all, 0.99);
  report.max_us = all.empty() ? 0 : all.back();
  double sum = 0;
  for (double v : all) sum += v;
  report.mean_us = all.empty() ? 0 : sum / static_cast<double>(all.size());
  if (!config.target_set.empty()) (void)clients.front()->DeleteTargetSet(config.target_set);
  return report;
}

}  // namespace simile::client
