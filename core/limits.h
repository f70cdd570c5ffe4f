// Limits on request shape, enforced before any work is done. Exceeding one is RESOURCE_EXHAUSTED.
#ifndef SIMILE_CORE_LIMITS_H_
#define SIMILE_CORE_LIMITS_H_

#include <cstdint>

namespace simile {

struct Limits {
  // Largest vector dimension accepted.
  uint32_t max_dim = 65536;
  // Largest number of query rows (Q) in one request.
  uint32_t max_queries = 65536;
  // Largest number of target rows (N) in one request.
  uint32_t max_targets = 16'777'216;
  // Largest number of scores a request may produce: Q * N when top_k == 0, Q * k otherwise.
  // 16 Mi scores = 64 MiB of response.
  uint64_t max_result_elements = 16'777'216;
};

// Admission control: how much work the server holds at once. A request beyond either bound is refused at once
// with RESOURCE_EXHAUSTED instead of queueing, so memory and queueing delay stay bounded under overload.
struct AdmissionLimits {
  // Requests received and not yet answered (queued or running). 1024.
  uint32_t max_in_flight_requests = 1024;
  // Vector payload bytes (queries + targets) of those requests. A request is always admitted when nothing else
  // is in flight, so one request up to the message-size limit never starves. 1 GiB.
  uint64_t max_in_flight_bytes = uint64_t{1} << 30;
};

}  // namespace simile

#endif  // SIMILE_CORE_LIMITS_H_
