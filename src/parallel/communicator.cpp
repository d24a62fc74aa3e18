// Owned MPI communicators.
#include "parallel/communicator.hpp"

#include <utility>

namespace zoptimus {

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {}

Communicator::~Communicator() {
  release();
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
  }
  return *this;
}

Communicator Communicator::duplicate(MPI_Comm comm) {
  MPI_Comm out;
  MPI_Comm_dup(comm, &out);
  return Communicator(out);
}

Communicator Communicator::split(MPI_Comm comm, int color, int key) {
  MPI_Comm out;
  MPI_Comm_split(comm, color, key, &out);
  return Communicator(out);
}

int comm_rank(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

int comm_size(MPI_Comm comm) {
  int s = 1;
  MPI_Comm_size(comm, &s);
  return s;
}

int Communicator::rank() const {
  return comm_rank(comm_);
}

int Communicator::size() const {
  return comm_size(comm_);
}

void Communicator::release() {
  if (comm_ == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
}

}  // namespace zoptimus
