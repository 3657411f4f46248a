"""Memory reads over a large memory: exact soft and top-k reads, faiss IVF, recall,
the benchmark and the kNN-augmented model (chapter 13)."""

import pytest
import torch

import hardattn_utils as ha


def _memory(m=50, d=6, dv=3, b=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, d, generator=gen),
        torch.randn(m, d, generator=gen),
        torch.randn(m, dv, generator=gen),
    )


def _brute_top_k(queries, keys, k):
    """Full stable sort: ties go to the lower index."""
    order = (queries @ keys.T).sort(dim=-1, descending=True, stable=True)
    return order.values[:, :k], order.indices[:, :k]


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 10, 49, 50, 64])
@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_top_k_equals_a_full_sort_at_every_chunk_boundary(chunk_size, k):
    queries, keys, _ = _memory()
    scores, index = ha.memory_top_k(queries, keys, k, chunk_size=chunk_size)
    want_scores, want_index = _brute_top_k(queries, keys, k)
    assert torch.equal(index, want_index)
    torch.testing.assert_close(scores, want_scores)


@pytest.mark.parametrize("chunk_size", [None, 3, 4, 8])
def test_top_k_breaks_ties_towards_the_lower_index(chunk_size):
    keys = torch.tensor([[1.0], [2.0], [2.0], [0.0], [2.0], [2.0], [1.0], [2.0]])  # (8, 1)
    queries = torch.tensor([[1.0], [-1.0]])
    _, index = ha.memory_top_k(queries, keys, 3, chunk_size=chunk_size)
    assert index.tolist() == [[1, 2, 4], [3, 0, 6]]
    assert torch.equal(index, _brute_top_k(queries, keys, 3)[1])


def test_top_k_read_blends_the_kept_values_and_extremes_match_other_reads():
    queries, keys, values = _memory()
    scores, index = _brute_top_k(queries, keys, 5)
    want = (scores.softmax(-1)[..., None] * values[index]).sum(1)
    torch.testing.assert_close(ha.memory_top_k_read(queries, keys, values, 5, chunk_size=8), want)
    torch.testing.assert_close(
        ha.memory_top_k_read(queries, keys, values, 5, weights="mean"), values[index].mean(1)
    )
    torch.testing.assert_close(ha.memory_top_k_read(queries, keys, values, 1), values[index[:, 0]])
    soft = torch.softmax(queries @ keys.T, -1) @ values
    torch.testing.assert_close(ha.memory_top_k_read(queries, keys, values, len(keys)), soft)


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 1000])
def test_soft_read_chunked_equals_unchunked_and_the_formula(chunk_size):
    queries, keys, values = _memory()
    want = torch.softmax(queries @ keys.T, -1) @ values
    torch.testing.assert_close(ha.memory_soft_read(queries, keys, values), want)
    torch.testing.assert_close(ha.memory_soft_read(queries, keys, values, chunk_size=chunk_size), want)


def test_soft_read_stays_finite_at_extreme_scores():
    queries, keys, values = _memory()
    out = ha.memory_soft_read(1e4 * queries, keys, values, chunk_size=7)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, values[(queries @ keys.T).argmax(-1)])


def test_faiss_exhaustive_search_has_recall_one():
    gen = torch.Generator().manual_seed(0)
    keys = ha.clustered_keys(2000, 16, num_clusters=20, generator=gen)
    queries = torch.randn(32, 16, generator=gen)
    index = ha.FaissIVF(16, 10, nprobe=10).add(keys)
    scores, found = index.search(queries, 10)
    want_scores, want = ha.memory_top_k(queries, keys, 10)
    assert ha.recall_at_k(found, want) == 1.0
    torch.testing.assert_close(scores, want_scores, rtol=1e-4, atol=1e-5)
    assert found.dtype == torch.int64 and scores.shape == (32, 10) and len(index) == 2000
    index.nprobe = 1
    assert ha.recall_at_k(index.search(queries, 10)[1], want) < 1.0


def test_faiss_results_repeat_with_a_fixed_seed():
    keys = ha.clustered_keys(3000, 8, generator=torch.Generator().manual_seed(1))
    queries = keys[:20] + 0.05
    runs = [ha.FaissIVF(8, 30, nprobe=3, seed=5).add(keys).search(queries, 4)[1] for _ in range(2)]
    assert torch.equal(*runs)


