"""What a django-q2 worker process does as it spawns, besides starting its threads."""

import gc

from django_q.signals import post_spawn

from actions.jobs import collect_at_spawn


def test_a_spawning_worker_takes_its_first_full_collection():
    # Connected to django-q2's post_spawn (disconnect says whether it was), and a full collection:
    # generation 2's count goes up, not only the young generations'.
    assert post_spawn.disconnect(dispatch_uid="flowsite-collect-at-spawn")
    post_spawn.connect(collect_at_spawn, dispatch_uid="flowsite-collect-at-spawn")
    before = gc.get_stats()[2]["collections"]
    collect_at_spawn(sender="django_q", proc_name="Process-1")
    assert gc.get_stats()[2]["collections"] == before + 1
