#include "client/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace simile::client {

namespace {

static_assert(std::endian::native == std::endian::little,
              "npy.cc reads '<f4'/'<f8' and writes '<f4'/'<i8' by copying host values as bytes");

constexpr absl::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kAlignment = 64;  // numpy pads the preamble + header to a multiple of this.
constexpr size_t kMaxHeaderLength =
    1 << 20;  // numpy's own headers are < 200 bytes; this bounds garbage.

enum class Dtype { kFloat32, kFloat64 };

size_t ItemSize(Dtype dtype) { return dtype == Dtype::kFloat32 ? 4 : 8; }

// The fixed-size start of a .npy file: magic, version, and the length of the header text that
// follows.
struct Preamble {
  size_t size = 0;           // 10 for version 1.0, 12 for 2.0 and 3.0.
  size_t header_length = 0;  // Bytes of header text after the preamble.
};

// What the header text says about the data.
struct Layout {
  Dtype dtype = Dtype::kFloat32;
  std::string descr;
  std::vector<uint64_t> shape;
  size_t rows = 0;
  size_t cols = 0;
};

uint64_t LittleEndian(absl::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

// `prefix`: at least the first 12 bytes of the file, or all of it if shorter.
absl::StatusOr<Preamble> ParsePreamble(absl::string_view prefix) {
  if (prefix.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(
        "not a .npy file: it does not start with the magic \"\\x93NUMPY\"");
  }
  if (prefix.size() < 8) {
    return absl::InvalidArgumentError("truncated .npy file: it ends inside the format version");
  }
  const int major = static_cast<unsigned char>(prefix[6]);
  const int minor = static_cast<unsigned char>(prefix[7]);
  if (minor != 0 || major < 1 || major > 3) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported .npy format version ", major, ".",
                                                   minor, " (1.0, 2.0 and 3.0 are read)"));
  }
  Preamble preamble;
  const size_t length_bytes = major == 1 ? 2 : 4;
  preamble.size = 8 + length_bytes;
  if (prefix.size() < preamble.size) {
    return absl::InvalidArgumentError("truncated .npy file: it ends inside the header length");
  }
  preamble.header_length = LittleEndian(prefix.substr(8, length_bytes));
  if (preamble.header_length > kMaxHeaderLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed .npy header: its length ", preamble.header_length, " is implausibly large"));
  }
  return preamble;
}

std::string ShapeText(const Layout& layout) {
  return absl::StrCat("(", absl::StrJoin(layout.shape, ", "),
                      layout.shape.size() == 1 ? ",)" : ")");
}

// A recursive-descent reader for the Python dict literal numpy writes as the header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. Values are strings, True/False, or
// tuples of non-negative integers (with Python 2's "3L" suffix accepted).
class HeaderReader {
 public:
  explicit HeaderReader(absl::string_view text) : text_(text), rest_(text) {}

