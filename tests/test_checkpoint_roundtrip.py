"""optx.train.save / restore on orbax: round trips, placement, committedness, layout."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from _ckpt_util import all_files, assert_same, rich_state, state

import optx
from optx import train


def test_round_trip_keeps_structure_dtypes_keys_numpy_and_python_numbers(tmp_path):
    s = rich_state()
    train.save(tmp_path / "c", s, metadata={"note": "hi", "step": 3})
    restored = train.restore(tmp_path / "c", s)
    assert type(restored) is train.TrainState
    assert restored.params["emb"].dtype == jnp.bfloat16
    assert restored.opt_state[0].mu["dense"]["w"].dtype == jnp.bfloat16
    assert isinstance(restored.model_state["host"], np.ndarray)
    assert restored.model_state["host"].dtype == np.float64
    assert restored.model_state["f"] == 0.5 and isinstance(restored.model_state["f"], float)
    assert_same(restored, s)
    assert train.read_metadata(tmp_path / "c") == {"note": "hi", "step": 3}


def test_the_arrays_are_an_orbax_checkpoint_beside_optx_files(tmp_path):
    s = state()
    train.save(tmp_path / "c", s)
    files = all_files(tmp_path / "c")
    assert "MANIFEST.json" in files and "optx.json" in files
    assert any(f.startswith("state/ocdbt.process_0/") for f in files)
    # orbax reads the arrays by itself: leaves are stored flat, in jax.tree.leaves order
    info = json.loads((tmp_path / "c" / "optx.json").read_text())
    host = {str(i): ocp.RestoreArgs(restore_type=np.ndarray) for i in range(len(info["leaves"]))}
    raw = ocp.PyTreeCheckpointer().restore(
        tmp_path / "c" / "state", args=ocp.args.PyTreeRestore(restore_args=host)
    )
    np.testing.assert_array_equal(raw["1"], s.params["b"])  # leaf 1: params['b']
    assert [n[1] for n in info["nodes"]][:3] == ["TrainState", "dict", "tuple"]
    assert info["leaves"][-1] == {
        "path": ".rng", "kind": "key", "dtype": "key<fry>", "impl": "threefry2x32", "shape": []
    }  # fmt: skip


def test_restore_without_target_gives_nested_containers(tmp_path):
    s = rich_state()
    train.save(tmp_path / "c", s)
    tree = train.restore(tmp_path / "c")
    assert sorted(tree) == ["model_state", "opt_state", "params", "rng", "step"]
    np.testing.assert_array_equal(tree["params"]["layers"][1], s.params["layers"][1])
    assert isinstance(tree["params"]["layers"], list)
    assert jax.random.key_data(tree["rng"]).tolist() == jax.random.key_data(s.rng).tolist()


def test_abstract_target_places_arrays_on_its_shardings(tmp_path):
    mesh = jax.make_mesh((2,), ("d",), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.devices()[:2])  # fmt: skip
    row = jax.sharding.NamedSharding(mesh, jax.P("d"))
    s = state()
    train.save(tmp_path / "c", s)
    abstract = jax.eval_shape(lambda: s)
    abstract = abstract._replace(
        params={**abstract.params, "w": jax.ShapeDtypeStruct((4,), jnp.float32, sharding=row)}
    )
    restored = train.restore(tmp_path / "c", abstract)
    assert restored.params["w"].sharding == row and restored.params["w"].committed
    assert not restored.params["b"].committed  # no sharding given: uncommitted
    assert_same(restored, s)


def test_committedness_follows_the_target(tmp_path):
    s = state()
    train.save(tmp_path / "c", s)
    loose = train.restore(tmp_path / "c", s)
    assert not any(x.committed for x in jax.tree.leaves(loose))
    device = jax.devices()[1]
    pinned = train.restore(tmp_path / "c", jax.device_put(s, device))
    assert all(x.committed and x.devices() == {device} for x in jax.tree.leaves(pinned))
    step = jax.jit(lambda p: jax.tree.map(lambda x: 2 * x, p))
    step(s.params)
    step(loose.params)  # the uncommitted restore runs what was compiled for the target
    assert step._cache_size() == 1


def test_optimizer_state_alone_and_a_schedule_swap(tmp_path):
    params = {"w": jnp.arange(3.0)}
    constant = optx.adam(1e-3)
    s = constant.update({"w": jnp.ones(3)}, constant.init(params), params)[1]
    train.save(tmp_path / "adam", s)
    scheduled = optx.adam(optx.schedules.linear_schedule(1e-3, 0.0, 10))
    restored = train.restore(tmp_path / "adam", jax.eval_shape(scheduled.init, params))
    assert jax.tree.structure(restored) == jax.tree.structure(scheduled.init(params))
    _, after = scheduled.update({"w": jnp.ones(3)}, restored, params)
    _, after = scheduled.update({"w": jnp.ones(3)}, after, params)
    assert float(optx.get_hyperparams(after)["learning_rate"]) == pytest.approx(1e-3 * 0.8)
    train.save(tmp_path / "sched", after)  # and back into the float-rate optimizer
    back = train.restore(tmp_path / "sched", constant.init(params))
    assert jax.tree.structure(back) == jax.tree.structure(constant.init(params))


def test_save_refuses_to_overwrite_without_force_and_bad_leaves(tmp_path):
    train.save(tmp_path / "c", state())
    with pytest.raises(train.CheckpointError, match="exists; pass force=True"):
        train.save(tmp_path / "c", state())
    train.save(tmp_path / "c", state(tx=optx.sgd(0.5)), force=True)
    train.restore(tmp_path / "c", state(tx=optx.sgd(0.5)))
    with pytest.raises(train.CheckpointError, match="JSON-serializable"):
        train.save(tmp_path / "m", state(), metadata={"f": object()})
    with pytest.raises(train.CheckpointError, match=r"\['name'\] is a str; checkpoints hold"):
        train.save(tmp_path / "s", {"name": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
