"""The valuation worker as a real subprocess: batch, long-lived, and terminated."""

from __future__ import annotations

import signal

import pytest

from inventory.valuation import ValuationWorker, WorkerFailed, value_batch


async def test_batch_valuation():
    records = [
        {"sku": "widget", "quantity": 4, "unit_price": "2.50"},
        {"sku": "gadget", "quantity": 1, "unit_price": "19.99"},
    ]
    assert await value_batch(records) == [
        {"sku": "widget", "value": "10.00"},
        {"sku": "gadget", "value": "19.99"},
    ]


async def test_bad_record_fails_the_batch():
    with pytest.raises(WorkerFailed) as excinfo:
        await value_batch([{"sku": "widget", "quantity": 1}])
    assert excinfo.value.returncode == 2
    assert "bad record" in excinfo.value.stderr


async def test_long_lived_worker_answers_each_record_then_exits_cleanly():
    worker = await ValuationWorker.start()
    try:
        first = await worker.value({"sku": "widget", "quantity": 2, "unit_price": "1.25"})
        second = await worker.value({"sku": "gizmo", "quantity": 0, "unit_price": "9"})
    finally:
        returncode = await worker.close()
    assert (first["value"], second["value"]) == ("2.50", "0")
    assert returncode == 0


async def test_terminated_worker_is_reaped():
    worker = await ValuationWorker.start()
    try:
        await worker.value({"sku": "widget", "quantity": 1, "unit_price": "1"})  # it is up
    finally:
        returncode = await worker.terminate()
    assert returncode == -signal.SIGTERM