def test_recall_at_k_on_hand_made_cases():
    exact = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert ha.recall_at_k(exact, exact) == 1.0
    assert ha.recall_at_k(exact.flip(-1), exact) == 1.0  # order does not matter
    assert ha.recall_at_k(torch.tensor([[0, 9, -1], [5, 6, 7]]), exact) == pytest.approx(2 / 6)
    assert ha.recall_at_k(torch.tensor([[7, 8, 9], [0, 1, 2]]), exact) == 0.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda q, k, v: ha.memory_top_k(q, k, 51), ValueError, "k must"),
        (lambda q, k, v: ha.memory_top_k(q, k, 0), ValueError, "k must"),
        (lambda q, k, v: ha.memory_top_k(q, k[:0], 1), ValueError, "keys"),
        (lambda q, k, v: ha.memory_top_k(q[:, :3], k, 2), ValueError, "queries"),
        (
            lambda q, k, v: ha.memory_top_k(q, k.index_fill(0, torch.tensor([3]), float("nan")), 2),
            ValueError,
            "keys",
        ),
        (lambda q, k, v: ha.memory_soft_read(q, k, v[:10]), ValueError, "values"),
        (
            lambda q, k, v: ha.memory_soft_read(q, k, v.index_fill(1, torch.tensor([0]), float("inf"))),
            ValueError,
            "values",
        ),
        (lambda q, k, v: ha.memory_soft_read(q, k, v, chunk_size=0), ValueError, "chunk_size"),
        (lambda q, k, v: ha.memory_soft_read(q.long(), k, v), TypeError, "queries"),
        (lambda q, k, v: ha.memory_top_k_read(q, k, v, 3, weights="max"), ValueError, "weights"),
        (
            lambda q, k, v: ha.recall_at_k(torch.zeros(2, 3), torch.zeros(2, 3).long()),
            TypeError,
            "approx_indices",
        ),
        (
            lambda q, k, v: ha.recall_at_k(torch.zeros(2, 3).long(), torch.zeros(2, 4).long()),
            ValueError,
            "approx_indices",
        ),
        (lambda q, k, v: ha.FaissIVF(6, 4).search(q, 2), ValueError, "empty"),
        (lambda q, k, v: ha.FaissIVF(6, 4, nprobe=5), ValueError, "nprobe"),
        (lambda q, k, v: ha.FaissIVF(6, 4).add(k[:, :5]), ValueError, "keys"),
        (lambda q, k, v: ha.FaissIVF(6, 4).add(k).search(q, 51), ValueError, "k must"),
    ],
)
def test_bad_arguments_name_the_argument(call, error, match):
    queries, keys, values = _memory()
    with pytest.raises(error, match=match):
        call(queries, keys, values)


def test_benchmark_and_board_are_tidy_and_count_memory_from_shapes():
    bench = ha.memory_benchmark([2000], batch_size=4, k=5, chunk_size=512, min_run_time=0.001)
    assert list(bench["reader"]) == ["soft attention", "exact top-k", "faiss IVF"]
    row = bench.set_index("reader")
    assert row.loc["soft attention", "temporary MB"] == 4 * 4 * 2000 / 1e6
    assert row.loc["exact top-k", "temporary MB"] < row.loc["soft attention", "temporary MB"]
    assert row.loc["soft attention", "soft / reader"] == 1.0 and (bench["ms"] > 0).all()
    assert 0.0 <= row.loc["faiss IVF", "recall@k"] <= 1.0
    board = ha.memory_board(5000)
    assert list(board.columns) == ["m", "soft / exact top-k", "soft / faiss IVF", "faiss recall@k"]


def test_knn_model_trains_identically_from_fixed_seeds_and_learns():
    task = ha.KnnMemoryTask(dim=8, num_classes=4)
    runs = [
        ha.train_knn_seeds(task, "exact top-k", num_steps=150, memory_size=32, k=4, seeds=[0, 1])
        for _ in range(2)
    ]
    for a, b in zip(runs[0].stacked, runs[1].stacked, strict=True):
        assert torch.equal(a, b)
    frame = ha.evaluate_knn_seeds(
        runs[0], task, [64], num_queries=50, k=4, generator=torch.Generator().manual_seed(3)
    )
    assert set(frame["read"]) == {"soft attention", "exact top-k", "faiss IVF"} and len(frame) == 6
    assert frame["accuracy"].min() > 0.5  # chance is 0.25
    with pytest.raises(ValueError, match="read"):
        ha.train_knn_seeds(task, "argmax")


def test_clustered_keys_are_unit_norm_and_seeded():
    a = ha.clustered_keys(500, 8, num_clusters=5, generator=torch.Generator().manual_seed(0))
    b = ha.clustered_keys(500, 8, num_clusters=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (500, 8)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(500))
    with pytest.raises(ValueError, match="spread"):
        ha.clustered_keys(5, 2, spread=-1.0)


def test_recall_sweep_counts_scored_keys_and_is_exact_at_nprobe_nlist():
    gen = torch.Generator().manual_seed(4)
    keys = ha.clustered_keys(4000, 16, num_clusters=40, generator=gen)
    queries = keys[:16] + 0.05 * torch.randn(16, 16, generator=gen)
    sweep = ha.recall_sweep(keys, queries, nlist=20, nprobes=[1, 5, 20], k=5).set_index("nprobe")
    assert sweep.loc[20, "recall@k"] == 1.0 and sweep.loc[20, "scored"] == 1.0
    assert 0.0 < sweep.loc[1, "scored"] < sweep.loc[5, "scored"] < 1.0
    with pytest.raises(ValueError, match="k must"):
        ha.recall_sweep(keys, queries, nlist=20, nprobes=[1], k=5000)


def test_faiss_checks_name_the_keys_and_the_queries():
    keys = ha.clustered_keys(100, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="keys must be finite"):
        ha.FaissIVF(4, 2).add(keys.index_fill(0, torch.tensor([0]), float("nan")))
    with pytest.raises(ValueError, match="queries must have d = 4"):
        ha.FaissIVF(4, 2).add(keys).search(torch.zeros(3, 5), 2)
