"""The repo map's compact columns: the tags ranking reads, streamed from a real SQLite
cache into flat arrays, rank every file exactly as the per-file objects they replace did
(contents shared by several files, contents with no tags, ids that are not git's, files
the cache has not seen); and the text columns of the stored index read back as written."""

from __future__ import annotations

import hashlib
import random
import zlib
from pathlib import Path

import numpy as np
import pytest

from planloop.workspace.repomap_cache import (
    FileTags,
    RankedIndex,
    TagCache,
    Texts,
    _zip_texts,
    pack_hashes,
)
from planloop.workspace.repomap_rank import pagerank, pagerank_columns
from planloop.workspace.repomap_tags import name_hash


def reference_rank(tags: list[FileTags | None], damping: float = 0.85) -> list[float]:
    """PageRank as the map computed it in pure Python before numpy (same weights)."""
    from collections import defaultdict

    from planloop.workspace.repomap_cache import unpack_hashes
    from planloop.workspace.repomap_rank import COMMON_NAME_FILES

    definers: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(tags):
        if t is not None:
            for h in sorted(set(unpack_hashes(t.def_hashes))):
                definers[h].append(i)
    n = len(tags)
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i, t in enumerate(tags):
        if t is None:
            continue
        weights: dict[int, float] = defaultdict(float)
        for h in unpack_hashes(t.refs):
            where = definers.get(h)
            if not where or len(where) > COMMON_NAME_FILES:
                continue
            for dst in where:
                if dst != i:
                    weights[dst] += (0.1 if h >> 31 else 1.0) / len(where)
        total = sum(weights.values())
        out[i] = [(d, w / total) for d, w in weights.items()] if total else []
    rank = [1.0 / n] * n
    for _ in range(20):
        nxt = [(1.0 - damping) / n] * n
        dangling = 0.0
        for i, edges in enumerate(out):
            if not edges:
                dangling += rank[i]
            for j, w in edges:
                nxt[j] += damping * rank[i] * w
        rank = [x + damping * dangling / n for x in nxt]
    return rank


