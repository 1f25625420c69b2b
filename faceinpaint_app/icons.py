"""Every qtawesome icon name the app uses, in one place (Material Design Icons 6)."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QApplication

ICONS = {
    "open": "mdi6.folder-open",
    "sample": "mdi6.account-box-outline",
    "paste": "mdi6.content-paste",
    "save": "mdi6.content-save",
    "save_as": "mdi6.content-save-edit",
    "save_sheet": "mdi6.view-grid-outline",
    "copy": "mdi6.content-copy",
    "quit": "mdi6.exit-to-app",
    "undo": "mdi6.undo",
    "redo": "mdi6.redo",
    "brush": "mdi6.brush",
    "eraser": "mdi6.eraser",
    "rectangle": "mdi6.rectangle-outline",
    "lasso": "mdi6.lasso",
    "polygon": "mdi6.vector-polygon",
    "pick_face": "mdi6.face-recognition",
    "brush_smaller": "mdi6.minus-circle-outline",
    "brush_larger": "mdi6.plus-circle-outline",
    "clear": "mdi6.selection-off",
    "invert": "mdi6.invert-colors",
    "grow": "mdi6.arrow-expand-all",
    "shrink": "mdi6.arrow-collapse-all",
    "import_mask": "mdi6.file-import-outline",
    "export_mask": "mdi6.file-export-outline",
    "load_weights": "mdi6.weight",
    "clear_results": "mdi6.notification-clear-all",
    "mask_color": "mdi6.palette",
    "zoom_in": "mdi6.magnify-plus-outline",
    "zoom_out": "mdi6.magnify-minus-outline",
    "zoom_fit": "mdi6.fit-to-screen-outline",
    "zoom_actual": "mdi6.numeric-1-box-outline",
    "split": "mdi6.compare-horizontal",
    "run": "mdi6.play",
    "compare_models": "mdi6.play-box-multiple",
    "cancel": "mdi6.stop-circle-outline",
    "apply": "mdi6.check-bold",
    "delete": "mdi6.delete-outline",
    "more": "mdi6.plus-box-multiple",
    "seed": "mdi6.dice-multiple",
    "segmentation": "mdi6.layers-outline",
    "heatmaps": "mdi6.blur-linear",
    "score": "mdi6.chart-box-outline",
    "rescan_models": "mdi6.refresh",
    "preferences": "mdi6.cog",
    "shortcuts": "mdi6.keyboard",
    "about": "mdi6.help-circle-outline",
    "preset": "mdi6.image-filter-center-focus",
    "recent": "mdi6.restore",
    "image": "mdi6.image-outline",
}


def icon(key: str) -> QIcon:
    """The icon for ``key`` drawn in the palette's text colour, so it reads in dark and light themes.

    An unknown key raises KeyError at once rather than showing a blank button.
    """
    palette = QApplication.palette()
    return qta.icon(
        ICONS[key],
        color=palette.color(QPalette.ColorRole.ButtonText),
        color_disabled=palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText),
    )
