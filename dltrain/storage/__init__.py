"""Run-folder storage below the train and report stages.

Atomic writes, the run folder, its typed ``run.json`` manifest and per-epoch resume points.
Nothing here imports TensorFlow; models are saved through their own ``save`` method.
"""

from dltrain.storage.atomic import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    publish_file,
)
from dltrain.storage.manifest import (
    MANIFEST,
    SCHEMA_VERSION,
    BestCheckpoint,
    ResumeRecord,
    RunManifest,
    read_manifest,
)
from dltrain.storage.resume_point import ResumePoint, latest_resume_point, save_resume_point
from dltrain.storage.run_folder import RunFolder, utc_now

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "BestCheckpoint",
    "ResumePoint",
    "ResumeRecord",
    "RunFolder",
    "RunManifest",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "latest_resume_point",
    "publish_file",
    "read_manifest",
    "save_resume_point",
    "utc_now",
]
