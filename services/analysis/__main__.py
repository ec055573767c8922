import asyncio
import os

from services.analysis.app import serve
from services.analysis.config import Settings

asyncio.run(serve(Settings.from_env(os.environ)))
