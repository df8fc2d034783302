"""Connectors that read the company's systems and yield SourceRecords.

Nothing here imports ``customer_card``: a connector is a pure reader with resumable state.
"""

from sync.records import Checkpoint, RecordKind, SourceRecord

__all__ = ["Checkpoint", "RecordKind", "SourceRecord"]
