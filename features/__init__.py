"""Feature engineering: one transform shared by training, batch scoring, Spark and serving.

Import the submodules (``features.transform``, ``features.schema``, ...) directly. Nothing is
re-exported here: ``features.fit`` needs scikit-learn, and the service, which imports only
``features.schema``, ``features.transforms`` and ``features.transform``, runs without it.
"""
