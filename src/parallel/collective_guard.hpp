// Turns a failure on some ranks into the same error on every rank, so that no rank is left
// waiting in a collective (docs/design.md).
#pragma once

#include <string>
#include <utility>

#include <mpi.h>

#include "core/error.hpp"

namespace zoptimus {

// An Error every rank of a communicator agreed on: printed once by the caller.
class AgreedError : public Error {
 public:
  AgreedError(const std::string& message, int first_failing_rank, int failing_ranks, int comm_size)
      : Error(message),
        first_failing_rank_(first_failing_rank),
        failing_ranks_(failing_ranks),
        comm_size_(comm_size) {}
  int first_failing_rank() const { return first_failing_rank_; }
  int failing_ranks() const { return failing_ranks_; }
  bool all_ranks_failed() const { return failing_ranks_ == comm_size_; }

 private:
  int first_failing_rank_, failing_ranks_, comm_size_;
};

namespace detail {
// Collective: every rank calls it with its own outcome; throws AgreedError on every rank if
// any rank failed (the message is the lowest failing rank's).
void agree_on_failure(MPI_Comm comm, bool failed, const std::string& message);
}  // namespace detail

// Runs fn on every rank of comm. If it throws on any rank, every rank throws AgreedError.
// All ranks must call this (it contains collectives), so use it for phases every rank
// goes through: reading the deck, building the mesh, opening files.
template <class Fn>
auto run_collectively(MPI_Comm comm, Fn&& fn) -> decltype(fn()) {
  bool failed = false;
  std::string message;
  if constexpr (std::is_void_v<decltype(fn())>) {
    try {
      fn();
    } catch (const std::exception& e) {
      failed = true;
      message = e.what();
    }
    detail::agree_on_failure(comm, failed, message);
  } else {
    decltype(fn()) result{};
    try {
      result = fn();
    } catch (const std::exception& e) {
      failed = true;
      message = e.what();
    }
    detail::agree_on_failure(comm, failed, message);
    return result;
  }
}

}  // namespace zoptimus

namespace zoptimus {

// For a failure every rank of comm reaches deterministically (same inputs, same branch):
// throws AgreedError without communicating.
[[noreturn]] inline void fail_on_all_ranks(MPI_Comm comm, const std::string& message) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  throw AgreedError(message, 0, size, size);
}

}  // namespace zoptimus
