// Tests of client/npy.h: round trips, numpy's header variants, float64 conversion, and every
// refusal with its message. Expected bytes are built by hand here (not by EncodeNpy), so reader and
// writer are checked against the format, not against each other.
#include "client/npy.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace simile::client {
namespace {

// A .npy file: magic, version, little-endian header length (2 bytes for 1.0, 4 for 2.0/3.0), the
// header text, then `data`.
std::string NpyBytes(const std::string& header, const std::string& data, int major = 1) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Header(const std::string& descr, const std::string& shape,
                   const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

// The message of ParseNpy's error, or "OK".
std::string ErrorOf(const std::string& bytes) {
  absl::StatusOr<NpyMatrix> m = ParseNpy(bytes);
  if (m.ok()) {
    return "OK";
  }
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(m.status().message());
}

std::filesystem::path TempPath(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("simile_npy_test_" + std::to_string(::getpid()) + "_" + name);
}

const std::vector<float> kSix = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, 7.0f};

TEST_CASE("npy: EncodeNpy writes a 1.0 header padded to 64 bytes that ParseNpy reads back",
          "[client][npy]") {
  const std::string bytes = EncodeNpy(kSix, 2, 3);
  REQUIRE(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_length =
      static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
  CHECK((10 + header_length) % 64 == 0);
  CHECK(bytes[10 + header_length - 1] == '\n');
  CHECK(bytes.substr(10, header_length)
            .find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") == 0);
  CHECK(bytes.size() == 10 + header_length + size_t{6} * 4);

  absl::StatusOr<NpyMatrix> m = ParseNpy(bytes);
  REQUIRE(m.ok());
  CHECK(m->rows == 2);
  CHECK(m->cols == 3);
  CHECK(m->data == kSix);
}

TEST_CASE("npy: WriteNpy then ReadNpy round-trips through a file", "[client][npy]") {
  const std::filesystem::path path = TempPath("round_trip.npy");
  REQUIRE(WriteNpy(path.string(), kSix, 3, 2).ok());
  absl::StatusOr<NpyMatrix> m = ReadNpy(path.string());
  REQUIRE(m.ok());
  CHECK(m->rows == 3);
  CHECK(m->cols == 2);
  CHECK(m->data == kSix);
  std::filesystem::remove(path);
}

TEST_CASE("npy: int64 output carries descr '<i8' and the values' bytes", "[client][npy]") {
  const std::vector<int64_t> values = {0, 1, 4294967295LL, 7};
  const std::string bytes = EncodeNpy(absl::Span<const int64_t>(values), 2, 2);
  CHECK(bytes.find("'descr': '<i8'") != std::string::npos);
  CHECK(bytes.substr(bytes.size() - 32) == Bytes(values));
  // Our reader reads floats only.
  CHECK(ErrorOf(bytes).find("unsupported dtype '<i8'") == 0);
}

TEST_CASE("npy: format 2.0 and 3.0 headers are read", "[client][npy]") {
  for (int major : {2, 3}) {
    absl::StatusOr<NpyMatrix> m = ParseNpy(NpyBytes(Header("<f4", "(3, 2)"), Bytes(kSix), major));
    REQUIRE(m.ok());
    CHECK(m->rows == 3);
    CHECK(m->data == kSix);
  }
}

TEST_CASE("npy: header variants numpy and Python 2 wrote are accepted", "[client][npy]") {
  // Keys in another order, double quotes, no trailing comma, Python 2 long integers.
  const std::string header =
      "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}   \n";
  absl::StatusOr<NpyMatrix> m = ParseNpy(NpyBytes(header, Bytes(kSix)));
  REQUIRE(m.ok());
  CHECK(m->rows == 2);
  CHECK(m->cols == 3);
}

TEST_CASE("npy: a 1-D array reads as one row", "[client][npy]") {
  absl::StatusOr<NpyMatrix> m = ParseNpy(NpyBytes(Header("<f4", "(6,)"), Bytes(kSix)));
  REQUIRE(m.ok());
  CHECK(m->rows == 1);
  CHECK(m->cols == 6);
}

TEST_CASE("npy: float64 is converted to the nearest float32", "[client][npy]") {
  const std::vector<double> values = {0.1, -1.0 / 3.0, 1e-300, 3.4e38};
  absl::StatusOr<NpyMatrix> m = ParseNpy(NpyBytes(Header("<f8", "(2, 2)"), Bytes(values)));
  REQUIRE(m.ok());
  REQUIRE(m->data.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(m->data[i] == static_cast<float>(values[i]));
  }
}

TEST_CASE("npy: float64 files are also read through the streaming file path", "[client][npy]") {
  std::vector<double> values(200000);  // More than one 64 Ki-value chunk.
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<double>(i) / 7.0;
  }
  const std::filesystem::path path = TempPath("f8.npy");
  std::ofstream(path, std::ios::binary) << NpyBytes(Header("<f8", "(1000, 200)"), Bytes(values));
  absl::StatusOr<NpyMatrix> m = ReadNpy(path.string());
  std::filesystem::remove(path);
  REQUIRE(m.ok());
  CHECK(m->rows == 1000);
  CHECK(m->data[123457] == static_cast<float>(values[123457]));
  CHECK(m->data.back() == static_cast<float>(values.back()));
}

TEST_CASE("npy: float64 values beyond float32's range are refused with their position",
          "[client][npy]") {
  const std::vector<double> values = {1.0, 2.0, 3.0, 1e39};
  CHECK(ErrorOf(NpyBytes(Header("<f8", "(2, 2)"), Bytes(values))) ==
        "value 1e+39 at row 1, column 1 is beyond float32's range");
}

TEST_CASE("npy: every malformed file is refused with a message saying why", "[client][npy]") {
  const std::string data = Bytes(kSix);
  SECTION("bad magic") {
    CHECK(ErrorOf("PK\x03\x04 not numpy at all") ==
          "not a .npy file: it does not start with the magic \"\\x93NUMPY\"");
    CHECK(ErrorOf("").find("not a .npy file") == 0);
  }
  SECTION("unknown version") {
    std::string bytes = NpyBytes(Header("<f4", "(2, 3)"), data);
    bytes[6] = 4;
    CHECK(ErrorOf(bytes) == "unsupported .npy format version 4.0 (1.0, 2.0 and 3.0 are read)");
  }
  SECTION("truncated preamble and header") {
    CHECK(ErrorOf(std::string("\x93NUMPY\x01", 7)) ==
          "truncated .npy file: it ends inside the format version");
    CHECK(ErrorOf(std::string("\x93NUMPY\x01\x00\x10", 9)) ==
          "truncated .npy file: it ends inside the header length");
    const std::string bytes = NpyBytes(Header("<f4", "(2, 3)"), "");
    CHECK(ErrorOf(bytes.substr(0, 30)) == "truncated .npy file: it ends inside the header");
  }
  SECTION("fortran order") {
    CHECK(ErrorOf(NpyBytes(Header("<f4", "(2, 3)", "True"), data)) ==
          "fortran_order is True: save a C-ordered array (numpy.ascontiguousarray(a))");
  }
  SECTION("other dtypes and byte orders") {
    for (const char* descr : {">f4", "<i4", "<f2", "|u1", "<c8"}) {
      CHECK(ErrorOf(NpyBytes(Header(descr, "(2, 3)"), data)) ==
            std::string("unsupported dtype '") + descr +
                "': expected little-endian float32 ('<f4') or float64 ('<f8'); convert with "
                "a.astype('<f4')");
    }
    const std::string structured =
        "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (6,), }\n";
    CHECK(ErrorOf(NpyBytes(structured, data)).find("unsupported dtype") == 0);
  }
  SECTION("shapes that are not a matrix") {
    CHECK(ErrorOf(NpyBytes(Header("<f4", "(1, 2, 3)"), data)) ==
          "unsupported shape (1, 2, 3): expected a 2-D array (rows, dim) or a 1-D vector");
    CHECK(ErrorOf(NpyBytes(Header("<f4", "()"), Bytes(std::vector<float>{1}))) ==
          "unsupported shape (): expected a 2-D array (rows, dim) or a 1-D vector");
    CHECK(ErrorOf(NpyBytes(Header("<f4", "(4294967296, 1)"), data)) ==
          "shape (4294967296, 1) is too large");
    CHECK(ErrorOf(NpyBytes(Header("<f8", "(4294967295, 4294967295)"), data)) ==
          "shape (4294967295, 4294967295) is too large");
  }
  SECTION("truncated data") {
    CHECK(ErrorOf(NpyBytes(Header("<f4", "(2, 3)"), data.substr(0, 20))) ==
          "truncated .npy data: shape (2, 3) of '<f4' needs 24 bytes after the header, the file "
          "has 20");
    CHECK(
        ErrorOf(NpyBytes(Header("<f4", "(4294967295, 1000)"), data)).find("truncated .npy data") ==
        0);
  }
  SECTION("trailing data") {
    CHECK(ErrorOf(NpyBytes(Header("<f4", "(2, 3)"), data + "xyz")) ==
          "3 unexpected bytes after the data of shape (2, 3) of '<f4'");
  }
  SECTION("headers that are not numpy's dict") {
    const auto error = [&](const std::string& header) { return ErrorOf(NpyBytes(header, data)); };
    CHECK(error("['descr', '<f4']\n").find("malformed .npy header: expected '{' in") == 0);
    CHECK(error("{'descr': '<f4', 'shape': (2, 3)}\n") ==
          "malformed .npy header: it must hold 'descr', 'fortran_order' and 'shape' in "
          "\"{'descr': '<f4', 'shape': (2, 3)}\"");
    CHECK(error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}\n")
              .find("malformed .npy header: unexpected key 'extra'") == 0);
    CHECK(error("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}\n")
              .find("malformed .npy header: fortran_order must be True or False") == 0);
    CHECK(error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}\n")
              .find("malformed .npy header: shape must be a tuple of non-negative integers") == 0);
    CHECK(error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk\n")
              .find("malformed .npy header: text after the closing '}'") == 0);
    CHECK(error("{'descr': '<f4' 'fortran_order': False}\n")
              .find("malformed .npy header: expected ',' or '}'") == 0);
  }
}

