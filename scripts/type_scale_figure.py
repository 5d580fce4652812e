"""README figure of the type scale: its steps at Instagram size, and one copy planned on a tall, wide and square photo."""
import argparse
from pathlib import Path

import cv2
from PIL import Image, ImageDraw
from skimage import data

from config import Settings
from services.backends.factory import make_detector
from services.imaging.fonts import load_font
from services.imaging.overlay import render
from services.imaging.planner import plan
from services.imaging.saliency import saliency_map
from services.imaging.typescale import SCALE, cap_ratio, cap_share

SIDE = 1080  # an Instagram post's short side
HEADLINE = "Summer sale: 30% off all iced drinks until Sunday"


def specimen() -> Image.Image:
    """Each step's smallest and largest size on a 1080 px wide canvas, with the px and phone pt figures."""
    img = Image.new("RGB", (SIDE, 760), "white")
    draw = ImageDraw.Draw(img)
    y = 20
    for step in SCALE:
        lo, hi = (round(c * SIDE / cap_ratio(None)) for c in (step.cap_lo, step.cap_hi))
        chars = "longer copy" if step.max_chars == float("inf") else f"copy up to {step.max_chars:g} chars"
        label = (f"{step.name} ({chars}): cap {100 * step.cap_lo:.1f}-{100 * step.cap_hi:.1f} % of the short side, "
                 f"font {lo}-{hi} px at 1080, {lo * 0.36:.0f}-{hi * 0.36:.0f} pt on a phone")
        draw.text((20, y), label, fill=(90, 90, 90), font=load_font(None, 26))
        y += 36
        for size in (lo, hi):
            draw.text((20, y), "Iced coffee season", fill="black", font=load_font(None, size))
            y += round(size * 1.25)
        y += 16
    return img.crop((0, 0, SIDE, y))


def shapes() -> Image.Image:
    """The headline copy planned and rendered on a 9:16, a 1.91:1 and a 1:1 version of one photo."""
    tiles = []
    detector = make_detector(Settings(_env_file=None))[0]  # type: ignore[call-arg]
    for w, h in ((1080, 1920), (1910, 1000), (1080, 1080)):
        rgb = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_CUBIC)
        text = HEADLINE
        sal = saliency_map(rgb)
        dets = [d.to_json() for d in detector.detect(rgb, sal)]
        out, layout = render(rgb, text, plan(rgb, sal, dets, text)[0])
        tile = Image.fromarray(out).resize((round(w * 480 / h), 480), Image.Resampling.LANCZOS)
        ImageDraw.Draw(tile).text((8, 452), f"{w}x{h}: {layout['font_size']} px, cap "
                                  f"{100 * cap_share(layout['font_size'], w, h, None):.1f} %",
                                  fill="white", font=load_font(None, 16), stroke_width=2, stroke_fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 16 * (len(tiles) - 1), 480), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 16
    return sheet


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)  # no options: --help says what it draws
    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    for name, img in (("type_scale.png", specimen()), ("type_scale_shapes.png", shapes())):
        img = img.resize((min(img.width, 900), round(img.height * min(img.width, 900) / img.width)), Image.Resampling.LANCZOS)
        img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(docs / name, optimize=True)
        print(docs / name, img.size, (docs / name).stat().st_size // 1024, "KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
