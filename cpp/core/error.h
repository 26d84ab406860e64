#pragma once
// Every failure the runtime reports carries a stable code; the N-API layer turns it into a JS
// error with that code, so a bad file or a failed allocation never aborts the Node process.
#include <stdexcept>
#include <string>

namespace wan {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw Error(code, message); }

// Internal invariant: a violated one is our bug, still reported as an error, never an abort.
#define WAN_CHECK(cond, msg)                                                              \
  do {                                                                                    \
    if (!(cond)) ::wan::fail("E_NATIVE", std::string("internal check failed: ") + (msg)); \
  } while (0)

}  // namespace wan
