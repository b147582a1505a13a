#!/bin/sh
# The README's segmentation results: three starts, and two of them again with --freeze-bn, with the same
# budget on the shared indoor frames
# (train on valid/, evaluate on test/), one at a time, then float and INT8 ONNX of the best one, each timed
# (seconds appended to $OUT/times.txt). Run from the repository root:
#   sh bench/segmentation_indoor.sh [EPOCHS] [RESOLUTION]       (the README: 5 epochs at 160)
set -e
EPOCHS=${1:-5}
SIZE=${2:-160}
DATA=../shared/data/segmentation/indoor
TFLITE=../shared/data/pretrained/tflite
OUT=runs/segmentation
mkdir -p "$OUT"
MB="nice -n 10 python -m mobilenet"
common="--recipe segmentation --model deeplabv3_mobilenet_v2 --data $DATA/valid --val-data $DATA/test \
        --epochs $EPOCHS --resolution $SIZE --output $OUT --exist-ok --no-progress"

timed() {  # name, command...: runs it, appends "name seconds" to $OUT/times.txt
    name=$1; shift
    start=$(date +%s)
    "$@"
    echo "$name $(( $(date +%s) - start ))" >> "$OUT/times.txt"
}

VOC_WEIGHTS=$TFLITE/coral_deeplabv3_mnv2_dm05_pascal_quant.tflite
IMAGENET_WEIGHTS=$TFLITE/coral_mobilenet_v2_1.0_224_quant.tflite

# 1. the Coral DeepLabV3-MNV2-0.5 trained on PASCAL VOC (a new 11-class predictor)
timed indoor-voc $MB train $common --name indoor-voc --width-mult 0.5 \
    --weights $VOC_WEIGHTS
# 2. an ImageNet backbone: the Coral MobileNetV2-1.0 classifier's
timed indoor-imagenet $MB train $common --name indoor-imagenet --width-mult 1.0 \
    --weights $IMAGENET_WEIGHTS
# 3. from scratch, the architecture of 1
timed indoor-scratch $MB train $common --name indoor-scratch --width-mult 0.5
# TFLite files hold convs with BN folded in: their BN layers are identities with a bias, which only
# inference-mode BN keeps (--freeze-bn; batch statistics renormalise every layer)
timed indoor-voc-frozen-bn $MB train $common --name indoor-voc-frozen-bn --width-mult 0.5 --freeze-bn \
    --weights $VOC_WEIGHTS
timed indoor-imagenet-frozen-bn $MB train $common --name indoor-imagenet-frozen-bn --width-mult 1.0 --freeze-bn \
    --weights $IMAGENET_WEIGHTS

# export of the best start: float and INT8 with the arg-max inside, calibrated on the
# training photos (not their masks), each file evaluated on test/
BEST=${BEST:-indoor-voc-frozen-bn}
mkdir -p "$OUT/indoor-calib"
for photo in "$DATA"/valid/*.jpg; do ln -sf "$(realpath "$photo")" "$OUT/indoor-calib/"; done
timed export $MB export "$OUT/$BEST/best.pt" -o "$OUT/$BEST/model.onnx" --postprocess --int8 --calib "$OUT/indoor-calib"
for file in best.pt model.onnx model.int8.onnx; do
    timed "eval-$file" $MB eval "$OUT/$BEST/$file" --data $DATA/test --format json > "$OUT/$BEST/eval-$file.json"
done
