// Tests of the CPU cosine kernel against an independent float64 reference, for every instruction
// set this CPU supports, on the calling thread and on pools of 2 and 4 threads.
#include "core/cpu_cosine.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/matrix_view.h"
#include "core/thread_pool.h"
#include "core/top_k.h"

namespace simile {
namespace {

constexpr double kTolerance = 1e-5;

// Plain float64 loops; a zero vector on either side gives 0.
double ReferenceCosine(const float* a, const float* b, size_t dim) {
  double dot = 0.0;
  double na = 0.0;
  double nb = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0.0 || nb == 0.0) return 0.0;
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

struct Matrix {
  std::vector<float> values;
  uint32_t rows = 0;
  uint32_t dim = 0;
  MatrixView view() const { return MatrixView{values.data(), rows, dim}; }
  float* Row(size_t i) { return values.data() + i * dim; }
};

// Uniform in [offset - 1, offset + 1]: offset 0 gives cosines near 0, a positive offset cosines
// near 1.
Matrix RandomMatrix(uint32_t rows, uint32_t dim, std::mt19937* rng, float offset = 0.0f) {
  std::uniform_real_distribution<float> u(offset - 1.0f, offset + 1.0f);
  Matrix m{std::vector<float>(size_t{rows} * dim), rows, dim};
  for (float& v : m.values) v = u(*rng);
  return m;
}

std::vector<double> ReferenceScores(const Matrix& q, const Matrix& t) {
  std::vector<double> ref(size_t{q.rows} * t.rows);
  for (size_t i = 0; i < q.rows; ++i) {
    for (size_t j = 0; j < t.rows; ++j) {
      ref[i * t.rows + j] =
          ReferenceCosine(q.values.data() + i * q.dim, t.values.data() + j * t.dim, q.dim);
    }
  }
  return ref;
}

// Every (isa, pool) combination the tests run under.
struct Runner {
  CpuIsa isa;
  ThreadPool* pool;
  std::string Name() const {
    return std::string(CpuIsaName(isa)) + "/" +
           (pool ? std::to_string(pool->num_threads()) + " threads" : "inline");
  }
};

std::vector<Runner> Runners() {
  static ThreadPool* const pool2 = new ThreadPool(2);  // Leaked on purpose: shared by every test.
  static ThreadPool* const pool4 = new ThreadPool(4);
  std::vector<Runner> runners;
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!CpuSupportsIsa(isa)) continue;
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), pool2, pool4})
      runners.push_back({isa, pool});
  }
  return runners;
}

// Runs the kernel with ld = N + padding and checks every score against `ref` and the padding
// untouched.
void CheckScores(const Matrix& q, const Matrix& t, const std::vector<double>& ref,
                 size_t padding = 0) {
  const size_t ld = t.rows + padding;
  constexpr float kPoison = -1234.5f;
  for (const Runner& runner : Runners()) {
    INFO("Q=" << q.rows << " N=" << t.rows << " dim=" << q.dim << " ld=" << ld << " "
              << runner.Name());
    std::vector<float> scores(q.rows * ld, kPoison);
    CpuCosineScoresWithIsa(runner.isa, q.view(), t.view(), scores.data(), ld, runner.pool);
    double worst = 0.0;
    size_t out_of_range = 0;  // Not finite or outside [-1, 1].
    size_t bad_padding = 0;
    for (size_t i = 0; i < q.rows; ++i) {
      for (size_t j = 0; j < t.rows; ++j) {
        const float s = scores[i * ld + j];
        out_of_range += std::isfinite(s) && std::fabs(s) <= 1.0f ? 0 : 1;
        worst = std::max(worst, std::fabs(s - ref[i * t.rows + j]));
      }
      for (size_t j = t.rows; j < ld; ++j) bad_padding += scores[i * ld + j] != kPoison ? 1 : 0;
    }
    CHECK(out_of_range == 0);
    CHECK(worst <= kTolerance);
    CHECK(bad_padding == 0);
  }
}

struct Shape {
  uint32_t q;
  uint32_t n;
  uint32_t dim;
};

// Covers dims {1, 3, 7, 768, 4099}, N {1, 2, 31, 1000, 40000} and Q {1, 3, 17, 64}; large N only at
// small dims. {128, 70, 2051}: queries larger than L2 / 4 (bigger blocks) and rows longer than one
// dim chunk; {6, 45, 1040}: a last dim chunk of 16 floats.
const Shape kShapes[] = {
    {1, 1, 1},      {1, 2, 3},      {3, 31, 7},      {17, 1000, 3},   {64, 31, 768},
    {1, 1000, 768}, {3, 1000, 768}, {1, 40000, 7},   {17, 40000, 1},  {64, 1000, 7},
    {1, 31, 4099},  {3, 2, 4099},   {17, 100, 4099}, {64, 2, 768},    {64, 40000, 3},
    {2, 300, 129},  {5, 1, 768},    {64, 600, 768},  {128, 70, 2051}, {6, 45, 1040},
};

