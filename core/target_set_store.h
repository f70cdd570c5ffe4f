// TargetSetStore: named target sets held in host memory, uploaded once and queried many times.
//
// A set is a chain of immutable versions. A query takes the current version (a shared_ptr) and reads it without
// any lock, to the end, whatever happens to the set meanwhile: an append publishes a new version beside it, a
// delete removes the name, and the old version lives until its last reader lets go.
//
// Uploads are staged privately (TargetSetUpload) and published only by Commit: a set, or an appended version,
// becomes visible all at once or not at all. Every row is checked finite when it arrives, and its L2 norm is
// computed then, once per set (queries on a set skip the finiteness scan; the GPU path will use the norms).
//
// Memory: the bytes of the current versions plus the bytes reserved by uploads in progress never exceed
// max_bytes (RESOURCE_EXHAUSTED otherwise). An old version still being read after an append or delete is not
// counted (it is freed when its last query ends).
//
// Seam for GPU residency (not implemented): a version is immutable and has a unique (name, version) key, so a
// device backend can cache it, count it against its VRAM budget and evict it least-recently-used, without the
// store's help.
//
// Thread safety: every method may be called from any thread. The lock guards only the name -> version map.
#ifndef SIMILE_CORE_TARGET_SET_STORE_H_
#define SIMILE_CORE_TARGET_SET_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/matrix_view.h"
#include "core/mutex.h"

namespace simile {

// One immutable version of a set.
struct TargetSetVersion {
  std::string name;
  uint64_t version = 0;  // 1 at creation, +1 per append.
  uint32_t dim = 0;
  std::vector<float> data;   // rows * dim, row-major; every value finite.
  std::vector<float> norms;  // One L2 norm per row.
  absl::Time created;
  absl::Time updated;

  [[nodiscard]] uint32_t rows() const { return static_cast<uint32_t>(norms.size()); }
  [[nodiscard]] MatrixView view() const { return MatrixView{data.data(), rows(), dim}; }
  [[nodiscard]] uint64_t bytes() const { return (data.size() + norms.size()) * sizeof(float); }
};

class TargetSetStore;

// Rows staged for a create or an append; nothing is visible until TargetSetStore::Commit. Destroying an
// uncommitted upload releases its memory reservation.
class TargetSetUpload {
 public:
  TargetSetUpload(TargetSetUpload&& other) noexcept;
  TargetSetUpload& operator=(TargetSetUpload&&) = delete;
  TargetSetUpload(const TargetSetUpload&) = delete;
  ~TargetSetUpload();

  // Adds `rows` (rows x dim floats). INVALID_ARGUMENT for a dim other than the set's or a non-finite value;
  // RESOURCE_EXHAUSTED past the store's cap. A failed call adds nothing.
  absl::Status AddRows(const MatrixView& rows);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] uint32_t dim() const { return dim_; }
  [[nodiscard]] uint64_t staged_rows() const { return norms_.size(); }

 private:
  friend class TargetSetStore;
  TargetSetUpload(TargetSetStore* store, std::string name, uint32_t dim, bool append);

  TargetSetStore* store_;  // Null once committed or moved from.
  std::string name_;
  uint32_t dim_;
  bool append_;
  std::vector<float> data_;
  std::vector<float> norms_;
  uint64_t reserved_bytes_ = 0;
};

class TargetSetStore {
 public:
  explicit TargetSetStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  TargetSetStore(const TargetSetStore&) = delete;
  TargetSetStore& operator=(const TargetSetStore&) = delete;

  // Names: 1 to 128 characters from [A-Za-z0-9._-].
  static absl::Status ValidateName(absl::string_view name);

  // Starts a new set. INVALID_ARGUMENT for a bad name or dim 0; ALREADY_EXISTS if the name is taken (checked
  // again by Commit).
  absl::StatusOr<TargetSetUpload> BeginCreate(absl::string_view name, uint32_t dim);
  // Starts an append to an existing set (NOT_FOUND if none); its dim is the set's.
  absl::StatusOr<TargetSetUpload> BeginAppend(absl::string_view name);
  // Publishes the upload: a new set at version 1, or the current version's rows followed by the staged ones as
  // the next version. INVALID_ARGUMENT if nothing was staged for a create; ALREADY_EXISTS / NOT_FOUND if the
  // name was taken / deleted meanwhile; RESOURCE_EXHAUSTED past the cap. On error nothing changes.
  absl::StatusOr<std::shared_ptr<const TargetSetVersion>> Commit(TargetSetUpload upload);

  // NOT_FOUND if there is no such set.
  absl::Status Delete(absl::string_view name);
  // The current version, or null.
  [[nodiscard]] std::shared_ptr<const TargetSetVersion> Find(absl::string_view name) const;
  // Every current version, by name.
  [[nodiscard]] std::vector<std::shared_ptr<const TargetSetVersion>> List() const;

  struct Stats {
    uint64_t sets = 0;
    uint64_t rows = 0;
    uint64_t bytes = 0;            // Current versions.
    uint64_t reserved_bytes = 0;   // Uploads in progress.
    uint64_t max_bytes = 0;
    uint64_t uploads_committed = 0;
    uint64_t uploads_failed = 0;   // Commit refused it.
    uint64_t deletes = 0;
  };
  [[nodiscard]] Stats GetStats() const;

 private:
  friend class TargetSetUpload;

  // Reserves `bytes` of the cap for an upload; RESOURCE_EXHAUSTED (naming `what`) if they do not fit.
  absl::Status Reserve(uint64_t bytes, absl::string_view what);
  void Release(uint64_t bytes);

  const uint64_t max_bytes_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const TargetSetVersion>, std::less<>> sets_ ABSL_GUARDED_BY(mu_);
  uint64_t committed_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reserved_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t uploads_committed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t uploads_failed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t deletes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace simile

#endif  // SIMILE_CORE_TARGET_SET_STORE_H_
