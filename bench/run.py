#!/usr/bin/env python3
"""bench/run.py — run zoo's and PyTorch's benchmarks side by side, in one run.

    python3 bench/run.py [--build build/bench] [--threads 1 2] [--filter REGEX]
                         [--torch-blas reference openblas-openmp openblas-pthread]
                         [--min-time 0.15] [--reps 5] [--rounds 1]
                         [--out bench/results/DATE.json] [--openblas-coretype auto|keep|NAME]
    python3 bench/run.py --markdown bench/results/DATE.json   # the table as Markdown

Plain python3 (no torch here): the PyTorch side runs in worker processes, one per
BLAS, started with /usr/bin/python3 and LD_LIBRARY_PATH pointing at that BLAS's
libblas.so.3 (the system alternative is left alone); each worker reports the
libraries it actually mapped. For every thread count and every zoo benchmark
"<name>/t<T>" (bench/build's bench_* programs), the zoo program and every
PyTorch worker that registered <name> run one after the other, so the load that
other processes put on the machine hits both sides alike. Reported: medians of
`reps` repetitions; the ratio is PyTorch's best BLAS over zoo (>1: zoo faster).
With --rounds R > 1 each row is measured R times in turn (zoo, then PyTorch, then zoo
again...): its times are medians over the rounds and its ratio the median of the
rounds' own ratios, each from two measurements seconds apart — on a host whose speed
drifts over tens of seconds, one zoo block and one PyTorch block can land on either
side of a change.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
BLAS_DIRS = {"reference": f"{LIBDIR}/blas", "openblas-openmp": f"{LIBDIR}/openblas-openmp",
             "openblas-pthread": f"{LIBDIR}/openblas-pthread"}
TORCH_PY = "/usr/bin/python3"
SLOW = r"ddpm_"  # benchmarks whose one step takes seconds

# Targets from the model issues: (name regex, threads, minimum PyTorch/zoo ratio, issue).
# Each benchmark whose name matches is checked; where a zoo program was built both ways,
# the "@openblas" row (zoo::gemm on OpenBLAS: the default build) is the one checked.
TARGETS = [(r"(conv_ae|vae|vae_bce|ae)_train", 2, 2.0, "issue 5"),
           (r"gan_train", 2, 1.5, "issue 6"), (r"dcgan_train", 2, 1.2, "issue 6"),
           (r"conv_.*_fwdbwd", 1, 1.0, "issue 4"),
           (r"ddpm_(train|sample)", 2, 1.0, "issue 7"),
           (r"yolo_train", 2, 1.5, "issue 19"), (r"yolo_akconv3_train", 2, 2.0, "issue 19")]


def choose_openblas_core(want):
    """OpenBLAS's kernel for both sides. OpenBLAS picks it from the CPU when the library
    loads unless OPENBLAS_CORETYPE names one; an environment that pins an older kernel
    (this workplace's sets OPENBLAS_CORETYPE=Haswell: AVX2, half of a Zen 5's 512-bit FMA
    rate) would measure zoo and PyTorch below their best. Default: unset it for every
    process of the run; --openblas-coretype keep leaves the environment's value, NAME sets one."""
    inherited = os.environ.get("OPENBLAS_CORETYPE")
    if want == "keep":
        chosen = inherited
    elif want == "auto":
        os.environ.pop("OPENBLAS_CORETYPE", None)
        chosen = None
    else:
        os.environ["OPENBLAS_CORETYPE"] = chosen = want
    return {"inherited": inherited, "used": chosen or "OpenBLAS's own detection"}


# glibc malloc kept from handing freed memory back to the kernel. PyTorch allocates every
# output and temporary afresh; with glibc's defaults a freed block above the mmap/trim
# thresholds goes back to the kernel and the next allocation faults its pages in again.
# On a VM where a page fault costs ~10 µs (this workplace's, measured 9.7–10.5 µs with
# a 256 MB touch loop; bare metal: ~0.1–0.3 µs) that is most of a small model's step:
# PyTorch's vae_train went 16.3 → 3.8 ms and gan_train 40.4 → 14.2 ms (2 threads) with
# these settings. zoo allocates nothing per step (see the malloc counts); it gets the
# same environment so that both sides run alike. --malloc default leaves glibc as it is.
MALLOC_TUNED = ("glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296:"
                "glibc.malloc.top_pad=268435456")


def choose_malloc(want):
    """GLIBC_TUNABLES for every process of the run (see MALLOC_TUNED)."""
    if want == "tuned":
        os.environ["GLIBC_TUNABLES"] = MALLOC_TUNED
    return os.environ.get("GLIBC_TUNABLES", "glibc defaults")


