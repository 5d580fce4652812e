"""Sample photos, copies and hand-placed subject boxes shared by the layout and evaluation tests."""
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"
TEXT_EN = "Fresh espresso, every morning"
TEXT_KO = "갓 내린 에스프레소, 매일 아침 맛있는 한 잔"
DETECTIONS = {
    "coffee": [{"box": [180, 110, 440, 330], "label": "cup", "score": 0.9}],
    "astronaut": [{"box": [20, 10, 370, 512], "label": "person", "score": 0.9}],
    "chelsea": [{"box": [130, 60, 370, 280], "label": "cat", "score": 0.9}],
}
