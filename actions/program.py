"""A run's program: nested lists of steps, and the cursor that points at one of them.

A cursor is a list of indexes and, for a step with branches, the branch's name: [2, "then", 0] is
the first step of the "then" branch of the third step. The cursor only moves forward.
"""

from __future__ import annotations


def step_at(program: list[dict], cursor: list) -> dict | None:
    """The step the cursor points at, or None when it is past the end of its list."""
    steps = program
    step = None
    for i, part in enumerate(cursor):
        if isinstance(part, int):
            if part >= len(steps):
                return None
            step = steps[part]
        else:
            steps = (step or {}).get("config", {}).get(part) or []
            if i == len(cursor) - 1:
                return None
    return step


def cursor_advance(program: list[dict], cursor: list) -> list:
    """The cursor of the step after this one, climbing out of finished branches."""
    cursor = list(cursor)
    while True:
        cursor[-1] += 1
        if step_at(program, cursor) is not None or len(cursor) == 1:
            return cursor
        cursor = cursor[:-2]


def cursor_path(cursor: list) -> str:
    return ".".join(str(part) for part in cursor)


def step_number(path: str, sep: str = " ") -> str:
    """A step's place as people count it: path "0" is step 1, "1.then.0" is "2 then 1"."""
    return sep.join(str(int(part) + 1) if part.isdigit() else part for part in str(path).split("."))


def step_at_path(program: list[dict], path: str) -> dict | None:
    """The step a step run's path ("1", "0.then.2") names in the program, or None."""
    cursor: list = [int(part) if part.isdigit() else part for part in str(path).split(".") if part]
    if not cursor or not isinstance(cursor[-1], int):
        return None
    return step_at(program or [], cursor)
