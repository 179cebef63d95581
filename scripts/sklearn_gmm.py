#!/usr/bin/env python3
"""Fits scikit-learn's diagonal GaussianMixture to step vectors exported by Reparo, for comparison with Reparo's EM.

Usage: python3 scripts/sklearn_gmm.py VECTORS.npy K [SEED] [MAX_ITER] [TOL] [N_INIT]
Prints one JSON line: {"k", "n", "d", "n_init", "time_s", "iterations", "converged", "bic", "mean_log_likelihood"}.
The settings mirror Reparo's defaults: k-means++ start, reg_covar 1e-6, tol 1e-3, max_iter 100, one initialisation
(N_INIT starts keep the best, as Reparo's Restarts).
"""
import json
import sys
import time

import numpy as np
from sklearn.mixture import GaussianMixture


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    x = np.load(sys.argv[1])
    k = int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    max_iter = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    tol = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-3
    n_init = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    gmm = GaussianMixture(n_components=k, covariance_type="diag", init_params="k-means++", reg_covar=1e-6,
                          tol=tol, max_iter=max_iter, n_init=n_init, random_state=seed)
    start = time.perf_counter()
    gmm.fit(x)
    elapsed = time.perf_counter() - start
    print(json.dumps({"k": k, "n": int(x.shape[0]), "d": int(x.shape[1]), "n_init": n_init, "time_s": elapsed,
                      "iterations": int(gmm.n_iter_), "converged": bool(gmm.converged_),
                      "bic": float(gmm.bic(x)), "mean_log_likelihood": float(gmm.score(x))}))


if __name__ == "__main__":
    main()
