#include "server/target_sets_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_decoder.h"

namespace simile::server {
namespace {

int64_t UnixMillis(absl::Time t) { return absl::ToUnixMillis(t); }

// One upload stream (create or append): stages each chunk, commits when the client ends the stream.
class UploadReactor final : public grpc::ServerReadReactor<v1::TargetSetChunk> {
 public:
  UploadReactor(grpc::CallbackServerContext* context, TargetSetStore* store, Executor* executor, bool append,
                v1::TargetSetInfo* response)
      : context_(context), store_(store), executor_(executor), append_(append), response_(response) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The stream ended: normally (the client half-closed) or by cancellation.
      if (context_->IsCancelled()) return Fail(absl::CancelledError("the upload was cancelled"));
      if (!upload_.has_value()) return Fail(absl::InvalidArgumentError("the upload stream held no chunk"));
      const std::string name = upload_->name();
      absl::StatusOr<std::shared_ptr<const TargetSetVersion>> version = store_->Commit(*std::move(upload_));
      upload_.reset();
      if (!version.ok()) return Fail(version.status());
      // The previous version's GPU copy is stale now (queries already reading it keep it until they end).
      if (executor_ != nullptr) executor_->ForgetTargetSet(name, (*version)->version);
      FillTargetSetInfo(**version, executor_, response_);
      Log(LogLevel::kInfo, append_ ? "target_set_appended" : "target_set_created",
          {{"name", name},
           {"version", (*version)->version},
           {"rows", (*version)->rows()},
           {"dim", (*version)->dim},
           {"bytes", (*version)->bytes()}});
      return Finish(grpc::Status::OK);
    }
    if (absl::Status s = Stage(); !s.ok()) return Fail(s);
    chunk_.Clear();
    StartRead(&chunk_);
  }

  void OnCancel() override {}  // A pending read fails and OnReadDone(false) finishes the call.
  void OnDone() override { delete this; }

 private:
  absl::Status Stage() {
    if (!upload_.has_value()) {  // The first chunk names the set.
      absl::StatusOr<TargetSetUpload> upload =
          append_ ? store_->BeginAppend(chunk_.name()) : store_->BeginCreate(chunk_.name(), chunk_.rows().dim());
      if (!upload.ok()) return upload.status();
      upload_.emplace(*std::move(upload));
    } else if (!chunk_.name().empty() && chunk_.name() != upload_->name()) {
      return absl::InvalidArgumentError(absl::StrCat("chunk names target set '", chunk_.name(),
                                                     "' in an upload of '", upload_->name(), "'"));
    }
    absl::StatusOr<MatrixView> rows = DecodeMatrix(chunk_.rows(), "rows", &scratch_);
    if (!rows.ok()) return rows.status();
    return upload_->AddRows(*rows);
  }

  void Fail(const absl::Status& status) {
    upload_.reset();  // Releases the reservation; nothing was published.
    if (status.code() != absl::StatusCode::kCancelled) {
      Log(LogLevel::kDebug, "target_set_upload_failed",
          {{"code", absl::StatusCodeToString(status.code())}, {"message", status.message()}});
    }
    Finish(ToGrpcStatus(status));
  }

  grpc::CallbackServerContext* const context_;
  TargetSetStore* const store_;
  Executor* const executor_;
  const bool append_;
  v1::TargetSetInfo* const response_;
  v1::TargetSetChunk chunk_;
  std::vector<float> scratch_;
  std::optional<TargetSetUpload> upload_;
};

}  // namespace

void FillTargetSetInfo(const TargetSetVersion& version, const Executor* executor, v1::TargetSetInfo* out) {
  out->set_name(version.name);
  out->set_rows(version.rows());
  out->set_dim(version.dim);
  out->set_bytes(version.bytes());
  out->set_version(version.version);
  out->clear_resident_on();
  out->add_resident_on("host");
  if (executor != nullptr && executor->IsResidentOnGpu(version.name, version.version)) {
    out->add_resident_on("gpu");
  }
  out->set_created_unix_ms(UnixMillis(version.created));
  out->set_updated_unix_ms(UnixMillis(version.updated));
}

grpc::ServerReadReactor<v1::TargetSetChunk>* TargetSetsService::CreateTargetSet(
    grpc::CallbackServerContext* context, v1::TargetSetInfo* response) {
  return new UploadReactor(context, store_, executor_, /*append=*/false, response);
}

grpc::ServerReadReactor<v1::TargetSetChunk>* TargetSetsService::AppendTargetSet(
    grpc::CallbackServerContext* context, v1::TargetSetInfo* response) {
  return new UploadReactor(context, store_, executor_, /*append=*/true, response);
}

grpc::ServerUnaryReactor* TargetSetsService::DeleteTargetSet(grpc::CallbackServerContext* context,
                                                             const v1::DeleteTargetSetRequest* request,
                                                             v1::DeleteTargetSetResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = store_->Delete(request->name());
  if (status.ok()) {
    if (executor_ != nullptr) executor_->ForgetTargetSet(request->name(), 0);  // Frees its GPU copy.
    Log(LogLevel::kInfo, "target_set_deleted", {{"name", request->name()}});
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* TargetSetsService::ListTargetSets(grpc::CallbackServerContext* context,
                                                            const v1::ListTargetSetsRequest* /*request*/,
                                                            v1::ListTargetSetsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  for (const std::shared_ptr<const TargetSetVersion>& version : store_->List()) {
    FillTargetSetInfo(*version, executor_, response->add_sets());
  }
  const TargetSetStore::Stats stats = store_->GetStats();
  response->set_total_bytes(stats.bytes);
  response->set_max_bytes(stats.max_bytes);
  response->set_persistent(false);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TargetSetsService::DescribeTargetSet(grpc::CallbackServerContext* context,
                                                               const v1::DescribeTargetSetRequest* request,
                                                               v1::TargetSetInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::shared_ptr<const TargetSetVersion> version = store_->Find(request->name());
  if (version == nullptr) {
    reactor->Finish(ToGrpcStatus(absl::NotFoundError(absl::StrCat("no target set named '", request->name(), "'"))));
    return reactor;
  }
  FillTargetSetInfo(*version, executor_, response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace simile::server
