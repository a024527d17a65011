"""Labels and explanations in English and Korean (the course this grew from is Korean).

Gradio's i18n picks the language from the browser; the page's own picker (EN / 한국어, ``app.language_picker``),
``?lang=ko`` and Gradio's Settings panel switch it.
"""

from __future__ import annotations

import gradio as gr

EN: dict[str, str] = {
    "title": "# CNN architecture visualizer\nVGG, AlexNet and ResNet from real forward hooks on real PyTorch models.",
    "lang_code": "en",
    "fold": "Draw",
    "through_image": "Through an image: this layer's maps and receptive field",
    "layer_maps": "Top maps of the selected layer (click one for that unit's receptive field)",
    "tab_arch": "Architecture",
    "tab_stacks": "3×3 vs 5×5",
    "tab_features": "Feature maps",
    "tab_train": "Training",
    "tab_compare": "Compare",
    "model": "Model",
    "custom_cfg": "or type your own VGG: vgg:64,64,M,128,M (widths of 3×3 convs, M = 2×2 max-pool; vgg_bn: for "
    "BatchNorm), or any torchvision classifier: tv:mobilenet_v2, tv:efficientnet_b0, tv:convnext_tiny …",
    "input_size": "Input size (C×H×W, or one number for a square RGB input)",
    "analyze": "Analyze",
    "layers": "Per-layer table",
    "totals": "Totals",
    "explain_arch": (
        "**Output size** of a conv or pool: `out = ⌊(in + 2·padding − dilation·(kernel−1) − 1) / stride⌋ + 1`.\n\n"
        "**Receptive field** (the input pixels one unit can see) grows layer by layer: "
        "`r_l = r_{l−1} + (k_l − 1)·d_l·j_{l−1}`, with the jump (effective stride) `j_l = j_{l−1}·s_l`. "
        "In a ResNet the shortcut joins at the sum; the field after it covers both paths. After global pooling "
        "or flatten every unit sees the whole input.\n\n"
        "**Parameters** of a conv: `C_in·C_out·k_h·k_w (+ C_out bias)`. **MACs** (multiply-accumulates) come in two "
        "conventions: *MACs (weights only)* is the textbook count, `k_h·k_w·C_in/groups·C_out·H_out·W_out` for a conv "
        "and `in·out` for a linear layer; *MACs (torchinfo)* is what `torchinfo.summary` reports, every parameter "
        "(biases too) × output positions for a conv, × 1 for other layers (BatchNorm: 2·C). "
        "VGG's fully-connected layers hold most parameters; its convs do most work. The bars under the diagram show "
        "parameters and MACs per layer.\n\n"
        "**Click a box** (or a row): the card beside the table works these formulas with that layer's own numbers."
    ),
    "kernel": "Kernel k of each stacked conv",
    "repeats": "Number of stacked convs n",
    "in_ch": "Input channels",
    "out_ch": "Output channels",
    "compare_stacks": "Compare",
    "explain_stacks": (
        "**Why stack 3×3 convs?** n stacked k×k convs see the same `K = n(k−1)+1` square as one K×K conv, "
        "with fewer weights (two 3×3: 2·9 = 18 per channel pair vs 25 for one 5×5; three 3×3: 27 vs 49 for 7×7) "
        "and n nonlinearities instead of one, so the stack is both cheaper and more expressive (VGG, 2014)."
    ),
    "weights": "Weights",
    "weights_auto": "auto: for a network of your own, the weights it was given (own); else ImageNet weights when "
    "cached or downloadable, else the latest training run of this model, else random",
    "checkpoint_path": "Checkpoint (for weights = checkpoint): this server's runs and uploads, newest first",
    "upload_checkpoint": "Upload .pt",
    "upload_imagenet": "Upload ImageNet weights (.pth)",
    "layer": "Layer",
    "top_n": "Channels shown (top N)",
    "rank_by": "Rank channels by",
    "colormap": "Colormap",
    "normalize": "Normalization",
    "show": "Show feature maps",
    "grid": "Feature maps (click a map to see that unit's receptive field)",
    "net_input": "What the network sees",
    "overview": "Overview: one map per stage",
    "filters": "First-layer filters",
    "top5": "Top-5 predictions",
    "gradcam": "Grad-CAM",
    "gradcam_layer": "Grad-CAM layer (default: the last conv before the head)",
    "gradcam_class": "Grad-CAM class (empty: the top prediction)",
    "rf_overlay": "Receptive field of the clicked unit",
    "explain_features": (
        "Each tile is one channel's activation map at the chosen layer, ranked by mean or max activation. Early "
        "layers respond to edges and colours; deeper layers to larger, more abstract patterns at lower resolution. "
        "Grad-CAM weights a conv layer's maps by the gradient of the chosen class score. Click a map: the box on "
        "the input is the receptive field of that unit, computed by the analysis engine."
    ),
    "dataset": "Dataset",
    "epochs": "Epochs",
    "batch": "Batch size",
    "lr": "Learning rate",
    "optimizer": "Optimizer",
    "schedule": "LR schedule",
    "wd": "Weight decay",
    "subset": "Training images (subset; 0 = all)",
    "seed": "Seed",
    "augment": "Augmentation (random crop + flip)",
    "pretrained": "Start from ImageNet weights (fine-tuning)",
    "freeze": "Freeze the pretrained features",
    "resume_from": "Resume from checkpoint (optional)",
    "start": "Start",
    "pause": "Pause",
    "resume": "Resume",
    "stop": "Stop",
    "progress": "Progress",
    "loss_curve": "Loss",
    "acc_curve": "Accuracy (%)",
    "confusion": "Confusion matrix (rows: true class, columns: predicted)",
    "per_class": "Per-class test accuracy (%)",
    "ckpt_download": "Latest checkpoint",
    "snapshot_title": "### The network, as it learns",
    "snapshot_pick": "Show the network: live, or as it was after epoch N (0 = before training)",
    "snapshot_live": "live",
    "snapshot_refresh": "Refresh snapshot",
    "snapshot_filters": "**First-layer filters** (RGB)",
    "snapshot_maps": "**The probe image and its feature maps**, one layer per stage (its 6 most active channels)",
    "snapshot_top3": "The probe's top-3 predictions",
    "explain_snapshot": (
        "Snapshots are taken by the training thread itself, between batches: at the start, every few seconds, at "
        "each epoch end, and on pause and stop. **Filters**: the first conv's kernels as colour patches, each "
        "stretched to its own range (top), and what training has changed in each since the start (bottom). Random "
        "noise at step 0; small 3×3 kernels stay close to their start for a while, and their changes show the edge "
        "and colour detectors forming. **Feature maps**: one fixed test image (the probe) through the network, and "
        "at one layer per stage its most active channels (bright = strong). Early layers keep the outline; deeper "
        "ones are coarser and more abstract. Pick an epoch above to look back (0 vs the last one)."
    ),
    "explain_train": (
        "Training runs in a background thread on this server; every open browser tab sees the same run. The course "
        "notes reached 75.08 % (AlexNet-CIFAR) and 82.98 % (ResNet-18) test accuracy on CIFAR-10 with Adam 1e-3, "
        "batch 32, 50 epochs. `shapes` is a synthetic 10-class dataset generated on the fly for classrooms "
        "without network."
    ),
    "models_to_compare": "Models to compare (type any tv: name too, e.g. tv:mobilenet_v3_large)",
    "compare": "Compare",
    "explain_compare": (
        "Same input size for every model. Depth counts conv and linear layers on the main path, as a ResNet's name "
        "does (ResNet-18: 18); the next column counts the 1×1 convs on its shortcuts too (ResNet-18: 21). "
        "Activation memory is the sum of every layer's output at batch 1 in float32 (what a forward pass must hold "
        "for training)."
    ),
    # Inside one unit (issue 19): the "explain this unit" panel and the effective receptive field.
    "unit_title": "#### Explain this unit: its computation with the network's own numbers",
    "unit_position": "Position along the map (◀ ▶ step one unit; reading order)",
    "erf_images": "Images averaged (the uploaded one first, then the examples)",
    "erf_button": "Effective receptive field: random vs these weights",
    "erf_epochs_title": "### The effective receptive field, epoch by epoch",
    "erf_epochs_layer": "Layer (one per stage)",
    "unit_back": "◀ previous",
    "unit_next": "next ▶",
    "arch_inside": "Inside the selected layer: its strongest unit, computed, and its effective receptive field",
    # Runs side by side (issue 20): the run store's table, overlaid curves, the queue and exports.
    "recipe": "Recipe (fills the fields)",
    "recipe_dataset": "the dataset's classroom defaults",
    "recipe_notes": "the course notes' (Adam 1e-3, batch 32, 50 ep., all images)",
    "queue": "Queue",
    "queue_notes": "Queue the notes' comparison (AlexNet, ResNet-18, VGG-19)",
    "runs_title": "### Runs side by side",
    "runs_pick": "Runs to overlay (the live one updates as it trains)",
    "runs_x": "Horizontal axis",
    "runs_x_images": "images seen",
    "runs_x_seconds": "seconds of training",
    "runs_split": "Curves",
    "runs_split_test": "test (each epoch)",
    "runs_split_train": "training batches",
    "runs_acc": "Accuracy (%) of the runs picked",
    "runs_loss": "Loss of the runs picked",
    "queue_pick": "Queued run",
    "queue_start": "Go on with the queue (this run first)",
    "queue_skip": "Skip this run",
    "export_pick": "Run to export",
    "export_csv": "Metrics as CSV",
    "export_tb": "TensorBoard files",
    "export_file": "Exported file",
    "tb_missing": "TensorBoard export needs the tensorboard package on the server: `pip install tensorboard`.",
    "explain_runs": (
        "Every run is kept on this server, with its recipe, its curves and its results, across restarts. Tick "
        "several to draw their curves on one chart; **images seen** compares networks by the data they learned "
        "from (batch sizes differ), **seconds** by what they cost on this machine. The points are exactly those "
        "the trainer recorded, without smoothing. **Queue** trains runs one after another (one at a time); "
        "**Stop** holds the queue, **Skip** drops a waiting run or ends the one training and goes on."
    ),
    # One language at a time (issue 17): labels that showed both at once.
    "formulas": "Formulas",
    "image": "Image",
    "examples": "Examples",
    "gradcam_class_example": "e.g. 281 or tabby",
}

