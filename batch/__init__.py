"""Batch scoring of posts files with a saved bundle, on one machine or on Spark.

Both engines run the same validation and scoring of ``batch.frames`` on pieces of the input
(``score_piece`` on pandas chunks locally, ``score_batch`` on the Arrow batches of a Spark
partition), so they validate and score exactly as the service does: the same
``features.transform.Features`` and ``RankingModel`` from ``bundle``.
"""
