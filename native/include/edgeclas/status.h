// Status: errors travel as values, so no helper ever calls exit() or throws for a user mistake.
#pragma once

#include <string>
#include <utility>

namespace edgeclas {

class Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

}  // namespace edgeclas

#define EDGECLAS_RETURN_IF_ERROR(expr)        \
  do {                                        \
    ::edgeclas::Status _st = (expr);          \
    if (!_st.ok()) return _st;                \
  } while (0)
