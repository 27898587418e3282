"""SVG charts of the metrics page, drawn on the server: no script, no
library, readable in any browser and in a screenshot."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36
SERIES = (("accuracy", "#2457c5", _("Accuracy")), ("macro_f1", "#c2571a", _("Macro F1")))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: float


def _y(value: float) -> float:
    return TOP + (1 - value) * (HEIGHT - TOP - BOTTOM)


def metrics_chart(history: list[dict]) -> dict:
    """Lines of accuracy and macro F1 per ready version (x: version, y: 0-1)."""
    ready = [row for row in history if row.get("accuracy") is not None]
    span = max(len(ready) - 1, 1)
    plot_width = WIDTH - LEFT - RIGHT
    lines = []
    for key, color, name in SERIES:
        points = [
            Point(
                x=round(LEFT + (i / span if len(ready) > 1 else 0.5) * plot_width, 1),
                y=round(_y(row[key]), 1),
                label=f"v{row['version']}",
                value=row[key],
            )
            for i, row in enumerate(ready)
            if row.get(key) is not None
        ]
        lines.append(
            {
                "key": key,
                "name": name,
                "color": color,
                "points": points,
                "path": " ".join(f"{p.x},{p.y}" for p in points),
            }
        )
    grid = [{"y": round(_y(v / 5), 1), "label": f"{v / 5:.1f}"} for v in range(6)]
    axis = lines[0]["points"] if lines else []
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "lines": lines,
        "grid": grid,
        "axis": axis,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM,
    }


def label_bars(counts: dict[str, int]) -> list[dict]:
    """Horizontal bars of examples per label, widths in percent of the largest."""
    largest = max(counts.values(), default=0) or 1
    return [
        {"label": label, "count": count, "width": round(100 * count / largest, 1)}
        for label, count in sorted(counts.items(), key=lambda item: -item[1])
    ]
