"""The builder's canvas: the SVG geometry of stages and the actions between them."""

from __future__ import annotations

from actions.steps.base import (
    StepConfigError,
    get_step_type,
)
from flows.models import Stage

# --- the canvas ----------------------------------------------------------------------------------
# Stages sit in one row; each action is a connector in a lane below the row (moves forward) or
# above it (moves back), from the stages it starts from to the stage it moves tasks to, with its
# name as a pill on the lane. Lanes are packed so no two pills or lines of one lane overlap, and
# each connector leaves and enters a box at its own port, nested so connectors do not cross.
# Actions that move nowhere are chips inside the boxes of the stages they start from.

STAGE_W = 172
ANY_W = 132
GAP = 96
PAD_X = 28
PAD_Y = 24
BOX_BASE_H = 62
CHIP_H = 26
LANE_GAP = 34
LANE_H = 36
PILL_H = 24
PILL_MIN = 64
PILL_MAX = 190
CHAR_W = 8.0


def _pill_width(name: str) -> int:
    return int(max(PILL_MIN, min(PILL_MAX, len(name) * CHAR_W + 34)))


def _place_pill(default: float, width: float, lo: float, hi: float, blocked: list[float]) -> float:
    """The centre nearest `default`, within [lo, hi], where the pill covers no x in `blocked`."""
    half = width / 2 + 4
    if hi - lo < width:
        return default

    def clear(center: float) -> bool:
        return not any(center - half < x < center + half for x in blocked)

    if clear(default):
        return default
    edges = [lo] + [x for x in blocked if lo < x < hi] + [hi]
    best = None
    for a, b in zip(edges, edges[1:], strict=False):
        if b - a < 2 * half:
            continue
        center = min(max(default, a + half), b - half)
        if best is None or abs(center - default) < abs(best - default):
            best = center
    return best if best is not None else default


def action_target(action: dict, stages_by_name: dict[str, Stage]) -> Stage | None:
    """The stage an action moves tasks to: that of its first step that moves the task."""
    for step in action["steps"]:
        try:
            name = get_step_type(step["type"]).target_stage(step.get("config") or {})
        except StepConfigError:
            continue
        if name is not None:
            return stages_by_name.get(name.lower())
    return None


