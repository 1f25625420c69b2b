"""The first-run page: what to do, and the bundled sample one click away."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from engine.paths import sample_photo
from faceinpaint_app.icons import icon


class WelcomePage(QWidget):
    open_requested = Signal()
    sample_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Complete an occluded face</h2>")
        text = QLabel("Open a photo (Ctrl+O), drop one here or paste one (Ctrl+V).<br>"
                      "Paint over the part to complete, pick a model and press Run (Ctrl+R).")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        open_button = QPushButton(icon("open"), "Open a photo…")
        open_button.clicked.connect(self.open_requested)
        sample_button = QPushButton(icon("sample"), "Try the sample photo")
        sample_button.setEnabled(sample_photo().is_file())
        sample_button.clicked.connect(self.sample_requested)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (title, text, open_button, sample_button):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
