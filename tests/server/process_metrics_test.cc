// process_* figures: /proc parsing on fixed text, and the live reading against independent sources
// (getrusage for CPU time, a descriptor opened by the test).
#include "server/process_metrics.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <ctime>

namespace simile::server {
namespace {

TEST_CASE("ParseProcStat reads CPU, memory and start time after the command name", "[process]") {
  // The command name holds spaces and a ')' on purpose. utime 250, stime 50, starttime 1000, vsize 8192,
  // rss 3 pages.
  const char* line =
      "4242 (simile) (x y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 8192 3 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  absl::StatusOr<ProcessStats> s = ParseProcStat(line, 100, 4096, 1.7e9);
  REQUIRE(s.ok());
  CHECK(s->cpu_seconds == 3.0);
  CHECK(s->start_time_seconds == 1.7e9 + 10);
  CHECK(s->virtual_memory_bytes == 8192);
  CHECK(s->resident_memory_bytes == 3 * 4096);
  CHECK_FALSE(ParseProcStat("4242 (short) S 1 2 3", 100, 4096, 0).ok());
  CHECK_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0).ok());
}

TEST_CASE("ParseMaxOpenFiles reads the soft limit", "[process]") {
  const char* limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n";
  CHECK(*ParseMaxOpenFiles(limits) == 1024);
  CHECK(*ParseMaxOpenFiles("Max open files            unlimited            unlimited            files\n") == -1);
  CHECK_FALSE(ParseMaxOpenFiles("Max cpu time unlimited unlimited seconds\n").ok());
}

TEST_CASE("ReadProcessStats agrees with getrusage, getrlimit and the descriptors the test opens", "[process]") {
  volatile double spin = 0;
  for (int i = 0; i < 20'000'000; ++i) spin = spin + i;  // Some CPU time to measure.
  absl::StatusOr<ProcessStats> before = ReadProcessStats();
  REQUIRE(before.ok());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rusage_cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                            static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  CHECK(before->cpu_seconds == Approx(rusage_cpu).margin(0.05));  // /proc counts in clock ticks (10 ms).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  CHECK(before->max_fds == (nofile.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(nofile.rlim_cur)));
  CHECK(before->resident_memory_bytes > 0);
  CHECK(before->virtual_memory_bytes >= before->resident_memory_bytes);
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(before->start_time_seconds <= now + 1);
  CHECK(before->start_time_seconds > now - 3600);  // This test process started within the hour.

  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  absl::StatusOr<ProcessStats> after = ReadProcessStats();
  close(fd);
  REQUIRE(after.ok());
  CHECK(after->open_fds == before->open_fds + 1);
}

}  // namespace
}  // namespace simile::server