def canvas_layout(*, stages: list[Stage], actions: list[dict], task_counts: dict[int, int] | None = None) -> dict:
    stages_by_name = {s.name.lower(): s for s in stages}
    stage_ids = {s.pk for s in stages}
    columns: list[dict] = []
    any_needed = any(not [pk for pk in a["from_stages"] if pk in stage_ids] for a in actions)
    x = PAD_X
    if any_needed:
        columns.append({"id": "any", "stage": None, "x": x, "w": ANY_W, "chips": []})
        x += ANY_W + GAP
    for stage in stages:
        count = (task_counts or {}).get(stage.pk, 0)
        columns.append({"id": stage.pk, "stage": stage, "x": x, "w": STAGE_W, "chips": [], "tasks": count})
        x += STAGE_W + GAP
    width = x - GAP + PAD_X
    stage_columns = [c for c in columns if c["stage"] is not None]
    for index, c in enumerate(stage_columns):
        c["first"], c["last"] = index == 0, index == len(stage_columns) - 1
    col_index = {c["id"]: i for i, c in enumerate(columns)}
    for c in columns:
        c["cx"] = c["x"] + c["w"] / 2

    connectors = []
    for action in actions:
        sources = [pk for pk in action["from_stages"] if pk in stage_ids] or ["any"]
        target = action_target(action, stages_by_name)
        moving = [s for s in sources if target is None or s != target.pk]
        if target is None or not moving:
            for source in sources if target is None else [target.pk]:
                columns[col_index[source]]["chips"].append({"action": action, "loop": target is not None})
            continue
        t_col = col_index[target.pk]
        s_cols = sorted(col_index[s] for s in moving)
        side = "above" if all(s > t_col for s in s_cols) else "below"
        connectors.append({"action": action, "sources": s_cols, "target": t_col, "side": side})

    # Lanes: shortest spans nearest the row, so longer connectors wrap around shorter ones.
    lanes: dict[str, list[list[tuple[float, float]]]] = {"above": [], "below": []}
    for conn in sorted(
        connectors,
        key=lambda c: (
            max(c["sources"] + [c["target"]]) - min(c["sources"] + [c["target"]]),
            min(c["sources"] + [c["target"]]),
        ),
    ):
        t_cx = columns[conn["target"]]["cx"]
        nearest = min(conn["sources"], key=lambda s: abs(columns[s]["cx"] - t_cx))
        n_cx = columns[nearest]["cx"]
        width_pill = _pill_width(conn["action"]["name"])
        pill_cx = (t_cx + n_cx) / 2
        xs = [columns[s]["cx"] for s in conn["sources"]] + [t_cx]
        lo = min(min(xs) - STAGE_W / 2, pill_cx - width_pill / 2) - 6
        hi = max(max(xs) + STAGE_W / 2, pill_cx + width_pill / 2) + 6
        side_lanes = lanes[conn["side"]]
        for index, lane in enumerate(side_lanes):
            if all(hi <= a or lo >= b for a, b in lane):
                lane.append((lo, hi))
                conn["lane"] = index
                break
        else:
            side_lanes.append([(lo, hi)])
            conn["lane"] = len(side_lanes) - 1
        conn["pill_cx"], conn["pill_w"] = pill_cx, width_pill

    n_above, n_below = len(lanes["above"]), len(lanes["below"])
    max_chips = max((len(c["chips"]) for c in columns), default=0)
    box_h = BOX_BASE_H + max_chips * CHIP_H
    row_top = PAD_Y + (LANE_GAP + (n_above - 1) * LANE_H + PILL_H if n_above else 0)
    row_bottom = row_top + box_h
    height = row_bottom + (LANE_GAP + (n_below - 1) * LANE_H + PILL_H if n_below else 0) + PAD_Y

    def lane_y(conn: dict) -> float:
        if conn["side"] == "below":
            return row_bottom + LANE_GAP + conn["lane"] * LANE_H
        return row_top - LANE_GAP - conn["lane"] * LANE_H

    # Ports: where each connector meets a box edge. Connectors whose far end is to the left use
    # the left half, the others the right half; deeper lanes sit nearer the middle (no crossings).
    ports: dict[tuple[int, str], list[tuple[dict, str, int]]] = {}
    for conn in connectors:
        t_cx = columns[conn["target"]]["cx"]
        for s in conn["sources"]:
            ports.setdefault((s, conn["side"]), []).append((conn, f"s{s}", -1 if t_cx < columns[s]["cx"] else 1))
        first = min(conn["sources"], key=lambda s: abs(columns[s]["cx"] - t_cx))
        ports.setdefault((conn["target"], conn["side"]), []).append(
            (conn, "t", -1 if columns[first]["cx"] < t_cx else 1)
        )
    for (col, _side), entries in ports.items():
        cx, half = columns[col]["cx"], columns[col]["w"] / 2 - 12
        for direction in (-1, 1):
            group = sorted((e for e in entries if e[2] == direction), key=lambda e: -e[0]["lane"])
            step = min(12.0, (half - 8) / max(len(group), 1))
            for i, (conn, role, _) in enumerate(group):
                conn.setdefault("ports", {})[role] = cx + direction * (8 + i * step)

    # A pill slides along its lane to where no deeper connector's vertical line passes behind it.
    for conn in connectors:
        blocked = sorted(
            x
            for other in connectors
            if other["side"] == conn["side"] and other["lane"] > conn["lane"]
            for x in other["ports"].values()
        )
        xs = list(conn["ports"].values())
        conn["pill_cx"] = _place_pill(conn["pill_cx"], conn["pill_w"], min(xs), max(xs), blocked)

    drawn = []
    for conn in connectors:
        y = lane_y(conn)
        edge = row_bottom if conn["side"] == "below" else row_top
        sign = 1 if conn["side"] == "below" else -1
        tx = conn["ports"]["t"]
        paths = []
        for s in conn["sources"]:
            sx = conn["ports"][f"s{s}"]
            r = min(8.0, abs(tx - sx) / 2)
            dx = 1 if tx > sx else -1
            paths.append(
                f"M{sx:.1f},{edge:.1f} V{y - sign * r:.1f} Q{sx:.1f},{y:.1f} {sx + dx * r:.1f},{y:.1f} "
                f"H{tx - dx * r:.1f} Q{tx:.1f},{y:.1f} {tx:.1f},{y - sign * r:.1f} V{edge + sign * 7:.1f}"
            )
        arrow = f"M{tx:.1f},{edge:.1f} L{tx - 5:.1f},{edge + sign * 8:.1f} L{tx + 5:.1f},{edge + sign * 8:.1f} Z"
        drawn.append(
            {
                "action": conn["action"],
                "paths": paths,
                "arrow": arrow,
                "pill_x": round(conn["pill_cx"] - conn["pill_w"] / 2, 1),
                "pill_y": round(y - PILL_H / 2, 1),
                "pill_w": conn["pill_w"],
                "side": conn["side"],
                "lane": conn["lane"],
            }
        )
    return {
        "width": int(width),
        "height": int(height),
        "row_top": row_top,
        "box_h": box_h,
        "columns": columns,
        "connectors": drawn,
        "pill_h": PILL_H,
    }
