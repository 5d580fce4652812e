"""EasyOCR's gen2 recognisers (english_g2; korean_g2 when configured) as ONNX: exported once, run by ONNX Runtime.

PyTorch costs the process ~1 GB just by being imported, and its eager CPU kernels took ~30 % longer per word
than ONNX Runtime here; so torch only runs once, in a child process, to write the ONNX file into a cache.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

MODEL_HEIGHT = 64  # english_g2 reads images 64 px tall
WEIGHTS = "english_g2.pth"
NETWORKS = {"english_g2": ["en"], "korean_g2": ["ko", "en"]}  # EasyOCR's language lists for each network
EXPORT_VERSION = 1  # bump when export() changes what it writes


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/feedlyai (~/.cache/feedlyai): where the exported model is kept."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedlyai"


def export(weights_dir: str, destination: Path, network: str = "english_g2") -> None:
    """Build a gen2 recogniser in fp32 with EasyOCR and write it as ONNX, its character set in the file's metadata."""
    import warnings

    import easyocr
    import onnx
    import torch

    with warnings.catch_warnings():  # torch deprecations inside EasyOCR, not ours to fix
        warnings.simplefilter("ignore")
        reader = easyocr.Reader(NETWORKS[network], gpu=False, detector=False, download_enabled=False, quantize=False,
                                model_storage_directory=weights_dir, recog_network=network, verbose=False)
    model = reader.recognizer.eval().requires_grad_(False)

    class Recogniser(torch.nn.Module):
        """EasyOCR's Model.forward without its text argument; AdaptiveAvgPool2d((None, 1)) written as a mean."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, image):
            features = self.model.FeatureExtraction(image).mean(dim=2).permute(0, 2, 1)  # batch, steps, channels
            return self.model.Prediction(self.model.SequenceModeling(features).contiguous())

    partial = destination.with_name(destination.name + f".{os.getpid()}.part")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Recogniser().eval(), (torch.zeros(1, 1, MODEL_HEIGHT, 4 * MODEL_HEIGHT),),
                              str(partial), input_names=["image"], output_names=["logits"], opset_version=17,
                              dynamo=False, dynamic_axes={"image": {0: "batch", 3: "width"},
                                                          "logits": {0: "batch", 1: "steps"}})
        proto = onnx.load(str(partial))
        # Characters outside the languages that the model knows anyway: EasyOCR zeroes them before decoding.
        ignored = [i + 1 for i, c in enumerate(reader.character) if c not in set(reader.lang_char)]
        for key, value in {"characters": json.dumps(list(reader.character)), "ignored": json.dumps(ignored),
                           "source": f"EasyOCR {easyocr.__version__} {network}", "network": network}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(partial))
        os.replace(partial, destination)  # atomic: a reader never sees half a file
    finally:
        partial.unlink(missing_ok=True)


def ensure_onnx(weights_dir: str, cache_dir: Path | None = None, network: str = "english_g2") -> Path:
    """The cached ONNX model for these weights, exported first if missing (once, whoever asks at the same time)."""
    weights = Path(weights_dir, f"{network}.pth")
    if not weights.is_file():
        raise RuntimeError(f"OCR weights not found: {weights}")
    digest = hashlib.md5(weights.read_bytes()).hexdigest()[:12]
    folder = cache_dir or default_cache_dir()
    destination = folder / f"{network}-{digest}-v{EXPORT_VERSION}.onnx"
    if destination.is_file():
        return destination
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # worker processes start together: one exports, the others wait
        if not destination.is_file():
            # A child process: importing torch here would keep ~1 GB in this one for good.
            done = subprocess.run([sys.executable, "-m", "services.imaging.recogniser", str(weights_dir),
                                   str(destination), network], capture_output=True, text=True, timeout=600)
            if done.returncode != 0 or not destination.is_file():
                raise RuntimeError(f"OCR model export failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return destination


class OnnxRecogniser:
    """Reads one word box at a time exactly as EasyOCR's Reader.recognize does on the CPU, greedy decoding."""

    name = "easyocr-english_g2-onnxruntime"

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # the worker processes are the parallelism
        self.path = path
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        self._characters = np.array(["", *json.loads(meta["characters"])])  # class 0 is CTC's blank
        self._ignored = json.loads(meta["ignored"])
        self.name = f"easyocr-{meta.get('network', 'english_g2')}-onnxruntime"

    def read(self, grey: np.ndarray, box: list[int]) -> tuple[str, float]:
        """Text and confidence of one [x0, x1, y0, y1] box of a greyscale uint8 image."""
        height, width = grey.shape
        x0, x1, y0, y1 = max(0, box[0]), min(box[1], width), max(0, box[2]), min(box[3], height)
        if x1 <= x0 or y1 <= y0:
            return "", 0.0
        ratio = (x1 - x0) / (y1 - y0)
        # EasyOCR passes PIL's LANCZOS constant (1) to cv2.resize, which is INTER_LINEAR there.
        crop = cv2.resize(grey[y0:y1, x0:x1], (max(1, int(MODEL_HEIGHT * ratio)), MODEL_HEIGHT),
                          interpolation=cv2.INTER_LINEAR)
        # Padded to a whole number of heights with its last column, as EasyOCR's NormalizePAD does.
        padded_width = MODEL_HEIGHT * int(np.ceil(max(ratio, 1.0)))
        crop = np.pad(crop, ((0, 0), (0, max(0, padded_width - crop.shape[1]))), mode="edge")
        image = (crop.astype(np.float32) / 127.5 - 1.0)[None, None]
        logits = self._session.run(None, {"image": image})[0][0]  # Run is thread-safe (WORKER_PROCESSES=0)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs[:, self._ignored] = 0.0
        probs /= probs.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)  # CTC: collapse repeats, drop blanks
        confident = probs.max(axis=1)[best != 0]
        confidence = float(confident.prod() ** (2.0 / np.sqrt(len(confident)))) if len(confident) else 0.0
        return "".join(self._characters[best[keep]]), confidence


if __name__ == "__main__":  # python -m services.imaging.recogniser WEIGHTS_DIR DESTINATION [NETWORK] (ensure_onnx)
    export(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:4])
