"""Opening, saving, masks, weights and the unsaved-changes question, for the main window.

Saving writes what the canvas shows: a previewed completion is applied (one History entry)
before the photo is written. The save dialog starts in the last folder saved to and suggests
PNG, which is lossless, whatever the input's format.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox
from safetensors import safe_open

from engine.errors import FaceInpaintError
from engine.imageio import read_image_with_info, read_mask
from engine.imagesave import save_image, save_mask
from engine.maskops import flatten
from engine.weights import check_weights
from faceinpaint_app.icons import icon
from faceinpaint_app.qimage import qimage_to_rgb, rgb_to_qimage

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
SAVE_FILTERS = ("PNG, lossless (*.png)", "JPEG (*.jpg *.jpeg)", "WebP (*.webp)", "TIFF (*.tif *.tiff)")
MASK_FILTER = "Masks (*.png *.bmp *.tif *.tiff *.webp)"
WEIGHTS_FILTER = "Weights exported by faceinpaint-train (*.safetensors)"


def weights_method(path: Path) -> str:
    """The training method a ``.safetensors`` export names in its metadata (checked first, never unpickled)."""
    status = check_weights(path.stem, path)
    if not status.ready:
        raise FaceInpaintError(status.reason)
    with safe_open(str(path), framework="numpy") as handle:
        method = (handle.metadata() or {}).get("method", "")
    if not method:
        raise FaceInpaintError(f"{path.name} has no training record: export it with faceinpaint-train export")
    return method


class FileActions(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.saved_path: Path | None = None
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.setIcon(icon("recent"))
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)

    @property
    def document(self):
        return self.window.document

    # -- opening ------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(self.document.path.parent) if self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a photo", start, OPEN_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Load a photo; on failure say why and keep the current one."""
        if not self.may_discard():
            return False
        try:
            loaded = read_image_with_info(path)
        except FaceInpaintError as err:
            self.window.show_error("Cannot open the photo", str(err))
            return False
        self.saved_path = None
        self.window.load_pixels(loaded.pixels, Path(path), loaded)
        self.window.prefs.add_recent(Path(path))
        return True

    def open_pixels(self, image) -> None:
        """A pasted or dropped image (a QImage)."""
        if self.may_discard():
            self.saved_path = None
            self.window.load_pixels(qimage_to_rgb(image), None, None)

    def paste_image(self) -> None:
        image = QApplication.clipboard().image()
        if image.isNull():
            self.window.statusBar().showMessage("The clipboard holds no image.", 4000)
        else:
            self.open_pixels(image)

    def drop(self, data) -> None:
        files = [Path(url.toLocalFile()) for url in data.urls() if url.isLocalFile()]
        if files:
            self.open_path(files[0])
        elif data.hasImage():
            self.open_pixels(data.imageData())

    def may_discard(self) -> bool:
        """True when the current photo may be replaced or closed: saved, or the user said so."""
        w = self.window
        if not w.ask_before_discarding or w.undo_stack.isClean():
            return True
        name = self.document.path.name if self.document.path else "The pasted photo"
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            w, "Save changes?", f"{name} has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def fill_recent_menu(self) -> None:
        menu, prefs = self.recent_menu, self.window.prefs
        menu.clear()
        for path in prefs.recent_files:
            action = menu.addAction(path.name, lambda p=path: self.open_path(p))
            action.setToolTip(str(path))
            action.setEnabled(path.is_file())
        if menu.isEmpty():
            menu.addAction("No recent photos").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", prefs.clear_recent)

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.saved_path is not None:
            return self.save_to(self.saved_path, confirmed_overwrite=True)
        return self.save_as()

    def suggested_path(self) -> Path:
        """``<name>_inpainted.png`` in the last folder saved to (else the photo's own folder)."""
        source = self.document.path
        stem = f"{source.stem}_inpainted" if source else "inpainted"
        last = Path(self.window.prefs.last_save_dir) if self.window.prefs.last_save_dir else None
        folder = last if last is not None and last.is_dir() else (source.parent if source else Path.home())
        return folder / f"{stem}.png"

    def save_as(self) -> bool:
        if self.document.is_empty:
            return False
        path, chosen = QFileDialog.getSaveFileName(self.window, "Save the completed photo", str(self.suggested_path()),
                                                   ";;".join(SAVE_FILTERS), SAVE_FILTERS[0])
        if not path:
            return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png" if not chosen or chosen == SAVE_FILTERS[0] else
                                    chosen.split("*")[1].split()[0].rstrip(")"))
        return self.save_to(path, confirmed_overwrite=True)  # the dialog asked about existing files

    def save_to(self, path: Path, *, confirmed_overwrite: bool) -> bool:
        """Save what the canvas shows, atomically, keeping EXIF and colour profile.

        Replacing the input photo needs an explicit yes.
        """
        w, source = self.window, self.document.path
        overwriting_input = source is not None and path.resolve() == source.resolve()
        if overwriting_input:
            buttons = QMessageBox.StandardButton
            answer = QMessageBox.warning(
                w, "Replace the original photo?",
                f"{path.name} is the photo you opened. Replace it with the completed one? This cannot be undone.",
                buttons.Yes | buttons.Cancel, buttons.Cancel,
            )
            if answer != buttons.Yes:
                return False
        w.commit_preview()
        info = self.document.source_info
        try:
            save_image(
                path, self.document.image, overwrite=confirmed_overwrite,
                protect=None if overwriting_input else source,
                exif=getattr(info, "exif", None), icc_profile=getattr(info, "icc_profile", None),
                alpha=getattr(info, "alpha", None),
            )
        except FaceInpaintError as err:
            w.show_error("Cannot save the photo", str(err))
            return False
        self.saved_path = path
        w.prefs.last_save_dir = str(path.parent.resolve())
        w.undo_stack.setClean()
        w.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def save_comparison_sheet(self) -> None:
        w = self.window
        sheet = w.compare_grid.sheet()
        if sheet.isNull():
            w.statusBar().showMessage("Run a comparison first (tick models, then Compare).", 5000)
            return
        start = str(self.suggested_path().with_name("comparison.png"))
        path, _ = QFileDialog.getSaveFileName(w, "Save the comparison sheet", start, "PNG (*.png)")
        if path:
            try:
                save_image(Path(path), qimage_to_rgb(sheet), overwrite=True, protect=self.document.path)
            except FaceInpaintError as err:
                w.show_error("Cannot save the sheet", str(err))

    def copy_result(self) -> None:
        if not self.document.is_empty:
            QApplication.clipboard().setImage(rgb_to_qimage(self.window.canvas.displayed_image()))
            self.window.statusBar().showMessage("Copied the photo to the clipboard.", 3000)

    # -- masks and weights --------------------------------------------------------------------
    def import_mask(self) -> None:
        if self.document.is_empty:
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import a mask", "", MASK_FILTER)
        if not path:
            return
        try:
            mask = read_mask(path, self.document.mask.shape, resize=True)
        except FaceInpaintError as err:
            self.window.show_error("Cannot import the mask", str(err))
            return
        self.window.replace_mask(flatten(mask), f"Import {Path(path).name}")

    def export_mask(self) -> None:
        if self.document.is_empty:
            return
        stem = self.document.path.stem if self.document.path else "photo"
        start = str(self.suggested_path().with_name(f"{stem}_mask.png"))
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the mask", start, "PNG (*.png)")
        if path:
            try:
                save_mask(path, self.document.mask, overwrite=True, protect=self.document.path)
            except FaceInpaintError as err:
                self.window.show_error("Cannot export the mask", str(err))

    def load_weights(self, path: Path | None = None) -> bool:
        """Use a ``.safetensors`` export for the model its training record names, checked as the CLI does."""
        w = self.window
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(w, "Load weights", "", WEIGHTS_FILTER)
            if not chosen:
                return False
            path = Path(chosen)
        panel = w.model_panel
        try:
            method = weights_method(path)
            if method not in panel.entries:
                raise FaceInpaintError(f"{path.name} holds weights for {method!r}, which is not an inpainting model "
                                       f"here (models: {', '.join(panel.entries)})")
        except FaceInpaintError as err:
            w.show_error("Cannot load the weights", str(err))
            return False
        entry = panel.use_weights(method, path)
        if not entry.ready:
            panel.loaded_weights.pop(method)
            panel.refresh()
            w.show_error("Cannot load the weights", entry.reason)
            return False
        w.statusBar().showMessage(f"{entry.info.display_name} will run with {path.name}.", 6000)
        w.update_enabled()
        return True
