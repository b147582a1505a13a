#!/bin/sh
# The README's segmentation results: three starts with the same budget on the shared indoor frames
# (train on valid/, evaluate on test/), then float and INT8 ONNX of the best one, each timed.
# Run from the repository root: sh bench/segmentation_indoor.sh [EPOCHS] [RESOLUTION]
set -e
EPOCHS=${1:-12}
SIZE=${2:-224}
DATA=../shared/data/segmentation/indoor
TFLITE=../shared/data/pretrained/tflite
OUT=runs/segmentation
mkdir -p "$OUT"
MB="python -m mobilenet"
common="--recipe segmentation --model deeplabv3_mobilenet_v2 --data $DATA/valid --val-data $DATA/test \
        --epochs $EPOCHS --resolution $SIZE --output $OUT --exist-ok --no-progress"

timed() {  # name, command...: runs it, appends "name seconds" to $OUT/times.txt
    name=$1; shift
    start=$(date +%s)
    "$@"
    echo "$name $(( $(date +%s) - start ))" >> "$OUT/times.txt"
}

# TFLite files hold convs with BN folded in: their BN layers are identities with a bias, which only
# inference-mode BN keeps (--freeze-bn; batch statistics would renormalise every layer).
# 1. the Coral DeepLabV3-MNV2-0.5 trained on PASCAL VOC (a new 11-class predictor)
timed voc $MB train $common --name voc --freeze-bn --weights $TFLITE/coral_deeplabv3_mnv2_dm05_pascal_quant.tflite
# 2. an ImageNet backbone: the Coral MobileNetV2-1.0 classifier, imported
$MB convert $TFLITE/coral_mobilenet_v2_1.0_224_quant.tflite -o "$OUT/coral_v2.safetensors"
timed imagenet $MB train $common --name imagenet --freeze-bn --weights "$OUT/coral_v2.safetensors"
# 3. from scratch, the same architecture as 2 (a from-scratch learning rate: the same budget otherwise)
timed scratch $MB train $common --name scratch --lr 0.02
for run in voc imagenet scratch; do $MB eval "$OUT/$run" --data $DATA/test --format json > "$OUT/$run-eval.json"; done
