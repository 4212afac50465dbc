# ruff: noqa: E501 - one case per line reads as a table
"""The bad-input matrix (issue 17): ``(id, thunk, exception, message regex)``.

Each thunk does what a new user might do wrong; each regex asserts that the message names
the public call and the argument or value. Used by tests/test_bad_inputs.py.
"""

import jax.numpy as jnp

import optx

S = optx.schedules
INF, NAN = float("inf"), float("nan")
P = {"w": jnp.ones(3)}
G = {"w": jnp.ones(3)}
M = {"w": jnp.ones((4, 6))}


def _update(tx, state=None, grads=G, params=P):
    """Steps ``tx`` once from ``state`` (default: its own init on ``params``)."""
    state = tx.init(params) if state is None else state
    return tx.update(grads, state, params)


def _step_with(tx, other):
    """Steps ``tx`` from the state ``other`` built: a state from another optimizer."""
    return tx.update(G, other.init(P), P)


# fmt: off
HYPERPARAMETERS = [
    ("adam-b1", lambda: optx.adam(1e-3, b1=1.2), ValueError, r"optx\.adam: b1 must be in \[0, 1\), got 1\.2"),
    ("adam-lr-inf", lambda: optx.adam(INF), ValueError, r"optx\.adam: learning_rate must be >= 0, got inf"),
    ("adam-eps-inf", lambda: optx.adam(1e-3, eps=INF), ValueError, r"optx\.adam: eps must be >= 0, got inf"),
    ("adam-b2-nan", lambda: optx.adam(1e-3, b2=NAN), ValueError, r"optx\.adam: b2 must be in \[0, 1\), got nan"),
    ("sgd-lr-inf", lambda: optx.sgd(INF), ValueError, r"optx\.sgd: learning_rate must be >= 0, got inf"),
    ("sgd-lr-neg", lambda: optx.sgd(-1.0), ValueError, r"optx\.sgd: learning_rate must be >= 0, got -1"),
    ("sgd-momentum-1", lambda: optx.sgd(0.1, momentum=1.0), ValueError, r"optx\.sgd: momentum must be in \[0, 1\), got 1"),
    ("nag-momentum", lambda: optx.nag(0.1, momentum=-0.5), ValueError, r"optx\.nag: momentum must be"),
    ("adamw-wd", lambda: optx.adamw(1e-3, weight_decay=-1.0), ValueError, r"optx\.adamw: weight_decay must be >= 0, got -1"),
    ("adamw-wd-inf", lambda: optx.adamw(1e-3, weight_decay=INF), ValueError, r"optx\.adamw: weight_decay must be >= 0, got inf"),
    ("nadam-b2", lambda: optx.nadam(1e-3, b2=1.0), ValueError, r"optx\.nadam: b2 must be in \[0, 1\), got 1"),
    ("nadamw-b1", lambda: optx.nadamw(1e-3, b1=-0.1), ValueError, r"optx\.nadamw: b1 must be"),
    ("amsgrad-eps", lambda: optx.amsgrad(1e-3, eps=-1.0), ValueError, r"optx\.amsgrad: eps must be >= 0, got -1"),
    ("adamax-b1-nan", lambda: optx.adamax(1e-3, b1=NAN), ValueError, r"optx\.adamax: b1 must be .*got nan"),
    ("adamaxw-lr", lambda: optx.adamaxw(-1e-3), ValueError, r"optx\.adamaxw: learning_rate must be >= 0"),
    ("radam-threshold", lambda: optx.radam(1e-3, threshold=3.0), ValueError, r"optx\.radam: threshold must be > 4, got 3"),
    ("adabelief-eps-inf", lambda: optx.adabelief(1e-3, eps=INF), ValueError, r"optx\.adabelief: eps must be >= 0, got inf"),
    ("yogi-b1", lambda: optx.yogi(1e-3, b1=1.5), ValueError, r"optx\.yogi: b1 must be in \[0, 1\), got 1\.5"),
    ("qhadam-b1", lambda: optx.qhadam(1e-3, b1=1.5), ValueError, r"optx\.qhadam: b1 must be .*got 1\.5"),
    ("rmsprop-decay-nan", lambda: optx.rmsprop(1e-3, decay=NAN), ValueError, r"optx\.rmsprop: decay must be in \[0, 1\), got nan"),
    ("rmsprop-momentum", lambda: optx.rmsprop(1e-3, momentum=1.0), ValueError, r"optx\.rmsprop: momentum must be"),
    ("adagrad-lr-inf", lambda: optx.adagrad(INF), ValueError, r"optx\.adagrad: learning_rate must be >= 0, got inf"),
    ("adagrad-init-acc", lambda: optx.adagrad(0.1, initial_accumulator_value=-1.0), ValueError, r"optx\.adagrad: initial_accumulator_value must be >= 0"),
    ("adadelta-rho", lambda: optx.adadelta(1.0, rho=1.5), ValueError, r"optx\.adadelta: rho must be in \[0, 1\), got 1\.5"),
    ("adadelta-eps", lambda: optx.adadelta(1.0, eps=0.0), ValueError, r"optx\.adadelta: eps must be > 0, got 0"),
    ("adafactor-lr", lambda: optx.adafactor(-1.0), ValueError, r"optx\.adafactor: learning_rate must be >= 0, got -1"),
    ("adafactor-decay", lambda: optx.adafactor(1e-2, decay_rate=-0.8), ValueError, r"optx\.adafactor: decay_rate must be > 0"),
    ("lamb-lr-inf", lambda: optx.lamb(INF), ValueError, r"optx\.lamb: learning_rate must be >= 0, got inf"),
    ("lars-lr", lambda: optx.lars(-1.0), ValueError, r"optx\.lars: learning_rate must be"),
    ("lion-b1", lambda: optx.lion(1e-4, b1=1.5), ValueError, r"optx\.lion: b1 must be in \[0, 1\), got 1\.5"),
    ("schedule_free-b1-0", lambda: optx.schedule_free(optx.sgd(0.1), 0.1, b1=0.0), ValueError, r"optx\.schedule_free: b1 must be in \(0, 1\], got 0"),
    ("schedule_free_sgd-warmup-0", lambda: optx.schedule_free_sgd(warmup_steps=0), ValueError, r"optx\.schedule_free_sgd: warmup_steps must be >= 1, got 0"),
    ("schedule_free_adamw-b2", lambda: optx.schedule_free_adamw(b2=1.0), ValueError, r"optx\.schedule_free_adamw: b2 must be in \[0, 1\), got 1"),
    ("prodigy-d0", lambda: optx.prodigy(estim_lr0=0.0), ValueError, r"optx\.prodigy: estim_lr0 must be > 0, got 0"),
    ("dadapt_adamw-beta2", lambda: optx.dadapt_adamw(betas=(0.9, 1.5)), ValueError, r"optx\.dadapt_adamw: beta2 must be in \[0, 1\), got 1\.5"),
    ("signum-momentum", lambda: optx.signum(1e-3, beta=2.0), ValueError, r"optx\.signum: beta must be in \[0, 1\), got 2"),
    ("sign-sgd-lr", lambda: optx.sign_sgd(-1.0), ValueError, r"optx\.sign_sgd: learning_rate must be >= 0"),
    ("novograd-b1", lambda: optx.novograd(1e-3, b1=-0.1), ValueError, r"optx\.novograd: b1 must be in \[0, 1\), got -0\.1"),
    ("sm3-lr-nan", lambda: optx.sm3(NAN), ValueError, r"optx\.sm3: learning_rate must be >= 0, got nan"),
    ("ftml-b1", lambda: optx.ftml(1e-3, b1=1.0), ValueError, r"optx\.ftml: b1 must be in \[0, 1\), got 1"),
    ("ftrl-lamda", lambda: optx.ftrl(0.1, lambda1=-1.0), ValueError, r"optx\.ftrl: lambda1 must be >= 0, got -1"),
    ("rprop-eta-minus", lambda: optx.rprop(1e-3, eta_minus=1.5), ValueError, r"optx\.rprop: eta_minus must be in \(0, 1\), got 1\.5"),
    ("rprop-eta-plus", lambda: optx.rprop(1e-3, eta_plus=0.5), ValueError, r"optx\.rprop: eta_plus must be >= 1, got 0\.5"),
    ("fromage-lr", lambda: optx.fromage(-1.0), ValueError, r"optx\.fromage: learning_rate must be"),
    ("dcasgd-lr", lambda: optx.dcasgd(-1.0), ValueError, r"optx\.dcasgd: learning_rate must be"),
    ("sgld-lr", lambda: optx.sgld(-1.0), ValueError, r"optx\.sgld: learning_rate must be"),
    ("lbsgd-momentum", lambda: optx.lbsgd(0.1, momentum=1.0), ValueError, r"optx\.lbsgd: momentum must be in \[0, 1\), got 1"),
    ("ranger-lr", lambda: optx.ranger(-1.0), ValueError, r"optx\.ranger: learning_rate must be"),
    ("scale-nan", lambda: optx.scale(NAN), ValueError, r"optx\.scale: step_size must be finite, got nan"),
    ("clip-neg", lambda: optx.clip(-1.0), ValueError, r"optx\.clip: max_delta must be > 0, got -1"),
    ("clip-global-inf", lambda: optx.clip_by_global_norm(INF), ValueError, r"optx\.clip_by_global_norm: max_norm must be .*got inf"),
    ("clip-global-0", lambda: optx.clip_by_global_norm(0.0), ValueError, r"optx\.clip_by_global_norm: max_norm must be > 0, got 0"),
    ("clip-block-rms", lambda: optx.clip_by_block_rms(0.0), ValueError, r"optx\.clip_by_block_rms: threshold must be > 0, got 0"),
    ("agc-clipping", lambda: optx.adaptive_grad_clip(-1.0), ValueError, r"optx\.adaptive_grad_clip: clipping must be > 0, got -1"),
    ("decayed-weights-inf", lambda: optx.add_decayed_weights(INF), ValueError, r"optx\.add_decayed_weights: weight_decay must be >= 0, got inf"),
    ("add-noise-eta", lambda: optx.add_noise(-1.0, 0.55, 0), ValueError, r"optx\.add_noise: eta must be >= 0, got -1"),
    ("trace-decay", lambda: optx.trace(1.0), ValueError, r"optx\.trace: decay must be in \[0, 1\), got 1"),
    ("ema-decay", lambda: optx.ema(1.5), ValueError, r"optx\.ema: decay must be in \[0, 1\), got 1\.5"),
    ("scale-by-lr", lambda: optx.scale_by_learning_rate(-1.0), ValueError, r"optx\.scale_by_learning_rate: learning_rate must be >= 0"),
    ("ema-params-decay", lambda: optx.ema_params(1.5), ValueError, r"optx\.ema_params: decay must be in \[0, 1\), got 1\.5"),
    ("lookahead-alpha", lambda: optx.lookahead(optx.sgd(0.1), slow_step_size=1.5), ValueError, r"optx\.lookahead: slow_step_size must be in \[0, 1\], got 1\.5"),
    ("plateau-factor", lambda: optx.reduce_on_plateau(factor=1.5), ValueError, r"optx\.reduce_on_plateau: factor must be"),
]

