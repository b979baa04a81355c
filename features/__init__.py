"""Feature engineering: one definition shared by training, batch scoring and serving.

Import the submodules (``features.pipeline``, ``features.schema``, ...) directly. Nothing is
re-exported here: ``features.pipeline`` needs scikit-learn, and the service, which imports only
``features.schema`` and ``features.transforms``, runs without it.
"""
