"""`prefetched`: the items of an iterator, made one or two ahead in a background thread.

For batches made by torch operations on the CPU (the scene prior's batched crop + flip, `pirlib.prior_pretraining`):
torch releases the GIL inside its operations, so with one torch thread per process the next batch is made on another
core while the current one trains. The iterator runs in that one thread, in order, with its own state (a seeded
`torch.Generator` included), so the items are bit for bit those of the iterator without prefetching.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

Item = TypeVar("Item")
_END = object()  # the producer's last entry: (_END, None) when the iterator is exhausted, (_END, error) when it raised


def prefetched(items: Iterator[Item], depth: int = 2) -> Iterator[Item]:
    """Yield the items of `items` while a background thread makes up to `depth` of the next ones; an exception of
    the iterator is raised here, at the position it happened. Closing this generator early stops the thread."""
    entries: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def offer(entry: tuple) -> bool:  # False once the consumer has gone
        while not stopped.is_set():
            try:
                entries.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer((_END, error))
            return
        offer((_END, None))

    producer = threading.Thread(target=produce, name="pirlib-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item, error = entries.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stopped.set()
        producer.join()
