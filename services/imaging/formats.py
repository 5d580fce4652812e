"""Instagram formats: a 1080 px wide frame per aspect, cut from the photo around its subject or extended by a blur."""
import cv2
import numpy as np

from services.imaging import planner
from services.imaging.faces import FACE_LABELS
from services.imaging.overlay import render
from services.imaging.saliency import saliency_map

FORMATS = {"1:1": (1080, 1080), "4:5": (1080, 1350), "9:16": (1080, 1920)}  # feed grid, feed, stories and reels
POSITIONS = 33  # offsets tried along the axis the frame cuts
# The fit framing (the whole photo, extended) must beat the cut's best score by this much: a filled frame shows the
# product larger, so the extension is taken only where it buys a clearly better place for the copy.
FIT_COST = 0.3


def subject_box(detections: list[dict]) -> tuple[float, float, float, float] | None:
    """Union of every detected box (faces, subjects, objects): what no frame may cut."""
    boxes = np.array([d["box"][:4] for d in detections], dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return None
    return float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())


def _offset(length: float, window: float, span: tuple[float, float] | None, profile: np.ndarray) -> float:
    """Where a window of `window` px starts along an axis of `length` px: keeps the span, holds the most saliency."""
    if window >= length:
        return -(window - length) / 2  # the photo is shorter than the frame here: centred, extended on both sides
    lo, hi = 0.0, length - window
    if span is not None:
        lo, hi = max(lo, span[1] - window), min(hi, span[0])
    if hi <= lo:
        return min(max(lo, 0.0), length - window)
    cum = np.concatenate([[0.0], np.cumsum(profile)])
    scale = len(profile) / length
    starts = np.linspace(lo, hi, POSITIONS)
    mass = [cum[min(len(profile), round((s + window) * scale))] - cum[round(s * scale)] for s in starts]
    return float(starts[int(np.argmax(mass))])


def frame_window(W: int, H: int, size: tuple[int, int], subject, saliency: np.ndarray,
                 fit: bool = False) -> tuple[float, ...]:
    """(x0, y0, width, height) in photo pixels of the frame's view: as much photo as the aspect allows, subject whole
    (fit: the whole photo, the frame extended beyond it along one axis)."""
    aspect = size[0] / size[1]
    ww, wh = (H * aspect, float(H)) if (W / H > aspect) != fit else (float(W), W / aspect)
    if subject is not None:
        sw, sh = subject[2] - subject[0], subject[3] - subject[1]
        if sw > ww:  # the subject is wider than the cut: widen the view (the frame extends above and below)
            ww, wh = sw, sw / aspect
        if sh > wh:
            ww, wh = sh * aspect, sh
    x0 = _offset(W, ww, (subject[0], subject[2]) if subject else None, saliency.sum(axis=0))
    y0 = _offset(H, wh, (subject[1], subject[3]) if subject else None, saliency.sum(axis=1))
    return x0, y0, ww, wh


