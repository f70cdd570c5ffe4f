#include "core/target_set_store.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/task_validation.h"

namespace simile {
namespace {

constexpr size_t kMaxNameLength = 128;

// The L2 norm of a row, accumulated in double: exact enough for any finite float row (no overflow for values
// near FLT_MAX, no underflow to zero for tiny ones).
float RowNorm(const float* row, uint32_t dim) {
  double sum = 0.0;
  for (uint32_t c = 0; c < dim; ++c) sum += static_cast<double>(row[c]) * row[c];
  return static_cast<float>(std::sqrt(sum));
}

}  // namespace

// --- TargetSetUpload ---

TargetSetUpload::TargetSetUpload(TargetSetStore* store, std::string name, uint32_t dim, bool append)
    : store_(store), name_(std::move(name)), dim_(dim), append_(append) {}

TargetSetUpload::TargetSetUpload(TargetSetUpload&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)),
      name_(std::move(other.name_)),
      dim_(other.dim_),
      append_(other.append_),
      data_(std::move(other.data_)),
      norms_(std::move(other.norms_)),
      reserved_bytes_(std::exchange(other.reserved_bytes_, 0)) {}

TargetSetUpload::~TargetSetUpload() {
  if (store_ != nullptr && reserved_bytes_ > 0) store_->Release(reserved_bytes_);
}

absl::Status TargetSetUpload::AddRows(const MatrixView& rows) {
  if (store_ == nullptr) return absl::FailedPreconditionError("this upload was already committed");
  if (rows.dim != dim_) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows.dim (", rows.dim, ") differs from target set '", name_, "''s dim (", dim_, ")"));
  }
  if (rows.rows == 0) return absl::InvalidArgumentError("rows.rows must be >= 1");
  if (uint64_t{staged_rows()} + rows.rows > UINT32_MAX) {
    return absl::ResourceExhaustedError("a target set holds at most 2^32 - 1 rows");
  }
  if (absl::Status s = CheckFinite(rows, "rows"); !s.ok()) return s;
  const uint64_t bytes = (rows.size() + rows.rows) * sizeof(float);
  if (absl::Status s = store_->Reserve(bytes, absl::StrCat("target set '", name_, "'")); !s.ok()) return s;
  reserved_bytes_ += bytes;
  data_.insert(data_.end(), rows.data, rows.data + rows.size());
  for (uint32_t r = 0; r < rows.rows; ++r) norms_.push_back(RowNorm(rows.Row(r), dim_));
  return absl::OkStatus();
}

// --- TargetSetStore ---

absl::Status TargetSetStore::ValidateName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a target set name has 1 to ", kMaxNameLength, " characters (got ", name.size(), ")"));
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          "a target set name may only hold the characters A-Z, a-z, 0-9, '.', '_' and '-'");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TargetSetUpload> TargetSetStore::BeginCreate(absl::string_view name, uint32_t dim) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  if (dim == 0) return absl::InvalidArgumentError("rows.dim must be >= 1");
  if (Find(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("target set '", name, "' already exists"));
  }
  return TargetSetUpload(this, std::string(name), dim, /*append=*/false);
}

absl::StatusOr<TargetSetUpload> TargetSetStore::BeginAppend(absl::string_view name) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  const std::shared_ptr<const TargetSetVersion> current = Find(name);
  if (current == nullptr) return absl::NotFoundError(absl::StrCat("no target set named '", name, "'"));
  return TargetSetUpload(this, std::string(name), current->dim, /*append=*/true);
}

