"""Hashing in threads: the default executor (to_thread) and a pool of our own."""

from __future__ import annotations

import hashlib

from inventory.checksum import sha256_file, sha256_files


async def test_sha256_file(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(b"sku,quantity\nwidget,10\n" * 10_000)
    assert await sha256_file(export) == hashlib.sha256(export.read_bytes()).hexdigest()


async def test_sha256_files_in_a_pool(tmp_path):
    paths = []
    for n in range(6):
        path = tmp_path / f"part-{n}.csv"
        path.write_bytes(f"part {n}\n".encode() * 1_000)
        paths.append(path)
    digests = await sha256_files(paths, workers=3)
    assert digests == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
