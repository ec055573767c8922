import asyncio
import os

from services.monitor.app import serve
from services.monitor.config import Settings

asyncio.run(serve(Settings.from_env(os.environ)))
