"""Undoable edits: every mask change (stroke, preset, clear, ...) and every applied result.

A command stores only the rectangle that changed (before and after), so a brush dab on a
12 MP photo costs kilobytes of history, not megabytes.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QUndoCommand

from faceinpaint_app.document import Document

CLEAN_RIM_PX = 32  # after an apply, faint brush edges this close to the hole are cleared too
Writer = Callable[[np.ndarray, QRect], None]


def changed_rect(before: np.ndarray, after: np.ndarray) -> QRect | None:
    """Bounding rectangle of the pixels that differ, or None when nothing changed."""
    diff = before != after
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    if rows.size == 0:
        return None
    return QRect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def crop(array: np.ndarray, rect: QRect) -> np.ndarray:
    return array[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1].copy()


class PatchCommand(QUndoCommand):
    """Swap one rectangle of a document array between its before and after contents.

    The edit is already on screen when the command is pushed, so the first ``redo`` is skipped.
    """

    def __init__(self, write: Writer, before: np.ndarray, after: np.ndarray, rect: QRect, text: str) -> None:
        super().__init__(text)
        self.write, self.rect = write, rect
        self.before, self.after = crop(before, rect), crop(after, rect)
        self._already_applied = True

    def redo(self) -> None:
        if self._already_applied:
            self._already_applied = False
        else:
            self.write(self.after, self.rect)

    def undo(self) -> None:
        self.write(self.before, self.rect)


def record_mask_edit(document: Document, before: np.ndarray, text: str) -> PatchCommand | None:
    """The command for the change from ``before`` to the current mask (None if nothing changed)."""
    rect = changed_rect(before, document.mask)
    return None if rect is None else PatchCommand(document.write_mask, before, document.mask, rect, text)


def set_mask(document: Document, new_mask: np.ndarray, text: str) -> PatchCommand | None:
    """Replace the whole mask and return the command that undoes it (None if unchanged)."""
    before = document.mask.copy()
    document.write_mask(new_mask)
    return record_mask_edit(document, before, text)


def set_image(document: Document, new_image: np.ndarray, text: str) -> PatchCommand | None:
    """Replace the current image (an applied result) and return its undo command."""
    rect = changed_rect(document.image, new_image)
    if rect is None:
        return None
    command = PatchCommand(document.write_image, document.image, new_image, rect, text)
    document.write_image(crop(new_image, rect), rect)
    return command


def cleared_mask(mask: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``mask`` without ``hole`` and without the faint (sub-threshold) brush rim around it.

    A soft brush leaves values below 128 outside the hole: they count as kept pixels, but would
    stay on screen as a thin outline of the completed area.
    """
    cleared = np.where(hole, 0, mask).astype(np.uint8)
    rect = changed_rect(np.zeros_like(hole), hole)
    if rect is None:
        return cleared
    pad = CLEAN_RIM_PX  # dilate only around the hole: a 24 MP photo costs what its hole does
    y0, x0 = max(0, rect.top() - pad), max(0, rect.left() - pad)
    y1, x1 = min(hole.shape[0], rect.bottom() + 1 + pad), min(hole.shape[1], rect.right() + 1 + pad)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    near = cv2.dilate(hole[y0:y1, x0:x1].astype(np.uint8), kernel) > 0
    window = cleared[y0:y1, x0:x1]
    window[near & (window <= 127)] = 0
    return cleared