def reframe(rgb: np.ndarray, size: tuple[int, int], subject, saliency: np.ndarray,
            fit: bool = False) -> tuple[np.ndarray, dict]:
    """The frame's pixels (the photo scaled into its window, a blurred copy of the photo beyond it) and its record."""
    H, W = rgb.shape[:2]
    x0, y0, ww, wh = frame_window(W, H, size, subject, saliency, fit)
    f = size[0] / ww
    extended = x0 < -0.5 or y0 < -0.5 or x0 + ww > W + 0.5 or y0 + wh > H + 0.5
    if extended:
        # Fill: the photo scaled to cover the frame and blurred, so the extension reads as the photo's own light,
        # is calm (low saliency: the planner may put the copy there) and shows no hard seam.
        # Blurred at 1/8 scale and scaled up: the same look at ~1/50 of the cost of a full-size blur.
        small = (size[0] // 8, size[1] // 8)
        cover = max(small[0] / W, small[1] / H)
        bg = cv2.resize(rgb, (max(small[0], round(W * cover)), max(small[1], round(H * cover))),
                        interpolation=cv2.INTER_AREA)
        bx, by = (bg.shape[1] - small[0]) // 2, (bg.shape[0] - small[1]) // 2
        bg = cv2.GaussianBlur(bg[by:by + small[1], bx:bx + small[0]], (0, 0), 0.03 * small[0])
        canvas = cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
    else:
        canvas = np.zeros((size[1], size[0], 3), np.uint8)
    m = np.array([[f, 0, -x0 * f], [0, f, -y0 * f]], dtype=np.float32)
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    frame = cv2.warpAffine(rgb, m, size, dst=np.ascontiguousarray(canvas), flags=interp,
                           borderMode=cv2.BORDER_TRANSPARENT)
    photo = [round(max(0.0, -x0 * f)), round(max(0.0, -y0 * f)), round(min(size[0], (W - x0) * f)),
             round(min(size[1], (H - y0) * f))]
    return frame, {"window": [round(v, 1) for v in (x0, y0, ww, wh)], "scale": round(f, 4),
                   "fill": "blur" if extended else "none", "photo_box": photo}


def to_frame(box, record: dict, size: tuple[int, int]) -> list[float]:
    """A photo box (x1, y1, x2, y2) in the frame's pixels, clipped to the frame."""
    x0, y0 = record["window"][:2]
    f = record["scale"]
    return [min(max(0.0, (box[0] - x0) * f), size[0]), min(max(0.0, (box[1] - y0) * f), size[1]),
            min(max(0.0, (box[2] - x0) * f), size[0]), min(max(0.0, (box[3] - y0) * f), size[1])]


def _planned(rgb: np.ndarray, size: tuple[int, int], subject, saliency: np.ndarray, fit: bool,
             detections: list[dict], text: str, font_path: str | None) -> tuple:
    """One framing of the photo and the planner's best candidate on it: (frame, record, detections, best)."""
    frame, record = reframe(rgb, size, subject, saliency, fit)
    dets = [{**d, "box": to_frame(d["box"], record, size)} for d in detections]
    dets = [d for d in dets if d["box"][2] > d["box"][0] and d["box"][3] > d["box"][1]]
    best = planner.plan(frame, saliency_map(frame), dets, text, font_path)[0]
    record["fit"] = fit
    return frame, record, dets, best


def render_format(rgb: np.ndarray, detections: list[dict], text: str, name: str, font_path: str | None,
                  saliency: np.ndarray | None = None) -> dict:
    """One format planned and rendered for its own frame: image, layout, frame record, detections in the frame.

    Two framings are planned: the cut (as much photo as the aspect allows) and, where it differs, the fit (the whole
    photo, extended): where the cut leaves no calm room for the copy, the extension gives it some."""
    size = FORMATS[name]
    saliency = saliency_map(rgb) if saliency is None else saliency
    subject = subject_box(detections)
    H, W = rgb.shape[:2]
    chosen = _planned(rgb, size, subject, saliency, False, detections, text, font_path)
    if frame_window(W, H, size, subject, saliency, fit=True)[2] > chosen[1]["window"][2] + 0.5:
        framed = _planned(rgb, size, subject, saliency, True, detections, text, font_path)
        if framed[3]["score"] - FIT_COST > chosen[3]["score"]:
            chosen = framed
    frame, record, dets, best = chosen
    image, layout = render(frame, text, best, font_path)
    faces = [d["box"] for d in dets if d.get("label") in FACE_LABELS]
    x, y, w, h = layout["box"]
    over_face = any(min(x + w, b[2]) > max(x, b[0]) and min(y + h, b[3]) > max(y, b[1]) for b in faces)
    record.update(format=name, width=size[0], height=size[1],
                  subject_box=to_frame(subject, record, size) if subject else None, text_over_face=over_face)
    layout.update(text=text, format=name, frame=record, score=best["score"])
    return {"format": name, "image": image, "layout": layout, "detections": dets, "frame": frame}
