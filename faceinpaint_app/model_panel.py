"""The model picker: every registered model with its paper, resolution and weights state."""

from __future__ import annotations

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

from engine.inpainter import ModelInfo, get_model_class, list_models

NAME_ROLE = Qt.ItemDataRole.UserRole
RANDOM_SEED = -1


@dataclass
class ModelEntry:
    info: ModelInfo
    ready: bool
    reason: str

    @property
    def resolution_text(self) -> str:
        return "any size" if not self.info.resolution else f"{self.info.resolution} px crops"


def model_entries() -> list[ModelEntry]:
    """Every registered model and whether it can run now (its weights are present and valid)."""
    entries = []
    for info in list_models():
        status = get_model_class(info.name).weights_status()
        entries.append(ModelEntry(info, status.ready, status.reason))
    return entries


class ModelPanel(QWidget):
    current_changed = Signal(str)

    def __init__(self, run_action: QAction, compare_action: QAction, parent=None) -> None:
        super().__init__(parent)
        self.entries: dict[str, ModelEntry] = {}
        self._has_iterations = False
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
        self.iterations = QSpinBox()
        self.iterations.setRange(10, 10_000)
        self.iterations.setSingleStep(50)
        self.iterations.setToolTip("Steps of the latent search (DCGAN)")
        self.iterations_label = QLabel("Iterations:")
        self.device = QLabel()
        self.device.setToolTip("Change it in Preferences")
        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.addRow("Samples:", self.samples)
        form.addRow("Seed:", self.seed)
        form.addRow(self.iterations_label, self.iterations)
        form.addRow("Device:", self.device)

        buttons = QHBoxLayout()
        for action in (run_action, compare_action):
            button = QToolButton()
            button.setDefaultAction(action)
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
        """Model attributes to set before a run, for the models that have them."""
        return {"iterations": self.iterations.value()} if self._has_iterations else {}

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
        model_class = get_model_class(info.name)
        self._has_iterations = has_iterations = isinstance(getattr(model_class, "iterations", None), int)
        self.iterations_label.setVisible(has_iterations)
        self.iterations.setVisible(has_iterations)
        if has_iterations:
            self.iterations.setValue(model_class.iterations)
        self.current_changed.emit(info.name)
