"""Indices into the 68-point iBUG 300-W landmark layout (0-based), used throughout the project."""

# "left"/"right" are AS SEEN IN THE IMAGE: left = smaller x. (The subject's own right eye is the
# image-left eye in a frontal photo.)
JAW = slice(0, 17)
LEFT_BROW = slice(17, 22)
RIGHT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_LOWER = slice(31, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
