// Reading and writing NumPy .npy files holding one 2-D matrix, the CLI's input and output format.
//
// Reads format versions 1.0, 2.0 and 3.0 (which differ only in the header-length field) of a
// C-ordered array with dtype '<f4' (float32), or '<f8' (float64, converted to the nearest float32).
// A 1-D array of n values reads as a 1 x n matrix, so a single saved vector is one query. Anything
// else is refused with a message that says what was found and how to fix it: bad magic, unknown
// version, a header that is not a numpy dict, Fortran order, another dtype or byte order, 0-D or
// 3+-D shapes, and data shorter or longer than the shape says. Writes format 1.0 (2.0 only if the
// header would not fit), the header padded to 64 bytes as numpy does, with dtype '<f4' (scores) or
// '<i8' (top-k indices), which `numpy.load` reads as float32 / int64.
//
// Thread safety: pure functions; concurrent calls on different files are safe.
#ifndef SIMILE_CLIENT_NPY_H_
#define SIMILE_CLIENT_NPY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace simile::client {

// A dense row-major float32 matrix.
struct NpyMatrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> data;  // rows * cols values; element (r, c) at data[r * cols + c].
};

// Reads the .npy file at `path`. NOT_FOUND / PERMISSION_DENIED / ... when the file cannot be
// opened; INVALID_ARGUMENT, prefixed with the path, when its contents are refused (see above).
[[nodiscard]] absl::StatusOr<NpyMatrix> ReadNpy(const std::string& path);

// Parses the contents of a .npy file held in memory; INVALID_ARGUMENT when they are refused.
[[nodiscard]] absl::StatusOr<NpyMatrix> ParseNpy(absl::string_view bytes);

// The contents of a .npy file holding `data` as a rows x cols array; data.size() must be rows *
// cols.
[[nodiscard]] std::string EncodeNpy(absl::Span<const float> data, size_t rows, size_t cols);
[[nodiscard]] std::string EncodeNpy(absl::Span<const int64_t> data, size_t rows, size_t cols);

// Writes EncodeNpy(...) to `path`, replacing any file there. INVALID_ARGUMENT when data.size() is
// not rows * cols; an errno-derived status when the file cannot be written.
[[nodiscard]] absl::Status WriteNpy(const std::string& path, absl::Span<const float> data,
                                    size_t rows, size_t cols);
[[nodiscard]] absl::Status WriteNpy(const std::string& path, absl::Span<const int64_t> data,
                                    size_t rows, size_t cols);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_NPY_H_