TYPES = [
    ("adam-b2-string", lambda: optx.adam(1e-3, b2="0.999"), TypeError, r"optx\.adam: b2 must be a float, a scalar array or a schedule"),
    ("sgd-none", lambda: optx.sgd(None), TypeError, r"optx\.sgd: learning_rate must be a float, a scalar array or a schedule.*None"),
    ("sgd-array", lambda: optx.sgd(jnp.ones(3)), ValueError, r"optx\.sgd: learning_rate must be a scalar, got an array of shape \(3,\)"),
    ("sgd-schedule-no-arg", lambda: optx.sgd(lambda: 0.1), TypeError, r"optx\.sgd: learning_rate is a function that cannot be called with one argument"),
    ("adam-schedule-two-args", lambda: optx.adam(lambda a, b: 0.1), TypeError, r"optx\.adam: learning_rate is a function that cannot be called with one argument"),
    ("sgd-momentum-string", lambda: optx.sgd(0.1, momentum="0.9"), TypeError, r"optx\.sgd: momentum must be a float"),
    ("lookahead-sync-float", lambda: optx.lookahead(optx.sgd(0.1), sync_period=2.5), TypeError, r"optx\.lookahead: sync_period must be an int, got 2\.5"),
    ("accumulate-k-0", lambda: optx.accumulate_gradients(optx.sgd(0.1), 0), ValueError, r"optx\.accumulate_gradients: every_k must be >= 1, got 0"),
    ("apply-if-finite-neg", lambda: optx.apply_if_finite(optx.sgd(0.1), -1), ValueError, r"optx\.apply_if_finite: max_consecutive_errors must be >= 0, got -1"),
    ("create-unknown", lambda: optx.create("adamm", learning_rate=1e-3), ValueError, r"optx\.create: .*adamm"),
]

