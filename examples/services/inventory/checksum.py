"""Checksums of export files, computed off the event loop (hashing is CPU and disk work)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def sha256_of(path: Path, chunk_size: int = 1 << 16) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


async def sha256_file(path: Path) -> str:
    """One file, in the loop's default executor."""
    return await asyncio.to_thread(sha256_of, path)


async def sha256_files(paths: Sequence[Path], workers: int = 4) -> dict[Path, str]:
    """Many files in a pool of our own, shut down (its threads joined) before returning."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checksum") as pool:
        digests = await asyncio.gather(*(loop.run_in_executor(pool, sha256_of, p) for p in paths))
    return dict(zip(paths, digests, strict=True))