TEST_CASE("CpuCosineScores matches a float64 reference for random shapes", "[cpu_cosine]") {
  std::mt19937 rng(42);
  for (const Shape& s : kShapes) {
    const Matrix q = RandomMatrix(s.q, s.dim, &rng);
    const Matrix t = RandomMatrix(s.n, s.dim, &rng);
    CheckScores(q, t, ReferenceScores(q, t));
  }
}

TEST_CASE("CpuCosineScores stays within 1e-5 when cosines are near 1", "[cpu_cosine]") {
  std::mt19937 rng(7);
  for (const Shape& s : {Shape{1, 500, 4099}, Shape{9, 300, 768}, Shape{4, 64, 4099}}) {
    const Matrix q = RandomMatrix(s.q, s.dim, &rng, 3.0f);
    const Matrix t = RandomMatrix(s.n, s.dim, &rng, 3.0f);
    CheckScores(q, t, ReferenceScores(q, t));
  }
}

TEST_CASE("CpuCosineScores writes strided rows and leaves the padding untouched", "[cpu_cosine]") {
  std::mt19937 rng(3);
  for (const Shape& s :
       {Shape{1, 31, 7}, Shape{17, 31, 768}, Shape{3, 1000, 3}, Shape{64, 257, 16}}) {
    const Matrix q = RandomMatrix(s.q, s.dim, &rng);
    const Matrix t = RandomMatrix(s.n, s.dim, &rng);
    CheckScores(q, t, ReferenceScores(q, t), /*padding=*/5);
  }
}

TEST_CASE("CpuCosineScores gives exactly 0 for zero queries and zero targets", "[cpu_cosine]") {
  std::mt19937 rng(5);
  for (uint32_t nq : {1u, 6u}) {
    for (uint32_t dim : {3u, 768u}) {
      Matrix q = RandomMatrix(nq, dim, &rng);
      Matrix t = RandomMatrix(40, dim, &rng);
      std::fill_n(q.Row(0), dim, 0.0f);
      for (size_t j : {0, 13, 39}) std::fill_n(t.Row(j), dim, 0.0f);
      t.Row(20)[0] = -0.0f;  // Row 20 stays nonzero; -0 entries elsewhere are still zero.
      std::fill_n(t.Row(21), dim, -0.0f);
      for (const Runner& runner : Runners()) {
        INFO(runner.Name() << " Q=" << nq << " dim=" << dim);
        std::vector<float> scores(size_t{nq} * t.rows, 0.5f);
        CpuCosineScoresWithIsa(runner.isa, q.view(), t.view(), scores.data(), t.rows, runner.pool);
        for (size_t j = 0; j < t.rows; ++j) CHECK(scores[j] == 0.0f);  // Zero query.
        for (size_t i = 0; i < nq; ++i) {
          for (size_t j : {0, 13, 21, 39}) CHECK(scores[i * t.rows + j] == 0.0f);
        }
        const auto ref = ReferenceScores(q, t);
        for (size_t i = 0; i < scores.size(); ++i)
          CHECK(std::fabs(scores[i] - ref[i]) <= kTolerance);
      }
    }
  }
}

TEST_CASE("CpuCosineScores is exact for tiny, huge and denormal magnitudes", "[cpu_cosine]") {
  // Each row of `extremes` paired with [1, 1]: cosine 1 (or -1 for the negated rows).
  const float kDenormal = std::numeric_limits<float>::denorm_min();
  const std::vector<std::pair<float, float>> extremes = {
      {1e-30f, 1e-30f},   {3e38f, 3e38f},   {FLT_MAX, FLT_MAX}, {kDenormal, kDenormal},
      {-3e38f, -3e38f},   {1e-20f, 1e-20f}, {1e20f, 1e20f},     {FLT_MIN, FLT_MIN},
      {-1e-30f, -1e-30f}, {1e25f, 1e25f},
  };
  Matrix ones{std::vector<float>(2, 1.0f), 1, 2};
  Matrix ext{{}, static_cast<uint32_t>(extremes.size()), 2};
  for (const auto& [a, b] : extremes) ext.values.insert(ext.values.end(), {a, b});
  for (const Runner& runner : Runners()) {
    INFO(runner.Name());
    std::vector<float> s1(ext.rows);  // One query [1, 1] against extreme targets (fused path).
    CpuCosineScoresWithIsa(runner.isa, ones.view(), ext.view(), s1.data(), ext.rows, runner.pool);
    std::vector<float> s2(ext.rows);  // Extreme queries against one target [1, 1].
    CpuCosineScoresWithIsa(runner.isa, ext.view(), ones.view(), s2.data(), 1, runner.pool);
    std::vector<float> s3(size_t{ext.rows} *
                          ext.rows);  // Extremes against extremes (blocked path).
    CpuCosineScoresWithIsa(runner.isa, ext.view(), ext.view(), s3.data(), ext.rows, runner.pool);
    for (size_t i = 0; i < ext.rows; ++i) {
      const float sign = ext.values[2 * i] < 0 ? -1.0f : 1.0f;
      CHECK(s1[i] == Approx(sign).margin(1e-6));
      CHECK(s2[i] == Approx(sign).margin(1e-6));
      for (size_t j = 0; j < ext.rows; ++j) {
        const float sign_j = ext.values[2 * j] < 0 ? -1.0f : 1.0f;
        CHECK(s3[i * ext.rows + j] == Approx(sign * sign_j).margin(1e-6));
      }
    }
  }
}