TEST_CASE("npy: ReadNpy names the file in its errors", "[client][npy]") {
  absl::StatusOr<NpyMatrix> missing = ReadNpy("/nonexistent/dir/q.npy");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(missing.status().message() ==
        "cannot open /nonexistent/dir/q.npy: No such file or directory");

  const std::filesystem::path path = TempPath("short.npy");
  std::ofstream(path, std::ios::binary)
      << NpyBytes(Header("<f4", "(2, 3)"), Bytes(kSix).substr(0, 8));
  absl::StatusOr<NpyMatrix> truncated = ReadNpy(path.string());
  std::filesystem::remove(path);
  CHECK(truncated.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      truncated.status().message() ==
      path.string() +
          ": truncated .npy data: shape (2, 3) of '<f4' needs 24 bytes after the header, the file "
          "has 8");
}

TEST_CASE("npy: WriteNpy reports shape mismatches and unwritable paths", "[client][npy]") {
  CHECK(WriteNpy("/tmp/unused.npy", kSix, 4, 2).code() == absl::StatusCode::kInvalidArgument);
  const absl::Status s = WriteNpy("/nonexistent/dir/out.npy", kSix, 2, 3);
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK(s.message() == "cannot create /nonexistent/dir/out.npy: No such file or directory");
}

// numpy itself as the independent reference, where Debian's python3-numpy is installed.
TEST_CASE("npy: numpy.load reads what we write and we read what numpy.save writes",
          "[client][npy]") {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): std::system from the one test thread.
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  const std::filesystem::path ours = TempPath("ours.npy");
  const std::filesystem::path theirs = TempPath("theirs.npy");
  REQUIRE(WriteNpy(ours.string(), kSix, 2, 3).ok());
  const std::string script =
      "import numpy as np, sys\n"
      "a = np.load(sys.argv[1])\n"
      "assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n"
      "assert a.tolist() == np.array([1.0, -2.5, 3.25, 0.0, 1e-30, 7.0], np.float32).reshape(2, "
      "3).tolist()\n"
      "np.save(sys.argv[2], np.arange(12, dtype=np.float64).reshape(4, 3) / 8)\n";
  const std::filesystem::path script_path = TempPath("check.py");
  std::ofstream(script_path) << script;
  const int rc = std::system(  // NOLINT(concurrency-mt-unsafe)
      ("/usr/bin/python3 " + script_path.string() + " " + ours.string() + " " + theirs.string())
          .c_str());
  CHECK(rc == 0);
  absl::StatusOr<NpyMatrix> m = ReadNpy(theirs.string());
  REQUIRE(m.ok());
  CHECK(m->rows == 4);
  CHECK(m->cols == 3);
  CHECK(m->data[11] == 11.0f / 8);
  for (const auto& p : {ours, theirs, script_path}) {
    std::filesystem::remove(p);
  }
}

}  // namespace
}  // namespace simile::client
