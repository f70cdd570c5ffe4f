// Reading samples back out of exposition text, for tests.
#ifndef SIMILE_TESTS_SERVER_METRICS_TEXT_H_
#define SIMILE_TESTS_SERVER_METRICS_TEXT_H_

#include <optional>
#include <sstream>
#include <string>

namespace simile::testing {

// The value of the sample whose series (name and labels, exactly as rendered) is `series`, or nullopt.
inline std::optional<double> SampleValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace simile::testing

#endif  // SIMILE_TESTS_SERVER_METRICS_TEXT_H_
