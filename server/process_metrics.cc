#include "server/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace simile::server {
namespace {

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// /proc/stat's "btime <unix seconds>" line: when the machine booted (process start times count from it).
absl::StatusOr<double> BootTimeSeconds() {
  static const absl::StatusOr<double> boot = []() -> absl::StatusOr<double> {
    absl::StatusOr<std::string> stat = ReadFile("/proc/stat");
    if (!stat.ok()) return stat.status();
    for (const absl::string_view line : absl::StrSplit(*stat, '\n')) {
      absl::string_view rest = line;
      double v = 0;
      if (absl::ConsumePrefix(&rest, "btime ") && absl::SimpleAtod(rest, &v)) return v;
    }
    return absl::UnavailableError("no btime in /proc/stat");
  }();
  return boot;
}

absl::StatusOr<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return absl::UnavailableError("cannot list /proc/self/fd");
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // The descriptor opendir itself holds.
}

}  // namespace

absl::StatusOr<ProcessStats> ParseProcStat(absl::string_view stat_line, double ticks_per_second,
                                           double page_bytes, double boot_time_seconds) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted after the last ')'.
  const size_t paren = stat_line.rfind(')');
  if (paren == absl::string_view::npos) return absl::InvalidArgumentError("no ')' in /proc/self/stat");
  const std::vector<absl::string_view> f =
      absl::StrSplit(stat_line.substr(paren + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); utime is field 14, stime 15, starttime 22, vsize 23, rss 24 (proc(5)).
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kVsize = 23 - 3, kRss = 24 - 3;
  if (f.size() <= kRss) return absl::InvalidArgumentError("too few fields in /proc/self/stat");
  double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  if (!absl::SimpleAtod(f[kUtime], &utime) || !absl::SimpleAtod(f[kStime], &stime) ||
      !absl::SimpleAtod(f[kStart], &start) || !absl::SimpleAtod(f[kVsize], &vsize) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(f[kRss]), &rss)) {
    return absl::InvalidArgumentError("unparsable number in /proc/self/stat");
  }
  ProcessStats s;
  s.cpu_seconds = (utime + stime) / ticks_per_second;
  s.start_time_seconds = boot_time_seconds + start / ticks_per_second;
  s.virtual_memory_bytes = vsize;
  s.resident_memory_bytes = rss * page_bytes;
  return s;
}

absl::StatusOr<double> ParseMaxOpenFiles(absl::string_view limits_text) {
  for (const absl::string_view line : absl::StrSplit(limits_text, '\n')) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "Max open files")) continue;
    const std::vector<absl::string_view> f = absl::StrSplit(rest, ' ', absl::SkipEmpty());
    if (f.empty()) break;
    if (f[0] == "unlimited") return -1.0;
    double v = 0;
    if (absl::SimpleAtod(f[0], &v)) return v;
    break;
  }
  return absl::InvalidArgumentError("no 'Max open files' line in /proc/self/limits");
}

absl::StatusOr<ProcessStats> ReadProcessStats() {
  absl::StatusOr<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  absl::StatusOr<double> boot = BootTimeSeconds();
  if (!boot.ok()) return boot.status();
  absl::StatusOr<ProcessStats> s = ParseProcStat(*stat, static_cast<double>(sysconf(_SC_CLK_TCK)),
                                                 static_cast<double>(sysconf(_SC_PAGESIZE)), *boot);
  if (!s.ok()) return s.status();
  absl::StatusOr<double> fds = CountOpenFds();
  if (!fds.ok()) return fds.status();
  s->open_fds = *fds;
  absl::StatusOr<std::string> limits = ReadFile("/proc/self/limits");
  if (!limits.ok()) return limits.status();
  absl::StatusOr<double> max_fds = ParseMaxOpenFiles(*limits);
  if (!max_fds.ok()) return max_fds.status();
  s->max_fds = *max_fds;
  return s;
}

}  // namespace simile::server
