"""An example dltrain plugin: a custom layer, a custom callback and a dataset kind.

Importing the package registers all three (``imports: [rings_plugin]`` in a config).
"""

from rings_plugin.callbacks import WeightNorm
from rings_plugin.data import RingsData, load_rings
from rings_plugin.layers import RadialFeatures

__all__ = ["RadialFeatures", "RingsData", "WeightNorm", "load_rings"]
