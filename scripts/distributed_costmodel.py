#!/usr/bin/env python3
"""scripts/distributed_costmodel.py — the numbers of the data-parallel cost model in
docs/distributed.md.

    python3 scripts/distributed_costmodel.py [--bench bench/results/2026-12-05T08-51-25.json]
        [--params bench/results/2026-12-05_param_counts.txt] [--latency-us 5] [--kmax 64]

Standard library only. Inputs:
  param counts  the output of bench/param_counts.cpp (exact Model::num_params / num_buffers, BatchNorm
               layers and channels), one line per model.
  the bench JSON  bench/run.py's output; the zoo side's median ms per step ("zoo_ms") of
               the *_train rows at threads == 1, and their "batch".
Prints Markdown tables on stdout.

Model (all times in seconds, bytes in bytes):
  ring all-reduce of n bytes over K ranks:  t_ar(n, K) = 2(K-1)/K * n / BW + 2(K-1) * alpha
  one training step sends a fixed list of messages (see MODELS): the flat gradient of each
  network (the GAN: G and D, separately) and, when the network has buffers, its buffer array
  (BatchNorm running mean/var/count; YOLO's Detect anchors too), averaged once per step.
  t_comm(K) = sum of t_ar over the step's messages.
  strong scaling (global batch B fixed):  step(K) = t1/K + t_comm(K)            (no overlap)
                                          step(K) = max(t1/K, t_comm(K))        (perfect overlap)
                                          S(K) = t1 / step(K), E(K) = S(K) / K
  weak scaling (batch per rank fixed):    step(K) = t1 + t_comm(K), E(K) = t1 / step(K)
"""
import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench/results/2026-12-05T08-51-25.json")
BANDWIDTHS = [("10 Gb/s", 10e9 / 8), ("100 Gb/s", 100e9 / 8)]  # bytes per second
F32 = 4

# name, the bench row (threads 1) that times one of its steps, the networks whose gradients
# (and buffers) are all-reduced once per step (params.txt names), and a note.
MODELS = [
    ("mlp_ae", "ae_train", ["mlp_ae"], ""),
    ("conv_ae", "conv_ae_train", ["conv_ae"], ""),
    ("vae_mse", "vae_train", ["vae_mse"], ""),
    ("vae_bce", "vae_bce_train", ["vae_bce"], ""),
    ("vanilla_gan / ls_gan", "gan_train", ["gan_mlp.G", "gan_mlp.D"], "ls_gan has no row: gan_train (vanilla) used"),
    ("dcgan", "dcgan_train", ["dcgan.G", "dcgan.D"], ""),
    ("cdcgan", "cdcgan_train", ["cdcgan.G", "cdcgan.D"], ""),
    ("ddpm (n_feat 64)", "ddpm_train", ["ddpm_nf64"], "example default is n_feat 16: no bench row"),
    ("yolo", "yolo_train", ["yolo"], ""),
    ("yolo_akconv (N=3)", "yolo_akconv3_train", ["yolo_akconv3"], "examples/yolo.cpp default --akconv-n 3"),
    ("yolo_akconv (N=5)", "yolo_akconv5_train", ["yolo_akconv5"], ""),
]
# Networks with counts but no timed step (printed in the counts table only).
COUNT_ONLY = [("ddpm (n_feat 16, example default)", ["ddpm_nf16"]), ("ddpm (n_feat 32)", ["ddpm_nf32"])]
# SyncBN passes per BatchNorm layer per step: forward 2 all-reduces (C+1 and C doubles),
# backward 1 (2C doubles). The GAN's G runs forward twice (D step, G step) and backward once.
GAN_G = {"gan_mlp.G", "dcgan.G", "cdcgan.G"}


