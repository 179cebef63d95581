#!/usr/bin/env python3
"""Fits scikit-learn's diagonal GaussianMixture to step vectors exported by Reparo, for comparison with Reparo's EM.

Usage: python3 scripts/sklearn_gmm.py VECTORS.npy K [SEED] [MAX_ITER] [TOL] [N_INIT]
Prints one JSON line: {"k", "n", "d", "n_init", "failed_starts", "failure", "time_s", "iterations", "converged", "bic",
"mean_log_likelihood"}. The settings mirror Reparo's defaults: k-means++ start, reg_covar 1e-6, tol 1e-3, max_iter 100,
one initialisation. N_INIT starts run as Reparo's Restarts do: one fit per seed SEED, SEED + 1, ..., the one with the
highest mean log-likelihood kept, all of them timed. (scikit-learn's own n_init draws its starts from one random state
and gives up on every start when one collapses with an ill-defined covariance; here such a start is counted in
failed_starts, its message in failure, and the others are kept. The run fails only when every start does.)
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
    best, best_score, failed, failure = None, -np.inf, 0, None
    start = time.perf_counter()
    for i in range(n_init):
        gmm = GaussianMixture(n_components=k, covariance_type="diag", init_params="k-means++", reg_covar=1e-6,
                              tol=tol, max_iter=max_iter, n_init=1, random_state=seed + i)
        try:
            gmm.fit(x)
        except ValueError as error:
            failed, failure = failed + 1, str(error)
            continue
        score = float(gmm.score(x))
        if best is None or score > best_score:
            best, best_score = gmm, score
    elapsed = time.perf_counter() - start
    if best is None:
        sys.exit(f"every one of {n_init} start(s) failed: {failure}")
    print(json.dumps({"k": k, "n": int(x.shape[0]), "d": int(x.shape[1]), "n_init": n_init, "failed_starts": failed,
                      "failure": failure, "time_s": elapsed, "iterations": int(best.n_iter_),
                      "converged": bool(best.converged_), "bic": float(best.bic(x)), "mean_log_likelihood": best_score}))


if __name__ == "__main__":
    main()
