// zoo/distributed.hpp — data-parallel training on several processes, over MPI.
//
//   auto& world = zoo::distributed::init(argc, argv);  // MPI under mpirun/srun, else one process
//   world.check_same("seed", seed);                    // ranks that disagree stop, saying so
//   zoo::distributed::replicate(world, model);         // rank 0's parameters and buffers everywhere
//   zoo::data::DataLoader dl(train, {.batch_size = 256, .rank = world.rank(), .world = world.size()});
//   for (dl.start_epoch(e); dl.next(b);) {
//     world.begin_step(b.size());                      // this rank's share of the global batch
//     model.zero_grad(); /* forward, loss, backward */
//     zoo::distributed::reduce(world, model);          // gradients: Σ_r (n_r/G)·∇_r; buffers: mean
//     opt.step();                                      // the same update on every rank
//   }
//   if (world.is_root()) save_checkpoint(...);
//
// The batch size is the global one: K processes split each batch of the one-process run,
// so a run's arithmetic does not depend on K (up to the order of float sums) and its
// hyperparameters carry over. Every rank applies the same averaged gradient to the same
// parameters, so the replicas stay equal without further traffic.
//
// MPI is optional. It is used when the build defines ZOO_WITH_MPI (CMake's zoo::mpi
// target does) and the process was started by a launcher (mpirun, mpiexec, srun); other
// runs are one process of a world of one, where every call here costs nothing.
// A rank that fails calls `fail`: it prints its message and MPI_Abort ends every rank, so
// no process waits forever in a collective for a peer that is gone.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

// Only core/collective.hpp: zoo/cuda/nccl.hpp builds on this header with nothing but the
// CUDA toolkit and a C++ compiler (no Eigen or xsimd on a bare GPU machine).
#include "core/collective.hpp"

#if defined(ZOO_WITH_MPI)
#include <mpi.h>
#endif

namespace zoo::distributed {

// Whether a launcher started this process (and so expects it to join a world).
inline bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "ZOO_MPI"})
    if (const char* s = std::getenv(v); s && *s) return true;
  return false;
}

class World : public Collective {
 public:
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool uses_mpi() const { return mpi_; }

  // Large all-reduces go in pieces of this many values (0: one call). Pieces let MPI
  // pipeline a long buffer; docs/distributed.md has what each size measured.
  std::size_t bucket_values = 0;

  void allreduce_sum(float* v, std::size_t n) override { reduce_impl(v, n); }
  void allreduce_sum(double* v, std::size_t n) override { reduce_impl(v, n); }
  using Collective::allreduce_sum;
  void broadcast(float* v, std::size_t n, int root) override { bcast_impl(v, n, root); }
  void broadcast(double* v, std::size_t n, int root) override { bcast_impl(v, n, root); }
  void allgather(std::uint64_t mine, std::uint64_t* all) override {
#if defined(ZOO_WITH_MPI)
    if (mpi_) {
      check(MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD),
            "MPI_Allgather");
      return;
    }
#endif
    all[0] = mine;
  }

  // A scalar summed over ranks (a metric's numerator or count).
  double sum(double v) {
    allreduce_sum(&v, 1);
    return v;
  }
  // Σ v_r·w_r / Σ w_r: a metric averaged with each rank's sample count as its weight.
  double mean(double v, double w) {
    double s[2] = {v * w, w};
    allreduce_sum(s, 2);
    return s[1] > 0 ? s[0] / s[1] : 0.0;
  }

  // Every rank must hold the same value (a seed, a batch size, a model's hash); otherwise
  // every rank throws the same message, naming the value and the ranks that differ.
  void check_same(const std::string& what, std::uint64_t value) {
    if (size_ == 1) return;
    std::vector<std::uint64_t> all(static_cast<std::size_t>(size_));
    allgather(value, all.data());
    for (int r = 1; r < size_; ++r)
      if (all[static_cast<std::size_t>(r)] != all[0])
        throw std::runtime_error("zoo::distributed: the ranks disagree on " + what + ": rank 0 has " +
                                 std::to_string(all[0]) + ", rank " + std::to_string(r) + " has " +
                                 std::to_string(all[static_cast<std::size_t>(r)]));
  }

  void barrier() {
#if defined(ZOO_WITH_MPI)
    if (mpi_) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
  }

  // Ends the job from one rank: the message on stderr (prefixed with the rank), then
  // MPI_Abort, which takes down every process of the world. A world of one only prints
  // nothing and returns: the caller goes on to exit with its own code.
  void fail(const std::string& message, int code = 1) {
#if defined(ZOO_WITH_MPI)
    if (mpi_ && size_ > 1) {
      std::fprintf(stderr, "rank %d of %d: %s\n", rank_, size_, message.c_str());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)message, (void)code;
  }

  World(const World&) = delete;
  World& operator=(const World&) = delete;
  ~World() override {
#if defined(ZOO_WITH_MPI)
    int done = 0;
    if (mpi_ && MPI_Finalized(&done) == MPI_SUCCESS && !done) MPI_Finalize();
#endif
  }

 private:
  friend World& init(int& argc, char**& argv);
  World(int& argc, char**& argv) {
#if defined(ZOO_WITH_MPI)
    if (launched()) {
      int provided = 0;
      // FUNNELED: only the main thread calls MPI; OpenMP threads compute between calls.
      check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      mpi_ = true;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &size_);
      // An exception nobody catches ends the whole job, not one rank: the others would
      // wait in their next collective for ever.
      std::set_terminate([] {
        std::string what = "terminate called";
        if (auto e = std::current_exception()) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            what = x.what();
          } catch (...) {
          }
        }
        int r = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        std::fprintf(stderr, "rank %d: %s\n", r, what.c_str());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
        std::abort();
      });
    }