SCHEDULE_VALUES = [
    ("sgd-schedule-shape", lambda: optx.sgd(lambda c: jnp.full(3, 0.1)).init(P), ValueError, r"optx\.sgd: learning_rate must be a scalar, but the schedule's value at count 0 has shape \(3,\)"),
    ("sgd-schedule-nan", lambda: optx.sgd(lambda c: jnp.nan).init(P), ValueError, r"optx\.sgd: learning_rate must be >= 0, but the schedule's value at count 0 is nan"),
    ("adam-b1-schedule", lambda: optx.adam(1e-3, b1=lambda c: 1.5).init(P), ValueError, r"optx\.adam: b1 must be in \[0, 1\), but the schedule's value at count 0 is 1\.5"),
    ("rmsprop-schedule-neg", lambda: optx.rmsprop(lambda c: -1.0).init(P), ValueError, r"optx\.rmsprop: learning_rate must be >= 0, but the schedule's value at count 0 is -1"),
    ("clip-schedule-neg", lambda: optx.clip_by_global_norm(lambda c: -1.0).init(P), ValueError, r"optx\.clip_by_global_norm: max_norm must be > 0, but the schedule's value at count 0 is -1"),
    ("ftrl-schedule-neg", lambda: optx.ftrl(lambda c: 0.0).init(P), ValueError, r"optx\.ftrl: learning_rate must be > 0, but the schedule's value at count 0 is 0"),
    ("lamb-schedule-inf", lambda: optx.lamb(lambda c: jnp.inf).init(P), ValueError, r"optx\.lamb: learning_rate must be >= 0, but the schedule's value at count 0 is inf"),
]

