"""The face pipeline: detection with 68 landmarks, alignment to a canonical crop, and labels.

``detect_faces`` finds faces (largest first), ``align_face`` warps one to the template crop at
any size, ``paste_back`` returns a completed crop to the photo touching only the mask, and
``engine.face.labels`` draws heatmaps and parsing maps from landmarks.
"""

from engine.face.align import (
    TEMPLATE_FRACTIONS,
    AlignedFace,
    align_face,
    alignment_matrix,
    canonical_five_points,
    paste_back,
    similarity_fit,
    warp_affine_region,
)
from engine.face.detection import (
    BACKENDS,
    available_backends,
    detect_faces,
    detect_landmarks,
    dlib_landmarks_path,
    download_fan_weights,
    fan_weights_path,
    pick_face_for_mask,
)
from engine.face.labels import (
    PARSING_CLASSES,
    colorize_parsing,
    heatmap_peaks,
    landmark_heatmaps,
    parsing_map,
    skin_mask,
)
from engine.face.types import Face, five_points

__all__ = [
    "BACKENDS",
    "PARSING_CLASSES",
    "TEMPLATE_FRACTIONS",
    "AlignedFace",
    "Face",
    "align_face",
    "alignment_matrix",
    "available_backends",
    "canonical_five_points",
    "colorize_parsing",
    "detect_faces",
    "detect_landmarks",
    "dlib_landmarks_path",
    "download_fan_weights",
    "fan_weights_path",
    "five_points",
    "heatmap_peaks",
    "landmark_heatmaps",
    "paste_back",
    "parsing_map",
    "pick_face_for_mask",
    "similarity_fit",
    "skin_mask",
    "warp_affine_region",
]
