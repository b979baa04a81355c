"""The POST /rank service: strict request validation around the same model code as training."""
