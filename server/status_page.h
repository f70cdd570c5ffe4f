// The human-readable status page served at GET / : the same simile.v1.ServerStatus as GetStatus and /status,
// laid out for a person (breaker state and last GPU error, decisions by rule, latency by backend and size
// class, VRAM), with links to /status (JSON) and /metrics. Every text from the status is HTML-escaped.
//
// Thread safety: pure functions.
#ifndef SIMILE_SERVER_STATUS_PAGE_H_
#define SIMILE_SERVER_STATUS_PAGE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "simile/v1/admin.pb.h"

namespace simile::server {

[[nodiscard]] std::string RenderStatusPage(const v1::ServerStatus& status);

// &, <, >, " and ' as character references.
[[nodiscard]] std::string HtmlEscape(absl::string_view text);

}  // namespace simile::server

#endif  // SIMILE_SERVER_STATUS_PAGE_H_
