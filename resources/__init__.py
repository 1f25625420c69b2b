"""Data shipped with FaceInpaint: sample photos, weights and their manifest.

A package only so that ``importlib`` and wheels find these files; it holds no code.
"""
