"""CLV model fitting speed (BG/NBD, Pareto/NBD, CLV), against lifetimes 0.11.3 on the same data.

    python bench/clv_bench.py --sizes 100000,1000000 [--skip-lifetimes] [--json out.json]

Simulates CDNOW-like customer bases (weeks; CDNOW's published parameters; 84 daily acquisition
cohorts over 12 weeks and a 39-week calibration period, so T takes 84 values and recency is
continuous) with ``guanxi.analytics.simulate``, times ``fit_bgnbd``, ``fit_pareto_nbd`` and
``clv`` (best of --repeat runs), then times lifetimes' BetaGeoFitter (at every size up to 10^6)
and ParetoNBDFitter (at 10^5 only: it takes about 9 minutes at 10^6) once each, in a subprocess
of a throwaway Python 3.11 virtualenv (created on first use under bench/out/lifetimes-venv with
lifetimes==0.11.3 numpy==1.26.4 pandas==1.5.3 scipy==1.11.4 autograd==1.6.2), on the same arrays
passed through an .npz file. Prints a table and both sets of parameters.

Targets: BG/NBD at 10^6 <= 1 s and >= 10x lifetimes; Pareto/NBD at 10^6 <= 10 s and >= 50x
lifetimes at 10^5; CLV (12 months, BG/NBD + Gamma-Gamma) at 10^6 <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchrec import Figure, backend_of, record, write
from guanxi.analytics import clv, simulate

HERE = Path(__file__).resolve().parent
VENV = HERE / "out" / "lifetimes-venv"
PINS = ["lifetimes==0.11.3", "numpy==1.26.4", "pandas==1.5.3", "scipy==1.11.4", "autograd==1.6.2"]
BG_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_PARAMS = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GG_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}
WEEKS_PER_MONTH = 30.4375 / 7
LIFETIMES_BG_MAX = 1_000_000
LIFETIMES_PARETO_SIZES = {100_000}

PEER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from lifetimes import BetaGeoFitter, ParetoNBDFitter
data = np.load(sys.argv[2])
cls = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}[sys.argv[1]]
model = cls(penalizer_coef=0.0)
start = time.perf_counter()
model.fit(data["frequency"], data["recency"], data["T"])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "params": {k: float(v) for k, v in model.params_.items()}}))
"""


def cohort_t(n: int, rng: np.random.Generator) -> np.ndarray[Any, np.dtype[np.float64]]:
    """CDNOW-like ages: first purchases on one of 84 days, observed to week 39."""
    return np.asarray(39.0 - rng.integers(0, 84, n) / 7.0, dtype=np.float64)


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (python3.11 -m venv, pip install {' '.join(PINS)}) ...")
        subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PINS],
            check=True,
        )
    return python