  absl::StatusOr<Layout> Read() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<uint64_t>> shape;
    if (!Consume('{')) {
      return Error("expected '{'");
    }
    while (!Consume('}')) {
      std::string key;
      if (!ReadString(&key) || !Consume(':')) {
        return Error("expected 'key': value");
      }
      if (key == "descr") {
        descr.emplace();
        if (!ReadString(&*descr)) {
          return absl::InvalidArgumentError(
              absl::StrCat("unsupported dtype ", Excerpt(),
                           ": structured dtypes are not read; expected '<f4' or '<f8'"));
        }
      } else if (key == "fortran_order") {
        if (ConsumeWord("True")) {
          fortran_order = true;
        } else if (ConsumeWord("False")) {
          fortran_order = false;
        } else {
          return Error("fortran_order must be True or False");
        }
      } else if (key == "shape") {
        shape.emplace();
        if (!ReadTuple(&*shape)) {
          return Error("shape must be a tuple of non-negative integers");
        }
      } else {
        return Error(absl::StrCat("unexpected key '", key, "'"));
      }
      if (!Consume(',')) {
        if (!Consume('}')) {
          return Error("expected ',' or '}'");
        }
        break;
      }
    }
    SkipSpace();
    if (!rest_.empty()) {
      return Error("text after the closing '}'");
    }
    if (!descr || !fortran_order || !shape) {
      return Error("it must hold 'descr', 'fortran_order' and 'shape'");
    }
    return MakeLayout(std::move(*descr), *fortran_order, std::move(*shape));
  }

 private:
  static absl::StatusOr<Layout> MakeLayout(std::string descr, bool fortran_order,
                                           std::vector<uint64_t> shape) {
    Layout layout;
    if (descr == "<f4") {
      layout.dtype = Dtype::kFloat32;
    } else if (descr == "<f8") {
      layout.dtype = Dtype::kFloat64;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported dtype '", descr, "': expected little-endian float32 ('<f4') or float64 ",
          "('<f8'); convert with a.astype('<f4')"));
    }
    layout.descr = std::move(descr);
    layout.shape = shape;
    const std::string shape_text = ShapeText(layout);
    if (fortran_order) {
      return absl::InvalidArgumentError(
          "fortran_order is True: save a C-ordered array (numpy.ascontiguousarray(a))");
    }
    if (shape.size() == 1) {
      shape.insert(shape.begin(), 1);
    } else if (shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported shape ", shape_text, ": expected a 2-D array (rows, dim) or a 1-D vector"));
    }
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    if (shape[0] > kMax || shape[1] > kMax) {
      return absl::InvalidArgumentError(absl::StrCat("shape ", shape_text, " is too large"));
    }
    layout.rows = shape[0];
    layout.cols = shape[1];
    return layout;
  }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed .npy header: ", what, " in ", Excerpt()));
  }

  std::string Excerpt() const {
    absl::string_view shown = text_.substr(0, 120);
    while (!shown.empty() && (shown.back() == '\n' || shown.back() == ' ')) {
      shown.remove_suffix(1);
    }
    return absl::StrCat("\"", shown, text_.size() > 120 ? "..." : "", "\"");
  }

  void SkipSpace() {
    while (!rest_.empty() &&
           (rest_.front() == ' ' || rest_.front() == '\n' || rest_.front() == '\t')) {
      rest_.remove_prefix(1);
    }
  }

  bool Consume(char c) {
    SkipSpace();
    if (rest_.empty() || rest_.front() != c) {
      return false;
    }
    rest_.remove_prefix(1);
    return true;
  }

  bool ConsumeWord(absl::string_view word) {
    SkipSpace();
    if (rest_.substr(0, word.size()) != word) {
      return false;
    }
    rest_.remove_prefix(word.size());
    return true;
  }

  bool ReadString(std::string* out) {
    SkipSpace();
    if (rest_.empty() || (rest_.front() != '\'' && rest_.front() != '"')) {
      return false;
    }
    const char quote = rest_.front();
    const size_t end = rest_.find(quote, 1);
    if (end == absl::string_view::npos) {
      return false;
    }
    const absl::string_view value = rest_.substr(1, end - 1);
    out->assign(value.data(), value.size());
    rest_.remove_prefix(end + 1);
    return true;
  }

  bool ReadInteger(uint64_t* out) {
    SkipSpace();
    size_t digits = 0;
    uint64_t value = 0;
    while (digits < rest_.size() && rest_[digits] >= '0' && rest_[digits] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(rest_[digits] - '0');
      if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        return false;
      }
      value = value * 10 + digit;
      ++digits;
    }
    if (digits == 0) {
      return false;
    }
    rest_.remove_prefix(digits);
    if (!rest_.empty() && rest_.front() == 'L') {
      rest_.remove_prefix(1);
    }
    *out = value;
    return true;
  }

  bool ReadTuple(std::vector<uint64_t>* out) {
    if (!Consume('(')) {
      return false;
    }
    while (!Consume(')')) {
      uint64_t value = 0;
      if (!ReadInteger(&value)) {
        return false;
      }
      out->push_back(value);
      if (!Consume(',')) {
        return Consume(')');
      }
    }
    return true;
  }

  const absl::string_view text_;
  absl::string_view rest_;
};

