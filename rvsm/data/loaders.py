"""What every data source shares: in-memory splits, a shuffle that resumes mid-epoch (and shards
under DDP), loaders that hand out whole batches, a cache file made once, and the batch convention
(float (N, 1, H, W), ink = 1 and paper = 0, channels-last).

A data source (``rvsm.data.source.DataSource``) subclasses ``CachedImageData`` and supplies its
images (``_generate``), their size, classes, description and cache file.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from rvsm.data import cache
from rvsm.data.images import as_batch
from rvsm.data.words import SPLITS
from rvsm.utils.arguments import ArgumentError, integer


class BatchTensorDataset(Dataset):
    """Images and labels in memory; whole batches are gathered by one indexing operation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        return self.images[idx], self.labels[idx]


class EpochShuffleSampler(DistributedSampler):
    """A permutation drawn from (seed, epoch) alone, not from the global RNG, that can resume,
    and under DDP this rank's share of it.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed from a checkpoint sees the
    same batches as one that never stopped. ``position`` counts the indices handed out this
    epoch (the loader draws them lazily, one batch at a time), so a checkpoint taken mid-epoch
    knows where the next unseen batch starts. Under DDP each of ``num_replicas`` ranks takes every
    ``num_replicas``-th index of the one permutation, padded as DistributedSampler pads, so all
    ranks are at the same position and rank 0's checkpoint resumes every rank. Being a
    DistributedSampler, Lightning keeps it instead of swapping in its own, which would restart
    the epoch. With one process it is the whole permutation.
    """

    def __init__(self, data_source: Dataset, seed: int, num_replicas: int = 1, rank: int = 0):
        super().__init__(data_source, num_replicas=num_replicas, rank=rank, seed=seed)
        self.data_source, self.position = data_source, 0
        self._resume_at: tuple[int, int] | None = None  # (epoch, position) from a checkpoint

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_at = (int(state["epoch"]), int(state["position"]))

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)
        generator = torch.Generator().manual_seed(int(state[0]))
        order = torch.randperm(len(self.data_source), generator=generator).tolist()
        order += order[: self.total_size - len(order)]  # equal shares, as DistributedSampler
        mine = order[self.rank : self.total_size : self.num_replicas]
        resume_epoch, start = self._resume_at or (self.epoch, 0)
        self._resume_at = None
        self.position = start if resume_epoch == self.epoch else 0
        for index in mine[self.position :]:
            self.position += 1
            yield index


class ResumableLoader(DataLoader):
    """The training loader; Lightning keeps a loader's ``state_dict`` in checkpoints and restores
    it on resume, so a run stopped mid-epoch continues at the next unseen batch."""

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self.sampler.load_state_dict(state)


def _keep_batch(batch):
    """Collate for ``__getitems__``: the batch is already stacked."""
    return batch


class CachedImageData(L.LightningDataModule):
    """The splits of a data source's cached arrays (``cache.ARRAYS``: uint8 images, dark ink on
    light paper; labels; split ids 0 train, 1 val, 2 test) and their loaders."""

    #: the class names, label i = the i-th (for the synthesized data: regular, tremor)
    classes: tuple[str, ...] = ("regular", "tremor")
    #: the config key that sets ``image_size`` (named in errors about it)
    image_size_key = "data.image_size"
    cache_path: Path
    cache_key: str

    def __init__(
        self, seed: int, batch_size: int, cache_dir: str, shuffle_seed: int | None = None
    ) -> None:
        super().__init__()
        if not integer(batch_size) or batch_size < 1:
            raise ArgumentError("batch_size", f"must be an integer >= 1, got {batch_size!r}")
        self.seed = int(seed)
        self.shuffle_seed = self.seed if shuffle_seed is None else int(shuffle_seed)
        self.batch_size = int(batch_size)
        self.cache_dir = str(cache_dir)
        self.splits: dict[str, BatchTensorDataset] = {}
        self._arrays: dict[str, np.ndarray] | None = None  # read by prepare_data, used by setup

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the images, which the network is built for."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The data setting named in metrics.json and reports: ``data`` and ``severity``."""
        raise NotImplementedError

    def _generate(self) -> dict[str, np.ndarray]:
        """The arrays of ``cache.ARRAYS``, made once per cache key."""
        raise NotImplementedError

    def _check_cache_folder(self) -> None:
        """Fail fast, before any data are made, on a cache folder that cannot be written."""
        folder = self.cache_path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise ArgumentError(
                "cache_dir",
                f": cannot create or write {self.cache_path.parent} "
                f"({folder} is not a writable folder); set paths.cache_dir or RVSM_CACHE_DIR",
            )

    def prepare_data(self) -> None:
        """Read the cached data set, or generate and cache it (one process at a time per file).

        Concurrent jobs on one cache folder (a sweep, a cluster's shared file system) take a lock
        beside the file: the first generates, the others wait and then read what it wrote.
        """
        if self.splits:
            return
        self._arrays = cache.load_or_make(self.cache_path, self._generate)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        arrays = self._arrays or cache.load(self.cache_path)  # other DDP ranks read the file
        if arrays is None:  # e.g. another process removed it; regenerate here
            self.prepare_data()
            arrays = self._arrays
        self._arrays = None
        for split_id, split in enumerate(SPLITS):
            mask = arrays["split"] == split_id
            self.splits[split] = BatchTensorDataset(
                torch.from_numpy(np.ascontiguousarray(arrays["images"][mask])),
                torch.from_numpy(arrays["labels"][mask]),
            )

    def _loader(self, split: str, sampler: EpochShuffleSampler | None = None) -> DataLoader:
        kind = ResumableLoader if sampler is not None else DataLoader
        return kind(
            self.splits[split], batch_size=self.batch_size, sampler=sampler, collate_fn=_keep_batch
        )

    def train_dataloader(self) -> DataLoader:
        # under DDP: {num_replicas, rank}; None on one device
        shard = (self.trainer.distributed_sampler_kwargs if self.trainer else None) or {}
        sampler = EpochShuffleSampler(self.splits["train"], self.shuffle_seed, **shard)
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        return as_batch(images), labels

    def test_only(self) -> CachedImageData:
        """The source with only what a test needs drawn (itself, where all is read anyway)."""
        return self

    def prepared_as(self, image_size, invert) -> CachedImageData:
        """The source prepared as a trained network's data were (itself where the preparation
        is fixed: the synthesized data are drawn at their own size, which must fit)."""
        return self
