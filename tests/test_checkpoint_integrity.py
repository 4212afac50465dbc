"""A damaged or mismatching checkpoint raises CheckpointError, never gives wrong data."""

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from _ckpt_util import all_files, assert_same, state

import optx
from optx import train
from optx.train import _ckpt_tree


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    s = state()
    train.save(root / "good", s, metadata={"epoch": 2})
    return root / "good", s


def _copy(saved, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(saved[0], path)
    return path


def test_a_flipped_byte_anywhere_is_refused(saved, tmp_path):
    """200 seeded positions over every file: data, orbax metadata, optx.json, the manifest."""
    good, s = saved
    files = all_files(good)
    sizes = np.array([(good / f).stat().st_size for f in files])
    rng = np.random.default_rng(0)
    picks = rng.integers(0, sizes.sum(), size=200)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    hit = set()
    path = _copy(saved, tmp_path)
    for pick in picks:
        i = int(np.searchsorted(starts, pick, side="right") - 1)
        target, offset = path / files[i], int(pick - starts[i])
        raw = bytearray(target.read_bytes())
        raw[offset] ^= 1 << int(rng.integers(8))
        target.write_bytes(bytes(raw))
        with pytest.raises(train.CheckpointError, match=r"corrupt"):
            train.restore(path, s)
        raw[offset] ^= raw[offset] ^ (good / files[i]).read_bytes()[offset]
        target.write_bytes(bytes(raw))
        hit.add(files[i])
    assert {"MANIFEST.json", "optx.json"} <= hit and len(hit) >= 6  # every kind of file
    assert_same(train.restore(path, s), s)  # all put back: restores again


def test_truncated_deleted_and_added_files_are_refused(saved, tmp_path):
    good, s = saved
    for rel in all_files(good):
        path = _copy(saved, tmp_path)
        raw = (path / rel).read_bytes()
        (path / rel).write_bytes(raw[: len(raw) // 2])
        with pytest.raises(train.CheckpointError, match=r"truncated|corrupt"):
            train.restore(path, s)
        (path / rel).unlink()
        message = "no MANIFEST.json" if rel == "MANIFEST.json" else f"file {rel} is missing"
        with pytest.raises(train.CheckpointError, match=message):
            train.restore(path, s)
        shutil.rmtree(path)
    path = _copy(saved, tmp_path)
    (path / "state" / "extra").write_bytes(b"x")
    with pytest.raises(train.CheckpointError, match="file state/extra is not in MANIFEST.json"):
        train.restore(path, s)
    with pytest.raises(train.CheckpointError, match="is a file, not an optx checkpoint"):
        train.restore(path / "optx.json", s)
    with pytest.raises(FileNotFoundError, match="no checkpoint there"):
        train.restore(tmp_path / "nothing", s)


def test_a_newer_format_version_is_refused(saved, tmp_path):
    path = _copy(saved, tmp_path)
    info = json.loads((path / "optx.json").read_text())
    info["version"] = 99
    (path / "optx.json").write_text(json.dumps(info))
    with pytest.raises(train.CheckpointError, match=r"file optx.json has \d+ bytes"):
        train.restore(path, saved[1])  # the manifest vouches for the old bytes only
    (path / "MANIFEST.json").unlink()
    _ckpt_tree.write_manifest(str(path))  # as a future optx would write it
    with pytest.raises(train.CheckpointError, match="format version 99; this optx reads"):
        train.restore(path, saved[1])


MISMATCHES = [
    (lambda s: s._replace(params={**s.params, "w": jnp.zeros(5)}),
     r"\.params\['w'\]: checkpoint float32\[4\], target float32\[5\]$"),
    (lambda s: s._replace(params={**s.params, "w": jnp.zeros(4, jnp.bfloat16)}),
     r"\.params\['w'\]: checkpoint float32\[4\], target bfloat16\[4\]$"),
    (lambda s: s._replace(params={**s.params, "z": jnp.zeros(1)}),
     r"the checkpoint has 17 leaves, the target 18; the first difference is leaf 3: "
     r"checkpoint \.opt_state\[0\]\.count, target \.params\[.z.\]"),
    (lambda s: s._replace(rng=jnp.zeros(2, jnp.uint32)),
     r"\.rng: checkpoint PRNG key key<fry>\[\], target uint32\[2\]"),
    (lambda s: s._replace(params=[s.params["b"], s.params["w"]]),
     r"at \.params the checkpoint has a dict node, the target list"),
    (lambda s: (s.params, s.opt_state),
     r"at the root the checkpoint has a TrainState node, the target tuple"),
]  # fmt: skip


@pytest.mark.parametrize("change,message", MISMATCHES)
def test_a_mismatch_names_the_path_and_both_values(saved, change, message):
    good, s = saved
    with pytest.raises(train.CheckpointError, match="does not match the target: " + message):
        train.restore(good, change(s))


@pytest.mark.parametrize("other", [optx.adabelief, optx.yogi, optx.amsgrad])
def test_another_optimizer_with_the_same_field_names_is_refused(saved, other):
    good, s = saved  # saved with Adam: mu, nu and count are in all of these too
    target = state(tx=other(1e-2))
    with pytest.raises(
        train.CheckpointError,
        match=r"at \.opt_state\[0\] the checkpoint has a ScaleByAdamState node",
    ):
        train.restore(good, target)


def test_hyperparameter_names_are_part_of_the_structure(saved):
    good, s = saved
    adam = s.opt_state[0]
    values = {("beta1" if k == "b1" else k): v for k, v in adam.hyperparams.values.items()}
    renamed = adam._replace(hyperparams=adam.hyperparams._replace(values=values))
    target = s._replace(opt_state=(renamed, *s.opt_state[1:]))
    with pytest.raises(
        train.CheckpointError,
        match=r"checkpoint \.opt_state\[0\]\.hyperparams"
        r"\.values\['b1'\], target \.opt_state\[0\]\.hyperparams\.values\['b2'\]",
    ):
        train.restore(good, target)
    with pytest.raises(
        train.CheckpointError,
        match=r"at \.opt_state\[1\] the checkpoint has a "
        r"ScaleState node, the target AddDecayedWeightsState",
    ):
        train.restore(good, state(tx=optx.adamw(1e-2)))
