"""Importing this package registers every model in ``engine.inpainter.MODELS``.

Baselines come first so pickers list the always-available models at the top. A learned model
adds one module here (network + inference) and one import line below.
"""

from engine.models import opencv_baseline  # noqa: F401
from engine.models import pdgan  # noqa: F401
from engine.models import mde  # noqa: F401
from engine.models import collagan  # noqa: F401
from engine.models import gfc  # noqa: F401
from engine.models import dcgan  # noqa: F401