TEST_CASE("CpuCosineScores matches the reference for mixed extreme rows", "[cpu_cosine]") {
  // Rows mixing magnitudes from denormal to FLT_MAX, with random signs, among ordinary rows.
  std::mt19937 rng(11);
  const float kMagnitudes[] = {0.0f, 1e-45f, 1e-38f, 1e-30f, 1e-20f, 1e-3f,
                               1.0f, 1e10f,  1e20f,  1e30f,  3e38f,  FLT_MAX};
  std::uniform_int_distribution<size_t> pick(0, std::size(kMagnitudes) - 1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (uint32_t dim : {2u, 7u, 768u}) {
    Matrix q = RandomMatrix(9, dim, &rng);
    Matrix t = RandomMatrix(70, dim, &rng);
    for (Matrix* m : {&q, &t}) {
      for (size_t r = 0; r < m->rows;
           r += 2) {  // Every other row: one magnitude per row, or mixed.
        const bool mixed = r % 4 == 0;
        const float row_mag = kMagnitudes[pick(rng)];
        for (size_t i = 0; i < dim; ++i)
          m->Row(r)[i] = u(rng) * (mixed ? kMagnitudes[pick(rng)] : row_mag);
      }
    }
    CheckScores(q, t, ReferenceScores(q, t));
    const Matrix q1{std::vector<float>(q.Row(0), q.Row(0) + dim), 1, dim};
    CheckScores(q1, t, ReferenceScores(q1, t));
  }
}

// The reference top-k: stable order by (score desc, index asc) over the kernel's own full score
// matrix.
void ExpectedTopK(const std::vector<float>& scores, size_t nq, size_t n, uint32_t k,
                  uint32_t offset, std::vector<uint32_t>* indices, std::vector<float>* values) {
  indices->assign(nq * k, 0);
  values->assign(nq * k, 0.0f);
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < nq; ++i) {
    const float* s = scores.data() + i * n;
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return s[a] > s[b]; });
    for (size_t r = 0; r < k; ++r) {
      (*indices)[i * k + r] = order[r] + offset;
      (*values)[i * k + r] = s[order[r]];
    }
  }
}

void CheckTopK(const Matrix& q, const Matrix& t, uint32_t k, uint32_t offset) {
  const auto ref = ReferenceScores(q, t);
  std::vector<float> full(size_t{q.rows} * t.rows);
  std::vector<uint32_t> want_idx;
  std::vector<float> want_val;
  bool have_isa = false;
  CpuIsa expected_isa = CpuIsa::kBaseline;
  for (const Runner& runner : Runners()) {
    INFO("Q=" << q.rows << " N=" << t.rows << " dim=" << q.dim << " k=" << k << " "
              << runner.Name());
    if (!have_isa ||
        runner.isa != expected_isa) {  // The expectation depends on the ISA, not on the pool.
      CpuCosineScoresWithIsa(runner.isa, q.view(), t.view(), full.data(), t.rows, nullptr);
      ExpectedTopK(full, q.rows, t.rows, k, offset, &want_idx, &want_val);
      have_isa = true;
      expected_isa = runner.isa;
    }
    std::vector<uint32_t> idx(size_t{q.rows} * k, 0xdeadbeef);
    std::vector<float> val(size_t{q.rows} * k, -7.0f);
    CpuCosineTopKWithIsa(runner.isa, q.view(), t.view(), k, offset, idx.data(), val.data(),
                         runner.pool);
    CHECK(idx == want_idx);  // Same scores, same order, ties broken by the lower index.
    CHECK(val == want_val);
    for (size_t i = 0; i < q.rows; ++i) {  // And the scores agree with float64.
      for (size_t r = 0; r < k; ++r) {
        const uint32_t j = idx[i * k + r] - offset;
        REQUIRE(j < t.rows);
        CHECK(std::fabs(val[i * k + r] - ref[i * t.rows + j]) <= kTolerance);
      }
    }
  }
}

