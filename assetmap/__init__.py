"""assetmap: community asset mapping for Community Links Workers.

The library never imports Flask: the web app, the command line and notebooks all
call the same functions defined here and in the submodules.
"""

from assetmap.config import Settings, settings
from assetmap.db import connect, init_database
from assetmap.errors import AssetmapError

__all__ = ["AssetmapError", "Settings", "connect", "init_database", "settings"]
__version__ = "0.1.0"
