#!/bin/sh
# Issue 21's claims table: the seeds' claims re-measured at their own settings
# (docs/results.md, "Claims at the seeds' settings"). Every stage is one
# resumable `lpsim sweep` on experiments/configs/claims.toml (ResNet-20, full
# Fashion-MNIST, 15 epochs); rerun this script to continue where it stopped
# (finished points are skipped, interrupted ones resume from their last epoch).
# The paired table: experiments/claims_table.py over the same directory.
#
#   experiments/claims.sh [stage ...]        # all stages in order, or the named ones
#   LPSIM=path/to/lpsim CLAIMS_DIR=runs/claims experiments/claims.sh fp32
#   experiments/claims.sh snapshot          # the committed copy, results/claims/
#
# The sweeps write to CLAIMS_DIR (default runs/claims/, not committed). A
# session that stops runs the `snapshot` stage: each results file copied into
# results/claims/ without its finished runs' final weights
# (experiments/strip_weights.py), the checkpoints of unfinished runs beside
# it, and the log. A fresh clone starts from that snapshot: files missing from
# CLAIMS_DIR are copied from results/claims/ first, so the sweeps resume there.
#
# Stages, in the order they run (about 40 min a run on 2 AVX-512 cores for
# fp32, longer for quantized runs; seeds pair runs across stages):
#   fp32      static fp32, seeds 0-4                         (the baseline of every row)
#   8bit      sbm (8), dpc, cpt at their 8-bit defaults, seeds 0-4 (the headline rows)
#   hp_dpc    DPC in the paper's regime: Bmax 32, E 32, Bmin 8/10/12, seeds 0-2
#   hp_sbm22  SBM at 22 bits (the DPC paper's SBM row), seeds 0-2
#   hp_cpt    DPC+CPT (down) and CPT with Bmax 32, Bmin 8, E 32, seeds 0-2
#   8bit_more dpc_cpt, ldp, pfq, factor, dpc_adaptive at 8 bits, seeds 0-2
#   factor    the factor study with power: each interior layer of ResNet-20 alone at 2-bit W/A
#             (int2, the strongest tried; only stage 1's first two layers rise above the seed noise), seeds 0-2, and the six
#             same-shape stage-1 layers over seeds 0-4 (experiments/factor/training.py, its budget;
#             77 runs, ~1 h); then the isolating runs, seeds 0-2 (K: the two branches of a
#             downsampling block; usage: one layer under batch 64/128/256; 30 runs, ~25 min), into
#             factor_isolate.h5 (docs/factor-study.md)
set -eu
cd "$(dirname "$0")/.."
lpsim=${LPSIM:-build/experiments/lpsim}
dir=${CLAIMS_DIR:-runs/claims}
snap=results/claims
base=experiments/configs/claims.toml
mkdir -p "$dir" "$snap"
for f in "$snap"/*.h5; do  # resume from the committed snapshot
  [ -e "$f" ] || continue
  name=$(basename "$f")
  [ -e "$dir/$name" ] && continue
  echo "claims.sh: $name from $snap"
  cp "$f" "$dir/$name"
  if [ -d "$f.ckpt" ]; then cp -r "$f.ckpt" "$dir/$name.ckpt"; fi
done
hp="policy.cos_bounds=false policy.bmax_fwd=32 policy.bmin_bwd=32 policy.bmax_bwd=32"

stage() {
  case "$1" in
    fp32) "$lpsim" sweep "$base" --grid seed=0,1,2,3,4 -o "$dir/fp32.h5" ;;
    8bit) "$lpsim" sweep "$base" --grid seed=0,1,2,3,4 --grid policy.kind=sbm,dpc,cpt -o "$dir/8bit.h5" ;;
    hp_dpc) "$lpsim" sweep "$base" policy.kind=dpc $hp --grid seed=0,1,2 --grid policy.bmin_fwd=8,10,12 \
              -o "$dir/hp_dpc.h5" ;;
    hp_sbm22) "$lpsim" sweep "$base" policy.kind=sbm policy.sbm_bits=22 --grid seed=0,1,2 -o "$dir/hp_sbm22.h5" ;;
    hp_cpt) "$lpsim" sweep "$base" $hp policy.bmin_fwd=8 --grid seed=0,1,2 --grid policy.kind=dpc_cpt,cpt \
              -o "$dir/hp_cpt.h5" ;;
    8bit_more) "$lpsim" sweep "$base" --grid seed=0,1,2 --grid policy.kind=dpc_cpt,ldp,pfq,factor,dpc_adaptive \
                 -o "$dir/8bit_more.h5" ;;
    factor) PYTHONPATH=${LPSIM_PYTHONPATH:-build/python} /usr/bin/python3 experiments/factor/training.py sensitivity \
              --sens-seeds 0,1,2 --out "$dir/factor_power.h5" &&
            PYTHONPATH=${LPSIM_PYTHONPATH:-build/python} /usr/bin/python3 experiments/factor/training.py depth \
              --seeds 0,1,2,3,4 --out "$dir/factor_power.h5" &&
            PYTHONPATH=${LPSIM_PYTHONPATH:-build/python} /usr/bin/python3 experiments/factor/training.py isolate \
              --iso-seeds 0,1,2 --out "$dir/factor_isolate.h5" ;;
    snapshot)
      for f in "$dir"/*.h5; do
        [ -e "$f" ] || continue
        name=$(basename "$f")
        if [ -e "$f.lock" ]; then echo "claims.sh: $f is in use (a sweep is running): stop it first" >&2; exit 1; fi
        /usr/bin/python3 experiments/strip_weights.py "$f" "$snap/$name"
        rm -rf "$snap/$name.ckpt"
        if [ -d "$f.ckpt" ] && [ -n "$(ls -A "$f.ckpt")" ]; then cp -r "$f.ckpt" "$snap/$name.ckpt"; fi
      done
      if [ -e "$dir/claims.log" ]; then cp "$dir/claims.log" "$snap/claims.log"; fi
      ls -l "$snap" ;;
    *) echo "claims.sh: unknown stage \"$1\" (fp32 8bit hp_dpc hp_sbm22 hp_cpt 8bit_more factor snapshot)" >&2; exit 2 ;;
  esac
}

[ $# -gt 0 ] || set -- fp32 8bit hp_dpc hp_sbm22 hp_cpt 8bit_more factor
for s in "$@"; do
  echo "claims.sh: stage $s -> $dir"
  stage "$s"
done
