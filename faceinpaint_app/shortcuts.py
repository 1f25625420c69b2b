"""Every action's label, shortcut and tooltip in one table, and the keyboard shortcut sheet."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

Key = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    text: str
    tip: str
    shortcuts: tuple = ()  # QKeySequence strings or StandardKeys, the first one shown in menus
    checkable: bool = False


ACTIONS: dict[str, ActionSpec] = {
    "open": ActionSpec("&Open…", "Open a photo", (Key.Open,)),
    "sample": ActionSpec("Open the &sample photo", "Open the bundled sample portrait"),
    "paste": ActionSpec("&Paste photo", "Open the image on the clipboard", (Key.Paste,)),
    "save": ActionSpec("&Save", "Save the completed photo", (Key.Save,)),
    "save_as": ActionSpec("Save &as…", "Save the completed photo under a new name", (Key.SaveAs,)),
    "save_sheet": ActionSpec("Save comparison &sheet…", "Save the comparison grid as one PNG"),
    "copy": ActionSpec("&Copy result", "Copy the completed photo to the clipboard", (Key.Copy,)),
    "load_weights": ActionSpec("Load &weights…", "Use a .safetensors file exported by faceinpaint-train"),
    "import_mask": ActionSpec("&Import mask…", "Load a mask PNG (white = to complete)", ("Ctrl+Shift+I",)),
    "export_mask": ActionSpec("E&xport mask…", "Save the mask as a PNG (white = to complete)", ("Ctrl+Shift+E",)),
    "quit": ActionSpec("&Quit", "Close FaceInpaint", (Key.Quit, "Ctrl+Q")),
    "undo": ActionSpec("&Undo", "Undo the last stroke, preset or applied result", (Key.Undo,)),
    "redo": ActionSpec("&Redo", "Redo", (Key.Redo,)),
    "brush": ActionSpec("&Brush", "Paint the area to complete; right button erases", ("B",), True),
    "eraser": ActionSpec("&Eraser", "Erase the mask; right button paints", ("E",), True),
    "rectangle": ActionSpec("&Rectangle", "Drag a rectangle; right button subtracts", ("R",), True),
    "lasso": ActionSpec("&Lasso", "Drag around an area; right button subtracts", ("L",), True),
    "polygon": ActionSpec("&Polygon", "Click corners, double-click or Enter to close, Esc to drop", ("P",), True),
    "pick_face": ActionSpec("Pick &face", "Click the face the models should complete", ("F",), True),
    "brush_smaller": ActionSpec("Smaller brush", "Shrink the brush", ("[",)),
    "brush_larger": ActionSpec("Larger brush", "Grow the brush", ("]",)),
    "clear": ActionSpec("&Clear mask", "Remove the whole mask", ("Ctrl+D",)),
    "invert": ActionSpec("&Invert mask", "Swap masked and kept areas", ("Ctrl+I",)),
    "grow": ActionSpec("&Grow mask", "Widen the mask by the grow step", ("Ctrl+]",)),
    "shrink": ActionSpec("S&hrink mask", "Narrow the mask by the grow step", ("Ctrl+[",)),
    "zoom_in": ActionSpec("Zoom &in", "Zoom in (or turn the wheel)", (Key.ZoomIn, "Ctrl+=")),
    "zoom_out": ActionSpec("Zoom &out", "Zoom out (or turn the wheel)", (Key.ZoomOut,)),
    "zoom_fit": ActionSpec("&Fit to window", "Show the whole photo", ("Ctrl+0",)),
    "zoom_actual": ActionSpec("&Actual size", "One photo pixel per screen pixel", ("Ctrl+1",)),
    "split": ActionSpec("&Split view", "Before left of the divider, after right of it; drag the divider",
                        ("\\",), True),
    "segmentation": ActionSpec("Show &segmentation", "Overlay collaGAN's predicted face parsing", ("Shift+S",), True),
    "heatmaps": ActionSpec("Show landmark &heatmaps", "Overlay collaGAN's predicted landmarks", ("Shift+H",), True),
    "run": ActionSpec("&Run", "Complete the masked area with the selected model", ("Ctrl+R",)),
    "compare_models": ActionSpec("&Compare", "Run every ticked model and compare them", ("Ctrl+Shift+R",)),
    "cancel": ActionSpec("Ca&ncel", "Stop the running model", ("Esc",)),
    "apply": ActionSpec("&Apply completion", "Put the previewed completion into the photo", ("Ctrl+Return",)),
    "score": ActionSpec("Score against the &original", "Show PSNR, SSIM and landmark error in comparisons "
                        "(meaningful when the masked photo was intact)", (), True),
    "rescan_models": ActionSpec("Rescan &models", "Check every model's weights again (after adding some)", ("F5",)),
    "preferences": ActionSpec("&Preferences…", "Device, theme and mask look", (Key.Preferences, "Ctrl+,")),
    "shortcuts": ActionSpec("&Keyboard shortcuts", "Show every shortcut", (Key.HelpContents, "F1")),
    "about": ActionSpec("&About FaceInpaint", "Version and papers"),
}

# Gestures that are not actions, shown on the shortcut sheet.
GESTURES = (
    ("Mouse wheel", "Zoom around the pointer"),
    ("Shift + drag, Ctrl+Alt + drag", "Resize the brush"),
    ("Drag the split divider", "Move the line between before and after"),
    ("Space + drag, middle button drag", "Pan"),
    ("Right button with brush", "Erase"),
    ("Hold Tab", "Show the original photo"),
    ("Double-click a completion, Enter", "Apply the previewed completion"),
)


# Platform bindings of standard keys that name keys no laptop has (Sun's F14 "Undo", the
# dedicated Copy/Paste/Open keys); they would fill the shortcut sheet with "F14, Undo".
_EXOTIC_KEYS = {Qt.Key.Key_Undo, Qt.Key.Key_Redo, Qt.Key.Key_Copy, Qt.Key.Key_Paste, Qt.Key.Key_Cut,
                Qt.Key.Key_Open, Qt.Key.Key_Save, Qt.Key.Key_Find, Qt.Key.Key_ZoomIn, Qt.Key.Key_ZoomOut,
                Qt.Key.Key_Close, Qt.Key.Key_New, Qt.Key.Key_Help}


def is_keyboard_key(sequence: QKeySequence) -> bool:
    """True for keys found on an ordinary keyboard (not F13 and beyond, not vendor keys)."""
    key = sequence[0].key()
    return not (Qt.Key.Key_F13 <= key <= Qt.Key.Key_F35 or key in _EXOTIC_KEYS)


def key_sequences(spec: ActionSpec) -> list[QKeySequence]:
    sequences: list[QKeySequence] = []
    for shortcut in spec.shortcuts:
        found = QKeySequence.keyBindings(shortcut) if isinstance(shortcut, Key) else [QKeySequence(shortcut)]
        sequences.extend(s for s in found if not s.isEmpty() and is_keyboard_key(s) and s not in sequences)
    return sequences


def shortcut_text(action: QAction) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


class ShortcutSheet(QDialog):
    def __init__(self, actions: dict[str, QAction], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(a.text().replace("&", "").rstrip("…"), shortcut_text(a)) for a in actions.values() if a.shortcuts()]
        rows += [(what, how) for how, what in GESTURES]
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (what, keys) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(what))
            table.setItem(row, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(520, 640)
