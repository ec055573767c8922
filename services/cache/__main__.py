import asyncio
import os

from services.cache.app import serve
from services.cache.config import Settings

asyncio.run(serve(Settings.from_env(os.environ)))
