"""FaceInpaint's engine: everything that runs a model, importable without Qt.

Front ends use ``engine.inpainter`` (the ``InpaintModel`` contract and the ``MODELS`` registry),
``engine.imageio``, ``engine.masks`` and ``engine.face``.
"""

__version__ = "0.1.0"
