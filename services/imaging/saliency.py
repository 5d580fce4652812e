"""Spectral-residual saliency (Hou & Zhang, CVPR 2007) in NumPy/OpenCV, no contrib build."""
import cv2
import numpy as np

_WORK_SIDE = 64  # the method works on a small thumbnail by design


def saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Saliency of every pixel as float32 in [0, 1], same height and width as the image."""
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (_WORK_SIDE, _WORK_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (9, 9), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(sal.min()), float(sal.max())
    return ((sal - lo) / (hi - lo + 1e-12)).astype(np.float32)
