"""Feature engineering: one definition shared by training, batch scoring and serving."""

from features.pipeline import ALL_GROUPS, GROUP_FEATURES, FeatureConfig, FeaturePipeline, Group
from features.schema import Posts, SchemaError
from features.transforms import DecaySpec

__all__ = [
    "ALL_GROUPS",
    "GROUP_FEATURES",
    "DecaySpec",
    "FeatureConfig",
    "FeaturePipeline",
    "Group",
    "Posts",
    "SchemaError",
]
