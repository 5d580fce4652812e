"""What goes into JSONB columns: NumPy values as plain JSON, NUL characters dropped."""
import json

import numpy as np

from database import dump_json


def test_numpy_and_nul():
    text = dump_json({"score": np.float32(0.5), "box": np.array([1, 2]), "reply": "a\x00b", "raw": "back\\u0000"})
    assert json.loads(text) == {"score": 0.5, "box": [1, 2], "reply": "ab", "raw": "back\\u0000"}
    assert "\\u0000" not in text.replace("\\\\u0000", "")  # PostgreSQL would refuse the escape
