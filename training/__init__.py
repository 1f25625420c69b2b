"""Training of the learned models: ``faceinpaint-train METHOD ...`` (see ``training.cli``).

Methods (one module each) subclass ``training.methods.TrainMethod`` and are driven by the one
shared loop in ``training.trainer``; batches come from ``training.data``.
"""
