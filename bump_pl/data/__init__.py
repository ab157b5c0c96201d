"""Data layer: LaMP reader, task registry, download, synthetic users, batching and the DataModule.

Exports load lazily: ``bump_pl.data.tasks`` (the task registry) imports neither Lightning nor ``datasets``.
"""

from bump_pl._lazy import lazy_exports

_EXPORTS = {
    "UserGroupBatch": "batch",
    "BumpDataModule": "datamodule",
    "DownloadError": "download",
    "download_lamp": "download",
    "lamp_urls": "download",
    "LampFormatError": "errors",
    "ItemTemplate": "item_template",
    "LampExample": "lamp",
    "read_lamp": "lamp",
    "read_lamp_outputs": "lamp",
    "read_lamp_task": "lamp",
    "SyntheticUsers": "synthetic",
    "ensure_synthetic_lamp": "synthetic",
    "write_synthetic_lamp": "synthetic",
    "TaskSpec": "tasks",
    "canonical_task_name": "tasks",
    "get_task": "tasks",
    "known_tasks": "tasks",
    "UserHistory": "users",
    "group_users": "users",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