def try_venv() -> tuple[Path | None, str | None]:
    """The lifetimes venv's Python, or None and why it could not be made (say, offline).

    A half-made venv is removed so the next run tries again; the caller reports the peer as
    not measured rather than inventing a number.
    """
    try:
        python = ensure_venv()
        subprocess.run([str(python), "-c", "import lifetimes"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        why = f"exit {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError) else exc
        return None, f"lifetimes could not be installed: python3.11 venv + pip install ({why})"
    return python, None


def run_peer(python: Path, model: str, arrays: dict[str, Any], folder: Path) -> dict[str, Any]:
    path = folder / f"{model}-{arrays['frequency'].size}.npz"
    np.savez(path, **arrays)
    out = subprocess.run(
        [str(python), "-c", PEER, model, str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"lifetimes failed on {model}:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fmt_params(params: dict[str, float] | None) -> str:
    if not params:
        return "-"
    return " ".join(f"{k}={v:.4g}" for k, v in params.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated customers")
    parser.add_argument("--skip-lifetimes", action="store_true", help="do not time lifetimes")
    parser.add_argument("--repeat", type=int, default=3, help="guanxi runs per figure (best)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    python, why = (None, "--skip-lifetimes") if args.skip_lifetimes else try_venv()
    folder = Path(tempfile.mkdtemp(prefix="guanxi-clv-bench-"))
    rows: list[dict[str, Any]] = []
    gg = clv.GammaGammaFit.from_params(GG_PARAMS)
    for n in sizes:
        rng = np.random.default_rng(args.seed + n)
        bg_data = simulate.simulate_bgnbd(n, BG_PARAMS, cohort_t(n, rng), rng)
        pn_data = simulate.simulate_pareto_nbd(n, PARETO_PARAMS, cohort_t(n, rng), rng)
        spend = rng.gamma(GG_PARAMS["p"], 1.0 / rng.gamma(GG_PARAMS["q"], 1.0 / GG_PARAMS["v"], n))
        for model, data, fitter, peer_ok in (
            ("bgnbd", bg_data, clv.fit_bgnbd, n <= LIFETIMES_BG_MAX),
            ("pareto_nbd", pn_data, clv.fit_pareto_nbd, n in LIFETIMES_PARETO_SIZES),
        ):
            seconds, fit = best_of(args.repeat, lambda f=fitter, d=data: f(*d))  # type: ignore[misc]
            row: dict[str, Any] = {
                "model": model,
                "n": n,
                "repeat_buyers": int(np.count_nonzero(data[0])),
                "guanxi_s": seconds,
                "guanxi_params": fit.params,
                "guanxi_ll": fit.log_likelihood,
                "lifetimes_s": None,
                "lifetimes_params": None,
            }
            if python is not None and peer_ok:
                arrays = dict(zip(("frequency", "recency", "T"), data, strict=True))
                peer = run_peer(python, model, arrays, folder)
                row["lifetimes_s"] = peer["seconds"]
                row["lifetimes_params"] = peer["params"]
            rows.append(row)
            if model == "bgnbd":
                count_fit = fit
        seconds, _ = best_of(
            args.repeat,
            lambda f=count_fit, d=bg_data, m=spend: clv.clv(  # type: ignore[misc]
                f, gg, *d, m, months=12, periods_per_month=WEEKS_PER_MONTH
            ),
        )
        rows.append(
            {"model": "clv (bgnbd, 12 months)", "n": n, "guanxi_s": seconds, "lifetimes_s": None}
        )
    for row in rows:
        row["ratio"] = (
            row["lifetimes_s"] / row["guanxi_s"] if row.get("lifetimes_s") is not None else None
        )
        row["target"], row["met"] = target(row)

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.platform()}"
    )
    if python is None:
        print(f"lifetimes: NOT MEASURED ({why}): ratios and peer targets are unknown")
    head = f"{'model':<24}{'n':>10}{'guanxi s':>10}{'lifetimes s':>13}{'ratio':>9}  target"
    print(head)
    print("-" * (len(head) + 30))
    for row in rows:
        peer = "-" if row["lifetimes_s"] is None else f"{row['lifetimes_s']:.2f}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.0f}x"
        print(
            f"{row['model']:<24}{row['n']:>10,}{row['guanxi_s']:>10.3f}{peer:>13}{ratio:>9}  "
            f"{row['target']}: {row['met']}"
        )
    print()
    for row in rows:
        if "guanxi_params" in row:
            print(f"{row['model']} n={row['n']:,}")
            print(
                f"  true      {fmt_params(BG_PARAMS if row['model'] == 'bgnbd' else PARETO_PARAMS)}"
            )
            print(f"  guanxi    {fmt_params(row['guanxi_params'])}  LL={row['guanxi_ll']:.2f}")
            print(f"  lifetimes {fmt_params(row['lifetimes_params'])}")
    if args.json:
        rec = record("clv_bench", "CLV model fitting (no database)", backend_of(None),
                     {"sizes": sizes, "repeat": args.repeat}, figures(rows, why),
                     notes=[] if why is None else [f"lifetimes not measured: {why}"])  # fmt: skip
        rec["rows"] = rows
        write(args.json, rec)


def figures(rows: list[dict[str, Any]], why: str | None) -> list[Figure]:
    """One figure per row: Guanxi's seconds next to lifetimes' on the same arrays."""
    names = {"bgnbd": "BetaGeoFitter", "pareto_nbd": "ParetoNBDFitter"}
    out = []
    for row in rows:
        peer = names.get(row["model"])
        note = None
        if peer is not None and row["lifetimes_s"] is None:
            note = f"lifetimes not measured: {why}" if why else "lifetimes not run at this size"
        met = {"yes": True, "no": False}.get(row["met"])
        out.append(Figure(f"{row['model']} fit, n={row['n']:,}" if peer else
                          f"{row['model']}, n={row['n']:,}", row["guanxi_s"], "s",
                          peer=f"lifetimes 0.11.3 {peer}" if peer else None,
                          peer_value=row["lifetimes_s"],
                          target=None if row["target"].startswith("none") else row["target"],
                          met=met, note=note))  # fmt: skip
    return out


def target(row: dict[str, Any]) -> tuple[str, str]:
    """The brief's target for this row and whether it is met ('yes', 'no', 'unknown')."""
    model, n, secs, ratio = row["model"], row["n"], row["guanxi_s"], row["ratio"]

    def judge(ok_time: bool, need_ratio: float | None) -> str:
        if not ok_time:
            return "no"
        if need_ratio is None:
            return "yes"
        if ratio is None:
            return "unknown (lifetimes not measured)"
        return "yes" if ratio >= need_ratio else "no"

    if model == "bgnbd" and n == 1_000_000:
        return "<= 1 s and >= 10x lifetimes", judge(secs <= 1.0, 10)
    if model == "pareto_nbd" and n == 1_000_000:
        return "<= 10 s", judge(secs <= 10.0, None)
    if model == "pareto_nbd" and n == 100_000:
        return ">= 50x lifetimes", judge(True, 50)
    if model.startswith("clv") and n == 1_000_000:
        return "<= 1 s", judge(secs <= 1.0, None)
    return "none (information)", "-"


if __name__ == "__main__":
    main()
