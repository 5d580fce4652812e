"""Which font an overlay request renders with (no database)."""
from services.imaging.fonts import covers_hangul, default_font_path, font_by_name, font_path_of, shipped_fonts
from services.stages.image import overlay_font

LATIN_ONLY = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_font_names_are_matched_loosely_and_unknown_ones_are_none():
    serif = shipped_fonts()["NotoSerifKR-Regular"]
    for name in ("Noto Serif KR", "NotoSerifKR-Regular.otf", "notoserifkr", "noto_serif_kr-regular"):
        assert font_by_name(name) == serif, name
    assert font_by_name("Comic Sans") is None
    assert font_by_name("DejaVu Sans", LATIN_ONLY) == LATIN_ONLY  # the configured FONT_PATH by its name


def test_korean_text_always_gets_a_hangul_font():
    assert covers_hangul(default_font_path()) and not covers_hangul(LATIN_ONLY)
    assert overlay_font("맛있는 커피", None, LATIN_ONLY) == default_font_path()
    assert overlay_font("Fresh coffee", None, LATIN_ONLY) == LATIN_ONLY  # Latin text keeps the configured font
    serif = shipped_fonts()["NotoSerifKR-Regular"]
    assert overlay_font("맛있는 커피", "Noto Serif KR", LATIN_ONLY) == serif


def test_evaluations_find_the_font_the_layout_was_rendered_with():
    serif = shipped_fonts()["NotoSerifKR-Regular"]
    assert font_path_of({"font": "NotoSerifKR-Regular.otf"}, LATIN_ONLY) == serif
    assert font_path_of({"font": "DejaVuSans.ttf"}, LATIN_ONLY) == LATIN_ONLY
    assert font_path_of({}, LATIN_ONLY) == LATIN_ONLY
