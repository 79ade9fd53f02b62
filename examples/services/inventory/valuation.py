"""Stock valuation by the worker subprocess (``worker.py``): batches, or one long-lived worker."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("worker.py")


class WorkerFailed(Exception):
    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"the valuation worker exited with {returncode}: {stderr.strip()}")
        self.returncode, self.stderr = returncode, stderr


async def _spawn() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def value_batch(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One worker process for the whole batch: write everything, read everything, reap it."""
    process = await _spawn()
    payload = "".join(json.dumps(record) + "\n" for record in records).encode()
    out, err = await process.communicate(payload)
    if process.returncode != 0:
        raise WorkerFailed(process.returncode or 0, err.decode())
    return [json.loads(line) for line in out.decode().splitlines()]


class ValuationWorker:
    """A long-lived worker process answering one record at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls) -> ValuationWorker:
        return cls(await _spawn())

    @property
    def pid(self) -> int:
        return self._process.pid

    async def value(self, record: dict[str, Any]) -> dict[str, str]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write((json.dumps(record) + "\n").encode())
        await self._process.stdin.drain()
        line = await self._process.stdout.readline()
        if not line:  # the worker quit instead of answering
            assert self._process.stderr is not None
            stderr = (await self._process.stderr.read()).decode()
            raise WorkerFailed(await self._process.wait(), stderr)
        return dict(json.loads(line))

    async def close(self) -> int:
        """End of input: the worker finishes and exits. Returns its exit code."""
        assert self._process.stdin is not None
        if not self._process.stdin.is_closing():
            self._process.stdin.close()
            await self._process.stdin.wait_closed()
        return await self._process.wait()

    async def terminate(self) -> int:
        """Stop the worker now (SIGTERM) and reap it. Returns its exit code."""
        if self._process.returncode is None:
            self._process.terminate()
        return await self._process.wait()
