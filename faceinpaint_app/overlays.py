"""A completion's extra outputs (collaGAN's face parsing and landmark heatmaps) drawn on the photo."""

from __future__ import annotations

import cv2
import numpy as np

from engine.face.labels import colorize_parsing


def overlay_kinds(result) -> set[str]:
    """Which overlays ``result`` can show: its extras that come with the crop's alignment."""
    if result is None or getattr(result, "alignment", None) is None:
        return set()
    return {kind for kind in ("segmentation", "heatmaps") if kind in getattr(result, "extras", {})}


def overlay_for(result, shown: set[str], size: tuple[int, int]) -> np.ndarray | None:
    """The RGBA overlay of the ``shown`` kinds of ``result`` at photo ``size``, or None."""
    kinds = overlay_kinds(result) & shown
    if not kinds:
        return None
    extras = result.extras
    layers = []
    if "segmentation" in kinds:
        layers.append(colorize_parsing(extras["segmentation"].astype(np.int64)))
    if "heatmaps" in kinds:
        heat = np.clip(extras["heatmaps"].max(axis=0), 0, 1)
        colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
        layers.append(np.dstack([colored, (heat * 255).astype(np.uint8)]))
    return warp_layers_to_photo(layers, result.alignment.inverse, size)


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
