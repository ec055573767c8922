import asyncio
import os

from services.gateway.app import serve
from services.gateway.config import Settings

asyncio.run(serve(Settings.from_env(os.environ)))
