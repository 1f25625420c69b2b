"""The main window: canvas, tools, model panel, results, comparison grid and the engine worker."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeyEvent, QUndoStack
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from engine import masks
from engine.errors import FaceInpaintError
from engine.face.labels import colorize_parsing
from engine.imageio import read_image_with_info, read_mask, save_image, save_mask
from engine.inpainter import get_model_class
from engine.paths import sample_photo
from faceinpaint_app import commands
from faceinpaint_app.canvas import Canvas
from faceinpaint_app.compare_view import CompareGrid
from faceinpaint_app.document import Document
from faceinpaint_app.icons import icon
from faceinpaint_app.mask_tools import BrushTool, EraserTool, LassoTool, PickFaceTool, PolygonTool, RectangleTool
from faceinpaint_app.model_panel import ModelPanel
from faceinpaint_app.preferences import Preferences, PreferencesDialog
from faceinpaint_app.qimage import qimage_to_rgb, rgb_to_qimage
from faceinpaint_app.results_browser import ResultEntry, ResultsBrowser
from faceinpaint_app.shortcuts import ACTIONS, ShortcutSheet, key_sequences, shortcut_text
from faceinpaint_app.theme import apply_theme
from faceinpaint_app.worker import EngineClient, InpaintJob, ModelOutcome

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
BRUSH_SIZES = (2, 300)
COLLAGAN_CODE_OF = {name: code for code, name in masks.COLLAGAN_CODES.items()}


class WelcomePage(QWidget):
    """The first-run state: what to do, and the bundled sample one click away."""

    open_requested = Signal()
    sample_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Complete an occluded face</h2>")
        text = QLabel("Open a photo (Ctrl+O), drop one here or paste one (Ctrl+V).<br>"
                      "Paint over the part to complete, pick a model and press Run (Ctrl+R).")
        open_button = QPushButton(icon("open"), "Open a photo…")
        open_button.clicked.connect(self.open_requested)
        sample_button = QPushButton(icon("sample"), "Try the sample photo")
        sample_button.setEnabled(sample_photo().is_file())
        sample_button.clicked.connect(self.sample_requested)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (title, text, open_button, sample_button):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(2)


class MainWindow(QMainWindow):
    run_finished = Signal(bool)  # a run (single or comparison) ended; True when it produced results
    faces_ready = Signal()  # face detection of the current photo ended (found or not)

    def __init__(self, prefs: Preferences | None = None, *, ask_before_discarding: bool = True) -> None:
        super().__init__()
        self.prefs = prefs or Preferences()
        self.ask_before_discarding = ask_before_discarding
        self.setWindowTitle("FaceInpaint")
        self.setWindowIcon(icon("image"))
        self.setAcceptDrops(True)
        self.document = Document(self)
        self.undo_stack = QUndoStack(self)
        self.engine = EngineClient(self)
        self.saved_path: Path | None = None
        self.last_error = ""
        self._compare_job: int | None = None
        self._job_produced_results = False
        self._detect_request = 0
        self._run_masks: dict[int, np.ndarray] = {}  # job id -> the mask it completed

        self.actions_: dict[str, QAction] = {key: self._make_action(key) for key in ACTIONS}
        self.canvas = Canvas(self.document)
        self.canvas.set_mask_style(self.prefs.mask_color, self.prefs.mask_opacity)
        self.compare_grid = CompareGrid()
        self.model_panel = ModelPanel(
            self.actions_["run"], self.actions_["compare_models"], self.actions_["rescan_models"]
        )
        self.model_panel.current_changed.connect(self._update_enabled)
        self.results = ResultsBrowser()
        self.welcome = WelcomePage()
        self._build_central()
        self._build_docks()
        self._build_tool_options()
        self._build_menus_and_toolbars()
        self._build_status_bar()
        self._connect()
        self._set_tool("brush")
        self._update_enabled()
        self._update_overlay()
        self._update_device_text()
        self.resize(1360, 860)
        if not self.prefs.geometry.isEmpty():
            self.restoreGeometry(self.prefs.geometry)
        if not self.prefs.window_state.isEmpty():
            self.restoreState(self.prefs.window_state)
        QApplication.instance().installEventFilter(self)
        QApplication.instance().aboutToQuit.connect(self.engine.shutdown)  # quit without close: still stop cleanly

    # -- construction -------------------------------------------------------------------------
    def _make_action(self, key: str) -> QAction:
        spec = ACTIONS[key]
        action = QAction(icon(key), spec.text, self)
        action.setObjectName(key)
        action.setShortcuts(key_sequences(spec))
        action.setCheckable(spec.checkable)
        shortcut = shortcut_text(action)
        action.setToolTip(f"{spec.tip} ({shortcut})" if shortcut else spec.tip)
        action.setStatusTip(spec.tip)
        self.addAction(action)  # shortcuts work even when the action sits only in a hidden menu
        return action

    def _build_central(self) -> None:
        self.photo_stack = QStackedWidget()
        self.photo_stack.addWidget(self.welcome)
        self.photo_stack.addWidget(self.canvas)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.photo_stack, icon("image"), "Photo")
        self.tabs.addTab(self.compare_grid, icon("compare_models"), "Compare")
        self.setCentralWidget(self.tabs)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState() needs stable names
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.models_dock = self._dock("Models", "models", self.model_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.history_view = QUndoView(self.undo_stack)
        self.history_view.setEmptyLabel("Photo as loaded")
        self.history_dock = self._dock("History", "history", self.history_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.results_dock = self._dock("Completions", "results", self.results, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.models_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.results_dock], [210], Qt.Orientation.Vertical)
        self.resizeDocks([self.models_dock, self.history_dock], [560, 160], Qt.Orientation.Vertical)

    def _build_tool_options(self) -> None:
        self.brush_size = QSpinBox()
        self.brush_size.setRange(*BRUSH_SIZES)
        self.brush_size.setSuffix(" px")
        self.brush_size.setValue(self.prefs.brush_size)
        self.brush_size.setToolTip("Brush size ([ and ] change it)")
        self.hardness = QSlider(Qt.Orientation.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setValue(round(self.prefs.brush_hardness * 100))
        self.hardness.setFixedWidth(70)
        self.hardness.setToolTip("Brush hardness: soft edges to the left, crisp to the right")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(round(self.prefs.mask_opacity * 100))
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("Opacity of the mask overlay")
        self.color_button = QToolButton()
        self.color_button.setIcon(icon("mask_color"))
        self.color_button.setToolTip("Colour of the mask overlay")
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setValue(50)
        self.split_slider.setFixedWidth(100)
        self.split_slider.setEnabled(False)
        self.split_slider.setToolTip("Drag to move the line between the original (left) and the result (right)")

    def _build_menus_and_toolbars(self) -> None:
        a = self.actions_
        self.tool_group = QActionGroup(self)
        for key in TOOLS:
            self.tool_group.addAction(a[key])
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.setIcon(icon("recent"))
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.preset_menu = QMenu("Mask &presets", self)
        self.preset_menu.setIcon(icon("preset"))
        self._fill_preset_menu()
        undo, redo = a["undo"], a["redo"]
        undo.setEnabled(False)
        redo.setEnabled(False)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([a["open"], a["sample"]])
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(a["paste"])
        file_menu.addSeparator()
        file_menu.addActions([a["save"], a["save_as"], a["save_sheet"], a["copy"]])
        file_menu.addSeparator()
        file_menu.addActions([a["import_mask"], a["export_mask"]])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([undo, redo])
        edit_menu.addSeparator()
        edit_menu.addAction(a["preferences"])
        mask_menu = bar.addMenu("&Mask")
        mask_menu.addActions([a[k] for k in TOOLS])
        mask_menu.addActions([a["brush_smaller"], a["brush_larger"]])
        mask_menu.addSeparator()
        mask_menu.addMenu(self.preset_menu)
        mask_menu.addActions([a["clear"], a["invert"], a["grow"], a["shrink"]])
        view_menu = bar.addMenu("&View")
        view_menu.addActions([a["zoom_in"], a["zoom_out"], a["zoom_fit"], a["zoom_actual"]])
        view_menu.addSeparator()
        view_menu.addActions([a["split"], a["segmentation"], a["heatmaps"]])
        view_menu.addSeparator()
        for dock in (self.models_dock, self.results_dock, self.history_dock):
            view_menu.addAction(dock.toggleViewAction())
        run_menu = bar.addMenu("&Run")
        run_menu.addActions([a["run"], a["compare_models"], a["cancel"], a["apply"]])
        run_menu.addSeparator()
        run_menu.addActions([a["score"], a["rescan_models"]])
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([a["shortcuts"], a["about"]])

        file_bar = self._toolbar("File", "file_toolbar")
        file_bar.addActions([a["open"], a["save"], a["copy"], undo, redo])
        tool_bar = self._toolbar("Mask tools", "tools_toolbar")
        tool_bar.addActions([a[k] for k in TOOLS])
        tool_bar.addWidget(QLabel(" Size "))
        tool_bar.addWidget(self.brush_size)
        tool_bar.addWidget(QLabel(" Hardness "))
        tool_bar.addWidget(self.hardness)
        mask_bar = self._toolbar("Mask", "mask_toolbar")
        preset_button = QToolButton()
        preset_button.setMenu(self.preset_menu)
        preset_button.setIcon(icon("preset"))
        preset_button.setText("Presets")
        preset_button.setToolTip("One-click masks from the detected face's landmarks")
        preset_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        preset_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        mask_bar.addWidget(preset_button)
        mask_bar.addActions([a["clear"], a["invert"], a["grow"], a["shrink"]])
        mask_bar.addWidget(self.color_button)
        mask_bar.addWidget(self.opacity)
        view_bar = self._toolbar("View", "view_toolbar")
        view_bar.addActions([a["zoom_fit"], a["split"]])
        view_bar.addWidget(self.split_slider)
        view_bar.addActions([a["segmentation"], a["heatmaps"]])
        run_bar = self._toolbar("Run", "run_toolbar")
        run_bar.addActions([a["run"], a["compare_models"], a["cancel"]])

    def _toolbar(self, title: str, name: str):
        bar = self.addToolBar(title)
        bar.setObjectName(name)  # saveState() needs stable names
        bar.setMovable(True)
        return bar

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.size_label, self.zoom_label, self.device_label = QLabel(), QLabel(), QLabel()
        for widget in (self.progress, self.size_label, self.zoom_label, self.device_label):
            status.addPermanentWidget(widget)
        status.showMessage("Open a photo to begin.")

    def _connect(self) -> None:
        a = self.actions_
        a["open"].triggered.connect(self.open_dialog)
        a["sample"].triggered.connect(lambda: self.open_path(sample_photo()))
        a["paste"].triggered.connect(self.paste_image)
        a["save"].triggered.connect(self.save)
        a["save_as"].triggered.connect(self.save_as)
        a["save_sheet"].triggered.connect(self.save_comparison_sheet)
        a["copy"].triggered.connect(self.copy_result)
        a["import_mask"].triggered.connect(self.import_mask)
        a["export_mask"].triggered.connect(self.export_mask)
        a["quit"].triggered.connect(self.close)
        a["undo"].triggered.connect(self.undo_stack.undo)
        a["redo"].triggered.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(a["undo"].setEnabled)
        self.undo_stack.canRedoChanged.connect(a["redo"].setEnabled)
        self.undo_stack.indexChanged.connect(self._on_history_moved)
        for key in TOOLS:
            a[key].triggered.connect(lambda _=False, k=key: self._set_tool(k))
        a["brush_smaller"].triggered.connect(lambda: self._step_brush(1 / 1.2))
        a["brush_larger"].triggered.connect(lambda: self._step_brush(1.2))
        a["clear"].triggered.connect(lambda: self.edit_mask(np.zeros_like, "Clear mask"))
        a["invert"].triggered.connect(lambda: self.edit_mask(masks.invert, "Invert mask"))
        a["grow"].triggered.connect(lambda: self.edit_mask(lambda m: masks.grow(m, self.prefs.grow_step), "Grow mask"))
        a["shrink"].triggered.connect(
            lambda: self.edit_mask(lambda m: masks.shrink(m, self.prefs.grow_step), "Shrink mask")
        )
        a["zoom_in"].triggered.connect(lambda: self.canvas.zoom_by(1.25))
        a["zoom_out"].triggered.connect(lambda: self.canvas.zoom_by(0.8))
        a["zoom_fit"].triggered.connect(self._fit)
        a["zoom_actual"].triggered.connect(self.canvas.actual_size)
        a["split"].toggled.connect(self._toggle_split)
        self.split_slider.valueChanged.connect(lambda _: self._toggle_split(a["split"].isChecked()))
        a["segmentation"].toggled.connect(lambda _: self._update_overlay())
        a["heatmaps"].toggled.connect(lambda _: self._update_overlay())
        a["run"].triggered.connect(self.run_selected)
        a["compare_models"].triggered.connect(lambda: self.compare(self.model_panel.checked_models()))
        a["cancel"].triggered.connect(self._cancel_or_drop_shape)
        a["apply"].triggered.connect(lambda: self.apply_entry(self.results.current()))
        a["score"].setChecked(True)
        a["rescan_models"].triggered.connect(self.model_panel.refresh)
        a["preferences"].triggered.connect(self.edit_preferences)
        a["shortcuts"].triggered.connect(lambda: ShortcutSheet(self.actions_, self).exec())
        a["about"].triggered.connect(self._about)

        self.brush_size.valueChanged.connect(self._apply_brush_settings)
        self.hardness.valueChanged.connect(self._apply_brush_settings)
        self.opacity.valueChanged.connect(self._apply_mask_style)
        self.color_button.clicked.connect(self._pick_mask_color)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_path(sample_photo()))
        self.canvas.mask_edited.connect(self._on_mask_edited)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        self.canvas.face_clicked.connect(self.document.select_face)
        self.document.faces_changed.connect(self._on_faces_changed)
        self.results.preview_requested.connect(self._preview_entry)
        self.results.apply_requested.connect(self.apply_entry)
        self.results.more_requested.connect(self._more_samples)
        self.results.reproduce_requested.connect(self._reproduce)
        self.engine.progress.connect(self._on_progress)
        self.engine.model_finished.connect(self._on_model_finished)
        self.engine.job_finished.connect(self._on_job_finished)
        self.engine.faces_found.connect(self._on_faces_found)

    # -- files --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(self.document.path.parent) if self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start, IMAGE_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Load a photo; on failure say why and keep the current one."""
        if not self._may_discard():
            return False
        try:
            loaded = read_image_with_info(path)
        except FaceInpaintError as err:
            self.show_error("Cannot open the photo", str(err))
            return False
        self._load(loaded.pixels, Path(path), loaded)
        self.prefs.add_recent(Path(path))
        return True

    def paste_image(self) -> None:
        image = QApplication.clipboard().image()
        if image.isNull():
            self.statusBar().showMessage("The clipboard holds no image.", 4000)
        elif self._may_discard():
            self._load(qimage_to_rgb(image), None, None)

    def _load(self, pixels: np.ndarray, path: Path | None, info) -> None:
        self.engine.cancel()
        self._run_masks.clear()
        self.undo_stack.clear()
        self.results.clear()
        self._update_overlay()
        self.saved_path = None
        self.document.load(pixels, path, info)
        self.photo_stack.setCurrentWidget(self.canvas)
        self.tabs.setCurrentIndex(0)
        self.setWindowTitle(f"{path.name if path else 'Pasted image'} — FaceInpaint")
        w, h = self.document.size
        self.size_label.setText(f"{w} × {h} px")
        self.statusBar().showMessage("Looking for faces…")
        self._detect_request = self.engine.detect_faces(self.document.original)
        self._update_enabled()

    def _may_discard(self) -> bool:
        if not self.ask_before_discarding or self.undo_stack.isClean():
            return True
        answer = QMessageBox.question(
            self, "Discard changes?", "The current photo has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.prefs.recent_files:
            action = self.recent_menu.addAction(path.name, lambda p=path: self.open_path(p))
            action.setToolTip(str(path))
            action.setEnabled(path.is_file())
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("No recent photos").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear the list", self.prefs.clear_recent)

    def save(self) -> None:
        if self.saved_path is not None:
            self._save_to(self.saved_path, confirmed_overwrite=True)
        else:
            self.save_as()

    def save_as(self) -> None:
        if self.document.is_empty:
            return
        source = self.document.path
        suggestion = source.with_name(f"{source.stem}_inpainted{source.suffix}") if source else Path("inpainted.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save the completed photo", str(suggestion), IMAGE_FILTER)
        if path:
            self._save_to(Path(path), confirmed_overwrite=True)  # the dialog asked about existing files

    def _save_to(self, path: Path, *, confirmed_overwrite: bool) -> bool:
        """Save atomically, keeping EXIF and colour profile; the input needs an explicit yes."""
        source = self.document.path
        overwriting_input = source is not None and path.resolve() == source.resolve()
        if overwriting_input:
            answer = QMessageBox.warning(
                self, "Replace the original photo?",
                f"{path.name} is the photo you opened. Replace it with the completed one? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        info = self.document.source_info
        try:
            save_image(
                path, self.document.image, overwrite=confirmed_overwrite,
                protect=None if overwriting_input else source,
                exif=getattr(info, "exif", None), icc_profile=getattr(info, "icc_profile", None),
                alpha=getattr(info, "alpha", None),
            )
        except FaceInpaintError as err:
            self.show_error("Cannot save the photo", str(err))
            return False
        self.saved_path = path
        self.undo_stack.setClean()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def save_comparison_sheet(self) -> None:
        sheet = self.compare_grid.sheet()
        if sheet.isNull():
            self.statusBar().showMessage("Run a comparison first (tick models, then Compare).", 5000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the comparison sheet", "comparison.png", "PNG (*.png)")
        if path:
            try:
                save_image(Path(path), qimage_to_rgb(sheet), overwrite=True, protect=self.document.path)
            except FaceInpaintError as err:
                self.show_error("Cannot save the sheet", str(err))

    def copy_result(self) -> None:
        if not self.document.is_empty:
            QApplication.clipboard().setImage(rgb_to_qimage(self.canvas.displayed_image()))
            self.statusBar().showMessage("Copied the photo to the clipboard.", 3000)

    def import_mask(self) -> None:
        if self.document.is_empty:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import a mask", "", "Masks (*.png *.bmp *.tif *.tiff *.webp)")
        if not path:
            return
        try:
            mask = read_mask(path, self.document.mask.shape, resize=True)
        except FaceInpaintError as err:
            self.show_error("Cannot import the mask", str(err))
            return
        self.replace_mask(mask if mask.ndim == 2 else mask.max(axis=2), f"Import {Path(path).name}")

    def export_mask(self) -> None:
        if self.document.is_empty:
            return
        stem = self.document.path.stem if self.document.path else "photo"
        path, _ = QFileDialog.getSaveFileName(self, "Export the mask", f"{stem}_mask.png", "PNG (*.png)")
        if path:
            try:
                save_mask(path, self.document.mask, overwrite=True, protect=self.document.path)
            except FaceInpaintError as err:
                self.show_error("Cannot export the mask", str(err))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        files = [Path(url.toLocalFile()) for url in data.urls() if url.isLocalFile()]
        if files:
            self.open_path(files[0])
        elif data.hasImage() and self._may_discard():
            self._load(qimage_to_rgb(data.imageData()), None, None)
        event.acceptProposedAction()

    # -- mask ---------------------------------------------------------------------------------
    def replace_mask(self, new_mask: np.ndarray, text: str) -> None:
        if self.document.is_empty:
            return
        self._push(commands.set_mask(self.document, new_mask, text))

    def edit_mask(self, operation, text: str) -> None:
        """Replace the mask with ``operation(mask)`` as one undoable step."""
        if not self.document.is_empty:
            self.replace_mask(operation(self.document.mask), text)

    def apply_preset(self, name: str, seed: int | None = None) -> bool:
        """Add a preset's mask to the current one (union), drawn from the picked face's landmarks."""
        if self.document.is_empty:
            return False
        face = self.document.face
        try:
            landmarks = None if face is None else face.landmarks
            preset = masks.preset_mask(name, landmarks, self.document.mask.shape, seed=seed)
        except FaceInpaintError as err:
            self.show_error("Cannot apply the preset", f"{err}." if face is not None else f"{err}: no face was found.")
            return False
        label = masks.PRESETS[name].label
        self.replace_mask(masks.union(self.document.mask, preset), f"Preset: {label}")
        return True

    def _fill_preset_menu(self) -> None:
        """Landmark presets (collaGAN's O1-O6 named so), then the random ones that need no face."""
        for needs_face in (True, False):
            if not needs_face:
                self.preset_menu.addSeparator()
            for name, preset in masks.PRESETS.items():
                if preset.needs_landmarks != needs_face:
                    continue
                code = COLLAGAN_CODE_OF.get(name)
                text = f"{code} — {preset.label}" if code else preset.label
                action = self.preset_menu.addAction(icon("preset"), text, lambda n=name: self.apply_preset(n))
                action.setToolTip(f"{preset.description} ({preset.source})")
        self.preset_menu.setToolTipsVisible(True)

    def _on_mask_edited(self, before: np.ndarray, text: str) -> None:
        self._push(commands.record_mask_edit(self.document, before, text))

    def _push(self, command) -> None:
        if command is not None:
            self.undo_stack.push(command)

    def _on_history_moved(self, _index: int = 0) -> None:
        self._preview_entry(None)
        self._update_enabled()

    def _set_tool(self, key: str) -> None:
        tool = {"brush": BrushTool, "eraser": EraserTool, "rectangle": RectangleTool, "lasso": LassoTool,
                "polygon": PolygonTool, "pick_face": PickFaceTool}[key]()
        self.actions_[key].setChecked(True)
        self.canvas.set_tool(tool)
        self._apply_brush_settings()
        if key == "pick_face":
            self.statusBar().showMessage("Click the face the models should complete.", 4000)

    def _apply_brush_settings(self) -> None:
        tool = self.canvas.tool
        if isinstance(tool, BrushTool):
            tool.size, tool.hardness = self.brush_size.value(), self.hardness.value() / 100

    def _step_brush(self, factor: float) -> None:
        value = self.brush_size.value()
        stepped = round(value * factor)
        self.brush_size.setValue(max(stepped, value + 1) if factor > 1 else min(stepped, value - 1))

    def _apply_mask_style(self) -> None:
        self.canvas.set_mask_style(self.prefs.mask_color, self.opacity.value() / 100)

    def _pick_mask_color(self) -> None:
        color = QColorDialog.getColor(self.prefs.mask_color, self, "Mask colour")
        if color.isValid():
            self.prefs.mask_color = color
            self._apply_mask_style()

    # -- faces --------------------------------------------------------------------------------
    def _on_faces_found(self, request_id: int, faces: list, error: str) -> None:
        if request_id != self._detect_request:
            return  # a photo opened since; its own detection is on the way
        self.document.set_faces(faces)
        if error:
            self.statusBar().showMessage(f"Face detection failed: {error}")
        elif not faces:
            self.statusBar().showMessage("No face found: landmark presets and face models need one; "
                                         "the OpenCV baselines still work.")
        elif len(faces) > 1:
            self.statusBar().showMessage(f"{len(faces)} faces found: pick one with the face tool (F).")
        else:
            self.statusBar().showMessage("Face found. Paint the area to complete, or pick a preset.")
        self.faces_ready.emit()

    def _on_faces_changed(self) -> None:
        if self.document.selected_face is not None and len(self.document.faces) > 1:
            self.statusBar().showMessage(f"Face {self.document.selected_face + 1} will be completed.", 3000)

    # -- runs ---------------------------------------------------------------------------------
    def run_selected(self) -> None:
        name = self.model_panel.current_model()
        if not self.model_panel.current_ready():
            reason = self.model_panel.entries[name].reason if name else "no model is registered"
            self.show_error("This model cannot run", reason)
            return
        self.run_models([name], samples=self.model_panel.samples.value(), seed=self.model_panel.seed_value())

    def compare(self, names: list[str]) -> None:
        if len(names) < 1:
            self.show_error("Nothing to compare", "Tick the models to compare in the model panel.")
            return
        job_id = self.run_models(names, samples=1, seed=self.model_panel.seed_value(), compare=True)
        if job_id is not None:
            infos = self.model_panel.entries
            self.compare_grid.start(self.document.original, [(n, infos[n].info.display_name) for n in names],
                                    self.actions_["score"].isChecked(), self.document.mask)
            self.tabs.setCurrentWidget(self.compare_grid)

    def run_models(self, names: list[str], *, samples: int = 1, seed: int | None = None, compare: bool = False,
                   mask: np.ndarray | None = None):
        """Start a run on the worker (on ``mask``, else the painted one); returns its job id or None."""
        if self.document.is_empty or self.engine.busy:
            return None
        mask = self.document.mask if mask is None else mask
        if not (mask > 127).any():
            self.show_error("Nothing to complete", "Paint over the part of the photo to complete, or pick a preset.")
            return None
        job = InpaintJob(
            models=names,
            image=self.document.image.copy(),
            mask=np.where(mask > 127, 255, 0).astype(np.uint8),
            samples=samples,
            seed=seed,
            face=self.document.face,
            device=self.prefs.device,
            options=self.model_panel.options(),
            reference=self.document.original if compare and self.actions_["score"].isChecked() else None,
        )
        job_id = self.engine.start(job)
        self._compare_job = job_id if compare else None
        self._job_produced_results = False
        self._run_masks[job_id] = job.mask
        self.last_error = ""
        self.progress.setValue(0)
        self.progress.setFormat(f"{names[0]}: starting…")
        self.progress.show()
        self.statusBar().showMessage(f"Running {', '.join(names)}… (Esc cancels)")
        self._update_enabled()
        return job_id

    def _on_progress(self, job_id: int, model: str, fraction: float, message: str, preview) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(f"{model}: {message or f'{fraction:.0%}'}")
        if preview is not None:
            self.results.show_live(preview)

    def _on_model_finished(self, job_id: int, outcome: ModelOutcome) -> None:
        mask = self._run_masks.get(job_id)
        if mask is None:
            return  # the run was for a photo that has been replaced since
        compare = job_id == self._compare_job
        if outcome.error:
            self.last_error = f"{outcome.model}: {outcome.error}"
            if compare:
                self.compare_grid.set_error(outcome.model, outcome.error)
            else:
                self.show_error(f"{outcome.model} could not complete the photo", outcome.error)
            return
        self._job_produced_results = True
        diverse = get_model_class(outcome.model).info.diverse
        entries = [ResultEntry(result, mask, outcome.model, diverse) for result in outcome.results]
        self.results.add(entries)
        if compare:
            self.compare_grid.set_result(outcome.model, outcome.results[0].image,
                                         outcome.metrics[0] if outcome.metrics else None)
        else:
            self.apply_entry(entries[0])

    def _on_job_finished(self, job_id: int, cancelled: bool) -> None:
        self._run_masks.pop(job_id, None)
        self.progress.hide()
        self.results.show_live(None)
        if cancelled:
            self.statusBar().showMessage("Cancelled; the photo and mask are as they were.", 5000)
            if job_id == self._compare_job:
                self.compare_grid.mark_cancelled()
        elif self._job_produced_results:
            self.statusBar().showMessage("Done. Hold Tab to see the original; undo (Ctrl+Z) to take it back.", 6000)
        self._update_enabled()
        self.run_finished.emit(self._job_produced_results and not cancelled)

    def _cancel_or_drop_shape(self) -> None:
        if self.engine.busy:
            self.engine.cancel()
            self.progress.setFormat("Cancelling…")
        else:
            self.canvas.cancel_shape()

    def _more_samples(self, entry: ResultEntry) -> None:
        """New seeds for the same model on the same hole (applying cleared the painted mask).

        The hole's current content does not matter: models treat it as missing.
        """
        self.run_models([entry.model], samples=max(2, self.model_panel.samples.value()), mask=entry.mask)

    def _reproduce(self, entry: ResultEntry, seed: int) -> None:
        self.run_models([entry.model], samples=1, seed=seed, mask=entry.mask)

    # -- results ------------------------------------------------------------------------------
    def apply_entry(self, entry: ResultEntry | None) -> None:
        """Composite a completion into the current photo inside its run's mask (undoable)."""
        if entry is None or self.document.is_empty or entry.result.image.shape != self.document.image.shape:
            return
        hole = entry.mask > 127
        completed = np.where(hole[:, :, None], entry.result.image, self.document.image)
        seed = f" (seed {entry.result.seed})" if entry.diverse else ""
        self.canvas.set_preview(None)
        self.undo_stack.beginMacro(f"Apply {entry.model}{seed}")
        self._push(commands.set_image(self.document, completed, "Completed photo"))
        # The completed area is no longer missing; clearing it lets the user see the result.
        self._push(commands.set_mask(self.document, np.where(hole, 0, self.document.mask).astype(np.uint8), "Mask"))
        self.undo_stack.endMacro()
        self._update_overlay()

    def _preview_entry(self, entry: ResultEntry | None) -> None:
        if entry is None or entry.result.image.shape != self.document.image.shape:
            self.canvas.set_preview(None)
        else:
            hole = entry.mask > 127
            self.canvas.set_preview(np.where(hole[:, :, None], entry.result.image, self.document.image))
        self._update_overlay()

    def _update_overlay(self) -> None:
        """collaGAN's segmentation or heatmaps, warped from the crop onto the photo."""
        entry = self.results.current()
        extras = getattr(entry.result, "extras", {}) if entry is not None else {}
        alignment = getattr(entry.result, "alignment", None) if entry is not None else None
        has_seg = "segmentation" in extras and alignment is not None
        has_heat = "heatmaps" in extras and alignment is not None
        self.actions_["segmentation"].setEnabled(has_seg)
        self.actions_["heatmaps"].setEnabled(has_heat)
        layers = []
        if has_seg and self.actions_["segmentation"].isChecked():
            layers.append(colorize_parsing(extras["segmentation"].astype(np.int64)))
        if has_heat and self.actions_["heatmaps"].isChecked():
            heat = np.clip(extras["heatmaps"].max(axis=0), 0, 1)
            colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
            layers.append(np.dstack([colored, (heat * 255).astype(np.uint8)]))
        if not layers:
            self.canvas.set_overlay(None)
            return
        self.canvas.set_overlay(warp_layers_to_photo(layers, alignment.inverse, self.document.size))

    # -- view ---------------------------------------------------------------------------------
    def _fit(self) -> None:
        if self.tabs.currentWidget() is self.compare_grid:
            self.compare_grid.fit_all()
        else:
            self.canvas.fit()

    def _toggle_split(self, on: bool) -> None:
        self.split_slider.setEnabled(on)
        self.canvas.set_split(self.split_slider.value() / 100 if on else None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Hold Tab to see the original; hold Space to pan -- while working on the canvas."""
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow():
            key_event: QKeyEvent = event
            focus = QApplication.focusWidget()
            typing = isinstance(focus, (QLineEdit, QAbstractSpinBox))
            on_canvas = focus is self.canvas or self.canvas.underMouse()
            if key_event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Space) and on_canvas and not typing \
                    and not self.document.is_empty:
                if not key_event.isAutoRepeat():
                    pressed = kind == QEvent.Type.KeyPress
                    if key_event.key() == Qt.Key.Key_Tab:
                        self.canvas.show_original(pressed)
                    else:
                        self.canvas.set_space_held(pressed)
                return True
            if kind == QEvent.Type.KeyPress and key_event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if isinstance(self.canvas.tool, PolygonTool) and not typing:
                    self.canvas.close_polygon()
                    return True
        return super().eventFilter(watched, event)

    # -- preferences, state, errors -----------------------------------------------------------
    def edit_preferences(self) -> None:
        dialog = PreferencesDialog(self.prefs, self)
        if dialog.exec():
            dialog.store(self.prefs)
            self.opacity.setValue(round(self.prefs.mask_opacity * 100))
            self._apply_mask_style()
            self._update_device_text()
            apply_theme(QApplication.instance(), self.prefs.theme)
            for key, action in self.actions_.items():  # icons are drawn in the palette's text colour
                action.setIcon(icon(key))

    def _update_device_text(self) -> None:
        from engine.device import select_device

        try:
            resolved = str(select_device(self.prefs.device))
        except ValueError:
            resolved = "cpu"
        text = resolved if self.prefs.device == "auto" else f"{self.prefs.device} → {resolved}"
        self.device_label.setText(f"Device: {text}")
        self.model_panel.set_device_text(text)

    def _update_enabled(self, *_) -> None:
        a = self.actions_
        has_photo = not self.document.is_empty
        busy = self.engine.busy
        for key in ("save", "save_as", "copy", "import_mask", "export_mask", "clear", "invert", "grow", "shrink",
                    "zoom_in", "zoom_out", "zoom_fit", "zoom_actual", "split"):
            a[key].setEnabled(has_photo)
        a["run"].setEnabled(has_photo and not busy and self.model_panel.current_ready())
        a["compare_models"].setEnabled(has_photo and not busy)
        a["cancel"].setEnabled(True)  # Esc also drops a half-drawn polygon
        a["apply"].setEnabled(self.results.current() is not None)
        a["save_sheet"].setEnabled(bool(self.compare_grid.model_tiles()))
        self.preset_menu.setEnabled(has_photo)
        self.results.set_busy(busy)

    def show_error(self, title: str, message: str) -> None:
        """A readable, non-blocking message; the photo and the mask are left as they were."""
        self.last_error = message
        self.statusBar().showMessage(message, 8000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _about(self) -> None:
        QMessageBox.about(self, "About FaceInpaint",
                          "<b>FaceInpaint</b><br>Complete occluded faces with classical and learned models.<br>"
                          "Models and their papers are listed in the model panel.")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_discard():
            event.ignore()
            return
        if self.engine.busy:
            self.statusBar().showMessage("Stopping the running model…")
        self.engine.shutdown()
        QApplication.instance().removeEventFilter(self)
        self.prefs.geometry = self.saveGeometry()
        self.prefs.window_state = self.saveState()
        self.prefs.brush_size = self.brush_size.value()
        self.prefs.brush_hardness = self.hardness.value() / 100
        self.prefs.mask_opacity = self.opacity.value() / 100
        event.accept()


TOOLS = ("brush", "eraser", "rectangle", "lasso", "polygon", "pick_face")


def warp_layers_to_photo(layers: list[np.ndarray], crop_to_image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Blend crop-sized RGB/RGBA layers and warp them onto the photo as one RGBA overlay."""
    h, w = layers[0].shape[:2]
    overlay = np.zeros((h, w, 4), np.float32)
    for layer in layers:
        rgb = layer[:, :, :3].astype(np.float32)
        if layer.shape[2] == 4:
            alpha = layer[:, :, 3:4].astype(np.float32) / 255
        else:
            alpha = np.full((h, w, 1), 0.7, np.float32)  # a label map: see the face through it
        overlay[:, :, :3] = overlay[:, :, :3] * (1 - alpha) + rgb * alpha
        overlay[:, :, 3:] = np.maximum(overlay[:, :, 3:], alpha)
    overlay[:, :, 3] *= 255
    return cv2.warpAffine(overlay, np.asarray(crop_to_image, np.float64), size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.uint8)