SET_HYPERPARAMS = [
    ("set-lr-neg", lambda: optx.set_hyperparams(optx.adam(0.1).init(P), learning_rate=-0.1), ValueError, r"optx\.set_hyperparams: learning_rate must be >= 0, got -0\.1"),
    ("set-b1", lambda: optx.set_hyperparams(optx.adam(0.1).init(P), b1=1.5), ValueError, r"optx\.set_hyperparams: b1 must be in \[0, 1\), got 1\.5"),
    ("set-lr-string", lambda: optx.set_hyperparams(optx.adam(0.1).init(P), learning_rate="a"), TypeError, r"optx\.set_hyperparams: learning_rate must be a number or a scalar array, got 'a'"),
    ("set-lr-nan", lambda: optx.set_hyperparams(optx.sgd(0.1).init(P), learning_rate=NAN), ValueError, r"optx\.set_hyperparams: learning_rate must be >= 0, got nan"),
    ("set-unknown-name", lambda: optx.set_hyperparams(optx.sgd(0.1).init(P), lr=0.1), (KeyError, ValueError), r"optx\.set_hyperparams: .*lr"),
    ("set-max-norm-neg", lambda: optx.set_hyperparams(optx.clip_by_global_norm(1.0).init(P), max_norm=-1.0), ValueError, r"optx\.set_hyperparams: max_norm must be > 0, got -1"),
    ("set-eta-plus", lambda: optx.set_hyperparams(optx.rprop(1e-2).init(P), eta_plus=0.6), ValueError, r"optx\.set_hyperparams: eta_plus must be >= 1, got 0\.6"),
    ("set-adadelta-eps-0", lambda: optx.set_hyperparams(optx.adadelta(1.0).init(P), eps=0.0), ValueError, r"optx\.set_hyperparams: eps must be > 0, got 0"),
    ("set-lion-b1", lambda: optx.set_hyperparams(optx.lion(1e-4).init(P), b1=1.0), ValueError, r"optx\.set_hyperparams: b1 must be in \[0, 1\), got 1"),
    ("set-trace-decay", lambda: optx.set_hyperparams(optx.trace(0.9).init(P), decay=1.5), ValueError, r"optx\.set_hyperparams: decay must be in \[0, 1\), got 1\.5"),
    ("set-scheduled", lambda: optx.set_hyperparams(optx.sgd(lambda c: 0.1).init(P), learning_rate=0.2), ValueError, r"optx\.set_hyperparams: learning_rate .*schedule"),
]

