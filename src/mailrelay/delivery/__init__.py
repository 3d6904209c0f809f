"""The delivery agents: smtp(8), local(8), error(8) and discard(8), as asyncio shells."""
