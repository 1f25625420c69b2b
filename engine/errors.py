"""Exceptions the engine raises on purpose.

Every front end (GUI, CLIs, eval) catches ``FaceInpaintError`` and shows its message as is, so
each message names the file or input at fault and the reason in plain words.
"""

from __future__ import annotations


class FaceInpaintError(Exception):
    """Base class: an error whose message is fit to show a user."""


class ImageReadError(FaceInpaintError):
    """An image file could not be read (missing, empty, truncated, not an image, too large)."""


class ImageWriteError(FaceInpaintError):
    """An image could not be saved (refused overwrite, unknown format, full disk)."""


class MaskError(FaceInpaintError):
    """A mask is unusable: wrong size, wrong type, empty, or an unknown preset."""


class NoFaceError(FaceInpaintError):
    """No face was found where one is needed (alignment, landmark presets, learned models)."""


class BackendUnavailableError(FaceInpaintError):
    """No face-detection backend can run; the message says what to install."""


class WeightsError(FaceInpaintError):
    """Weights are missing, truncated, of the wrong hash or of the wrong architecture."""


class UnknownModelError(FaceInpaintError):
    """A model name that is not in the registry."""


class CancelledError(FaceInpaintError):
    """The caller asked a running model to stop."""


class ConfigError(FaceInpaintError, ValueError):
    """A configuration, option or architecture is unusable (unknown key, wrong type, bad value)."""


class DeviceError(FaceInpaintError, ValueError):
    """A compute device name that is not one of the known kinds."""
