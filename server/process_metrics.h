// The process_* figures the official Prometheus client libraries export (process_cpu_seconds_total,
// process_resident_memory_bytes, ...), read from /proc the way they read them. Linux only.
//
// Thread safety: pure functions and reads of /proc; safe from any thread.
#ifndef SIMILE_SERVER_PROCESS_METRICS_H_
#define SIMILE_SERVER_PROCESS_METRICS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace simile::server {

struct ProcessStats {
  double cpu_seconds = 0;              // User + system CPU time.
  double resident_memory_bytes = 0;    // RSS.
  double virtual_memory_bytes = 0;     // Size of the address space.
  double start_time_seconds = 0;       // Unix time the process started.
  double open_fds = 0;                 // Entries in /proc/self/fd.
  double max_fds = 0;                  // Soft RLIMIT_NOFILE ("Max open files"); -1 when unlimited.
};

// The fields of /proc/<pid>/stat (one line) that ProcessStats needs: everything but the descriptors.
// `boot_time_seconds` is /proc/stat's btime. InvalidArgument when the line does not parse.
[[nodiscard]] absl::StatusOr<ProcessStats> ParseProcStat(absl::string_view stat_line, double ticks_per_second,
                                                         double page_bytes, double boot_time_seconds);

// The soft "Max open files" limit from /proc/<pid>/limits text; -1 for "unlimited".
[[nodiscard]] absl::StatusOr<double> ParseMaxOpenFiles(absl::string_view limits_text);

// All of ProcessStats for this process. An error when /proc cannot be read (not Linux, or no procfs).
[[nodiscard]] absl::StatusOr<ProcessStats> ReadProcessStats();

}  // namespace simile::server

#endif  // SIMILE_SERVER_PROCESS_METRICS_H_
