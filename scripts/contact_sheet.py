"""Contact sheet: N photos x three copies rendered by the offline stages into one PNG, to judge a change at a glance.

Each row is one job (one copy), each column one variant (one photo). A cell shows the rendered creative,
the planner's box (green: the variant the selection rule picks for that job), and its scores.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from config import get_settings
from scripts.bench_quality import COPIES
from services.engine.selection import rank_key
from services.imaging import iou as iou_eval
from services.imaging import readability
from services.imaging.fonts import load_font
from services.imaging.formats import FORMATS, render_format
from services.imaging.imageio import load_rgb
from services.imaging.overlay import render
from services.imaging.saliency import saliency_map
from services.imaging.typescale import cap_share
from services.stages.evaluate import JUDGE_PASS
from services.stages.image import ImageInputs, Planner, VlmAnalyze
from services.stages.registry import Models

CELL = 300  # px width of one creative on the sheet
CAPTION = 74


def _variant(models: Models, path: Path, rgb: np.ndarray, copy: str) -> dict:
    """One variant through analyze, detect, plan, render and the offline evaluations."""
    analysed = VlmAnalyze(models).run(ImageInputs(None, path, text=copy))
    text = analysed["refined"].data["refined_ad_copy_eng"] if analysed["refined"] else copy
    sal = saliency_map(rgb)
    dets = [d.to_json() for d in models.detector.detect(rgb, sal)]
    best = Planner(models).run(ImageInputs(None, path, text=text, detections=dets))["candidates"][0]
    image, layout = render(rgb, text, best, models.font_path)
    read = readability.evaluate(image, layout, text, models.font_path)
    overlap = iou_eval.evaluate(layout["box"], dets, sal)
    judge = models.vlm.judge(image, layout["box"], {
        "contrast_ratio": read["contrast_ratio"]["value"], "rea": read["rea"]["value"],
        "occ": overlap["occ"]["value"], "max_iou": overlap["max_iou"]["value"]})
    evals = {"readability": read, "iou": overlap,
             "llava_judge": {"overall": judge["overall"], "passed": judge["overall"] >= JUDGE_PASS
                             and not judge["covers_product"]}}
    return {"copy": copy, "image": image, "layout": layout, "plan_score": best["score"], "judge": judge, "evals": evals,
            "faces": [d["box"] for d in dets if d["label"] == "face"],
            "cap": cap_share(layout["font_size"], rgb.shape[1], rgb.shape[0], models.font_path)}


def _cell(v: dict, selected: bool) -> Image.Image:
    """The creative scaled to CELL px wide with its box, faces and a caption of scores."""
    img = Image.fromarray(v["image"])
    s = CELL / img.width
    img = img.resize((CELL, round(img.height * s)), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (CELL, img.height + CAPTION), "white")
    cell.paste(img, (0, 0))
    draw = ImageDraw.Draw(cell)
    x, y, w, h = (round(c * s) for c in v["layout"]["box"])
    pad = 3 if selected else 1  # drawn just outside the box, so the outline never hides a glyph
    draw.rectangle([x - pad, y - pad, x + w + pad, y + h + pad], outline=(0, 200, 0) if selected else (255, 170, 0),
                   width=pad)
    for fx1, fy1, fx2, fy2 in v["faces"]:
        draw.rectangle([fx1 * s, fy1 * s, fx2 * s, fy2 * s], outline=(255, 0, 255), width=1)
    font = load_font(None, 12)
    ev, j = v["evals"], v["judge"]
    lines = [("SELECTED  " if selected else "") + f"plan {v['plan_score']:+.2f}  judge {j['overall']:.1f}"
             + ("  COVERS" if j["covers_product"] else ""),
             f"WCAG {ev['readability']['contrast_ratio']['value']:.1f}  Occ {ev['iou']['occ']['value']:.3f}  "
             f"IoA {ev['iou']['max_ioa']['value']:.2f}",
             f"{v['layout']['font_size']} px, cap {100 * v['cap']:.1f}% of short side, {len(v['layout']['lines'])} lines",
             f"copy_fits={v['layout'].get('copy_fits')}  whole={' '.join(v['layout']['lines']) == v['copy']}"]
    for i, line in enumerate(lines):
        draw.text((4, img.height + 3 + 17 * i), line, fill=(0, 120, 0) if selected and i == 0 else "black", font=font)
    return cell


def formats_sheet(models: Models, paths: list[Path], copies: list[str]) -> Image.Image:
    """One row per photo and copy: the render at the generated size, then 1:1, 4:5 and 9:16, each its own plan."""
    height = 360  # every cell this tall, so the shapes compare at a glance
    rows = []
    for path in paths:
        rgb = load_rgb(path)
        sal = saliency_map(rgb)
        dets = [d.to_json() for d in models.detector.detect(rgb, sal)]
        for copy in copies:
            best = Planner(models).run(ImageInputs(None, path, text=copy, detections=dets))["candidates"][0]
            cells = [("original", render(rgb, copy, best, models.font_path)[0])]
            cells += [(name, render_format(rgb, dets, copy, name, models.font_path, sal)["image"]) for name in FORMATS]
            imgs = [Image.fromarray(img).resize((round(img.shape[1] * height / img.shape[0]), height), Image.Resampling.LANCZOS)
                    for _, img in cells]
            row = Image.new("RGB", (sum(i.width for i in imgs) + 8 * len(imgs), height + 20), "white")
            x = 0
            for (name, _), img in zip(cells, imgs):
                row.paste(img, (x, 20))
                ImageDraw.Draw(row).text((x + 2, 3), f"{path.stem} {name}", fill="black", font=load_font(None, 13))
                x += img.width + 8
            rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 10 for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 10
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", help="image files (default: assets/samples/*.png)")
    parser.add_argument("--out", default="docs/contact_sheet.png")
    parser.add_argument("--formats", action="store_true",
                        help="each photo with the long copy in every format side by side (docs/contact_sheet_formats.png)")
    args = parser.parse_args(argv)
    settings = get_settings()
    paths = [Path(p) for p in args.photos] or sorted((Path(__file__).resolve().parents[1] / "assets/samples").glob("*.png"))
    # The real stage code with the default backends and the offline writer (OCR is not loaded: not read here).
    models = Models(settings.model_copy(update={"openai_base_url": "", "openai_api_key": "", "vlm_backend": "default",
                                                "detector_backend": "default"}))
    if args.formats:
        sheet = formats_sheet(models, paths, [COPIES["short"], COPIES["long"]])
        out = Path(args.out)
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        print(f"{out}: {sheet.width}x{sheet.height}, {out.stat().st_size // 1024} KiB")
        return 0
    rgbs = {p: load_rgb(p) for p in paths}
    rows = []
    for copy in COPIES.values():
        variants = [_variant(models, p, rgbs[p], copy) for p in paths]
        best = min(range(len(variants)), key=lambda i: rank_key(variants[i]["evals"], i))
        cells = [_cell(v, i == best) for i, v in enumerate(variants)]
        height = max(c.height for c in cells)
        row = Image.new("RGB", (CELL * len(cells) + 8 * (len(cells) - 1), height + 22), "white")
        ImageDraw.Draw(row).text((4, 2), f"copy: {copy!r}", fill="black", font=load_font(None, 14))
        for i, c in enumerate(cells):
            row.paste(c, (i * (CELL + 8), 22))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 10 for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 10
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {sheet.width}x{sheet.height}, {out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