def page_fault_us():
    """Microseconds per first-touch page fault here (a 64 MB anonymous map, touched once)."""
    import mmap
    n = 64 << 20
    m = mmap.mmap(-1, n)
    t = time.perf_counter()
    for i in range(0, n, mmap.PAGESIZE):
        m[i] = 1
    dt = time.perf_counter() - t
    m.close()
    return round(dt / (n // mmap.PAGESIZE) * 1e6, 2)


def target_rows(rows, pattern, t):
    """The rows a target checks: full-name matches at t threads, @openblas preferred."""
    picked = {}
    for r in rows:
        base, _, extra = r["name"].partition("@")
        if r["threads"] == t and re.fullmatch(pattern, base) and "ratio" in r:
            if base not in picked or extra == "openblas":
                picked[base] = r
    return list(picked.values())


class TorchWorker:
    def __init__(self, blas):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = BLAS_DIRS[blas] + (":" + env["LD_LIBRARY_PATH"]
                                                    if env.get("LD_LIBRARY_PATH") else "")
        env.pop("OMP_NUM_THREADS", None)
        self.blas = blas
        self.proc = subprocess.Popen([TORCH_PY, os.path.join(ROOT, "bench/pytorch/torch_bench.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.info = json.loads(self.proc.stdout.readline())

    def run(self, name, threads, min_time, reps):
        self.proc.stdin.write(json.dumps({"name": name, "threads": threads, "min_time": min_time,
                                          "reps": reps}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def list_zoo(binary):
    out = subprocess.run([binary, "--benchmark_list_tests"], capture_output=True, text=True,
                         check=True).stdout
    names = []
    for line in out.split():
        m = re.match(r"(.+)/t(\d+)(/real_time)?$", line)
        if m:
            names.append((m.group(1), int(m.group(2))))
    return names


def run_zoo(binary, name, threads, min_time, reps, env=None):
    cmd = [binary, f"--benchmark_filter=^{re.escape(name)}/t{threads}/",
           f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={reps}",
           "--benchmark_report_aggregates_only=true", "--benchmark_format=json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    rows = json.loads(out)["benchmarks"]
    med = next(r for r in rows if r.get("aggregate_name") == "median")
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[med["time_unit"]]
    res = {"ms": med["real_time"] * scale, "cpu_ms": med["cpu_time"] * scale, "gflops": med.get("flops", 0) / 1e9,
           "batch": int(med.get("batch", 0)) or None, "label": med.get("label", "")}
    mn = next((r for r in rows if r.get("aggregate_name") == "min"), None)
    if mn:
        res["ms_min"] = mn["real_time"] * scale
    return res


def median(xs):
    xs = sorted(xs)
    k = len(xs)
    return xs[k // 2] if k % 2 else 0.5 * (xs[k // 2 - 1] + xs[k // 2])


def paired_row(prog, name, t, extra, env, reps, rounds, workers, a, bindir):
    """One row measured `rounds` times, zoo then every PyTorch worker each round."""
    zs, ts = [], []
    for _ in range(rounds):
        zs.append(run_zoo(os.path.join(bindir, prog), name, t, a.min_time, reps, env))
        res = {}
        for w in workers:
            r = w.run(name, t, a.min_time, reps)
            if "error" not in r:
                res[w.blas] = r
        ts.append(res)
    z = zs[-1]
    row = {"name": name + extra, "threads": t, "batch": z["batch"],
           "zoo_ms": median([x["ms"] for x in zs]), "zoo_cpu_ms": median([x["cpu_ms"] for x in zs]),
           "zoo_ms_min": min(x.get("ms_min") or x["ms"] for x in zs), "program": prog,
           "gemm": z["label"] or None, "torch": {}, "rounds": rounds,
           "zoo_round_ms": [x["ms"] for x in zs]}
    row["zoo_gflops"] = z["gflops"] * z["ms"] / row["zoo_ms"] if row["zoo_ms"] else 0
    row["zoo_gflops_cpu"] = row["zoo_gflops"] * row["zoo_ms"] / row["zoo_cpu_ms"] if row["zoo_cpu_ms"] else None
    blases = [b for b in (w.blas for w in workers) if all(b in r for r in ts)]
    if blases:
        row["torch"] = {b: {"ms": median([r[b]["ms"] for r in ts]),
                            "cpu_ms": median([r[b]["cpu_ms"] for r in ts]),
                            "round_ms": [r[b]["ms"] for r in ts]} for b in blases}
        blas = min(blases, key=lambda b: row["torch"][b]["ms"])
        row["torch_ms"], row["torch_blas"] = row["torch"][blas]["ms"], blas
        # Each round's best BLAS over that round's zoo time.
        row["round_ratios"] = [min(r[b]["ms"] for b in blases) / x["ms"] for r, x in zip(ts, zs)]
        row["ratio"] = median(row["round_ratios"])
    return row


def load():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def fmt(v, spec):
    if v is None:
        return format("-", ">" + re.sub(r"\D*(\d+).*", r"\1", spec) if re.search(r"\d", spec) else "")
    return format(v, spec)


def markdown(path):
    """The table of a results JSON as Markdown (for docs/performance.md)."""
    with open(path) as f:
        d = json.load(f)
    print("| name | batch | threads | zoo ms | PyTorch ms (BLAS) | ratio | ratio (CPU time) "
          "| zoo GFLOP/s | % peak | % peak (CPU time) |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    peak = d.get("peak_gflops", {})
    for r in d["rows"]:
        if r.get("pct_peak") is None and r["zoo_gflops"]:  # a run cut short: not yet computed
            p, pc = peak.get(str(r["threads"])), peak.get("cpu")
            r["pct_peak"] = 100 * r["zoo_gflops"] / p if p else None
            if r["threads"] == 1 and pc and r.get("zoo_gflops_cpu"):
                r["pct_peak_cpu"] = 100 * r["zoo_gflops_cpu"] / pc
        torch = (f"{r['torch_ms']:.3f} ({r['torch_blas']})" if "torch_ms" in r else "-")
        print(f"| {r['name']} | {r['batch'] or '-'} | {r['threads']} | {r['zoo_ms']:.3f} | {torch} "
              f"| {fmt(r.get('ratio'), '.2f')} | {fmt(r.get('ratio_cpu'), '.2f')} "
              f"| {r['zoo_gflops']:.1f} | {fmt(r.get('pct_peak'), '.0f')} "
              f"| {fmt(r.get('pct_peak_cpu'), '.0f')} |")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        return markdown(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build/bench"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--filter", default="", help="regex on benchmark names")
    ap.add_argument("--torch-blas", nargs="*", default=["reference", "openblas-openmp"],
                    choices=sorted(BLAS_DIRS))
    ap.add_argument("--min-time", type=float, default=0.15)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each row this many times, zoo and PyTorch in turn")
    ap.add_argument("--out", default=None)
    ap.add_argument("--openblas-coretype", default="auto",
                    help="auto: OpenBLAS detects the CPU (an inherited OPENBLAS_CORETYPE is "
                         "removed); keep: the environment's; or a kernel name such as Haswell")
    ap.add_argument("--malloc", default="tuned", choices=["tuned", "default"],
                    help="tuned: glibc malloc keeps freed memory (GLIBC_TUNABLES, see "
                         "MALLOC_TUNED) in every process, PyTorch's best here; default: as is")
    a = ap.parse_args()

    bindir = os.path.join(a.build, "bench")
    programs = sorted(p for p in os.listdir(bindir)
                      if p.startswith("bench_") and os.access(os.path.join(bindir, p), os.X_OK))
    if not programs:
        sys.exit(f"run.py: no bench_* programs in {bindir}; build with scripts/bench.sh")
    # Both before any environment is copied for a child process.
    core = choose_openblas_core(a.openblas_coretype)
    print(f"# OpenBLAS kernel: {core['used']} (OPENBLAS_CORETYPE in the environment: "
          f"{core['inherited'] or 'unset'})", flush=True)
    malloc = {"glibc_tunables": choose_malloc(a.malloc), "page_fault_us": page_fault_us()}
    print(f"# malloc: {malloc['glibc_tunables']}; a page fault costs {malloc['page_fault_us']} µs "
          f"here", flush=True)
    # bench_gemm_cblas is zoo::gemm over OpenBLAS; run it with the OpenMP build.
    cblas_env = dict(os.environ, LD_LIBRARY_PATH=BLAS_DIRS["openblas-openmp"])
    suites = []  # (program, name, threads, label suffix, env), a name's twins adjacent
    listed = {p: list_zoo(os.path.join(bindir, p)) for p in programs}
    names = []
    for p in programs:
        for nt in listed[p]:
            if nt[0] not in names:
                names.append(nt[0])
    order = {"peak": 0, "gemm": 1}
    names.sort(key=lambda n: order.get(n.split("_")[0], 2))  # stable: registration order
    for name in names:
        if not re.search(a.filter, name):
            continue
        for p in sorted(programs, key=lambda p: p.endswith("_cblas")):
            extra = "@openblas" if p.endswith("_cblas") else ""
            for n, t in listed[p]:
                if n == name and t in a.threads:
                    suites.append((p, name, t, extra, cblas_env if extra else None))

    started = time.time()
    workers = [TorchWorker(b) for b in a.torch_blas]
    for w in workers:
        print(f"# PyTorch {w.info['torch']} worker: BLAS {w.info['blas']} ({w.info['libblas']}), "
              f"oneDNN {'loaded' if w.info['onednn'] else 'not loaded'}, "
              f"sgemm 256³ {w.info['sgemm256_gflops_1t']} GFLOP/s on 1 thread"
              + (f", OpenBLAS kernel {w.info['openblas_core']}" if w.info.get("openblas_core") else ""),
              flush=True)

    rows, peak, torch_cache = [], {}, {}
    load_before = load()
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    out = a.out or os.path.join(ROOT, "bench/results", stamp + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def save(complete, elapsed=None, allocs=(), checks=()):
        # Written after every row too ("complete": false), so a cut-short run keeps its rows.
        with open(out, "w") as f:
            json.dump({"date": stamp, "complete": complete, "cpu": cpu, "nproc": os.cpu_count(),
                       "threads": a.threads, "min_time": a.min_time, "reps": a.reps,
                       "rounds": a.rounds,
                       "openblas_coretype": core, "malloc": malloc,
                       "elapsed_s": elapsed if elapsed is not None else time.time() - started,
                       "load_before": load_before, "load_after": load(),
                       "peak_gflops": {str(k): v for k, v in peak.items()},  # "cpu": 1 thread, CPU time
                       "torch_workers": [w.info for w in workers], "rows": rows,
                       "targets": list(checks), "mallocs_per_step": list(allocs)}, f, indent=1)

    for t in a.threads:
        for prog, name, _, extra, env in (s for s in suites if s[2] == t):
            # Multi-second steps (the diffusion UNet) get 3 repetitions, not 5: their spread is
            # small next to their length, and they would otherwise take a fifth of the run.
            reps = min(a.reps, 3) if re.match(SLOW, name) else a.reps
            rounds = 1 if name.startswith("peak_") else max(1, a.rounds)
            if rounds > 1:  # zoo and PyTorch in turn, `rounds` times (module docstring)
                row = paired_row(prog, name, t, extra, env, reps, rounds, workers, a, bindir)
                rows.append(row)
                print(f"{row['name']:<30} t{t} zoo {row['zoo_ms']:9.3f} ms"
                      + (f"  torch {row['torch_ms']:9.3f} ms ({row['torch_blas']})  "
                         f"ratio {row['ratio']:5.2f} (rounds: "
                         + " ".join(f"{x:.2f}" for x in row['round_ratios']) + ")"
                         if "ratio" in row else ""), flush=True)
                save(False)
                continue
            z = run_zoo(os.path.join(bindir, prog), name, t, a.min_time, reps, env)
            row = {"name": name + extra, "threads": t, "batch": z["batch"], "zoo_ms": z["ms"],
                   "zoo_cpu_ms": z["cpu_ms"],
                   "zoo_ms_min": z.get("ms_min"), "zoo_gflops": z["gflops"], "program": prog,
                   "gemm": z["label"] or None, "torch": {}}
            # GFLOP/s over CPU time: on 1 thread, the rate while the step actually ran.
            row["zoo_gflops_cpu"] = z["gflops"] * z["ms"] / z["cpu_ms"] if z["cpu_ms"] else None
            if name.startswith("peak_"):
                peak[t] = max(peak.get(t, 0), z["gflops"])
                if t == 1:
                    peak["cpu"] = max(peak.get("cpu", 0), row["zoo_gflops_cpu"] or 0)
            elif (name, t) not in torch_cache:
                res = {}
                for w in workers:
                    # A BLAS that lost by more than 2x on one thread is not rerun on
                    # more threads (the reference BLAS: keeps the run under 15 minutes).
                    first = torch_cache.get((name, a.threads[0]), {})
                    if (t != a.threads[0] and first and w.blas not in first) or (
                            w.blas in first and first[w.blas]["ms"] >
                            2 * min(v["ms"] for v in first.values())):
                        continue
                    r = w.run(name, t, a.min_time, reps)
                    if "error" not in r:
                        res[w.blas] = r
                torch_cache[(name, t)] = res
            row["torch"] = torch_cache.get((name, t), {})
            if row["torch"]:
                blas, best = min(row["torch"].items(), key=lambda kv: kv[1]["ms"])
                row["torch_ms"], row["torch_blas"] = best["ms"], blas
                row["ratio"] = best["ms"] / z["ms"]
                if t == 1:  # both sides' CPU time: immune to waiting for a shared core
                    blas_c, best_c = min(row["torch"].items(), key=lambda kv: kv[1]["cpu_ms"])
                    row["torch_cpu_ms"], row["torch_cpu_blas"] = best_c["cpu_ms"], blas_c
                    row["ratio_cpu"] = best_c["cpu_ms"] / z["cpu_ms"]
            rows.append(row)
            line = (f"{row['name']:<30} t{t} zoo {z['ms']:9.3f} ms"
                    + (f"  torch {row['torch_ms']:9.3f} ms ({row['torch_blas']})  "
                       f"ratio {row['ratio']:5.2f}" if "ratio" in row else "")
                    + (f"  cpu-time ratio {row['ratio_cpu']:5.2f}" if "ratio_cpu" in row else ""))
            print(line, flush=True)
            save(False)
    for w in workers:
        w.close()
    allocs = []
    for prog, env in (("alloc_check", None), ("alloc_check_cblas", cblas_env)):
        path = os.path.join(bindir, prog)
        if os.access(path, os.X_OK):
            for t in a.threads:
                allocs.append(json.loads(subprocess.run([path, str(t)], capture_output=True,
                                                        text=True, env=env, check=True).stdout))
    for r in rows:
        p = peak.get(r["threads"])
        r["pct_peak"] = 100 * r["zoo_gflops"] / p if p and r["zoo_gflops"] else None
        if r["threads"] == 1 and peak.get("cpu") and r["zoo_gflops"]:
            r["pct_peak_cpu"] = 100 * r["zoo_gflops_cpu"] / peak["cpu"]

    # ---------------------------------------------------------------- table
    print()
    print(f"{'name':<30} {'batch':>5} {'thr':>3} {'zoo ms':>10} {'torch ms':>10} "
          f"{'torch BLAS':<16} {'ratio':>6} {'cpu-r':>6} {'GFLOP/s':>8} {'%peak':>6} {'%pk-cpu':>7}")
    for r in rows:
        print(f"{r['name']:<30} {fmt(r['batch'], '>5')} {r['threads']:>3} {r['zoo_ms']:>10.3f} "
              f"{fmt(r.get('torch_ms'), '>10.3f')} {r.get('torch_blas', '-'):<16} "
              f"{fmt(r.get('ratio'), '>6.2f')} {fmt(r.get('ratio_cpu'), '>6.2f')} "
              f"{r['zoo_gflops']:>8.1f} "
              f"{fmt(r['pct_peak'], '>6.1f')} {fmt(r.get('pct_peak_cpu'), '>7.1f')}")
    print()
    checks = []
    if load_before and load_before > (os.cpu_count() or 1):
        print(f"WARNING: load average {load_before:.1f} > {os.cpu_count()} cores: multi-thread "
              f"rows and the checks below are not valid measurements; rerun on a quiet machine")
    for pattern, t, want, issue in TARGETS:
        for r in target_rows(rows, pattern, t):
            ok = r["ratio"] >= want
            checks.append({"name": r["name"], "threads": t, "target": want, "ratio": r["ratio"],
                           "met": ok, "issue": issue})
            print(f"target {issue}: {r['name']} t{t} PyTorch/zoo = {r['ratio']:.2f} "
                  f"(want >= {want}): {'MET' if ok else 'NOT MET'}")
    for t in a.threads:
        for g in ("gemm_nn_512x512x512", "gemm_nn_1024x1024x1024"):
            for suffix in ("", "@openblas"):
                r = next((r for r in rows if r["name"] == g + suffix and r["threads"] == t), None)
                if r and r["pct_peak"] is not None:
                    pc = r.get("pct_peak_cpu")
                    print(f"target issue 8: {g + suffix} t{t} at {r['pct_peak']:.0f}% of peak "
                          + (f"({pc:.0f}% on CPU time) " if pc else "")
                          + f"(want >= 80%): {'MET' if max(r['pct_peak'], pc or 0) >= 80 else 'NOT MET'}")
    for al in allocs:
        print(f"mallocs per steady-state step, zoo::gemm = {al['gemm']}, {al['threads']} "
              f"thread(s): " + ", ".join(f"{k} {v:g}" for k, v in al["mallocs_per_step"].items()))
    elapsed = time.time() - started
    print(f"\nelapsed {elapsed:.0f} s; load average {fmt(load_before, '.2f')} before, "
          f"{fmt(load(), '.2f')} after (the machine is shared: compare ratios within one run)")

    save(True, elapsed, allocs, checks)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
