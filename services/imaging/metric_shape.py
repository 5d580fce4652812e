"""How evaluation metrics are stored: each metric's number under its own key, its description beside it.

The earlier service's readers do `float(metrics["similarity"])`: a key keeps its type. So a metric's value is
stored bare under its name, and what describes it (unit, direction, threshold, passed, gates, description) moves
to `metrics["metric_details"][name]`. Rows written before this change hold `{value, unit, ...}` objects under
the names; `described` reads both.
"""
DETAILS = "metric_details"


def flatten(metrics: dict) -> dict:
    """Bare values under the metric names; the rest of each metric object under metrics["metric_details"]."""
    out: dict = {}
    details: dict = {}
    for name, item in metrics.items():
        if isinstance(item, dict) and "value" in item:
            out[name] = item["value"]
            details[name] = {k: v for k, v in item.items() if k != "value"}
        else:
            out[name] = item
    out[DETAILS] = details
    return out


def described(metrics: dict) -> dict:
    """Every metric as {value, unit, ...}, from a row in either shape (bare + details, or objects)."""
    details = metrics.get(DETAILS) or {}
    out = {}
    for name, item in metrics.items():
        if name == DETAILS:
            continue
        if isinstance(item, dict) and "value" in item:
            out[name] = item
        elif name in details:
            out[name] = {"value": item, **details[name]}
    return out
