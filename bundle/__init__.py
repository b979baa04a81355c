"""The deployable model bundle: what training writes and serving, batch and Spark read.

``bundle.scoring`` holds the objects that turn posts into calibrated probabilities;
``bundle.store`` saves them with checksums and loads them only after verifying them. Nothing
here fits a model, so the serving image needs no training code.
"""
