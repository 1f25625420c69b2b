"""The model picker: every registered model with its paper, resolution and weights state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.models import get_spec, list_models
from engine.models.base import ModelInfo
from engine.weights import WeightsStatus
from faceinpaint_app.settings_form import SettingsForm, model_settings_fields

NAME_ROLE = Qt.ItemDataRole.UserRole
RANDOM_SEED = -1


@dataclass
class ModelEntry:
    info: ModelInfo
    ready: bool
    reason: str
    weights: Path | None = None  # a file loaded with File > Load weights, instead of the shipped one

    @property
    def resolution_text(self) -> str:
        return "any size" if not self.info.resolution else f"{self.info.resolution} px crops"


def plain_reason(info: ModelInfo, status: WeightsStatus, loaded: Path | None = None) -> str:
    """Why a model cannot run and what to do, in words a user can act on (no manifest paths)."""
    if status.ready:
        return ""
    fix = "Train and export them with faceinpaint-train, then choose the file with File ▸ Load weights…"
    if loaded is None and status.path is None:
        return f"No trained weights for {info.display_name} are installed. {fix}"
    name = (loaded or status.path).name
    return (f"The weights file {name} cannot be used ({status.reason.replace(str(loaded or status.path), name)}). "
            f"Load another with File ▸ Load weights…")


def model_entries(loaded: dict[str, Path] | None = None) -> list[ModelEntry]:
    """Every registered model and whether it can run now (its weights are present and valid)."""
    loaded = loaded or {}
    entries = []
    for info in list_models():
        weights = loaded.get(info.name)
        status = get_spec(info.name).weights_status(weights)  # reads the table only: no torch
        entries.append(ModelEntry(info, status.ready, plain_reason(info, status, weights), weights))
    return entries


class ModelPanel(QWidget):
    current_changed = Signal(str)

    def __init__(self, run_action: QAction, compare_action: QAction, rescan_action: QAction, parent=None) -> None:
        super().__init__(parent)
        self.entries: dict[str, ModelEntry] = {}
        self.loaded_weights: dict[str, Path] = {}  # model -> a .safetensors file the user loaded
        self.list = QListWidget()
        self.list.setToolTip("Pick the model to run; tick several to compare them side by side")
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(90)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.samples = QSpinBox()
        self.samples.setRange(1, 32)
        self.samples.setToolTip("Completions to draw (models that sample give different ones per seed)")
        self.seed = QSpinBox()
        self.seed.setRange(RANDOM_SEED, 2**31 - 1025)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(RANDOM_SEED)
        self.seed.setToolTip("Seed of the first sample; sample k uses seed + k. 'random' draws one.")
        self.settings_form = SettingsForm()
        self.device = QLabel()
        self.device.setToolTip("Change it in Preferences")
        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.addRow("Samples:", self.samples)
        form.addRow("Seed:", self.seed)
        form.addRow("Device:", self.device)
        form.addRow(self.settings_form)

        buttons = QHBoxLayout()
        for action in (run_action, compare_action, rescan_action):
            button = QToolButton()
            button.setDefaultAction(action)
            if action is not rescan_action:
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            buttons.addWidget(button)
        # Details and options scroll, so the dock shrinks to a laptop screen whatever the model.
        scrolled = QWidget()
        scrolled_layout = QVBoxLayout(scrolled)
        scrolled_layout.setContentsMargins(0, 0, 0, 0)
        scrolled_layout.addWidget(self.details)
        scrolled_layout.addWidget(options)
        scrolled_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(scrolled)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumHeight(60)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 2)
        layout.addWidget(self.scroll, 3)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry and each model's weights (after models land or weights change)."""
        current, checked = self.current_model(), set(self.checked_models())
        self.list.clear()
        self.entries = {entry.info.name: entry for entry in model_entries(self.loaded_weights)}
        for entry in self.entries.values():
            info = entry.info
            state = "ready" if entry.ready else "unavailable"
            item = QListWidgetItem(f"{info.display_name}\n{entry.resolution_text} · {state}")
            item.setData(NAME_ROLE, info.name)
            item.setToolTip(f"{info.paper}\n{info.description}" + ("" if entry.ready else f"\n\n{entry.reason}"))
            if entry.ready:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if info.name in checked else Qt.CheckState.Unchecked)
            else:  # greyed but selectable, so its details say why it cannot run; never ticked for a comparison
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
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

    def options(self) -> dict:
        """Run settings for the current model (fields of its settings dataclass)."""
        return self.settings_form.values()

    def use_weights(self, name: str, path: Path) -> ModelEntry:
        """Run ``name`` with ``path`` from now on (checked like the shipped weights); select it."""
        self.loaded_weights[name] = path
        self.refresh()
        self.select(name)
        return self.entries[name]

    def set_device_text(self, text: str) -> None:
        self.device.setText(text)

    def _on_current_changed(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        entry = self.entries[item.data(NAME_ROLE)]
        info = entry.info
        weights = ("no weights needed" if info.weights_name is None and entry.weights is None
                   else f"weights {entry.weights.name if entry.weights else 'installed'}")
        state = (f"<span style='color:#2e9d4f'>✔ Ready</span> — {weights}" if entry.ready
                 else f"<span style='color:#d9534f'>✘ Unavailable</span> — {entry.reason}")
        kind = ", ".join(k for k, on in (("diverse", info.diverse), ("iterative", info.iterative),
                                        ("face-aligned", info.needs_face)) if on) or "deterministic"
        self.details.setText(
            f"<b>{info.display_name}</b><br><i>{info.paper}</i><br>{entry.resolution_text} · {kind}<br>"
            f"{info.description}<br>{state}"
        )
        self.samples.setEnabled(info.diverse)
        self.settings_form.show_model(info.name, model_settings_fields(info.name))
        self.current_changed.emit(info.name)