FLOAT = r"must be a floating"
DTYPES = [
    ("adam-mu-int32", lambda: optx.adam(0.1, mu_dtype=jnp.int32), TypeError, rf"optx\.adam: mu_dtype {FLOAT} or complex dtype .*got int32"),
    ("adam-nu-int32", lambda: optx.adam(0.1, nu_dtype=jnp.int32), TypeError, rf"optx\.adam: nu_dtype {FLOAT} dtype .*got int32"),
    ("adam-mu-foo", lambda: optx.adam(0.1, mu_dtype="foo"), TypeError, r"optx\.adam: mu_dtype must be .*got 'foo'"),
    ("adam-nu-complex", lambda: optx.adam(0.1, nu_dtype=jnp.complex64), TypeError, rf"optx\.adam: nu_dtype {FLOAT} dtype .*got complex64"),
    ("adamw-mu-bool", lambda: optx.adamw(0.1, mu_dtype=jnp.bool_), TypeError, rf"optx\.adamw: mu_dtype {FLOAT}.*got bool"),
    ("amsgrad-nu-int", lambda: optx.amsgrad(0.1, nu_dtype=jnp.int8), TypeError, rf"optx\.amsgrad: nu_dtype {FLOAT}.*got int8"),
    ("nadam-mu-uint", lambda: optx.nadam(0.1, mu_dtype=jnp.uint8), TypeError, rf"optx\.nadam: mu_dtype {FLOAT}.*got uint8"),
    ("lion-mu-int", lambda: optx.lion(0.1, mu_dtype=jnp.int32), TypeError, rf"optx\.lion: mu_dtype {FLOAT}.*got int32"),
    ("signum-acc-int", lambda: optx.signum(0.1, accumulator_dtype=jnp.int32), TypeError, rf"optx\.signum: accumulator_dtype {FLOAT}.*got int32"),
    ("novograd-mu-int", lambda: optx.scale_by_novograd(mu_dtype=jnp.int16), TypeError, rf"optx\.scale_by_novograd: mu_dtype {FLOAT}.*got int16"),
    ("sgd-acc-int", lambda: optx.sgd(0.1, momentum=0.9, accumulator_dtype=jnp.int32), TypeError, rf"optx\.sgd: accumulator_dtype {FLOAT}.*got int32"),
    ("trace-acc-foo", lambda: optx.trace(0.9, accumulator_dtype="foo"), TypeError, r"optx\.trace: accumulator_dtype must be .*got 'foo'"),
    ("ema-acc-int", lambda: optx.ema(0.9, accumulator_dtype=jnp.int32), TypeError, rf"optx\.ema: accumulator_dtype {FLOAT}.*got int32"),
    ("accumulate-acc-int", lambda: optx.accumulate_gradients(optx.sgd(0.1), 2, accumulator_dtype=jnp.int32), TypeError, rf"optx\.accumulate_gradients: accumulator_dtype {FLOAT}.*got int32"),
    ("apply-every-acc-int", lambda: optx.apply_every(2, accumulator_dtype=jnp.int32), TypeError, rf"optx\.apply_every: accumulator_dtype {FLOAT}.*got int32"),
    ("ema-params-acc-int", lambda: optx.ema_params(0.9, accumulator_dtype=jnp.int32), TypeError, rf"optx\.ema_params: accumulator_dtype {FLOAT}.*got int32"),
    ("polyak-acc-int", lambda: optx.polyak_params(accumulator_dtype=jnp.int32), TypeError, rf"optx\.polyak_params: accumulator_dtype {FLOAT}.*got int32"),
    ("master-weights-int", lambda: optx.with_master_weights(optx.sgd(0.1), dtype=jnp.int32), TypeError, rf"optx\.with_master_weights: dtype {FLOAT}.*got int32"),
    ("int-params-adam", lambda: optx.adam(0.1).init({"w": jnp.ones(3, jnp.int32)}), TypeError, r"optx\.adam\.init: params at \['w'\] are int32"),
    ("bool-params-sgd", lambda: optx.sgd(0.1).init({"b": jnp.ones(3, bool)}), TypeError, r"optx\.sgd\.init: params at \['b'\] are bool"),
    ("python-int-params", lambda: optx.sgd(0.1).init({"n": 3}), TypeError, r"optx\.sgd\.init: params at \['n'\] are int32"),
]

