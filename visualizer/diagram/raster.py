"""Scene → PIL image: the diagram as PNG for slides, drawn from the same shapes as the SVG (no cairo needed)."""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from visualizer.diagram.scene import Circle, Curve, Line, Poly, Scene, Text


@lru_cache(maxsize=16)
def _font(size: int, bold: bool) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in (("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"), "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _dashed(draw: ImageDraw.ImageDraw, pts: list[tuple[float, float]], fill: str, width: int, on: float, off: float):
    """A polyline drawn dashed: ``on`` pixels of line, ``off`` of gap, along its length."""
    pos, drawing = 0.0, True
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        t = 0.0
        while t < seg:
            step = min(seg - t, (on if drawing else off) - pos)
            if drawing:
                a, b = t / seg, (t + step) / seg
                draw.line(
                    [(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                    fill=fill,
                    width=width,
                )
            t += step
            pos += step
            if pos >= (on if drawing else off) - 1e-9:
                pos, drawing = 0.0, not drawing


def to_image(scene: Scene, scale: float = 2.0) -> Image.Image:
    """Render the scene at ``scale``× its pixel size on white."""
    if not 0.25 <= scale <= 8:
        raise ValueError(f"scale must be from 0.25 to 8, got {scale}")
    img = Image.new("RGB", (max(1, round(scene.width * scale)), max(1, round(scene.height * scale))), "white")
    draw = ImageDraw.Draw(img)

    def p(x: float, y: float) -> tuple[float, float]:
        return x * scale, y * scale

    for g in scene.groups:
        for s in g.shapes:
            if isinstance(s, Poly):
                pts = [p(x, y) for x, y in s.points]
                draw.polygon(pts, fill=s.fill)
                outline = pts + pts[:1]
                if s.dash:
                    _dashed(draw, outline, s.stroke, max(1, round(s.width * scale)), 4 * scale, 3 * scale)
                else:
                    draw.line(outline, fill=s.stroke, width=max(1, round(s.width * scale)))
            elif isinstance(s, (Curve, Line)):
                pts = [p(x, y) for x, y in (s.points() if isinstance(s, Curve) else s.points)]
                w = max(1, round(s.width * scale))
                if getattr(s, "dash", False):
                    _dashed(draw, pts, s.stroke, w, 6 * scale, 4 * scale)
                else:
                    draw.line(pts, fill=s.stroke, width=w, joint="curve")
                if s.arrow:  # a small filled head pointing along the curve's last segment
                    (x0, y0), (x1, y1) = pts[-2], pts[-1]
                    ang = math.atan2(y1 - y0, x1 - x0)
                    size = 5 * scale
                    head = [
                        (x1, y1),
                        (x1 - size * math.cos(ang - 0.45), y1 - size * math.sin(ang - 0.45)),
                        (x1 - size * math.cos(ang + 0.45), y1 - size * math.sin(ang + 0.45)),
                    ]
                    draw.polygon(head, fill=s.stroke)
            elif isinstance(s, Circle):
                cx, cy = p(s.cx, s.cy)
                r = s.r * scale
                draw.ellipse(
                    [cx - r, cy - r, cx + r, cy + r], fill=s.fill, outline=s.stroke, width=max(1, round(scale))
                )
            elif isinstance(s, Text):
                font = _font(max(6, round(s.size * scale)), s.bold)
                anchor = {"start": "ls", "middle": "ms", "end": "rs"}[s.anchor]
                draw.text(p(s.x, s.y), s.text, fill=s.color, font=font, anchor=anchor)
    return img
