"""``edgeclas bench``: latency, memory and on-device accuracy over devices × models × engines × threads × power modes.

The pieces: :mod:`.matrix` (cells and their stable keys), :mod:`.runner` (one worker per device,
device locks, resumable results.jsonl), :mod:`.stats` (statistics from raw samples),
:mod:`.accuracy` (device vs host reference), :mod:`.schema` (the record format).
"""

from __future__ import annotations

__all__: list[str] = []