// Checks that exactly the bytes the shape needs follow the header.
absl::Status CheckDataSize(const Layout& layout, uint64_t available) {
  // rows and cols are below 2^32, so rows * cols fits; the byte count may not.
  const uint64_t count = uint64_t{layout.rows} * layout.cols;
  if (count > std::numeric_limits<uint64_t>::max() / ItemSize(layout.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeText(layout), " is too large"));
  }
  const uint64_t needed = count * ItemSize(layout.dtype);
  if (available < needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated .npy data: shape ", ShapeText(layout), " of '", layout.descr,
                     "' needs ", needed, " bytes after the header, the file has ", available));
  }
  if (available > needed) {
    return absl::InvalidArgumentError(absl::StrCat(available - needed,
                                                   " unexpected bytes after the data of ", "shape ",
                                                   ShapeText(layout), " of '", layout.descr, "'"));
  }
  return absl::OkStatus();
}

// Converts `count` values of `dtype` at `src` into floats at `dst`. Float64 values beyond float32's
// range are refused rather than turned into infinities; NaN and infinities pass through (the server
// rejects them).
absl::Status ConvertData(const char* src, size_t count, Dtype dtype, size_t first_index,
                         size_t cols, float* dst) {
  if (dtype == Dtype::kFloat32) {
    std::memcpy(dst, src, count * sizeof(float));
    return absl::OkStatus();
  }
  constexpr double kMaxFloat = std::numeric_limits<float>::max();
  for (size_t i = 0; i < count; ++i) {
    double value;
    std::memcpy(&value, src + i * sizeof(double), sizeof(double));
    if (std::isfinite(value) && std::fabs(value) > kMaxFloat) {
      const size_t index = first_index + i;
      return absl::InvalidArgumentError(absl::StrCat("value ", value, " at row ", index / cols,
                                                     ", column ", index % cols,
                                                     " is beyond float32's range"));
    }
    dst[i] = static_cast<float>(value);
  }
  return absl::OkStatus();
}