UNCALLED = r"did you forget to call the factory, e\.g\. optx\.adam\(1e-3\)"
WRONG_OBJECTS = [
    ("masked-uncalled", lambda: optx.masked(optx.adam, {"w": True}), TypeError, rf"optx\.masked: inner must be a GradientTransformation.*{UNCALLED}"),
    ("masked-string", lambda: optx.masked("adam", {"w": True}), TypeError, r"optx\.masked: inner .*the string 'adam'.*optx\.create\('adam'"),
    ("partition-uncalled", lambda: optx.partition({"a": optx.sgd}, {"w": "a"}), TypeError, rf"optx\.partition: transforms\['a'\] must be a GradientTransformation.*{UNCALLED}"),
    ("freeze-uncalled", lambda: optx.freeze({"w": True}, optx.adam), TypeError, rf"optx\.freeze: inner must be.*{UNCALLED}"),
    ("accumulate-uncalled", lambda: optx.accumulate_gradients(optx.adam, 2), TypeError, rf"optx\.accumulate_gradients: inner must be.*{UNCALLED}"),
    ("multisteps-uncalled", lambda: optx.MultiSteps(optx.adam, 2), TypeError, rf"optx\.(MultiSteps|accumulate_gradients): .* must be a GradientTransformation.*{UNCALLED}"),
    ("apply-if-finite-uncalled", lambda: optx.apply_if_finite(optx.adam, 3), TypeError, rf"optx\.apply_if_finite: inner must be.*{UNCALLED}"),
    ("lookahead-uncalled", lambda: optx.lookahead(optx.adam), TypeError, rf"optx\.lookahead: fast_optimizer must be.*{UNCALLED}"),
    ("master-weights-uncalled", lambda: optx.with_master_weights(optx.adam), TypeError, rf"optx\.with_master_weights: inner must be.*{UNCALLED}"),
    ("conditionally-uncalled", lambda: optx.conditionally_transform(optx.adam, lambda c: c > 0), TypeError, rf"optx\.conditionally_transform: inner must be.*{UNCALLED}"),
    ("flatten-uncalled", lambda: optx.flatten(optx.adam), TypeError, rf"optx\.flatten: inner must be.*{UNCALLED}"),
    ("flatten-int", lambda: optx.flatten(42), TypeError, r"optx\.flatten: inner must be a GradientTransformation .*got int 42"),
    ("param-groups-uncalled", lambda: optx.param_groups(optx.adam, {"*": "a"}), TypeError, rf"optx\.param_groups: direction must be.*{UNCALLED}"),
    ("chain-uncalled", lambda: optx.chain(optx.clip(1.0), optx.adam), TypeError, r"optx\.chain: argument 1 is function.*optx\.adam\(1e-3\)"),
    ("trainstate-uncalled", lambda: optx.train.TrainState.create(P, optx.adam), TypeError, rf"optx\.train\.TrainState\.create: optimizer must be.*{UNCALLED}"),
    ("trainstate-string", lambda: optx.train.TrainState.create(P, "adam"), TypeError, r"optx\.train\.TrainState\.create: optimizer .*'adam'.*optx\.create\('adam'"),
    ("train-step-uncalled", lambda: optx.train.make_train_step(lambda p, b: 0.0, optx.sgd), TypeError, rf"optx\.train\.make_train_step: optimizer must be.*{UNCALLED}"),
]

