// MatrixView: a non-owning view of a dense row-major float32 matrix.
//
// Thread safety: a MatrixView is a pointer and two sizes; it is safe to copy and read from any
// thread as long as the memory it points to outlives it and is not written concurrently.
#ifndef SIMILE_CORE_MATRIX_VIEW_H_
#define SIMILE_CORE_MATRIX_VIEW_H_

#include <cstddef>
#include <cstdint>

namespace simile {

struct MatrixView {
  const float* data = nullptr;  // rows * dim floats, row-major; not owned.
  uint32_t rows = 0;
  uint32_t dim = 0;

  [[nodiscard]] const float* Row(size_t i) const { return data + i * dim; }
  [[nodiscard]] size_t size() const { return static_cast<size_t>(rows) * dim; }
  [[nodiscard]] size_t bytes() const { return size() * sizeof(float); }

  // Rows [begin, begin + count) as a view of their own.
  [[nodiscard]] MatrixView Slice(uint32_t begin, uint32_t count) const {
    return MatrixView{Row(begin), count, dim};
  }
};

}  // namespace simile

#endif  // SIMILE_CORE_MATRIX_VIEW_H_
