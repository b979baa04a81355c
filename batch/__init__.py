"""Batch scoring of posts files with a saved bundle, on one machine or on Spark.

Both engines run the same ``batch.frames.score_piece`` on pieces of the input (pandas chunks
locally, Arrow batches of a Spark partition), so they validate and score exactly as the service
does: the same ``features.transform.Features`` and ``RankingModel`` from ``bundle``.
"""