absl::StatusOr<std::shared_ptr<const TargetSetVersion>> TargetSetStore::Commit(TargetSetUpload upload) {
  auto fail = [this](absl::Status status) {
    MutexLock lock(&mu_);
    ++uploads_failed_;
    return status;  // `upload` releases its reservation when it goes out of scope.
  };
  if (upload.store_ != this) return absl::FailedPreconditionError("this upload was already committed");
  if (upload.staged_rows() == 0) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("no rows were sent for target set '", upload.name_, "'")));
  }
  const absl::Time now = absl::Now();

  if (!upload.append_) {
    auto version = std::make_shared<TargetSetVersion>();
    version->name = upload.name_;
    version->version = 1;
    version->dim = upload.dim_;
    version->data = std::move(upload.data_);
    version->norms = std::move(upload.norms_);
    version->created = version->updated = now;
    MutexLock lock(&mu_);
    if (sets_.count(upload.name_) > 0) {
      ++uploads_failed_;
      return absl::AlreadyExistsError(absl::StrCat("target set '", upload.name_, "' already exists"));
    }
    // The reservation becomes the set's committed bytes.
    reserved_bytes_ -= upload.reserved_bytes_;
    committed_bytes_ += upload.reserved_bytes_;
    upload.reserved_bytes_ = 0;
    upload.store_ = nullptr;
    ++uploads_committed_;
    sets_.emplace(upload.name_, version);
    return std::shared_ptr<const TargetSetVersion>(version);
  }

  // Append: the next version is built (copied) outside the lock, then published if the set did not change
  // meanwhile; another append that won the race makes this one rebuild on top of it.
  for (;;) {
    const std::shared_ptr<const TargetSetVersion> base = Find(upload.name_);
    if (base == nullptr) {
      return fail(absl::NotFoundError(absl::StrCat("target set '", upload.name_, "' was deleted")));
    }
    auto next = std::make_shared<TargetSetVersion>();
    next->name = base->name;
    next->version = base->version + 1;
    next->dim = base->dim;
    next->data.reserve(base->data.size() + upload.data_.size());
    next->data = base->data;
    next->data.insert(next->data.end(), upload.data_.begin(), upload.data_.end());
    next->norms = base->norms;
    next->norms.insert(next->norms.end(), upload.norms_.begin(), upload.norms_.end());
    next->created = base->created;
    next->updated = now;
    MutexLock lock(&mu_);
    auto it = sets_.find(upload.name_);
    if (it == sets_.end() || it->second != base) continue;  // Changed meanwhile: rebuild.
    reserved_bytes_ -= upload.reserved_bytes_;
    committed_bytes_ += upload.reserved_bytes_;  // next->bytes() == base->bytes() + the staged bytes.
    upload.reserved_bytes_ = 0;
    upload.store_ = nullptr;
    ++uploads_committed_;
    it->second = next;
    return std::shared_ptr<const TargetSetVersion>(next);
  }
}

absl::Status TargetSetStore::Delete(absl::string_view name) {
  std::shared_ptr<const TargetSetVersion> removed;  // Freed after the lock is released.
  MutexLock lock(&mu_);
  auto it = sets_.find(name);
  if (it == sets_.end()) return absl::NotFoundError(absl::StrCat("no target set named '", name, "'"));
  removed = std::move(it->second);
  committed_bytes_ -= removed->bytes();
  sets_.erase(it);
  ++deletes_;
  return absl::OkStatus();
}

std::shared_ptr<const TargetSetVersion> TargetSetStore::Find(absl::string_view name) const {
  MutexLock lock(&mu_);
  auto it = sets_.find(name);
  return it == sets_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const TargetSetVersion>> TargetSetStore::List() const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const TargetSetVersion>> out;
  out.reserve(sets_.size());
  for (const auto& [name, version] : sets_) out.push_back(version);
  return out;
}

TargetSetStore::Stats TargetSetStore::GetStats() const {
  MutexLock lock(&mu_);
  Stats s;
  s.sets = sets_.size();
  for (const auto& [name, version] : sets_) s.rows += version->rows();
  s.bytes = committed_bytes_;
  s.reserved_bytes = reserved_bytes_;
  s.max_bytes = max_bytes_;
  s.uploads_committed = uploads_committed_;
  s.uploads_failed = uploads_failed_;
  s.deletes = deletes_;
  return s;
}

absl::Status TargetSetStore::Reserve(uint64_t bytes, absl::string_view what) {
  MutexLock lock(&mu_);
  if (committed_bytes_ + reserved_bytes_ + bytes > max_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " does not fit: target sets hold ", committed_bytes_, " bytes and uploads in progress ",
        reserved_bytes_, " more, of a cap of ", max_bytes_, " bytes (--target_sets_max_bytes)"));
  }
  reserved_bytes_ += bytes;
  return absl::OkStatus();
}

void TargetSetStore::Release(uint64_t bytes) {
  MutexLock lock(&mu_);
  reserved_bytes_ -= bytes;
}

}  // namespace simile
