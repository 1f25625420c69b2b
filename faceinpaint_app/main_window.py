"""The main window: canvas, docks, menus and toolbars and their wiring. Runs live in
``run_controller``, files in ``file_actions``, menu and toolbar layout in ``menus``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeyEvent, QUndoStack
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QTabWidget,
    QUndoView,
    QWidget,
)

from engine import masks
from engine.errors import FaceInpaintError
from engine.paths import sample_photo
from faceinpaint_app import commands
from faceinpaint_app.canvas import Canvas
from faceinpaint_app.compare_view import CompareGrid
from faceinpaint_app.document import Document
from faceinpaint_app.file_actions import FileActions
from faceinpaint_app.icons import icon
from faceinpaint_app.mask_tools import BrushTool, EraserTool, LassoTool, PickFaceTool, PolygonTool, RectangleTool
from faceinpaint_app.menus import TOOLS, build_menus, build_preset_menu, build_toolbars, preset_button
from faceinpaint_app.model_panel import ModelPanel
from faceinpaint_app.overlays import overlay_for, overlay_kinds
from faceinpaint_app.preferences import Preferences, PreferencesDialog
from faceinpaint_app.results_browser import ResultEntry, ResultsBrowser
from faceinpaint_app.run_controller import RunController
from faceinpaint_app.shortcuts import ACTIONS, ShortcutSheet, key_sequences, shortcut_text
from faceinpaint_app.theme import apply_theme
from faceinpaint_app.tool_options import ToolOptions, face_scale
from faceinpaint_app.welcome import WelcomePage
from faceinpaint_app.worker import EngineClient

PREVIEW_BADGE = "Preview — double-click or Enter to apply"
TOOL_CLASSES = {"brush": BrushTool, "eraser": EraserTool, "rectangle": RectangleTool, "lasso": LassoTool,
                "polygon": PolygonTool, "pick_face": PickFaceTool}
PHOTO_ACTIONS = ("save", "save_as", "copy", "import_mask", "export_mask", "clear", "invert", "grow", "shrink",
                 "zoom_in", "zoom_out", "zoom_fit", "zoom_actual", "split")
TITLE = "FaceInpaint"


class MainWindow(QMainWindow):
    run_finished = Signal(bool)  # a run (single or comparison) ended; True when it produced results
    faces_ready = Signal()  # face detection of the current photo ended (found or not)

    def __init__(self, prefs: Preferences | None = None, *, ask_before_discarding: bool = True) -> None:
        super().__init__()
        self.prefs = prefs or Preferences()
        self.ask_before_discarding = ask_before_discarding
        self.setWindowTitle(TITLE)
        self.setWindowIcon(icon("image"))
        self.setAcceptDrops(True)
        self.document = Document(self)
        self.undo_stack = QUndoStack(self)
        self.engine = EngineClient(self)
        self.runs = RunController(self, self.engine)
        self.files = FileActions(self)
        self.last_error = ""
        self._detect_request = 0
        self._previewed: ResultEntry | None = None

        self.actions_: dict[str, QAction] = {key: self._make_action(key) for key in ACTIONS}
        self.canvas = Canvas(self.document)
        self.canvas.set_mask_style(self.prefs.mask_color, self.prefs.mask_opacity)
        self.compare_grid = CompareGrid()
        a = self.actions_
        self.model_panel = ModelPanel(a["run"], a["compare_models"], a["rescan_models"])
        self.results = ResultsBrowser()
        self.welcome = WelcomePage()
        self.tool_options = ToolOptions(self.prefs, self)
        self.brush_size, self.hardness = self.tool_options.brush_size, self.tool_options.hardness
        self.opacity, self.split_slider = self.tool_options.opacity, self.tool_options.split_slider
        self._build_central()
        self._build_docks()
        self._build_menus_and_toolbars()
        self._build_status_bar()
        self._connect()
        self._set_tool("brush")
        self.update_enabled()
        self._update_overlay()
        self._show_device_text()
        screen = self.screen().availableGeometry()  # a laptop screen: the whole window stays visible
        self.resize(min(1360, screen.width() - 20), min(860, screen.height() - 40))
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
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.models_dock = self._dock("Models", "models", self.model_panel, right)
        self.history_view = QUndoView(self.undo_stack)
        self.history_view.setEmptyLabel("Photo as loaded")
        self.history_view.setMinimumHeight(40)
        self.history_dock = self._dock("History", "history", self.history_view, right)
        self.results_dock = self._dock("Completions", "results", self.results, bottom)
        self.setCorner(Qt.Corner.BottomRightCorner, right)  # the side panel runs the full height
        self.resizeDocks([self.models_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.models_dock, self.history_dock], [560, 160], Qt.Orientation.Vertical)

    def _build_menus_and_toolbars(self) -> None:
        a = self.actions_
        self.tool_group = QActionGroup(self)
        for key in TOOLS:
            self.tool_group.addAction(a[key])
        self.preset_menu, self._preset_actions = build_preset_menu(self, self.apply_preset)
        a["undo"].setEnabled(False)
        a["redo"].setEnabled(False)
        docks = [d.toggleViewAction() for d in (self.models_dock, self.results_dock, self.history_dock)]
        build_menus(self.menuBar(), a, {"recent": self.files.recent_menu, "presets": self.preset_menu, "docks": docks})
        widgets = {**self.tool_options.widgets, "presets": preset_button(self.preset_menu)}
        self.toolbars = build_toolbars(self, a, widgets)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(200)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.size_label, self.zoom_label, self.device_label = QLabel(), QLabel(), QLabel()
        for widget in (self.progress, self.size_label, self.zoom_label, self.device_label):
            status.addPermanentWidget(widget)
        status.showMessage("Open a photo to begin.")

    def _connect(self) -> None:
        a, files, runs = self.actions_, self.files, self.runs
        triggers = {
            "open": files.open_dialog, "sample": lambda: self.open_path(sample_photo()), "paste": files.paste_image,
            "save": files.save, "save_as": files.save_as, "save_sheet": files.save_comparison_sheet,
            "copy": files.copy_result, "import_mask": files.import_mask, "export_mask": files.export_mask,
            "load_weights": lambda: files.load_weights(), "quit": self.close,
            "undo": self.undo_stack.undo, "redo": self.undo_stack.redo,
            "brush_smaller": lambda: self.tool_options.step_brush(1 / 1.2),
            "brush_larger": lambda: self.tool_options.step_brush(1.2),
            "clear": lambda: self.edit_mask(np.zeros_like, "Clear mask"),
            "invert": lambda: self.edit_mask(masks.invert, "Invert mask"),
            "grow": lambda: self.edit_mask(lambda m: masks.grow(m, self.prefs.grow_step), "Grow mask"),
            "shrink": lambda: self.edit_mask(lambda m: masks.shrink(m, self.prefs.grow_step), "Shrink mask"),
            "zoom_in": lambda: self.canvas.zoom_by(1.25), "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "zoom_fit": self._fit, "zoom_actual": self.canvas.actual_size,
            "run": runs.run_selected, "compare_models": lambda: self.compare(self.model_panel.checked_models()),
            "cancel": runs.cancel_or_drop_shape, "apply": lambda: self.apply_entry(self.results.current()),
            "rescan_models": self.model_panel.refresh, "preferences": self.edit_preferences,
            "shortcuts": lambda: ShortcutSheet(self.actions_, self).exec(), "about": self._about,
            **{key: (lambda _=False, k=key: self._set_tool(k)) for key in TOOLS},
        }
        for key, slot in triggers.items():
            a[key].triggered.connect(slot)
        a["split"].toggled.connect(self._toggle_split)
        a["segmentation"].toggled.connect(lambda _: self._update_overlay())
        a["heatmaps"].toggled.connect(lambda _: self._update_overlay())
        a["score"].setChecked(True)
        self.undo_stack.canUndoChanged.connect(a["undo"].setEnabled)
        self.undo_stack.canRedoChanged.connect(a["redo"].setEnabled)
        self.undo_stack.indexChanged.connect(self._on_history_moved)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.runs.run_finished.connect(self.run_finished)
        self.model_panel.current_changed.connect(self.update_enabled)

        options = self.tool_options
        options.brush_changed.connect(self._apply_brush_settings)
        options.mask_style_changed.connect(self._apply_mask_style)
        self.split_slider.valueChanged.connect(lambda _: self._toggle_split(a["split"].isChecked()))
        self.welcome.open_requested.connect(files.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_path(sample_photo()))
        self.canvas.mask_edited.connect(self._on_mask_edited)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        self.canvas.face_clicked.connect(self._on_face_clicked)
        self.canvas.split_moved.connect(self._on_split_dragged)
        self.canvas.brush_resized.connect(options.set_brush_px)
        self.document.faces_changed.connect(self._on_faces_changed)
        self.results.preview_requested.connect(self._preview_entry)
        self.results.apply_requested.connect(self.apply_entry)
        self.results.more_requested.connect(runs.more_samples)
        self.results.reproduce_requested.connect(runs.reproduce)
        self.engine.faces_found.connect(self._on_faces_found)
        self.engine.device_resolved.connect(self._on_device_resolved)

    # -- the facade tests and scripts drive ---------------------------------------------------
    def open_path(self, path: Path) -> bool:
        return self.files.open_path(path)

    def run_models(self, names: list[str], **kwargs) -> int | None:
        return self.runs.run_models(names, **kwargs)

    def compare(self, names: list[str]) -> None:
        self.runs.compare(names)

    def load_pixels(self, pixels: np.ndarray, path: Path | None, info) -> None:
        """Show a new photo: the runs, history and completions of the old one are dropped."""
        self.runs.forget()
        self.undo_stack.clear()
        self.results.clear()
        self.document.load(pixels, path, info)
        self._update_overlay()
        self.photo_stack.setCurrentWidget(self.canvas)
        self.tabs.setCurrentIndex(0)
        self.setWindowTitle(f"{path.name if path else 'Pasted image'}[*] — {TITLE}")
        self.setWindowModified(False)
        w, h = self.document.size
        self.size_label.setText(f"{w} × {h} px")
        self.tool_options.set_scale(face_scale(None, self.document.size))
        self.statusBar().showMessage("Looking for faces…")
        self._detect_request = self.engine.detect_faces(self.document.original)
        self.update_enabled()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.files.drop(event.mimeData())
        event.acceptProposedAction()

    # -- mask ---------------------------------------------------------------------------------
    def replace_mask(self, new_mask: np.ndarray, text: str) -> None:
        if not self.document.is_empty:
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
        self.replace_mask(masks.union(self.document.mask, preset), f"Preset: {masks.PRESETS[name].label}")
        return True

    def _on_mask_edited(self, before: np.ndarray, text: str) -> None:
        self._push(commands.record_mask_edit(self.document, before, text))

    def _push(self, command) -> None:
        if command is not None:
            self.undo_stack.push(command)

    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)  # the title's "*": unsaved changes

    def _on_history_moved(self, _index: int = 0) -> None:
        self._preview_entry(None)
        self.update_enabled()

    def _set_tool(self, key: str) -> None:
        self.actions_[key].setChecked(True)
        self.canvas.set_tool(TOOL_CLASSES[key]())
        self._apply_brush_settings()
        if key == "pick_face":
            self.statusBar().showMessage("Click inside the outline of the face the models should complete.", 4000)

    def _apply_brush_settings(self) -> None:
        tool = self.canvas.tool
        if isinstance(tool, BrushTool):
            tool.size, tool.hardness = self.tool_options.brush_px(), self.hardness.value() / 100

    def _apply_mask_style(self) -> None:
        self.canvas.set_mask_style(self.prefs.mask_color, self.opacity.value() / 100)

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
        self.tool_options.set_scale(face_scale(self.document.face, self.document.size))
        self.update_enabled()

    def _on_face_clicked(self, index: int) -> None:
        if index < 0:
            self.statusBar().showMessage("No face there: click inside a face's outline.", 4000)
            return
        self.document.select_face(index)
        self.statusBar().showMessage(f"Face {index + 1} of {len(self.document.faces)} picked: "
                                     "models and presets will use it.", 4000)

    # -- results ------------------------------------------------------------------------------
    def apply_entry(self, entry: ResultEntry | None) -> None:
        """Composite a completion into the current photo inside its run's mask (undoable, once)."""
        if entry is None or self.document.is_empty or entry.result.image.shape != self.document.image.shape:
            return
        hole = entry.mask > 127
        completed = np.where(hole[:, :, None], entry.result.image, self.document.image)
        cleared = commands.cleared_mask(self.document.mask, hole)
        if np.array_equal(completed, self.document.image) and np.array_equal(cleared, self.document.mask):
            self.statusBar().showMessage("This completion is already in the photo.", 3000)
            return
        seed = f" (seed {entry.result.seed})" if entry.diverse else ""
        self._previewed = None
        self.canvas.set_preview(None)
        self.undo_stack.beginMacro(f"Apply {entry.model}{seed}")
        self._push(commands.set_image(self.document, completed, "Completed photo"))
        # The completed area is no longer missing; clearing it lets the user see the result.
        self._push(commands.set_mask(self.document, cleared, "Mask"))
        self.undo_stack.endMacro()
        self._update_overlay()

    def commit_preview(self) -> None:
        """Apply the completion the canvas previews, so that what is saved is what is seen."""
        if self._previewed is not None and self.canvas.preview is not None:
            self.apply_entry(self._previewed)

    def _preview_entry(self, entry: ResultEntry | None) -> None:
        if entry is None or self.document.is_empty or entry.result.image.shape != self.document.image.shape:
            self._previewed = None
            self.canvas.set_preview(None)
        else:
            hole = entry.mask > 127
            preview = np.where(hole[:, :, None], entry.result.image, self.document.image)
            applied = np.array_equal(preview, self.document.image)
            self._previewed = None if applied else entry
            self.canvas.set_preview(None if applied else preview, PREVIEW_BADGE)
        self._update_overlay()
        self.update_enabled()

    def _update_overlay(self) -> None:
        """collaGAN's segmentation or heatmaps, warped from the crop onto the photo."""
        entry = self.results.current()
        result = entry.result if entry is not None else None
        kinds = overlay_kinds(result)
        shown = set()
        for kind in ("segmentation", "heatmaps"):
            self.actions_[kind].setEnabled(kind in kinds)
            if self.actions_[kind].isChecked():
                shown.add(kind)
        self.canvas.set_overlay(overlay_for(result, shown, self.document.size))

    # -- view ---------------------------------------------------------------------------------
    def _fit(self) -> None:
        if self.tabs.currentWidget() is self.compare_grid:
            self.compare_grid.fit_all()
        else:
            self.canvas.fit()

    def _toggle_split(self, on: bool) -> None:
        self.split_slider.setEnabled(on)
        self.canvas.set_split(self.split_slider.value() / 100 if on else None)

    def _on_split_dragged(self, fraction: float) -> None:
        with QSignalBlocker(self.split_slider):
            self.split_slider.setValue(round(fraction * 100))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Hold Tab to see the original, hold Space to pan, Enter to apply -- on the canvas."""
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
            if kind == QEvent.Type.KeyPress and key_event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                    and not typing:
                if isinstance(self.canvas.tool, PolygonTool) and self.canvas.shape_in_progress():
                    self.canvas.close_polygon()
                    return True
                if self._previewed is not None and (on_canvas or focus is self.results.strip):
                    self.apply_entry(self._previewed)
                    return True
        return super().eventFilter(watched, event)

    # -- preferences, state, errors -----------------------------------------------------------
    def edit_preferences(self) -> None:
        dialog = PreferencesDialog(self.prefs, self)
        if dialog.exec():
            dialog.store(self.prefs)
            self.opacity.setValue(round(self.prefs.mask_opacity * 100))
            self._apply_mask_style()
            self._show_device_text()
            self.resolve_device_in_background()
            apply_theme(QApplication.instance(), self.prefs.theme)
            for key, action in self.actions_.items():  # icons are drawn in the palette's text colour
                action.setIcon(icon(key))

    def _show_device_text(self, resolved: str | None = None) -> None:
        """The device preference, and what it resolves to once known (that needs torch)."""
        preference = self.prefs.device
        if resolved is None:
            text = preference
        else:
            text = resolved if preference == "auto" else f"{preference} → {resolved}"
        self.device_label.setText(f"Device: {text}")
        self.model_panel.set_device_text(text)

    def resolve_device_in_background(self) -> None:
        """Resolve the device preference on the engine thread, which imports torch there: the
        window shows without torch and the first learned model finds it loaded."""
        self.engine.resolve_device(self.prefs.device)

    def _on_device_resolved(self, preference: str, resolved: str) -> None:
        if preference == self.prefs.device:  # a later preference's answer is still on its way
            self._show_device_text(resolved)

    def update_enabled(self, *_) -> None:
        a = self.actions_
        has_photo = not self.document.is_empty
        busy = self.engine.busy
        for key in PHOTO_ACTIONS:
            a[key].setEnabled(has_photo)
        a["run"].setEnabled(has_photo and not busy and self.model_panel.current_ready())
        a["compare_models"].setEnabled(has_photo and not busy)
        a["cancel"].setEnabled(True)  # Esc also drops a half-drawn polygon
        self.results.set_busy(busy)
        a["apply"].setEnabled(self._previewed is not None)
        self.results.apply_button.setEnabled(self._previewed is not None)  # already in the photo: nothing to do
        a["save_sheet"].setEnabled(bool(self.compare_grid.model_tiles()))
        self.preset_menu.setEnabled(has_photo)
        has_face = self.document.face is not None
        for name, action in self._preset_actions.items():
            action.setEnabled(has_face or not masks.PRESETS[name].needs_landmarks)

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
        if not self.files.may_discard():
            event.ignore()
            return
        self.runs.forget()  # whatever a run still delivers is for a closed window
        self.engine.shutdown()
        QApplication.instance().removeEventFilter(self)
        self.prefs.geometry = self.saveGeometry()
        self.prefs.window_state = self.saveState()
        self.tool_options.store(self.prefs)
        event.accept()

