// RequestContext: what the executor needs to know about the caller while it works: when the answer
// stops being wanted (deadline) and whether the caller has gone away (cancellation). Both are
// checked between chunks, so an abandoned request stops consuming compute.
//
// Thread safety: `is_cancelled` is called from the executing thread; it must be safe to call from
// there.
#ifndef SIMILE_CORE_REQUEST_CONTEXT_H_
#define SIMILE_CORE_REQUEST_CONTEXT_H_

#include <functional>

#include "absl/time/time.h"

namespace simile {

struct RequestContext {
  absl::Time deadline = absl::InfiniteFuture();  // In the executor's clock (see core/clock.h).
  std::function<bool()> is_cancelled;            // Empty: never cancelled.
};

}  // namespace simile

#endif  // SIMILE_CORE_REQUEST_CONTEXT_H_