#endif
    (void)argc, (void)argv;
  }

#if defined(ZOO_WITH_MPI)
  static void check(int status, const char* call) {
    if (status == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(status, text, &len);
    throw std::runtime_error(std::string("zoo::distributed: ") + call + " failed: " +
                             std::string(text, static_cast<std::size_t>(len)));
  }
  template <class T>
  static MPI_Datatype type() {
    if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
    else return MPI_DOUBLE;
  }
#endif
  template <class T>
  void reduce_impl(T* v, std::size_t n) {
#if defined(ZOO_WITH_MPI)
    if (!mpi_ || size_ == 1) return;
    const std::size_t step = bucket_values ? bucket_values : std::size_t{1} << 30;
    for (std::size_t i = 0; i < n; i += step)
      check(MPI_Allreduce(MPI_IN_PLACE, v + i, static_cast<int>(std::min(step, n - i)), type<T>(),
                          MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
#else
    (void)v, (void)n;
#endif
  }
  template <class T>
  void bcast_impl(T* v, std::size_t n, int root) {
#if defined(ZOO_WITH_MPI)
    if (!mpi_ || size_ == 1) return;
    const std::size_t step = std::size_t{1} << 30;
    for (std::size_t i = 0; i < n; i += step)
      check(MPI_Bcast(v + i, static_cast<int>(std::min(step, n - i)), type<T>(), root, MPI_COMM_WORLD),
            "MPI_Bcast");
#else
    (void)v, (void)n, (void)root;
#endif
  }

  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// The process's world, made on the first call: it joins MPI when the build has it and a
// launcher started the process. Later calls return the same world.
inline World& init(int& argc, char**& argv) {
  static World w(argc, argv);
  return w;
}

// An FNV-1a hash of a type's name: equal programs give equal hashes on every rank.
template <class M>
std::uint64_t type_hash() {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* p = typeid(M).name(); *p; ++p) h = (h ^ static_cast<unsigned char>(*p)) * 0x100000001b3ULL;
  return h;
}

// Makes every rank's model rank 0's: checks that all ranks built the same model type
// (a hash of its type and its parameter count), then broadcasts parameters and buffers.
// The noise stream (a VAE's ε) is reseeded per rank, so ranks draw different noise.
// `sync_batch_norm`: BatchNorm statistics over the global batch (see batch_norm.hpp).
template <class M>
void replicate(World& w, M& m, bool sync_batch_norm = false) {
  w.check_same("the model type (a hash of its name)", type_hash<M>());
  w.check_same("the number of parameters", M::num_params);
  w.check_same("the number of buffers", M::num_buffers);
  auto p = m.parameters();
  w.broadcast(p.data, p.size, 0);
  w.broadcast(m.buffer_data(), m.buffer_size(), 0);
  Collective* sync = sync_batch_norm ? static_cast<Collective*>(&w) : nullptr;
  if constexpr (requires { m.net().bind_sync(sync); }) m.net().bind_sync(sync);
  if (w.size() > 1) {
    using R = std::remove_reference_t<decltype(m.noise_rng())>;
    m.noise_rng() = R(m.noise_rng().next_u64() + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(w.rank()));
  }
}

// After backward: every rank's gradients become the global batch's (weighted by each
// rank's share, set by begin_step), and the running statistics their mean over ranks.
template <class M>
void reduce(World& w, M& m) {
  reduce_model(static_cast<Collective*>(&w), m);
}

}  // namespace zoo::distributed
