#include "server/config_file.h"

#include <fstream>
#include <sstream>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "absl/strings/str_cat.h"
#include "simile/v1/server_config.pb.h"

namespace simile::server {
namespace {

// Collects the text-format parser's first error with its position.
class ErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  [[nodiscard]] const std::string& first() const { return first_; }

 private:
  std::string first_;
};

void ApplyLimits(const v1::LimitsConfig& in, Limits* out) {
  if (in.has_max_dim()) out->max_dim = in.max_dim();
  if (in.has_max_queries()) out->max_queries = in.max_queries();
  if (in.has_max_targets()) out->max_targets = in.max_targets();
  if (in.has_max_result_elements()) out->max_result_elements = in.max_result_elements();
}

}  // namespace

absl::StatusOr<ServingConfig> ParseServingConfig(absl::string_view text, absl::string_view source) {
  v1::ServerConfig proto;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(absl::StrCat("config ", source, ": ", errors.first()));
  }
  ServingConfig config;
  config.source = std::string(source);
  ApplyLimits(proto.limits(), &config.limits);
  if (absl::Status s = config.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config ", source, ": ", s.message()));
  }
  return config;
}

absl::StatusOr<ServingConfig> LoadServingConfig(const std::string& path) {
  if (path.empty()) return ServingConfig{};
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseServingConfig(text.str(), path);
}

}  // namespace simile::server