TEST_CASE("CpuCosineTopK returns the best k of the full scores, best first",
          "[cpu_cosine][top_k]") {
  std::mt19937 rng(21);
  const struct {
    Shape shape;
    uint32_t k;
    uint32_t offset;
  } cases[] = {
      {{1, 1, 3}, 1, 0},        {{1, 31, 7}, 31, 0},      {{3, 31, 7}, 1, 100},
      {{1, 1000, 768}, 10, 5},  {{17, 1000, 3}, 1000, 0}, {{64, 1000, 7}, 16, 1 << 20},
      {{1, 40000, 7}, 100, 0},  {{17, 40000, 3}, 3, 7},   {{3, 500, 4099}, 25, 0},
      {{64, 300, 768}, 300, 9}, {{2, 2, 1}, 2, 0},
  };
  for (const auto& c : cases) {
    const Matrix q = RandomMatrix(c.shape.q, c.shape.dim, &rng);
    const Matrix t = RandomMatrix(c.shape.n, c.shape.dim, &rng);
    CheckTopK(q, t, c.k, c.offset);
  }
}

TEST_CASE("CpuCosineTopK breaks ties by the lower index across threads and ranges",
          "[cpu_cosine][top_k]") {
  std::mt19937 rng(9);
  for (uint32_t nq : {1u, 5u}) {
    const uint32_t n = 40000;
    const uint32_t dim = 7;
    const Matrix q = RandomMatrix(nq, dim, &rng);
    Matrix t = RandomMatrix(n, dim, &rng);
    // Many exact copies of query 0 scattered through the targets (score 1 for it), plus identical
    // other rows.
    std::uniform_int_distribution<uint32_t> where(0, n - 1);
    for (int c = 0; c < 300; ++c) std::copy_n(q.values.data(), dim, t.Row(where(rng)));
    for (int c = 0; c < 300; ++c) std::copy_n(t.Row(1), dim, t.Row(where(rng)));
    for (uint32_t k : {1u, 50u, 400u}) CheckTopK(q, t, k, 1000);
  }
  // All targets identical: every score ties, so the answer is indices offset .. offset + k - 1.
  const Matrix q = RandomMatrix(3, 5, &rng);
  Matrix t{std::vector<float>(size_t{30000} * 5), 30000, 5};
  for (size_t j = 0; j < t.rows; ++j) std::copy_n(q.values.data() + 5, 5, t.Row(j));
  for (const Runner& runner : Runners()) {
    INFO(runner.Name());
    const uint32_t k = 64;
    std::vector<uint32_t> idx(3 * k);
    std::vector<float> val(3 * k);
    CpuCosineTopKWithIsa(runner.isa, q.view(), t.view(), k, 10, idx.data(), val.data(),
                         runner.pool);
    for (size_t i = 0; i < 3; ++i) {
      for (uint32_t r = 0; r < k; ++r) CHECK(idx[i * k + r] == 10 + r);
    }
  }
}

TEST_CASE("CpuCosineTopK handles zero and extreme rows", "[cpu_cosine][top_k]") {
  Matrix q{{1.0f, 1.0f, 0.0f, 0.0f, -1e-30f, -1e-30f}, 3, 2};
  Matrix t{{0.0f, 0.0f, 3e38f, 3e38f, 1e-30f, 2e-30f, -2.0f, -2.0f, 1.0f, 0.0f}, 5, 2};
  for (const Runner& runner : Runners()) {
    INFO(runner.Name());
    std::vector<uint32_t> idx(3 * 5);
    std::vector<float> val(3 * 5);
    CpuCosineTopKWithIsa(runner.isa, q.view(), t.view(), 5, 0, idx.data(), val.data(), runner.pool);
    CHECK(std::vector<uint32_t>(idx.begin(), idx.begin() + 5) ==
          std::vector<uint32_t>{1, 2, 4, 0, 3});
    CHECK(val[0] == Approx(1.0f).margin(1e-6));
    CHECK(val[3] == 0.0f);
    // The zero query scores 0 everywhere: indices in order.
    CHECK(std::vector<uint32_t>(idx.begin() + 5, idx.begin() + 10) ==
          std::vector<uint32_t>{0, 1, 2, 3, 4});
    CHECK(idx[10] == 3);  // -[1e-30, 1e-30] is closest to -[2, 2].
    CHECK(val[10] == Approx(1.0f).margin(1e-6));
  }
}

TEST_CASE("The best CPU instruction set is supported", "[cpu_cosine]") {
  CHECK(CpuSupportsIsa(BestCpuIsa()));
  CHECK(CpuSupportsIsa(CpuIsa::kBaseline));
  INFO("best: " << CpuIsaName(BestCpuIsa()));
  SUCCEED();
}

}  // namespace
}  // namespace simile
