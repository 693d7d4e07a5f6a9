#!/usr/bin/env bash
# The training runs of one lent GPU lease (issue 8), from a pack made here by `python -m training.pack`.
#
#   here:  python -m training.pack --out .gpu/cn256.npz --size 256 --camera-normalise --budget-mb 50
#          (plus .gpu/mobilenet_v2_fp16.pth: the ImageNet weights halved, to fit the 64 MiB transfer)
#   there: OUT=<folder> bash training/gpu_runs.sh        (the device tool, with carry [".gpu"])
#
# First the candidate model (30 epochs), then, while the lease lasts, 10-epoch ablation rows that each
# change one choice of the recipe against `abl_full10`. Every run stops itself before its deadline
# (--deadline-min), so a slow machine gives fewer epochs or rows, never nothing. What comes back:
# the candidate's best.pt, and every run's report.json, val_logits_plain.npy and log in one tarball.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
BUDGET_S=${BUDGET_S:-540}   # the whole script, seconds
mkdir -p "$OUT"
start=$(date +%s)
left_s() { echo $(( BUDGET_S - ($(date +%s) - start) - 25 )); }   # 25 s kept for packing up
minutes() { printf '%d.%02d' $(( $1 / 60 )) $(( ($1 % 60) * 100 / 60 )); }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cv2', cv2.__version__, 'numpy',
numpy.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))" >> "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

COMMON=(--pack .gpu/cn256.npz --pretrained .gpu/mobilenet_v2_fp16.pth --device cuda --bf16 --threads 16
        --batch 64 --lr 1e-3 --select-on natural --natural-weight 2 --enhanced-share 0.75)
mkdir -p training/runs
run() {  # run NAME EPOCHS DEADLINE_MIN ARGS...
  local name=$1 epochs=$2 deadline=$3; shift 3
  echo "== $name: $epochs epochs, deadline $deadline min"
  python3 -m training.train --name "$name" --epochs "$epochs" --deadline-min "$deadline" "${COMMON[@]}" "$@" \
    > "training/runs/$name.log" 2>&1
  grep -E "^epoch|stopped|Error|error" "training/runs/$name.log" | tail -40
}

run gpu256 30 "${MAIN_MIN:-5.3}" --camera-aug --balance-sources --tta
cp training/runs/gpu256/best.pt "$OUT/gpu256-best.pt" 2>/dev/null

ROW_EPOCHS=${ROW_EPOCHS:-10}
for row in "abl_full$ROW_EPOCHS --camera-aug --balance-sources" \
           "abl_devset$ROW_EPOCHS --camera-aug --balance-sources --train-sources eyepacs,eyepacs-enhanced256" \
           "abl_nobal$ROW_EPOCHS --camera-aug" \
           "abl_noaug$ROW_EPOCHS --balance-sources"; do
  set -- $row
  name=$1; shift
  left=$(left_s)
  if (( left < ${ROW_MIN_S:-75} )); then echo "== $name skipped: $left s left"; continue; fi
  run "$name" "$ROW_EPOCHS" "$(minutes "$left")" "$@"
done

tar czf "$OUT/runs.tgz" training/runs/*.log training/runs/*/report.json training/runs/*/val_logits_plain.npy 2>/dev/null
ls -la "$OUT"
echo "total $(( $(date +%s) - start )) s"
