"""A few counters in Prometheus text format, stdlib only (the import guard
keeps prometheus_client out of the Confidential VM)."""

from __future__ import annotations

import threading
from collections import defaultdict


class TeeMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._batches = 0
        self._batch_ops = 0
        self._batch_seconds = 0.0
        self._attestations: dict[str, int] = defaultdict(int)

    def request(self, method: str, code: str) -> None:
        with self._lock:
            self._requests[(method, code)] += 1

    def batch(self, size: int, seconds: float) -> None:
        with self._lock:
            self._batches += 1
            self._batch_ops += size
            self._batch_seconds += seconds

    def attestation(self, outcome: str) -> None:
        with self._lock:
            self._attestations[outcome] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP sealpay_tee_requests_total gRPC requests by method and status code.",
                "# TYPE sealpay_tee_requests_total counter",
            ]
            for (method, code), n in sorted(self._requests.items()):
                lines.append(f'sealpay_tee_requests_total{{method="{method}",code="{code}"}} {n}')
            lines += [
                "# HELP sealpay_posting_batch_size Operations per committed posting batch.",
                "# TYPE sealpay_posting_batch_size summary",
                f"sealpay_posting_batch_size_sum {self._batch_ops}",
                f"sealpay_posting_batch_size_count {self._batches}",
                "# HELP sealpay_posting_batch_seconds Wall time of committed posting batches.",
                "# TYPE sealpay_posting_batch_seconds summary",
                f"sealpay_posting_batch_seconds_sum {self._batch_seconds:.6f}",
                f"sealpay_posting_batch_seconds_count {self._batches}",
                "# HELP sealpay_tee_attestations_total Attestation documents served, by outcome.",
                "# TYPE sealpay_tee_attestations_total counter",
            ]
            for outcome, n in sorted(self._attestations.items()):
                lines.append(f'sealpay_tee_attestations_total{{outcome="{outcome}"}} {n}')
        return "\n".join(lines) + "\n"