WRONG_STATE = r"was the state built by another optimizer"
WRONG_STATES = [
    ("adam-state-none", lambda: optx.adam(0.1).update(G, None, P), TypeError, r"optx\.adam\.update: state is None; pass the state built by init"),
    ("sgd-state-none", lambda: optx.sgd(0.1).update(G, None), TypeError, r"optx\.sgd\.update: state is None"),
    ("sgd-state-to-adam", lambda: _step_with(optx.adam(0.1), optx.sgd(0.1)), TypeError, rf"optx\.adam\.update got a state whose element 0 is EmptyState, expected ScaleByAdamState.*{WRONG_STATE}"),
    ("adam-state-to-rmsprop", lambda: _step_with(optx.rmsprop(0.1), optx.adam(0.1)), TypeError, rf"optx\.rmsprop\.update got a tuple state of length 2, expected 3.*{WRONG_STATE}"),
    ("adam-state-to-lion", lambda: _step_with(optx.lion(0.1), optx.adam(0.1)), TypeError, rf"optx\.lion\.update got a tuple state of length 2, expected 3.*{WRONG_STATE}"),
    ("momentum-state-to-sgd", lambda: _step_with(optx.sgd(0.1), optx.sgd(0.1, momentum=0.9)), TypeError, rf"optx\.sgd\.update got a state whose element 0 is TraceState, expected EmptyState.*{WRONG_STATE}"),
    ("adam-state-to-adafactor", lambda: _step_with(optx.adafactor(0.1), optx.adam(0.1)), TypeError, rf"optx\.adafactor.*\.update got a .*{WRONG_STATE}"),
    ("sgd-state-to-lookahead", lambda: _step_with(optx.lookahead(optx.sgd(0.1)), optx.sgd(0.1)), TypeError, rf"optx\.lookahead\.update got a state of type tuple, expected LookaheadState.*{WRONG_STATE}"),
    ("sgd-state-to-accumulate", lambda: _step_with(optx.accumulate_gradients(optx.sgd(0.1), 2), optx.sgd(0.1)), TypeError, rf"optx\.accumulate_gradients\.update got a state of type tuple, expected AccumulateGradientsState.*{WRONG_STATE}"),
    ("dict-state", lambda: optx.adam(0.1).update(G, {"mu": G}, P), TypeError, rf"optx\.adam\.update got a state of type dict, expected tuple.*{WRONG_STATE}"),
    ("adafactor-shape", lambda: optx.adafactor(0.1).update(M, optx.adafactor(0.1).init({"w": jnp.ones((2, 3))}), M), ValueError, r"optx\.adafactor.*gradient at \['w'\] has shape \(4, 6\), but the state was built for another shape"),
    ("adam-structure", lambda: _update(optx.adam(0.1), grads={"v": jnp.ones(3)}), ValueError, r"optx\.(adam|scale_by_adam): the updates tree does not match the tree the state was built for \(missing \['w'\]; unexpected \['v'\]\)"),
]

