"""Moved to ``nodes.worker`` (issue #23). Only the tick's old task path
stays: a node's command queue may still hold one tick an older install
queued as ``bangui.worker.run_tick`` when it stopped, and its upgraded
worker runs it instead of recording a failed task."""


def run_tick(hooks: bool = True) -> None:
    # Looked up at each call: the new path is the one that runs (and tests patch).
    from nodes.worker import run_tick as tick

    tick(hooks)
