// Tests of the CPU kernel's *CheckingTargets entry points (core/cpu_cosine.h): the finiteness check
// that rides on the kernel's own pass. For every instruction set this CPU supports, on the calling
// thread and on a pool: finite targets give true and exactly the unchecked kernel's results (so the
// float64 reference tests of tests/core/cpu_cosine_test.cc carry over; one is repeated here); a NaN
// or an infinity anywhere (first row, a row deep in a later block or chunk, the last row) gives
// false; finite rows of extreme magnitude (whose squared norms also leave the safe range) are not
// mistaken for bad ones.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_cosine.h"
#include "core/matrix_view.h"
#include "core/thread_pool.h"
#include "tests/testing/cosine_reference.h"

namespace simile {
namespace {

std::vector<float> RandomValues(size_t count, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = u(*rng);
  return v;
}

std::vector<CpuIsa> SupportedIsas() {
  std::vector<CpuIsa> isas;
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (CpuSupportsIsa(isa)) isas.push_back(isa);
  }
  return isas;
}

// Both checking entry points on one problem; true when both report every target finite. For finite
// targets, also REQUIREs results identical to the unchecked kernel's.
bool RunChecking(CpuIsa isa, MatrixView queries, MatrixView targets, uint32_t k, ThreadPool* pool,
                 bool expect_finite) {
  const size_t nq = queries.rows;
  const size_t n = targets.rows;
  std::vector<float> scores(nq * n, -7.0f);
  const bool scores_ok =
      CpuCosineScoresCheckingTargetsWithIsa(isa, queries, targets, scores.data(), n, pool);
  std::vector<uint32_t> top_indices(nq * k);
  std::vector<float> top_scores(nq * k);
  const bool top_ok = CpuCosineTopKCheckingTargetsWithIsa(
      isa, queries, targets, k, 0, top_indices.data(), top_scores.data(), pool);
  CHECK(scores_ok == top_ok);
  if (expect_finite && scores_ok) {
    std::vector<float> plain(nq * n, -9.0f);
    CpuCosineScoresWithIsa(isa, queries, targets, plain.data(), n, pool);
    REQUIRE(scores == plain);
    std::vector<uint32_t> plain_indices(nq * k);
    std::vector<float> plain_scores(nq * k);
    CpuCosineTopKWithIsa(isa, queries, targets, k, 0, plain_indices.data(), plain_scores.data(),
                         pool);
    REQUIRE(top_indices == plain_indices);
    REQUIRE(top_scores == plain_scores);
  }
  if (!scores_ok) {
    // Unspecified but finite: nothing the kernel computed from a bad row may leak out as NaN or
    // infinity.
    for (float s : scores) REQUIRE(std::isfinite(s));
  }
  return scores_ok && top_ok;
}

TEST_CASE("Checking kernels: finite targets give true and the unchecked kernel's exact results",
          "[cpu_cosine][finite]") {
  const uint32_t nq = GENERATE(1u, 5u);
  const int threads = GENERATE(0, 2);
  std::unique_ptr<ThreadPool> pool = threads > 0 ? std::make_unique<ThreadPool>(threads) : nullptr;
  std::mt19937 rng(11);
  const uint32_t n = 3000;
  const uint32_t dim = 96;
  const std::vector<float> q = RandomValues(size_t{nq} * dim, &rng);
  std::vector<float> t = RandomValues(size_t{n} * dim, &rng);
  std::fill(t.begin() + 7 * dim, t.begin() + 8 * dim,
            0.0f);  // A zero row: also outside the safe range.
  for (CpuIsa isa : SupportedIsas()) {
    INFO("isa " << CpuIsaName(isa) << ", queries " << nq << ", threads " << threads);
    CHECK(RunChecking(isa, MatrixView{q.data(), nq, dim}, MatrixView{t.data(), n, dim}, 10,
                      pool.get(), true));
    // And against the float64 reference.
    std::vector<float> scores(size_t{nq} * n);
    REQUIRE(CpuCosineScoresCheckingTargetsWithIsa(isa, MatrixView{q.data(), nq, dim},
                                                  MatrixView{t.data(), n, dim}, scores.data(), n,
                                                  pool.get()));
    const std::vector<double> expected = testing::ReferenceCosine(q, t, dim);
    for (size_t e = 0; e < expected.size(); ++e) REQUIRE(std::fabs(scores[e] - expected[e]) <= 1e-5);
  }
}

TEST_CASE("Checking kernels: a NaN or an infinity anywhere in the targets gives false",
          "[cpu_cosine][finite]") {
  const uint32_t nq = GENERATE(1u, 5u);
  const int threads = GENERATE(0, 2, 4);
  std::unique_ptr<ThreadPool> pool = threads > 0 ? std::make_unique<ThreadPool>(threads) : nullptr;
  const float bad =
      GENERATE(std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
               -std::numeric_limits<float>::infinity());
  // Rows far apart: the first, one in a later block / single-query chunk of a parallel split, the
  // last.
  const uint32_t n = 5000;
  const uint32_t dim = 80;
  const uint32_t row = GENERATE(0u, 3333u, 4999u);
  const uint32_t column = GENERATE(0u, 79u);
  std::mt19937 rng(12);
  const std::vector<float> q = RandomValues(size_t{nq} * dim, &rng);
  std::vector<float> t = RandomValues(size_t{n} * dim, &rng);
  t[size_t{row} * dim + column] = bad;
  for (CpuIsa isa : SupportedIsas()) {
    INFO("isa " << CpuIsaName(isa) << ", queries " << nq << ", threads " << threads << ", bad "
                << bad << " at row " << row << " column " << column);
    CHECK_FALSE(RunChecking(isa, MatrixView{q.data(), nq, dim}, MatrixView{t.data(), n, dim}, 3,
                            pool.get(), false));
  }
}

TEST_CASE("Checking kernels: finite rows of extreme magnitude are not taken for bad ones",
          "[cpu_cosine][finite]") {
  const uint32_t nq = GENERATE(1u, 5u);
  std::mt19937 rng(13);
  const uint32_t n = 40;
  const uint32_t dim = 33;
  const std::vector<float> q = RandomValues(size_t{nq} * dim, &rng);
  std::vector<float> t = RandomValues(size_t{n} * dim, &rng);
  // Squared norms that overflow float (the largest finite floats), underflow, or are denormal.
  const float scales[] = {std::numeric_limits<float>::max(), 1e30f, 1e-30f, 1e-42f};
  for (size_t s = 0; s < 4; ++s) {
    for (uint32_t c = 0; c < dim; ++c) t[(3 + 9 * s) * dim + c] *= scales[s];
  }
  for (CpuIsa isa : SupportedIsas()) {
    INFO("isa " << CpuIsaName(isa) << ", queries " << nq);
    CHECK(RunChecking(isa, MatrixView{q.data(), nq, dim}, MatrixView{t.data(), n, dim}, 4, nullptr,
                      true));
  }
}

}  // namespace
}  // namespace simile
