"""FaceInpaint's desktop studio (PySide6). Qt lives in this package and nowhere else.

The window drives the engine only through ``engine.models``, ``engine.imageio``,
``engine.masks`` and ``engine.face``; every model run happens on a worker thread.
"""
