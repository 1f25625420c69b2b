"""FaceInpaint's engine: everything that runs a model, importable without Qt.

Front ends use ``engine.models`` (the model table: ``list_models``, ``create_model``, each row's
settings schema), ``engine.models.base`` (the ``InpaintModel`` contract, ``InpaintRequest``,
``CancelToken``), ``engine.imageio``, ``engine.maskops``, ``engine.masks`` and ``engine.face``.
Importing any of them loads no torch; creating a learned model does.
"""

__version__ = "0.1.0"