KO: dict[str, str] = {
    "title": "# CNN 구조 시각화\n실제 PyTorch 모델의 forward hook으로 살펴보는 VGG, AlexNet, ResNet.",
    "lang_code": "ko",
    "fold": "그리기",
    "through_image": "이미지로 보기: 이 층의 특징 맵과 수용 영역",
    "layer_maps": "선택한 층의 상위 특징 맵 (맵을 클릭하면 그 유닛의 수용 영역)",
    "tab_arch": "구조",
    "tab_stacks": "3×3 대 5×5",
    "tab_features": "특징 맵",
    "tab_train": "학습",
    "tab_compare": "비교",
    "model": "모델",
    "custom_cfg": "또는 직접 VGG 설계: vgg:64,64,M,128,M (3×3 합성곱 채널 수, M = 2×2 최대 풀링; BatchNorm은 vgg_bn:), "
    "또는 torchvision의 어떤 분류 모델이든: tv:mobilenet_v2, tv:efficientnet_b0, tv:convnext_tiny …",
    "input_size": "입력 크기 (C×H×W, 또는 정사각형 RGB 입력의 한 변)",
    "analyze": "분석",
    "layers": "층별 표",
    "totals": "합계",
    "explain_arch": (
        "합성곱·풀링의 **출력 크기**: `out = ⌊(in + 2·padding − dilation·(kernel−1) − 1) / stride⌋ + 1`.\n\n"
        "**수용 영역**(한 유닛이 보는 입력 픽셀 범위)은 층마다 커집니다: `r_l = r_{l−1} + (k_l − 1)·d_l·j_{l−1}`, "
        "점프(유효 stride)는 `j_l = j_{l−1}·s_l`. ResNet에서는 지름길(shortcut)이 덧셈에서 합쳐지므로, 덧셈 뒤의 "
        "수용 영역은 두 경로를 모두 포함합니다. 전역 풀링이나 flatten 뒤에는 모든 유닛이 입력 전체를 봅니다.\n\n"
        "합성곱의 **파라미터 수**: `C_in·C_out·k_h·k_w (+ 편향 C_out)`. **MAC**(곱셈-누산) 수는 두 가지 기준으로 "
        "보여 줍니다: *MACs (weights only)* 는 교과서 기준으로 합성곱은 `k_h·k_w·C_in/groups·C_out·H_out·W_out`, "
        "완전연결층은 `in·out` 입니다; *MACs (torchinfo)* 는 `torchinfo.summary` 와 같은 값으로, 합성곱은 모든 "
        "파라미터(편향 포함) × 출력 위치 수, 다른 층은 파라미터 수 그대로(BatchNorm: 2·C) 셉니다. "
        "VGG는 완전연결층이 파라미터 대부분을 차지하고, 연산은 대부분 합성곱층이 합니다. 다이어그램 아래 막대가 층마다 파라미터와 "
        "MAC을 보여줍니다.\n\n**상자(또는 행)를 클릭**하면 표 옆의 카드가 그 층의 숫자로 공식을 풀어 보여줍니다."
    ),
    "kernel": "쌓는 합성곱의 커널 크기 k",
    "repeats": "쌓는 합성곱의 개수 n",
    "in_ch": "입력 채널 수",
    "out_ch": "출력 채널 수",
    "compare_stacks": "비교",
    "explain_stacks": (
        "**왜 3×3 합성곱을 쌓을까?** k×k 합성곱 n개를 쌓으면 K×K 합성곱 하나와 같은 `K = n(k−1)+1` 크기를 보지만, "
        "가중치는 더 적고(3×3 두 개: 채널 쌍당 2·9 = 18 대 5×5 하나: 25; 3×3 세 개: 27 대 7×7: 49) 비선형 함수는 "
        "n개로 늘어나 더 싸고 표현력도 큽니다 (VGG, 2014)."
    ),
    "weights": "가중치",
    "weights_auto": "auto: 직접 만든 신경망은 받은 가중치 그대로(own), 아니면 ImageNet 가중치(캐시되었거나 내려받을 수 있을 "
    "때), 없으면 이 모델의 최근 학습 결과, 그것도 없으면 무작위",
    "checkpoint_path": "체크포인트 (가중치 = checkpoint일 때): 이 서버의 학습 결과와 올린 파일, 최신순",
    "upload_checkpoint": ".pt 올리기",
    "upload_imagenet": "ImageNet 가중치 올리기 (.pth)",
    "layer": "층",
    "top_n": "표시할 채널 수 (상위 N)",
    "rank_by": "채널 정렬 기준",
    "colormap": "컬러맵",
    "normalize": "정규화",
    "show": "특징 맵 보기",
    "grid": "특징 맵 (맵을 클릭하면 그 유닛의 수용 영역을 보여줍니다)",
    "net_input": "네트워크가 보는 입력",
    "overview": "개요: 단계별 맵 하나씩",
    "filters": "첫 번째 층의 필터",
    "top5": "상위 5개 예측",
    "gradcam": "Grad-CAM",
    "gradcam_layer": "Grad-CAM 층 (기본: 분류기 앞의 마지막 합성곱층)",
    "gradcam_class": "Grad-CAM 클래스 (비우면 최상위 예측)",
    "rf_overlay": "클릭한 유닛의 수용 영역",
    "explain_features": (
        "각 타일은 선택한 층의 한 채널 활성화 맵이며, 평균 또는 최대 활성화로 정렬됩니다. 앞쪽 층은 모서리와 색에, "
        "깊은 층은 더 크고 추상적인 패턴에 낮은 해상도로 반응합니다. Grad-CAM은 선택한 클래스 점수의 기울기로 합성곱층의 "
        "맵에 가중치를 줍니다. 맵을 클릭하면 입력 위의 상자가 그 유닛의 수용 영역입니다 (분석 엔진이 계산)."
    ),
    "dataset": "데이터셋",
    "epochs": "에폭 수",
    "batch": "배치 크기",
    "lr": "학습률",
    "optimizer": "옵티마이저",
    "schedule": "학습률 스케줄",
    "wd": "가중치 감쇠",
    "subset": "학습 이미지 수 (부분집합; 0 = 전체)",
    "seed": "시드",
    "augment": "데이터 증강 (무작위 자르기 + 좌우 반전)",
    "pretrained": "ImageNet 가중치에서 시작 (미세 조정)",
    "freeze": "사전 학습된 특징 추출부 고정",
    "resume_from": "체크포인트에서 이어서 학습 (선택)",
    "start": "시작",
    "pause": "일시 정지",
    "resume": "재개",
    "stop": "중지",
    "progress": "진행 상황",
    "loss_curve": "손실",
    "acc_curve": "정확도 (%)",
    "confusion": "혼동 행렬 (행: 실제 클래스, 열: 예측)",
    "per_class": "클래스별 테스트 정확도 (%)",
    "ckpt_download": "최근 체크포인트",
    "snapshot_title": "### 학습하는 동안의 네트워크",
    "snapshot_pick": "네트워크 보기: 실시간, 또는 N 에폭 후의 모습 (0 = 학습 전)",
    "snapshot_live": "실시간",
    "snapshot_refresh": "스냅숏 새로 고침",
    "snapshot_filters": "**첫 번째 층의 필터** (RGB)",
    "snapshot_maps": "**프로브 이미지와 특징 맵**, 단계마다 한 층 (가장 강하게 활성화된 채널 6개)",
    "snapshot_top3": "프로브 이미지의 상위 3개 예측",
    "explain_snapshot": (
        "스냅숏은 학습 스레드가 배치 사이에 직접 찍습니다: 시작할 때, 몇 초마다, 에폭이 끝날 때마다, 그리고 일시 정지와 "
        "중지할 때. **필터**: 첫 번째 합성곱의 커널을 색 패치로 보여 주며, 각각 자기 범위로 늘려 그립니다 (위). 아래는 "
        "시작 이후 학습이 각 커널을 바꾼 만큼입니다. 0 단계에서는 무작위 잡음이고, 작은 3×3 커널은 한동안 시작 때와 "
        "비슷해 보이지만 그 변화에서 모서리·색 검출기가 생겨나는 것이 보입니다. **특징 맵**: 고정된 테스트 이미지 하나(프로브)를 네트워크에 "
        "넣고, 단계마다 한 층에서 가장 강하게 활성화된 채널을 보여 줍니다 (밝을수록 강함). 앞쪽 층은 윤곽을 유지하고, 깊은 "
        "층은 더 거칠고 추상적입니다. 위에서 에폭을 골라 지난 모습을 볼 수 있습니다 (0과 마지막 에폭 비교)."
    ),
    "explain_train": (
        "학습은 이 서버의 백그라운드 스레드에서 실행되며, 열려 있는 모든 브라우저 탭이 같은 학습을 봅니다. 강의 노트는 "
        "CIFAR-10에서 Adam 1e-3, 배치 32, 50 에폭으로 75.08 %(AlexNet-CIFAR), 82.98 %(ResNet-18)의 테스트 정확도를 "
        "얻었습니다. `shapes`는 네트워크 없는 교실을 위해 즉석에서 만드는 10개 클래스의 합성 데이터셋입니다."
    ),
    "models_to_compare": "비교할 모델 (tv: 이름도 입력 가능, 예: tv:mobilenet_v3_large)",
    "compare": "비교",
    "explain_compare": (
        "모든 모델에 같은 입력 크기를 씁니다. 깊이는 주 경로의 합성곱층과 완전연결층 수로, ResNet 이름의 숫자와 같습니다 "
        "(ResNet-18: 18). 다음 열은 지름길의 1×1 합성곱까지 셉니다 (ResNet-18: 21). 활성화 메모리는 배치 1, float32에서 "
        "모든 층 출력의 합입니다 (학습할 때 forward가 들고 있어야 하는 양)."
    ),
    # Inside one unit (issue 19): the "explain this unit" panel and the effective receptive field.
    "unit_title": "#### 이 유닛 풀어 보기: 네트워크의 실제 숫자로 한 계산",
    "unit_position": "맵 위의 위치 (◀ ▶ 한 유닛씩; 읽는 순서)",
    "erf_images": "평균낼 이미지 수 (올린 이미지 먼저, 그다음 예시)",
    "erf_button": "유효 수용 영역: 무작위 가중치 대 이 가중치",
    "erf_epochs_title": "### 에폭별 유효 수용 영역",
    "erf_epochs_layer": "층 (단계마다 하나)",
    "unit_back": "◀ 이전",
    "unit_next": "다음 ▶",
    "arch_inside": "선택한 층의 안쪽: 가장 강한 유닛의 계산과 유효 수용 영역",
    # Runs side by side (issue 20): the run store's table, overlaid curves, the queue and exports.
    "recipe": "학습 레시피 (입력란을 채웁니다)",
    "recipe_dataset": "데이터셋의 수업용 기본값",
    "recipe_notes": "강의 노트의 설정 (Adam 1e-3, 배치 32, 50 에폭, 전체 이미지)",
    "queue": "대기열에 추가",
    "queue_notes": "노트의 비교를 대기열에 추가 (AlexNet, ResNet-18, VGG-19)",
    "runs_title": "### 실행 나란히 보기",
    "runs_pick": "겹쳐 볼 실행 (학습 중인 실행은 계속 갱신됩니다)",
    "runs_x": "가로축",
    "runs_x_images": "본 이미지 수",
    "runs_x_seconds": "학습 시간 (초)",
    "runs_split": "곡선",
    "runs_split_test": "테스트 (에폭마다)",
    "runs_split_train": "학습 배치",
    "runs_acc": "고른 실행의 정확도 (%)",
    "runs_loss": "고른 실행의 손실",
    "queue_pick": "대기 중인 실행",
    "queue_start": "대기열 계속 (이 실행 먼저)",
    "queue_skip": "이 실행 건너뛰기",
    "export_pick": "내보낼 실행",
    "export_csv": "지표 CSV",
    "export_tb": "TensorBoard 파일",
    "export_file": "내보낸 파일",
    "tb_missing": "TensorBoard로 내보내려면 서버에 tensorboard 패키지가 필요합니다: `pip install tensorboard`.",
    "explain_runs": (
        "모든 실행은 설정, 곡선, 결과와 함께 이 서버에 저장되며 서버를 다시 시작해도 남습니다. 여러 개를 고르면 "
        "한 차트에 곡선을 겹쳐 그립니다. **본 이미지 수**는 네트워크가 배운 데이터의 양으로 비교하고 (배치 크기가 "
        "달라도), **학습 시간**은 이 컴퓨터에서 든 시간으로 비교합니다. 점은 학습기가 기록한 그대로이며 평활화하지 "
        "않습니다. **대기열에 추가**하면 하나씩 차례로 학습합니다. **중지**는 대기열을 멈추고, **건너뛰기**는 기다리는 "
        "실행을 빼거나 학습 중인 실행을 끝내고 다음으로 넘어갑니다."
    ),
}

# The Lesson tab and presentation mode (issue 17).
EN |= {
    "tab_lesson": "Lesson",
    "lesson_step": "Step",
    "lesson_next": "Next step ▶",
    "lesson_open": "Open in its tab",
    "lesson_answer": "Your answer (a whole number)",
    "lesson_check": "Check",
    "present": "Presentation mode",
}
KO |= {
    "tab_lesson": "수업",
    "lesson_step": "단계",
    "lesson_next": "다음 단계 ▶",
    "lesson_open": "해당 탭에서 열기",
    "lesson_answer": "답 (정수 하나)",
    "lesson_check": "확인",
    "present": "발표 모드",
    # One language at a time (issue 17): labels that showed both at once.
    "formulas": "공식",
    "image": "이미지",
    "examples": "예시",
    "gradcam_class_example": "예: 281 또는 tabby",
}

assert EN.keys() == KO.keys(), set(EN) ^ set(KO)

# The one translation object: every label asks it (``i18n("key")``), and ``launch`` hands it to the page.
i18n = gr.I18n(en=EN, ko=KO)