absl::Status ErrnoStatus(int error, absl::string_view what, const std::string& path) {
  const std::string message =
      absl::StrCat(what, " ", path, ": ", std::generic_category().message(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::UnknownError(message);
  }
}

absl::Status WithPath(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

template <typename T>
std::string Encode(absl::Span<const T> data, size_t rows, size_t cols, absl::string_view descr) {
  std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (",
                                    rows, ", ", cols, "), }");
  // Version 1.0 stores the header length in 2 bytes; 2.0 in 4 (never needed for two dimensions).
  const size_t preamble = header.size() + 1 + 10 <= 65535 ? 10 : 12;
  const size_t total = (preamble + header.size() + 1 + kAlignment - 1) / kAlignment * kAlignment;
  header.append(total - preamble - header.size() - 1, ' ');
  header.push_back('\n');
  std::string out(kMagic);
  out.push_back(static_cast<char>(preamble == 10 ? 1 : 2));
  out.push_back(0);
  for (size_t i = 0; i < preamble - 8; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  out += header;
  out.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T));
  return out;
}

template <typename T>
absl::Status Write(const std::string& path, absl::Span<const T> data, size_t rows, size_t cols,
                   absl::string_view descr) {
  if (data.size() != rows * cols) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", data.size(), " values given for shape (", rows, ", ", cols, ")"));
  }
  const std::string bytes = Encode(data, rows, cols, descr);
  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    return ErrnoStatus(errno, "cannot create", path);
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size()) {
    return ErrnoStatus(errno, "cannot write", path);
  }
  if (std::fclose(file.release()) != 0) {
    return ErrnoStatus(errno, "cannot write", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NpyMatrix> ParseNpy(absl::string_view bytes) {
  absl::StatusOr<Preamble> preamble = ParsePreamble(bytes.substr(0, 12));
  if (!preamble.ok()) {
    return preamble.status();
  }
  const size_t data_offset = preamble->size + preamble->header_length;
  if (bytes.size() < data_offset) {
    return absl::InvalidArgumentError("truncated .npy file: it ends inside the header");
  }
  absl::StatusOr<Layout> layout =
      HeaderReader(bytes.substr(preamble->size, preamble->header_length)).Read();
  if (!layout.ok()) {
    return layout.status();
  }
  const absl::string_view data = bytes.substr(data_offset);
  if (absl::Status s = CheckDataSize(*layout, data.size()); !s.ok()) {
    return s;
  }
  NpyMatrix matrix{layout->rows, layout->cols, std::vector<float>(layout->rows * layout->cols)};
  if (absl::Status s = ConvertData(data.data(), matrix.data.size(), layout->dtype, 0, matrix.cols,
                                   matrix.data.data());
      !s.ok()) {
    return s;
  }
  return matrix;
}

absl::StatusOr<NpyMatrix> ReadNpy(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return ErrnoStatus(errno, "cannot open", path);
  }
  std::error_code error;
  const uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) {
    return ErrnoStatus(error.value(), "cannot read the size of", path);
  }
  // Preamble and header text are small: read them, then stream the data straight into the matrix.
  std::string head(12, '\0');
  head.resize(std::fread(head.data(), 1, head.size(), file.get()));
  absl::StatusOr<Preamble> preamble = ParsePreamble(head);
  if (!preamble.ok()) {
    return WithPath(preamble.status(), path);
  }
  const size_t data_offset = preamble->size + preamble->header_length;
  if (file_size < data_offset) {
    return WithPath(absl::InvalidArgumentError("truncated .npy file: it ends inside the header"),
                    path);
  }
  if (data_offset > head.size()) {
    const size_t have = head.size();
    head.resize(data_offset);
    if (std::fread(head.data() + have, 1, data_offset - have, file.get()) != data_offset - have) {
      return ErrnoStatus(errno, "cannot read", path);
    }
  } else if (std::fseek(file.get(), static_cast<long>(data_offset), SEEK_SET) != 0) {
    return ErrnoStatus(errno, "cannot read", path);
  }
  absl::StatusOr<Layout> layout =
      HeaderReader(absl::string_view(head).substr(preamble->size, preamble->header_length)).Read();
  if (!layout.ok()) {
    return WithPath(layout.status(), path);
  }
  if (absl::Status s = CheckDataSize(*layout, file_size - data_offset); !s.ok()) {
    return WithPath(s, path);
  }
  NpyMatrix matrix{layout->rows, layout->cols, std::vector<float>(layout->rows * layout->cols)};
  if (layout->dtype == Dtype::kFloat32) {  // Straight into the matrix.
    const size_t size = matrix.data.size() * sizeof(float);
    if (std::fread(matrix.data.data(), 1, size, file.get()) != size) {
      return ErrnoStatus(errno, "cannot read", path);
    }
    return matrix;
  }
  constexpr size_t kChunkValues = 1 << 16;  // Float64 passes through a bounded buffer.
  std::vector<char> buffer(kChunkValues * sizeof(double));
  for (size_t done = 0; done < matrix.data.size();) {
    const size_t count = std::min(kChunkValues, matrix.data.size() - done);
    if (std::fread(buffer.data(), sizeof(double), count, file.get()) != count) {
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (absl::Status s = ConvertData(buffer.data(), count, Dtype::kFloat64, done, matrix.cols,
                                     matrix.data.data() + done);
        !s.ok()) {
      return WithPath(s, path);
    }
    done += count;
  }
  return matrix;
}

std::string EncodeNpy(absl::Span<const float> data, size_t rows, size_t cols) {
  return Encode(data, rows, cols, "<f4");
}

std::string EncodeNpy(absl::Span<const int64_t> data, size_t rows, size_t cols) {
  return Encode(data, rows, cols, "<i8");
}

absl::Status WriteNpy(const std::string& path, absl::Span<const float> data, size_t rows,
                      size_t cols) {
  return Write(path, data, rows, cols, "<f4");
}

absl::Status WriteNpy(const std::string& path, absl::Span<const int64_t> data, size_t rows,
                      size_t cols) {
  return Write(path, data, rows, cols, "<i8");
}

}  // namespace simile::client
