"""The Flow Builder's services, one module per concept (being split out of draft.py)."""

from actions.builder.draft import *  # noqa: F403
