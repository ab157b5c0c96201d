"""Data layer: LaMP reader, task registry, download, synthetic users, batching and the DataModule."""

from bump_pl.data.batch import UserGroupBatch
from bump_pl.data.datamodule import BumpDataModule
from bump_pl.data.download import DownloadError, download_lamp, lamp_urls
from bump_pl.data.errors import LampFormatError
from bump_pl.data.lamp import LampExample, read_lamp, read_lamp_outputs, read_lamp_task
from bump_pl.data.synthetic import SyntheticUsers, ensure_synthetic_lamp, write_synthetic_lamp
from bump_pl.data.tasks import TaskSpec, canonical_task_name, get_task, known_tasks
from bump_pl.data.users import UserHistory, group_users

__all__ = [
    "BumpDataModule",
    "DownloadError",
    "LampExample",
    "LampFormatError",
    "TaskSpec",
    "UserGroupBatch",
    "UserHistory",
    "canonical_task_name",
    "download_lamp",
    "get_task",
    "group_users",
    "known_tasks",
    "lamp_urls",
    "read_lamp",
    "read_lamp_outputs",
    "read_lamp_task",
    "SyntheticUsers",
    "ensure_synthetic_lamp",
    "write_synthetic_lamp",
]
