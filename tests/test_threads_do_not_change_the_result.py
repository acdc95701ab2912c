"""The threads option only changes speed, never the resulting tree or report."""

import fastlink
import pytest
from snapshots import assert_trees_equal, tree_counts
from treespec import make_tree, random_bytes, sample_spec


@pytest.mark.parametrize("threads", [None, 1, 2, 8])
def test_any_thread_count_produces_the_same_tree(tmp_path, threads):
    spec = sample_spec()
    spec["many"] = {f"f{i:03}": random_bytes(i * 97, seed=i) for i in range(120)}
    expected = make_tree(tmp_path / "src", spec)
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", threads=threads)
    assert_trees_equal(expected, tmp_path / "dst")
    assert {k: getattr(report, k) for k in ("files", "dirs", "symlinks", "bytes")} == tree_counts(
        expected
    )