@pytest.fixture(scope="module")
def tree(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[TagCache, list[str], list[FileTags | None]]:
    """300 files over 220 contents: some shared by several files, some without tags,
    some with ids that are not git blob ids, some the cache never saw."""
    rnd = random.Random(7)
    contents: list[tuple[str, FileTags | None]] = []
    for c in range(220):
        cid = hashlib.sha1(b"%d" % c).hexdigest() if c % 10 else f"big-{c}-123"
        if c % 17 == 0:
            contents.append((cid, None))  # binary, too big, no grammar
            continue
        defs = [(f"Thing{c}", "c", 1), (f"_helper{c % 7}", "f", 9), ("run", "f", 3)]
        refs = {name_hash(f"Thing{rnd.randrange(220)}") for _ in range(4)}
        refs |= {name_hash(f"_helper{rnd.randrange(7)}"), name_hash("run")}
        tags = FileTags(
            defs,
            pack_hashes(name_hash(d[0]) for d in defs),
            pack_hashes(sorted(refs)),
            " ".join(d[0] for d in defs),
        )
        contents.append((cid, tags))
    cache = TagCache(tmp_path_factory.mktemp("columns") / "repomap")
    cache.put_many(contents[:200])  # the last 20 contents were never parsed
    cids, tags_of = [], []
    for i in range(300):
        cid, tags = contents[i % 220] if i < 220 else contents[rnd.randrange(220)]
        known = contents.index((cid, tags)) < 200
        cids.append(cid if i % 50 else "")  # a file with no content id at all
        tags_of.append(tags if known and i % 50 else None)
    return cache, cids, tags_of


def test_columns_rank_every_file_as_the_per_file_tags_did(
    tree: tuple[TagCache, list[str], list[FileTags | None]],
) -> None:
    cache, cids, expected = tree
    cols = cache.columns(cids)
    # the cache knows a file when its content was stored, tags or none
    known = [bool(c) and c in cache.known(cids) for c in cids]
    assert cols.known.tolist() == known
    assert 0 < cols.parsed < len(cids)
    assert list(cols.names) == [t.names if t is not None else "" for t in expected]
    want = reference_rank(expected)
    got = pagerank(expected)[0]
    from_cols, used_h, used_n = pagerank_columns(cols)
    assert np.allclose(from_cols, want, rtol=1e-9, atol=0) and np.allclose(got, want, rtol=1e-9)
    n = len(want)  # the same order (ranks equal up to rounding count as ties)

    def order(r: list[float]) -> list[int]:
        return sorted(range(n), key=lambda i: (-round(r[i] * n, 9), i))

    assert order(from_cols) == order(want)
    assert len(used_h) == len(used_n) > 0  # "run" and the helpers are used


def test_known_mask_matches_one_lookup_per_id(
    tree: tuple[TagCache, list[str], list[FileTags | None]],
) -> None:
    cache, cids, _ = tree
    mask = cache.known_mask(cids).tolist()
    one_by_one = [bool(c) and bool(cache.known([c])) for c in cids]
    assert mask == one_by_one and any(mask) and not all(mask)


@pytest.mark.parametrize(
    "texts",
    [[], [""], ["a"], ["src/é.py", "", "b/c.ts", "x\\xff"], [f"p{i}/f.py" for i in range(70000)]],
)
def test_text_columns_read_back_as_written(texts: list[str]) -> None:
    col = Texts.of(texts)
    assert len(col) == len(texts) and list(col) == texts
    assert [col[i] for i in range(len(texts))] == texts
    assert list(Texts.joined(zlib.decompress(_zip_texts(texts)), len(texts))) == texts
    assert _zip_texts(col) == zlib.compress(col.join(), 1)
    if texts:
        assert col[-1] == texts[-1] and col[1:3] == texts[1:3]
        pick = np.array([len(texts) - 1, 0])
        assert list(col.take(pick)) == [texts[-1], texts[0]]
    with pytest.raises(IndexError):
        col[len(texts)]


def test_a_torn_text_column_is_an_error_not_a_wrong_map() -> None:
    with pytest.raises(ValueError, match="disagrees"):
        Texts.joined(b"a\0b", 3)
    with pytest.raises(ValueError, match="longer"):
        Texts.joined(b"a", 0)


def test_goal_words_and_folders_in_a_text_column(tmp_path: Path) -> None:
    rels = sorted(["app/Billing.py", "app/hub.py", "docs/billing.md", "web/x.ts", "app0/y.py"])
    col = Texts.of(rels)
    assert [rels[i] for i in col.hits(["billing"]).tolist()] == [
        "app/Billing.py",
        "docs/billing.md",
    ]
    assert col.hits(["nowhere"]).tolist() == [] and col.hits([]).tolist() == []
    index = RankedIndex(col, [1.0] * 5, Texts.of([""] * 5), Texts.of(["x"] * 5))
    assert list(index.under("app/").rels) == ["app/Billing.py", "app/hub.py"]
    # stored and read back: the same columns
    cache = TagCache(tmp_path / "repomap")
    cache.save_index("k", RankedIndex(rels, [0.5] * 5, ["A B", "", "", "", "C"], ["1"] * 5))
    got = cache.index("k")
    assert got is not None and isinstance(got.rels, Texts)
    assert list(got.rels) == rels and list(got.names) == ["A B", "", "", "", "C"]
    assert list(got.cids) == ["1"] * 5 and got.ranks == [0.5] * 5


def test_a_table_scan_reads_what_lookups_read(
    tree: tuple[TagCache, list[str], list[FileTags | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big map reads the whole table instead of looking ids up (rows it did not ask
    for are dropped): both ways give the same columns."""
    cache, cids, _ = tree
    looked_up = cache.columns(cids)
    monkeypatch.setattr(TagCache, "_scan", staticmethod(lambda db, wanted: True))
    scanned = cache.columns(cids[:250])
    assert scanned.known.tolist() == looked_up.known.tolist()[:250]
    assert list(scanned.names) == list(looked_up.names)[:250]
    assert cache.known_mask(cids[:250]).tolist() == scanned.known.tolist()
    keep = looked_up.d_file < 250
    assert sorted(zip(scanned.d_file.tolist(), scanned.d_hash.tolist(), strict=True)) == sorted(
        zip(looked_up.d_file[keep].tolist(), looked_up.d_hash[keep].tolist(), strict=True)
    )