SCHEDULE_FACTORIES = [
    ("factor-negative", lambda: S.factor_schedule(1, factor=-0.5), ValueError, r"optx\.schedules\.factor_schedule: factor must be in \(0, 1\].*got -0\.5"),
    ("factor-above-1", lambda: S.factor_schedule(1, factor=1.5), ValueError, r"optx\.schedules\.factor_schedule: factor must be <= 1.*got 1\.5"),
    ("factor-step-0", lambda: S.factor_schedule(0), ValueError, r"optx\.schedules\.factor_schedule: step must be >= 1, got 0"),
    ("multi-factor-zero", lambda: S.multi_factor_schedule([2, 4], factor=0.0), ValueError, r"optx\.schedules\.multi_factor_schedule: factor must be in \(0, 1\]"),
    ("cosine-decay-nan", lambda: S.cosine_decay_schedule(NAN, 10), ValueError, r"optx\.schedules\.cosine_decay_schedule: init_value must be finite, got nan"),
    ("cosine-decay-steps-0", lambda: S.cosine_decay_schedule(1.0, 0), ValueError, r"optx\.schedules\.cosine_decay_schedule: decay_steps must be"),
    ("cosine-decay-alpha-inf", lambda: S.cosine_decay_schedule(1.0, 10, alpha=INF), ValueError, r"optx\.schedules\.cosine_decay_schedule: alpha must be finite, got inf"),
    ("constant-nan", lambda: S.constant_schedule(NAN), ValueError, r"optx\.schedules\.constant_schedule: value must be finite, got nan"),
    ("linear-inf", lambda: S.linear_schedule(INF, 0.0, 10), ValueError, r"optx\.schedules\.linear_schedule: init_value must be finite, got inf"),
    ("polynomial-nan-power", lambda: S.polynomial_schedule(1.0, 0.0, NAN, 10), ValueError, r"optx\.schedules\.polynomial_schedule: power must be .*nan"),
    ("exponential-rate-nan", lambda: S.exponential_decay(1.0, 10, NAN), ValueError, r"optx\.schedules\.exponential_decay(_schedule)?: decay_rate must be finite, got nan"),
    ("exponential-steps-0", lambda: S.exponential_decay(1.0, 0, 0.5), ValueError, r"optx\.schedules\.exponential_decay(_schedule)?: transition_steps must be >= 1, got 0"),
    ("piecewise-scale-inf", lambda: S.piecewise_constant_schedule(1.0, {5: INF}), ValueError, r"optx\.schedules\.piecewise_constant_schedule: .*inf"),
    ("warmup-cosine-peak-nan", lambda: S.warmup_cosine_decay_schedule(0.0, NAN, 5, 10), ValueError, r"optx\.schedules\.warmup_cosine_decay_schedule: peak_value must be finite, got nan"),
    ("warmup-constant-inf", lambda: S.warmup_constant_schedule(0.0, INF, 5), ValueError, r"optx\.schedules\.warmup_constant_schedule: peak_value must be finite, got inf"),
    ("inverse-sqrt-nan", lambda: S.inverse_sqrt_schedule(NAN, 5), ValueError, r"optx\.schedules\.inverse_sqrt_schedule: peak_value must be finite, got nan"),
    ("onecycle-peak-inf", lambda: S.cosine_onecycle_schedule(10, INF), ValueError, r"optx\.schedules\.cosine_onecycle_schedule: peak_value must be finite, got inf"),
    ("poly-pwr-nan", lambda: S.poly_schedule(10, pwr=NAN), ValueError, r"optx\.schedules\.poly_schedule: pwr must be .*nan"),
    ("cosine-mxnet-base-inf", lambda: S.cosine_schedule(10, base_lr=INF), ValueError, r"optx\.schedules\.cosine_schedule: base_lr must be finite, got inf"),
    ("cyclic-max-nan", lambda: S.cyclic_schedule(0.1, NAN, 5), ValueError, r"optx\.schedules\.cyclic_schedule: max_value must be .*nan"),
    ("fastai-onecycle-inf", lambda: S.onecycle(10, INF), ValueError, r"optx\.schedules\.onecycle: lr_max must be .*inf"),
    ("flat-cos-nan", lambda: S.flat_cos(10, NAN), ValueError, r"optx\.schedules\.flat_cos: lr must be .*nan"),
]


def _fit(data, epochs=1):
    state = optx.train.TrainState.create(P, optx.sgd(0.1))
    return optx.train.fit(state, lambda s, b: (s, {"loss": jnp.zeros([])}), data, epochs)


TRAINER = [
    ("fit-empty-iterator", lambda: _fit(iter([])), ValueError, r"optx\.train\.fit: data gave no batches in epoch 0"),
    ("fit-empty-list", lambda: _fit([]), ValueError, r"optx\.train\.fit: data gave no batches in epoch 0"),
    ("fit-exhausted-iterator", lambda: _fit(iter([1, 2]), epochs=2), TypeError, r"optx\.train\.fit: data is a one-shot iterator, so epochs after the first would be empty"),
]
# fmt: on

CASES = [
    *HYPERPARAMETERS, *TYPES, *SCHEDULE_VALUES, *SET_HYPERPARAMS, *DTYPES,
    *WRONG_OBJECTS, *WRONG_STATES, *SCHEDULE_FACTORIES, *TRAINER,
]  # fmt: skip
