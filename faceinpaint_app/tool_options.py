"""The tool options on the toolbars: brush size relative to the face, hardness, mask look, split.

The brush size is a fraction of the picked face's inter-ocular distance, so "half an eye gap"
paints the same part of a face on a 512 px crop and on a 24 MP photo; the pixel size is shown
next to it. Without a face the scale is an eighth of the photo's short side.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QColorDialog, QHBoxLayout, QLabel, QSlider, QSpinBox, QToolButton, QWidget

from faceinpaint_app.icons import icon
from faceinpaint_app.preferences import Preferences

BRUSH_PERCENT = (2, 800)  # of the eye distance
NO_FACE_SCALE = 1 / 8  # of the photo's short side, standing in for the eye distance


def face_scale(face, size: tuple[int, int]) -> float:
    """Pixels per "eye distance": the face's inter-ocular distance, or a share of the photo."""
    if face is not None and face.interocular > 0:
        return float(face.interocular)
    return max(8.0, min(size) * NO_FACE_SCALE) if min(size) > 0 else 80.0


def labelled(text: str, *widgets: QWidget) -> QWidget:
    """``widgets`` after a small label, as one toolbar item."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(4, 0, 4, 0)
    layout.setSpacing(4)
    layout.addWidget(QLabel(text))
    for widget in widgets:
        layout.addWidget(widget)
    return box


class ToolOptions(QObject):
    brush_changed = Signal()  # size (in pixels) or hardness changed
    mask_style_changed = Signal()

    def __init__(self, prefs: Preferences, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scale = 80.0  # pixels per eye distance on the current photo
        self.brush_size = QSpinBox()
        self.brush_size.setRange(*BRUSH_PERCENT)
        self.brush_size.setSuffix(" %")
        self.brush_size.setValue(prefs.brush_percent)
        self.brush_size.setToolTip("Brush size in % of the distance between the eyes "
                                   "([ and ] change it; Shift+drag or Ctrl+Alt+drag on the photo resizes it)")
        self.brush_pixels = QLabel()
        self.brush_pixels.setMinimumWidth(52)
        self.hardness = self._slider(0, 100, prefs.brush_hardness * 100, 60,
                                     "Brush hardness: soft edges to the left, crisp to the right")
        self.opacity = self._slider(10, 100, prefs.mask_opacity * 100, 70, "Opacity of the mask overlay")
        self.color_button = QToolButton()
        self.color_button.setIcon(icon("mask_color"))
        self.color_button.setToolTip("Colour of the mask overlay")
        self.split_slider = self._slider(0, 100, 50, 80, "Where the line between before (left) and after "
                                         "(right) is; you can also drag the line on the photo")
        self.split_slider.setEnabled(False)
        self.widgets = {
            "brush_size": labelled("Size", self.brush_size, self.brush_pixels),
            "hardness": labelled("Hardness", self.hardness),
            "mask_color": self.color_button,
            "opacity": self.opacity,
            "split_slider": self.split_slider,
        }
        self.brush_size.valueChanged.connect(self._on_brush)
        self.hardness.valueChanged.connect(self._on_brush)
        self.opacity.valueChanged.connect(self.mask_style_changed)
        self.color_button.clicked.connect(lambda: self.pick_color(prefs))
        self._on_brush()

    @staticmethod
    def _slider(low: int, high: int, value: float, width: int, tip: str) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(round(value))
        slider.setFixedWidth(width)
        slider.setToolTip(tip)
        return slider

    def set_scale(self, scale: float) -> None:
        self.scale = scale
        self._on_brush()

    def brush_px(self) -> float:
        return max(1.0, self.brush_size.value() / 100 * self.scale)

    def set_brush_px(self, pixels: float) -> None:
        """Set the size from a diameter in image pixels (an on-canvas resize drag)."""
        self.brush_size.setValue(round(100 * pixels / self.scale))

    def step_brush(self, factor: float) -> None:
        value = self.brush_size.value()
        stepped = round(value * factor)
        self.brush_size.setValue(max(stepped, value + 1) if factor > 1 else min(stepped, value - 1))

    def _on_brush(self, *_) -> None:
        self.brush_pixels.setText(f"{self.brush_px():.0f} px")
        self.brush_changed.emit()

    def pick_color(self, prefs: Preferences) -> None:
        color = QColorDialog.getColor(prefs.mask_color, self.color_button, "Mask colour")
        if color.isValid():
            prefs.mask_color = color
            self.mask_style_changed.emit()

    def store(self, prefs: Preferences) -> None:
        prefs.brush_percent = self.brush_size.value()
        prefs.brush_hardness = self.hardness.value() / 100
        prefs.mask_opacity = self.opacity.value() / 100
