"""A task for test_worker.py: holds ``mib`` MiB for a moment, as a big
import's parse does, so the worker's peak memory passes its max_rss."""


def hog(mib: int) -> int:
    data = b"x" * (mib << 20)  # written, so resident
    return len(data) >> 20
