// examples/ranks.hpp — what the example trainers share to run under `mpirun -np K`
// unchanged (zoo/distributed.hpp; docs/distributed.md).
//
// Every rank runs the whole program. What differs by rank:
//   * the data: each rank's DataLoader takes its share of every global batch
//     (`.rank = ranks::rank(), .world = ranks::size()`); --batch stays the global batch;
//   * the files: only rank 0 writes (checkpoints, pictures, CSVs) — `if (ranks::root())`;
//     every rank reads (--resume, --load: a file system all ranks see);
//   * the terminal: ranks other than 0 print nothing — init() sends their stdout to
//     /dev/null and their progress bars go to `ranks::bars()`; errors still reach stderr.
// What is the same: the parameters (replicate() after any checkpoint is loaded), each
// step's reduced gradients (the step helpers' `comm`), and the losses a trainer checks
// and reports (`ranks::mean`), so a diverging run stops on every rank at the same step.
//
//   int main(int argc, char** argv) {
//     auto& world = ranks::init(argc, argv);
//     try { ... } catch (const guard::Diverged& e) { return ranks::diverged(e); }
//     catch (const std::exception& e) { return ranks::failed("prog", e); }
//   }
#pragma once
#include <cstdio>
#include <exception>
#include <string>

#include <zoo/distributed.hpp>

#include "guard.hpp"

namespace ranks {

inline zoo::distributed::World*& world_ptr() {
  static zoo::distributed::World* w = nullptr;
  return w;
}

inline zoo::distributed::World& init(int& argc, char**& argv) {
  auto& w = zoo::distributed::init(argc, argv);
  world_ptr() = &w;
  if (!w.is_root()) {
    if (!std::freopen("/dev/null", "w", stdout)) std::fclose(stdout);
  }
  return w;
}
inline zoo::distributed::World& world() { return *world_ptr(); }
inline bool root() { return !world_ptr() || world_ptr()->is_root(); }
inline int rank() { return world_ptr() ? world_ptr()->rank() : 0; }
inline int size() { return world_ptr() ? world_ptr()->size() : 1; }
// The process group for the step helpers and trainers (`comm`): null in a world of one,
// so a one-process run takes exactly the code path it took before MPI.
inline zoo::Collective* comm() { return size() > 1 ? world_ptr() : nullptr; }

// Where progress bars draw: stderr on rank 0, nowhere on the others.
inline std::FILE* bars() {
  static std::FILE* null = std::fopen("/dev/null", "w");
  return root() || !null ? stderr : null;
}

// A value averaged over ranks, each weighted by its sample count (a loss, a metric).
inline double mean(double v, double weight) { return size() > 1 ? world().mean(v, weight) : v; }

// main's handlers. A divergence is seen by every rank at once (the losses were reduced),
// so each returns guard::exit_code and rank 0 prints the line. Any other failure may be
// one rank's: it prints its message and, with K > 1, MPI_Abort ends the whole job.
inline int diverged(const guard::Diverged& e) {
  if (root()) return guard::report(e);
  return guard::exit_code;
}
inline int failed(const std::string& prog, const std::exception& e) {
  const std::string msg = prog + ": " + e.what();
  if (size() > 1) world().fail(msg);
  std::fprintf(stderr, "%s\n", msg.c_str());
  return 1;
}

}  // namespace ranks
