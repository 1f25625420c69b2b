"""The menu bar and toolbars, laid out as data and built from ``shortcuts.ACTIONS`` in loops.

An entry is an action key of ``ACTIONS``, ``"-"`` for a separator, or ``"@name"`` for a menu or
widget the window supplies (the recent-files menu, the brush size box, ...).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QMenuBar, QToolBar, QToolButton, QWidget

from engine import masks
from faceinpaint_app.icons import icon

TOOLS = ("brush", "eraser", "rectangle", "lasso", "polygon", "pick_face")

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open", "sample", "@recent", "paste", "-", "save", "save_as", "save_sheet", "copy", "-",
               "import_mask", "export_mask", "-", "load_weights", "-", "quit")),
    ("&Edit", ("undo", "redo", "-", "preferences")),
    ("&Mask", (*TOOLS, "brush_smaller", "brush_larger", "-", "@presets", "clear", "invert", "grow", "shrink")),
    ("&View", ("zoom_in", "zoom_out", "zoom_fit", "zoom_actual", "-", "split", "segmentation", "heatmaps", "-",
               "@docks")),
    ("&Run", ("run", "compare_models", "cancel", "apply", "-", "score", "rescan_models")),
    ("&Help", ("shortcuts", "about")),
)

# The Run bar comes first and never collapses, so Run and Stop stay visible on a narrow screen;
# the others fold their overflow into the toolbar's extension menu.
TOOLBARS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Run", "run_toolbar", ("run", "compare_models", "cancel")),
    ("File", "file_toolbar", ("open", "save", "undo", "redo")),
    ("Mask tools", "tools_toolbar", (*TOOLS, "@brush_size", "@hardness")),
    ("Mask", "mask_toolbar", ("@presets", "clear", "invert", "grow", "shrink", "@mask_color", "@opacity")),
    ("View", "view_toolbar", ("zoom_fit", "split", "@split_slider", "segmentation", "heatmaps")),
)
PINNED_TOOLBAR = "run_toolbar"


def build_menus(bar: QMenuBar, actions: dict[str, QAction], extras: dict[str, QMenu | list[QAction]]) -> None:
    for title, entries in MENUS:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry == "-":
                menu.addSeparator()
            elif entry.startswith("@"):
                extra = extras[entry[1:]]
                if isinstance(extra, QMenu):
                    menu.addMenu(extra)
                else:
                    menu.addActions(extra)
            else:
                menu.addAction(actions[entry])


def build_toolbars(window: QMainWindow, actions: dict[str, QAction],
                   widgets: dict[str, QWidget]) -> dict[str, QToolBar]:
    bars = {}
    for title, name, entries in TOOLBARS:
        bar = window.addToolBar(title)
        bar.setObjectName(name)  # saveState() needs stable names
        for entry in entries:
            if entry.startswith("@"):
                bar.addWidget(widgets[entry[1:]])
            else:
                bar.addAction(actions[entry])
        bars[name] = bar
    pinned = bars[PINNED_TOOLBAR]
    pinned.setMinimumWidth(pinned.sizeHint().width())
    return bars


def build_preset_menu(parent: QWidget, apply_preset) -> tuple[QMenu, dict[str, QAction]]:
    """Landmark presets by their plain names, then the random ones that need no face."""
    menu = QMenu("Mask &presets", parent)
    menu.setIcon(icon("preset"))
    menu.setToolTipsVisible(True)
    actions: dict[str, QAction] = {}
    for needs_face in (True, False):
        if not needs_face:
            menu.addSeparator()
        for name, preset in masks.PRESETS.items():
            if preset.needs_landmarks == needs_face:
                action = menu.addAction(icon("preset"), preset.label, lambda n=name: apply_preset(n))
                action.setToolTip(f"{preset.description} ({preset.source})")
                actions[name] = action
    return menu, actions


def preset_button(menu: QMenu) -> QToolButton:
    button = QToolButton()
    button.setMenu(menu)
    button.setIcon(icon("preset"))
    button.setText("Presets")
    button.setToolTip("One-click masks from the detected face's landmarks (enabled once a face is found)")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return button
