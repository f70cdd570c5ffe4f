// The one Catch2 main of every simile test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