def read_params(path):
    out = {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, p, b, anchors, bn, bn_c, _flops = line.split()
            out[name] = dict(params=int(p), buffers=int(b), anchors=int(anchors), bn=int(bn), bn_c=int(bn_c))
    return out


def read_bench(path):
    with open(path) as f:
        d = json.load(f)
    return {r["name"]: r for r in d["rows"] if r["threads"] == 1}


def t_ar(nbytes, k, bw, alpha):
    if k <= 1 or nbytes == 0:
        return 0.0
    return 2 * (k - 1) / k * nbytes / bw + 2 * (k - 1) * alpha


def messages(nets, counts):
    """Bytes of each all-reduce of one step: every net's gradient, then its buffers."""
    msgs = []
    for n in nets:
        msgs.append(F32 * counts[n]["params"])
        if counts[n]["buffers"]:
            msgs.append(F32 * counts[n]["buffers"])
    return msgs


def syncbn_messages(nets, counts):
    """(number, bytes) of the extra small all-reduces one step makes with synchronized BN."""
    msgs = []
    for n in nets:
        c, layers = counts[n]["bn_c"], counts[n]["bn"]
        if not layers:
            continue
        reps = 2 if n in GAN_G else 1  # forwards per step
        per_layer_c = c / layers  # average channels (only the byte count uses it)
        for _ in range(layers):
            for _ in range(reps):
                msgs += [8 * (per_layer_c + 1), 8 * per_layer_c]
            msgs.append(8 * 2 * per_layer_c)
    return msgs


def tree(msgs, k, bw, alpha):
    """Recursive doubling: ⌈log2 K⌉ rounds, each the whole message."""
    r = (k - 1).bit_length()
    return sum(r * (alpha + m / bw) for m in msgs) if k > 1 else 0.0


def t_comm(msgs, k, bw, alpha):
    return sum(t_ar(m, k, bw, alpha) for m in msgs)


def strong(t1, msgs, bw, alpha, kmax, overlap=False):
    """[(K, S, E)] for K = 1..kmax."""
    rows = []
    for k in range(1, kmax + 1):
        c = t_comm(msgs, k, bw, alpha)
        step = max(t1 / k, c) if overlap else t1 / k + c
        s = t1 / step
        rows.append((k, s, s / k))
    return rows


def k_peak(rows):
    k, s, _ = max(rows, key=lambda r: r[1])  # first K of the maximum
    return k, s


def k_eff(rows, floor):
    """The largest K with E(K) >= floor (E falls monotonically with K here)."""
    ok = [r[0] for r in rows if r[2] >= floor]
    return max(ok) if ok else 0


def fmt_k(k, kmax, cap=None):
    """K, with '≥' when the search bound (64) stops it and 'cap' when the batch does."""
    if cap is not None and k >= cap and cap < kmax:
        return f"{k} (cap)"
    return f"≥{kmax}" if k >= kmax else str(k)


def k_cap(nets, counts, batch, kmax):
    """The most ranks the global batch allows: one sample per rank, two where a net has
    BatchNorm (unsynchronized training-mode BatchNorm needs 2; the examples check it)."""
    bn = any(counts[n]["bn"] for n in nets)
    return min(kmax, batch // 2 if bn else batch)


def ms(x):
    return f"{x * 1e3:.3g}" if x < 1e-3 * 100 else f"{x * 1e3:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=BENCH)
    ap.add_argument("--params", default=os.path.join(ROOT, "bench/results/2026-12-05_param_counts.txt"))
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--kmax", type=int, default=64)
    a = ap.parse_args()
    alpha, kmax = a.latency_us * 1e-6, a.kmax
    counts, bench = read_params(a.params), read_bench(a.bench)

    print(f"<!-- generated by costmodel.py from {os.path.basename(a.params)} and {a.bench}; "
          f"alpha = {a.latency_us:g} us, K = 1..{kmax} -->\n")

    # ---- counts
    print("### What one step all-reduces\n")
    print("| network | parameters | buffers (BN mean+var+count; anchors) | BN layers / channels | MB per gradient all-reduce | MB of buffers |")
    print("|---|---:|---:|---:|---:|---:|")
    seen = []
    for name, _row, nets, _note in MODELS:
        for n in nets:
            if n in seen:
                continue
            seen.append(n)
            c = counts[n]
            buf = f"{c['buffers']:,}" + (f" (incl. {c['anchors']} anchors)" if c["anchors"] else "")
            print(f"| {n} | {c['params']:,} | {buf} | {c['bn']} / {c['bn_c']:,} | "
                  f"{F32 * c['params'] / 1e6:.3f} | {F32 * c['buffers'] / 1e6:.4f} |")
    for label, nets in COUNT_ONLY:
        c = counts[nets[0]]
        print(f"| {nets[0]} | {c['params']:,} | {c['buffers']:,} | {c['bn']} / {c['bn_c']:,} | "
              f"{F32 * c['params'] / 1e6:.3f} | {F32 * c['buffers'] / 1e6:.4f} |")
    print()

    # ---- the main table
    print("### Strong scaling (global batch B fixed, no overlap)\n")
    print("K stop = the largest K in 1..min(%d, cap) whose efficiency S(K)/K is still ≥ 50%%, "
          "with step(K) = t1/K + t_comm(K). cap = B, or B/2 where the model has BatchNorm "
          "(2 samples per rank); '(cap)' marks where the batch, not the network, stops it.\n" % kmax)
    print("| model | params | MB per step (grad [+ buffers], G then D) | t1 ms/step (B) | ring ms 10 Gb/s K=2 / K=8 | ring ms 100 Gb/s K=2 / K=8 "
          "| K stop 10 / 100 Gb/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    detail = []
    for name, row, nets, note in MODELS:
        r = bench[row]
        t1, batch = r["zoo_ms"] * 1e-3, r["batch"]
        msgs = messages(nets, counts)
        params = sum(counts[n]["params"] for n in nets)
        pstr = " + ".join(f"{counts[n]['params']:,}" for n in nets) + (f" = {params:,}" if len(nets) > 1 else "")
        mb = " + ".join(f"{m / 1e6:.3g}" for m in msgs) + (f" = {sum(msgs) / 1e6:.3g}" if len(msgs) > 1 else "")
        rings, stops = [], []
        cap = k_cap(nets, counts, batch, kmax)
        for bwname, bw in BANDWIDTHS:
            rings.append(f"{ms(t_comm(msgs, 2, bw, alpha))} / {ms(t_comm(msgs, 8, bw, alpha))}")
            no = strong(t1, msgs, bw, alpha, cap)
            ov = strong(t1, msgs, bw, alpha, cap, overlap=True)
            stops.append(fmt_k(k_eff(no, 0.5), kmax, cap))
            kp, sp = k_peak(no)
            kpo, spo = k_peak(ov)
            wk = weak_k(t1, msgs, bw, alpha, kmax)
            detail.append((name, bwname, cap, kp, sp, k_eff(no, 0.5), kpo, spo, k_eff(ov, 0.5), wk,
                           t1 / (t1 + t_comm(msgs, 2, bw, alpha)), t1 / (t1 + t_comm(msgs, kmax, bw, alpha))))
        print(f"| {name} | {pstr} | {mb} | {ms(t1)} ({batch}) | {rings[0]} | {rings[1]} | "
              f"{stops[0]} / {stops[1]} |")
    print()

    print("### Peak speed-up and the overlap bound, and weak scaling\n")
    print("Strong-scaling columns search K = 1..cap. S peak: max of S(K) (K at the peak). Overlap: step = max(t1/K, t_comm). "
          "Weak (batch per rank fixed at B, K = 2..%d, no cap): E = t1 / (t1 + t_comm(K)); "
          "'E<90%% at' is the first K where it drops under 90%%.\n" % kmax)
    print("| model | link | K cap | S peak (K), no overlap | K at E≥50%%, no overlap | S peak (K), overlap | K at E≥50%%, overlap "
          "| weak E at K=2 / K=%d | weak: E<90%% at |" % kmax)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, bwname, cap, kp, sp, k50, kpo, spo, k50o, wk, e2, ek) in detail:
        print(f"| {name} | {bwname} | {cap} | {sp:.1f} ({kp}) | {fmt_k(k50, kmax, cap)} | {spo:.1f} ({kpo}) | "
              f"{fmt_k(k50o, kmax, cap)} | "
              f"{e2:.0%} / {ek:.0%} | {'never (≤%d)' % kmax if wk is None else wk} |")
    print()

    # ---- synchronized BatchNorm
    print("### If BatchNorm is synchronized (extra small all-reduces, in the critical path)\n")
    print("Forward: 2 all-reduces per BatchNorm layer (C+1 and C doubles); backward: 1 (2C doubles); the GAN's G "
          "runs 2 forwards and 1 backward per iteration. Ring: the formula above. Tree: ⌈log2 K⌉·α per message "
          "(recursive doubling, what MPI libraries pick for small messages; bytes negligible).\n")
    print("| model | extra all-reduces per step | ring: extra ms at K=2 / K=8 / K=%d | tree: extra ms at K=2 / K=8 / K=%d | t1/8 ms |"
          % (kmax, kmax))
    print("|---|---:|---:|---:|---:|")
    for name, row, nets, _note in MODELS:
        sm = syncbn_messages(nets, counts)
        if not sm:
            continue
        t1 = bench[row]["zoo_ms"] * 1e-3
        bw = BANDWIDTHS[0][1]
        print(f"| {name} | {len(sm)} | {ms(t_comm(sm, 2, bw, alpha))} / {ms(t_comm(sm, 8, bw, alpha))} / "
              f"{ms(t_comm(sm, kmax, bw, alpha))} | "
              + " / ".join(ms(tree(sm, k, bw, alpha)) for k in (2, 8, kmax)) + f" | {t1 / 8 * 1e3:.3g} |")
    print()

    print("### Sources\n")
    for name, row, nets, note in MODELS:
        r = bench[row]
        print(f"- {name}: row `{row}` threads 1, zoo_ms {r['zoo_ms']:.3f}, batch {r['batch']}, program "
              f"{r['program']}" + (f"; {note}" if note else ""))


def weak_k(t1, msgs, bw, alpha, kmax):
    for k in range(2, kmax + 1):
        if t1 / (t1 + t_comm(msgs, k, bw, alpha)) < 0.9:
            return k
    return None


if __name__ == "__main__":
    main()
