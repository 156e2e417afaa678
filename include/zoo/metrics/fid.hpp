// zoo/metrics/fid.hpp — Fréchet distance between Gaussian fits of two feature
// sets (FID, Heusel et al. 2017), on the features of any classifier.
//
//   FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½
//
// μ, Σ: the mean and the unbiased covariance (np.cov's ddof = 1) of (N, F)
// features, in double. tr (Σ₁Σ₂)^½ equals tr (Σ₁^½ Σ₂ Σ₁^½)^½, and the latter's
// argument is symmetric positive semi-definite, so both square roots come from
// Eigen's SelfAdjointEigenSolver with tiny negative eigenvalues (round-off)
// clamped to 0: no complex parts to drop, as scipy.linalg.sqrtm's route has,
// and singular covariances (dead ReLU features) are fine.
#pragma once
#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "../core/tensor.hpp"

namespace zoo::metrics {

struct GaussianFit {
  Eigen::VectorXd mean;  // (F)
  Eigen::MatrixXd cov;   // (F, F)
  std::size_t count = 0;
};

// Mean and unbiased covariance of n rows of f features (row-major).
template <class T>
GaussianFit fit_gaussian(const T* x, std::size_t n, std::size_t f) {
  if (n < 2 || f == 0)
    throw std::invalid_argument("zoo::metrics::fit_gaussian: need at least 2 samples of >= 1 feature (got " +
                                std::to_string(n) + " x " + std::to_string(f) + ")");
  Eigen::MatrixXd m(n, f);  // (N, F)
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < f; ++j) m(i, j) = static_cast<double>(x[i * f + j]);
  GaussianFit g;
  g.count = n;
  g.mean = m.colwise().mean().transpose();
  m.rowwise() -= g.mean.transpose();
  g.cov = (m.transpose() * m) / static_cast<double>(n - 1);
  return g;
}
template <class T>
GaussianFit fit_gaussian(const Tensor<T>& features) {
  return fit_gaussian(features.data(), features.batch(), features.sample_size());
}

// Symmetric PSD square root: V diag(√max(λ, 0)) Vᵀ.
inline Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
  if (es.info() != Eigen::Success)
    throw std::runtime_error("zoo::metrics::sqrtm_psd: the eigensolver did not converge");
  const Eigen::VectorXd s = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * s.asDiagonal() * es.eigenvectors().transpose();
}

// tr (Σ₁ Σ₂)^½ for symmetric PSD Σ₁, Σ₂.
inline double trace_sqrt_product(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
  const Eigen::MatrixXd r = sqrtm_psd(s1);
  Eigen::MatrixXd m = r * s2 * r;
  m = 0.5 * (m + m.transpose());  // exact symmetry for the solver
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(m, Eigen::EigenvaluesOnly);
  if (es.info() != Eigen::Success)
    throw std::runtime_error("zoo::metrics::trace_sqrt_product: the eigensolver did not converge");
  return es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
}

// The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂); ≥ 0 (round-off below 0 is clamped).
inline double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1,
                               const Eigen::VectorXd& mu2, const Eigen::MatrixXd& s2) {
  const auto f = mu1.size();
  if (mu2.size() != f || s1.rows() != f || s1.cols() != f || s2.rows() != f || s2.cols() != f)
    throw std::invalid_argument("zoo::metrics::frechet_distance: the two Gaussians have different "
                                "dimensions (" + std::to_string(f) + " and " +
                                std::to_string(mu2.size()) + ")");
  const double d = (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() -
                   2.0 * trace_sqrt_product(s1, s2);
  return std::max(d, 0.0);
}
inline double frechet_distance(const GaussianFit& a, const GaussianFit& b) {
  return frechet_distance(a.mean, a.cov, b.mean, b.cov);
}

// FID between two feature sets (N₁, F) and (N₂, F).
template <class T>
double fid(const Tensor<T>& features_a, const Tensor<T>& features_b) {
  if (features_a.sample_size() != features_b.sample_size())
    throw std::invalid_argument("zoo::metrics::fid: feature sets of different widths " +
                                features_a.shape_str() + " and " + features_b.shape_str());
  return frechet_distance(fit_gaussian(features_a), fit_gaussian(features_b));
}

}  // namespace zoo::metrics
