// simile-calibrate: measures each backend of this machine over a ladder of batch sizes and writes
//   - a hardware profile (simile.v1.ServerConfig text format) that simile-server loads with
//     --hardware_profile: the dispatch policy's smallest GPU batch for one query and for many queries, set
//     where the GPU starts beating the CPU by the policy's required speedup;
//   - the measurements as CSV (one row per backend, operation and batch size);
//   - with --plot, a PNG of latency against batch size per backend, crossover marked
//     (bench/calibrate/plot_calibration.py, python3-matplotlib).
//
// Each point is the median of --repetitions timed calls of Backend::Cosine over the whole batch (host to host:
// for a GPU the copies of the targets are included, as they are for a request), after one untimed warm-up call.
// Without a usable GPU only the CPU is measured and the profile says so and sets no threshold (the server's
// defaults stay in force).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "core/backend.h"
#include "core/cpu_backend.h"
#include "core/backend_kind.h"
#include "bench/calibrate/crossover.h"
#include "core/thread_pool.h"
#include "google/protobuf/text_format.h"
#include "kernels/gpu_backend.h"
#include "simile/v1/server_config.pb.h"

ABSL_FLAG(std::string, profile, "hardware_profile.pbtxt",
          "Where to write the hardware profile (simile.v1.ServerConfig text format, for --hardware_profile).");
ABSL_FLAG(std::string, csv, "calibration.csv", "Where to write the measurements (CSV).");
ABSL_FLAG(std::string, plot, "",
          "If set, also write this PNG (latency vs batch size per backend, crossover marked) by running "
          "bench/calibrate/plot_calibration.py (needs python3-matplotlib).");
ABSL_FLAG(std::string, plot_script, "",
          "Path of plot_calibration.py; empty: next to this binary's source tree (compiled in).");
ABSL_FLAG(std::string, python, "/usr/bin/python3",
          "Python interpreter for --plot (Debian's, where python3-matplotlib installs).");
ABSL_FLAG(uint32_t, dim, 768, "Vector dimension of the measured batches.");
ABSL_FLAG(uint32_t, min_targets, 1024, "Smallest batch (targets) on the ladder.");
ABSL_FLAG(uint32_t, max_targets, 1u << 20, "Largest batch (targets) on the ladder; the ladder doubles.");
ABSL_FLAG(uint32_t, many_queries, 16, "Queries per request for the many-queries operation.");
ABSL_FLAG(int, repetitions, 7, "Timed calls per point (the median is kept).");
ABSL_FLAG(int, threads, 0, "CPU backend threads; 0: one per hardware thread (as simile-server).");
ABSL_FLAG(double, required_speedup, 1.2,
          "Speedup the GPU must show (cpu / gpu latency) from the crossover on; match the server's "
          "dispatch_policy.required_speedup.");

