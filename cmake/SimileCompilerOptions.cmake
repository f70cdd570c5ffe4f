# Warning and sanitizer flags shared by every simile target (applied through simile_compile_options()).
add_library(simile_compile_options INTERFACE)
target_compile_options(simile_compile_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-unused-parameter>)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # Checks every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation at compile time.
  target_compile_options(simile_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wthread-safety>)
endif()
if(SIMILE_WERROR)
  target_compile_options(simile_compile_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
endif()

if(SIMILE_SANITIZE STREQUAL "address")
  set(_simile_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(SIMILE_SANITIZE STREQUAL "thread")
  set(_simile_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT SIMILE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SIMILE_SANITIZE must be '', 'address' or 'thread', not '${SIMILE_SANITIZE}'")
endif()
if(_simile_san)
  # Applied globally so that every object, generated protobuf code included, is instrumented.
  # Quoted: unquoted, the list would be split inside the generator expression.
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${_simile_san}>")
  add_link_options(${_simile_san})
endif()
