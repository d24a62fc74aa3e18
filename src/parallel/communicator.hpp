// Communicator: an owned MPI communicator (freed by its owner), move-only.
#pragma once

#include <mpi.h>

namespace zoptimus {

// This process's rank in comm, and comm's size.
int comm_rank(MPI_Comm comm);
int comm_size(MPI_Comm comm);

class Communicator {
 public:
  Communicator() = default;
  // Takes ownership of comm (which must have been created by a Comm_dup/split/create).
  explicit Communicator(MPI_Comm comm);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // Duplicates comm; the result is owned and freed independently.
  static Communicator duplicate(MPI_Comm comm);
  // Ranks with the same color form one communicator, ordered by key.
  static Communicator split(MPI_Comm comm, int color, int key);

  MPI_Comm get() const { return comm_; }
  operator MPI_Comm() const { return comm_; }
  int rank() const;
  int size() const;

 private:
  void release();
  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace zoptimus
