"""Remembered settings (QSettings) and the preferences dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPushButton,
    QSlider,
    QSpinBox,
)

from engine.device import DEVICE_CHOICES, available_devices

MAX_RECENT = 10
THEMES = ("system", "light", "dark")


class _Setting:
    """A typed QSettings entry exposed as an attribute of ``Preferences``."""

    def __init__(self, key: str, default, kind: type) -> None:
        self.key, self.default, self.kind = key, default, kind

    def __get__(self, prefs: "Preferences", owner=None):
        if prefs is None:
            return self
        value = prefs.settings.value(self.key, self.default)
        try:
            return self.kind(value)
        except (TypeError, ValueError):
            return self.default  # a hand-edited or stale entry: fall back rather than crash

    def __set__(self, prefs: "Preferences", value) -> None:
        prefs.settings.setValue(self.key, value)


class Preferences:
    device = _Setting("engine/device", "auto", str)
    theme = _Setting("view/theme", "system", str)
    mask_color_name = _Setting("mask/color", "#ff285a", str)
    mask_opacity = _Setting("mask/opacity", 0.5, float)
    brush_percent = _Setting("tools/brush_percent", 50, int)  # of the face's eye distance
    brush_hardness = _Setting("tools/brush_hardness", 0.8, float)
    grow_step = _Setting("tools/grow_step", 4, int)
    geometry = _Setting("window/geometry", QByteArray(), QByteArray)
    window_state = _Setting("window/state", QByteArray(), QByteArray)
    last_save_dir = _Setting("files/last_save_dir", "", str)

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings()

    @property
    def mask_color(self) -> QColor:
        color = QColor(self.mask_color_name)
        return color if color.isValid() else QColor("#ff285a")

    @mask_color.setter
    def mask_color(self, color: QColor) -> None:
        self.mask_color_name = color.name()

    @property
    def recent_files(self) -> list[Path]:
        value = self.settings.value("files/recent", [])
        entries = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in entries if p]

    def add_recent(self, path: Path) -> None:
        path = Path(path).resolve()
        kept = [p for p in self.recent_files if p != path]
        self.settings.setValue("files/recent", [str(p) for p in [path, *kept][:MAX_RECENT]])

    def clear_recent(self) -> None:
        self.settings.setValue("files/recent", [])


class PreferencesDialog(QDialog):
    """Device, theme and mask look; the caller reads the values back on accept."""

    def __init__(self, prefs: Preferences, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.color = prefs.mask_color
        have = set(available_devices())
        self.device = QComboBox()
        for choice in DEVICE_CHOICES:
            label = {"auto": "Automatic (best available)", "cuda": "CUDA (NVIDIA GPU)", "mps": "MPS (Apple GPU)",
                     "cpu": "CPU"}[choice]
            if choice not in ("auto", "cpu") and choice not in have:
                label += " (not available here)"
            self.device.addItem(label, choice)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.theme = QComboBox()
        for theme in THEMES:
            self.theme.addItem(theme.capitalize() if theme != "system" else "Follow the system", theme)
        self.theme.setCurrentIndex(max(0, self.theme.findData(prefs.theme)))
        self.color_button = QPushButton()
        self.color_button.clicked.connect(self._pick_color)
        self._show_color()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(round(prefs.mask_opacity * 100))
        self.grow_step = QSpinBox()
        self.grow_step.setRange(1, 64)
        self.grow_step.setSuffix(" px")
        self.grow_step.setValue(prefs.grow_step)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Compute device:", self.device)
        form.addRow("Theme:", self.theme)
        form.addRow("Mask colour:", self.color_button)
        form.addRow("Mask opacity:", self.opacity)
        form.addRow("Grow / shrink step:", self.grow_step)
        form.addRow(buttons)

    def _pick_color(self) -> None:
        color = QColorDialog.getColor(self.color, self, "Mask colour")
        if color.isValid():
            self.color = color
            self._show_color()

    def _show_color(self) -> None:
        self.color_button.setText(self.color.name())
        self.color_button.setStyleSheet(f"background-color: {self.color.name()}; color: white;")

    def store(self, prefs: Preferences) -> None:
        prefs.device = self.device.currentData()
        prefs.theme = self.theme.currentData()
        prefs.mask_color = self.color
        prefs.mask_opacity = self.opacity.value() / 100
        prefs.grow_step = self.grow_step.value()
