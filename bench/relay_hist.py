"""Histograms of the relay's stages from a run's `relay-moments.json` (the relay row writes it into
the run's log directory): where each stage's tail lies, and whether the slow tasks cluster in time
(a stall of the whole worker) or spread over the run (queueing behind batches).

    .venv/bin/python -m bench.relay_hist /tmp/flowsite-bench-XXXX/relay-moments.json
"""

from __future__ import annotations

import json
import sys

STAGES = ("accepted -> delivered", "commit -> dispatched", "dispatched -> claimed", "claimed -> delivered")
EDGES_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def main(path: str) -> None:
    moments = json.load(open(path))
    rows = sorted(moments.values(), key=lambda m: m[0])
    stages = {
        STAGES[0]: [(m[4] - m[0]) * 1000 for m in rows],
        STAGES[1]: [(m[2] - m[1]) * 1000 for m in rows],
        STAGES[2]: [(m[3] - m[2]) * 1000 for m in rows],
        STAGES[3]: [(m[4] - m[3]) * 1000 for m in rows],
    }
    print(f"{len(rows)} tasks")
    header = "stage".ljust(24) + "".join(f"<{edge}".rjust(7) for edge in EDGES_MS) + "   more   p50   p90   p99"
    print(header)
    for name, values in stages.items():
        counts = [0] * (len(EDGES_MS) + 1)
        for value in values:
            counts[next((i for i, edge in enumerate(EDGES_MS) if value < edge), len(EDGES_MS))] += 1
        print(
            name.ljust(24)
            + "".join(str(c).rjust(7) for c in counts)
            + f"{pct(values, 50):6.0f}{pct(values, 90):6.0f}{pct(values, 99):6.0f}"
        )
    # The slowest 2 % end to end: when were they accepted (100 ms buckets from the first task), and
    # which stage held each longest.
    start = rows[0][0]
    total = stages[STAGES[0]]
    cut = pct(total, 98)
    slow = [i for i, value in enumerate(total) if value >= cut]
    buckets: dict[int, int] = {}
    worst: dict[str, int] = {}
    for i in slow:
        buckets[int((rows[i][0] - start) * 10)] = buckets.get(int((rows[i][0] - start) * 10), 0) + 1
        stage = max(STAGES[1:], key=lambda name: stages[name][i])
        worst[stage] = worst.get(stage, 0) + 1
    span = (rows[-1][0] - start) * 10
    print(f"slowest 2 % (>= {cut:.0f} ms): {len(slow)} tasks in {len(buckets)} of {span:.0f} 100-ms windows")
    print("  windows (t in s: count):", ", ".join(f"{k / 10:.1f}: {v}" for k, v in sorted(buckets.items())))
    print("  longest stage:", worst)


if __name__ == "__main__":
    main(sys.argv[1])