namespace simile {
namespace {

using calibrate::Crossover;
using calibrate::Point;

// Values in [-1, 1) from a fixed seed: the content does not change the cost.
std::vector<float> RandomMatrix(size_t floats, uint32_t seed) {
  std::vector<float> v(floats);
  uint32_t state = seed;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  return v;
}

// The median (and range) of `repetitions` timed calls, after one warm-up; nullopt with the error printed if the
// backend fails (e.g. out of device memory at the top of the ladder).
std::optional<Point> Measure(Backend& backend, const std::string& name, Operation operation, uint32_t q,
                             uint32_t n, uint32_t dim, const float* queries, const float* targets,
                             std::vector<float>& scores, int repetitions) {
  ChunkArgs args;
  args.queries = MatrixView{queries, q, dim};
  args.targets = MatrixView{targets, n, dim};
  args.out.scores = scores.data();
  args.out.ld = n;
  std::vector<double> seconds;
  for (int r = -1; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<uint64_t> written = backend.Cosine(args);
    const auto end = std::chrono::steady_clock::now();
    if (!written.ok()) {
      std::cerr << "simile-calibrate: " << name << " Q=" << q << " N=" << n << " failed: " << written.status()
                << "\n";
      return std::nullopt;
    }
    if (r >= 0) seconds.push_back(std::chrono::duration<double>(end - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return Point{name, operation, q, n, seconds[seconds.size() / 2], seconds.front(), seconds.back()};
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures the CPU and (when present) GPU backends over a ladder of batch sizes and writes a hardware "
      "profile for simile-server --hardware_profile, the measurements as CSV and optionally a PNG plot.\n"
      "Usage: simile-calibrate [--profile=hardware_profile.pbtxt] [--csv=calibration.csv] [--plot=out.png]");
  absl::ParseCommandLine(argc, argv);
  const uint32_t dim = absl::GetFlag(FLAGS_dim);
  const uint32_t min_n = std::max(1u, absl::GetFlag(FLAGS_min_targets));
  const uint32_t max_n = std::max(min_n, absl::GetFlag(FLAGS_max_targets));
  const uint32_t many = std::max(2u, absl::GetFlag(FLAGS_many_queries));
  const int repetitions = std::max(1, absl::GetFlag(FLAGS_repetitions));
  const double speedup = absl::GetFlag(FLAGS_required_speedup);
  const int threads = absl::GetFlag(FLAGS_threads) > 0
                          ? absl::GetFlag(FLAGS_threads)
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  ThreadPool pool(threads);
  CpuBackend cpu(&pool);
  std::vector<std::pair<std::string, Backend*>> backends = {{"cpu", &cpu}};
  kernels::GpuBackendOptions gpu_options;
  gpu_options.host_pool = &pool;
  absl::StatusOr<kernels::GpuBackendSet> gpus = kernels::CreateGpuBackends(gpu_options);
  std::string gpu_note;
  if (gpus.ok() && !gpus->backends.empty()) {
    backends.emplace_back("gpu", gpus->backends.front().get());
    gpu_note = gpus->backends.front()->description();
    std::cerr << "simile-calibrate: measuring cpu (" << threads << " threads) and " << gpu_note << "\n";
  } else {
    gpu_note = gpus.ok() ? "no GPU" : std::string(gpus.status().message());
    std::cerr << "simile-calibrate: no usable GPU (" << gpu_note << "); measuring the CPU only, "
              << "the profile will set no GPU threshold\n";
  }

  const std::vector<float> queries = RandomMatrix(size_t{many} * dim, 7);
  const std::vector<float> targets = RandomMatrix(size_t{max_n} * dim, 11);
  std::vector<float> scores(size_t{many} * max_n);
  std::vector<Point> points;
  for (const auto& [name, backend] : backends) {
    for (const auto& [operation, q] : {std::pair{Operation::kOneQuery, 1u}, std::pair{Operation::kManyQueries, many}}) {
      for (uint64_t n = min_n; n <= max_n; n *= 2) {
        std::optional<Point> p = Measure(*backend, name, operation, q, static_cast<uint32_t>(n), dim,
                                         queries.data(), targets.data(), scores, repetitions);
        if (!p.has_value()) break;
        std::cerr << "simile-calibrate: " << name << " " << Name(operation) << " Q=" << q << " N=" << n
                  << ": median " << p->median_seconds * 1e3 << " ms\n";
        points.push_back(*p);
      }
    }
  }

  // The CSV.
  {
    std::ofstream csv(absl::GetFlag(FLAGS_csv));
    csv << "backend,operation,queries,targets,dim,median_seconds,min_seconds,max_seconds\n";
    for (const Point& p : points) {
      csv << p.backend << "," << Name(p.operation) << "," << p.queries << "," << p.targets << "," << dim << ","
          << p.median_seconds << "," << p.min_seconds << "," << p.max_seconds << "\n";
    }
    if (!csv) {
      std::cerr << "simile-calibrate: cannot write " << absl::GetFlag(FLAGS_csv) << "\n";
      return 1;
    }
  }

  // The profile: thresholds only where a crossover was measured.
  v1::ServerConfig profile;
  std::string summary;
  for (const auto& [operation, field] : {std::pair{Operation::kOneQuery, "min_gpu_batch_one_query"},
                                         std::pair{Operation::kManyQueries, "min_gpu_batch_many_queries"}}) {
    const std::optional<uint32_t> crossover = Crossover(points, operation, speedup);
    if (crossover.has_value()) {
      if (operation == Operation::kOneQuery) {
        profile.mutable_dispatch_policy()->set_min_gpu_batch_one_query(*crossover);
      } else {
        profile.mutable_dispatch_policy()->set_min_gpu_batch_many_queries(*crossover);
      }
    }
    absl::StrAppend(&summary, "#   ", field, ": ",
                    crossover.has_value() ? absl::StrCat(*crossover)
                                          : "not set (no GPU measured, or the GPU never won by the speedup)",
                    "\n");
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(profile, &text);
  std::ofstream out(absl::GetFlag(FLAGS_profile));
  out << "# simile hardware profile written by simile-calibrate (load with simile-server --hardware_profile).\n"
      << "# Backends: cpu (" << threads << " threads); GPU: " << gpu_note << ".\n"
      << "# Ladder: N = " << min_n << " .. " << max_n << " targets, dim " << dim << ", Q = 1 and " << many
      << "; median of " << repetitions << " calls; required speedup " << speedup << ".\n"
      << summary << text;
  if (!out) {
    std::cerr << "simile-calibrate: cannot write " << absl::GetFlag(FLAGS_profile) << "\n";
    return 1;
  }
  std::cerr << "simile-calibrate: wrote " << absl::GetFlag(FLAGS_profile) << " and " << absl::GetFlag(FLAGS_csv)
            << "\n" << summary;

  if (const std::string png = absl::GetFlag(FLAGS_plot); !png.empty()) {
    std::string script = absl::GetFlag(FLAGS_plot_script);
    if (script.empty()) script = SIMILE_PLOT_SCRIPT;
    const std::string command = absl::StrCat("'", absl::GetFlag(FLAGS_python), "' '", script, "' '", absl::GetFlag(FLAGS_csv), "' '", png,
                                             "' --required_speedup=", speedup);
    if (std::system(command.c_str()) != 0) {
      std::cerr << "simile-calibrate: the plot failed: " << command << "\n";
      return 1;
    }
    std::cerr << "simile-calibrate: wrote " << png << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace simile

int main(int argc, char** argv) { return simile::Main(argc, argv); }
