"""Demo data for `make run`: grows as the product does."""

from flows.models import Flow, User


def demo_populate(*, flow: Flow, user: User) -> None:
    """Fill the demo flow with a schema, tasks and actions, once."""
    return None
