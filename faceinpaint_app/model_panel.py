"""The model picker: every registered model with its paper, resolution and weights state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.inpainter import ModelInfo, create_model, get_model_class, list_models

NAME_ROLE = Qt.ItemDataRole.UserRole
RANDOM_SEED = -1
# Run settings a model may expose in its ``settings`` dataclass: label, tooltip, range, step.
TUNABLE = {
    "iterations": ("Iterations:", "Steps of the latent search", (1, 100_000), 50),
    "restarts": ("Restarts:", "Latent codes searched per sample; the best fit is kept", (1, 256), 1),
}


@dataclass
class ModelEntry:
    info: ModelInfo
    ready: bool
    reason: str

    @property
    def resolution_text(self) -> str:
        return "any size" if not self.info.resolution else f"{self.info.resolution} px crops"


def tunable_settings(name: str) -> dict[str, int]:
    """The TUNABLE fields of a model's ``settings`` dataclass with their defaults (no weights load)."""
    settings = getattr(create_model(name, device="cpu"), "settings", None)
    if not dataclasses.is_dataclass(settings):
        return {}
    return {key: getattr(settings, key) for key in TUNABLE if isinstance(getattr(settings, key, None), int)}


def model_entries() -> list[ModelEntry]:
    """Every registered model and whether it can run now (its weights are present and valid)."""
    entries = []
    for info in list_models():
        status = get_model_class(info.name).weights_status()
        entries.append(ModelEntry(info, status.ready, status.reason))
    return entries


class ModelPanel(QWidget):
    current_changed = Signal(str)

    def __init__(self, run_action: QAction, compare_action: QAction, rescan_action: QAction, parent=None) -> None:
        super().__init__(parent)
        self.entries: dict[str, ModelEntry] = {}
        self._tuned: list[str] = []  # TUNABLE keys the current model has
        self.list = QListWidget()
        self.list.setToolTip("Pick the model to run; tick several to compare them side by side")
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(215)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.details.setMinimumHeight(90)

        self.samples = QSpinBox()
        self.samples.setRange(1, 32)
        self.samples.setToolTip("Completions to draw (models that sample give different ones per seed)")
        self.seed = QSpinBox()
        self.seed.setRange(RANDOM_SEED, 2**31 - 1025)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(RANDOM_SEED)
        self.seed.setToolTip("Seed of the first sample; sample k uses seed + k. 'random' draws one.")
        self.tunables: dict[str, tuple[QLabel, QSpinBox]] = {}
        for key, (label, tip, (low, high), step) in TUNABLE.items():
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setToolTip(tip)
            self.tunables[key] = (QLabel(label), spin)
        self.device = QLabel()
        self.device.setToolTip("Change it in Preferences")
        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.addRow("Samples:", self.samples)
        form.addRow("Seed:", self.seed)
        for label, spin in self.tunables.values():
            form.addRow(label, spin)
        form.addRow("Device:", self.device)

        buttons = QHBoxLayout()
        for action in (run_action, compare_action, rescan_action):
            button = QToolButton()
            button.setDefaultAction(action)
            if action is not rescan_action:
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details)
        layout.addWidget(options)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry and each model's weights (after models land or weights change)."""
        current, checked = self.current_model(), set(self.checked_models())
        self.list.clear()
        self.entries = {entry.info.name: entry for entry in model_entries()}
        for entry in self.entries.values():
            info = entry.info
            state = "ready" if entry.ready else "unavailable"
            item = QListWidgetItem(f"{info.display_name}\n{entry.resolution_text} · {state}")
            item.setData(NAME_ROLE, info.name)
            item.setToolTip(f"{info.paper}\n{info.description}" + ("" if entry.ready else f"\n\n{entry.reason}"))
            if entry.ready:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if info.name in checked else Qt.CheckState.Unchecked)
            else:  # greyed but selectable, so its details say why it cannot run
                item.setForeground(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            self.list.addItem(item)
        self.select(current or next((n for n, e in self.entries.items() if e.ready), ""))

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(NAME_ROLE) == name:
                self.list.setCurrentRow(row)

    def set_checked(self, names: list[str]) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                checked = item.data(NAME_ROLE) in names
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def current_model(self) -> str | None:
        item = self.list.currentItem()
        return item.data(NAME_ROLE) if item is not None else None

    def current_ready(self) -> bool:
        name = self.current_model()
        return name is not None and self.entries[name].ready

    def checked_models(self) -> list[str]:
        items = (self.list.item(row) for row in range(self.list.count()))
        return [item.data(NAME_ROLE) for item in items
                if item.flags() & Qt.ItemFlag.ItemIsUserCheckable and item.checkState() == Qt.CheckState.Checked]

    def seed_value(self) -> int | None:
        return None if self.seed.value() == RANDOM_SEED else self.seed.value()

    def options(self) -> dict[str, int]:
        """Run settings for the current model (fields of its ``settings`` dataclass)."""
        return {key: self.tunables[key][1].value() for key in self._tuned}

    def set_device_text(self, text: str) -> None:
        self.device.setText(text)

    def _on_current_changed(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        entry = self.entries[item.data(NAME_ROLE)]
        info = entry.info
        weights = "no weights needed" if info.weights_name is None else ("weights present" if entry.ready else "")
        state = (f"<span style='color:#2e9d4f'>✔ Ready</span> — {weights}" if entry.ready
                 else f"<span style='color:#d9534f'>✘ Unavailable</span> — {entry.reason}")
        kind = ", ".join(k for k, on in (("diverse", info.diverse), ("iterative", info.iterative),
                                        ("face-aligned", info.needs_face)) if on) or "deterministic"
        self.details.setText(
            f"<b>{info.display_name}</b><br><i>{info.paper}</i><br>{entry.resolution_text} · {kind}<br>"
            f"{info.description}<br>{state}"
        )
        self.samples.setEnabled(info.diverse)
        defaults = tunable_settings(info.name)
        self._tuned = list(defaults)
        for key, (label, spin) in self.tunables.items():
            label.setVisible(key in defaults)
            spin.setVisible(key in defaults)
            if key in defaults:
                spin.setValue(defaults[key])
        self.current_changed.emit(info.name)
