"""Runs every configuration of optimizer_configs.py with real Keras 3 and writes what the variables
hold after each step. Made once, in a throwaway virtual environment (the tests never import Keras):

    KERAS_BACKEND=torch /tmp/kerasenv/bin/python tests/optimizers/make_keras_reference.py \
        > tests/optimizers/keras_3_15.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import optimizer_configs as configs  # noqa: E402

out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "results": {}}
for name in configs.CONFIGS:
    variables = [keras.Variable(v, name=f"v{i}") for i, v in enumerate(configs.initial_values())]
    opt = configs.build(keras.optimizers, name, keras.ops)
    steps = []
    for grads in configs.gradients():
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
        steps.append([keras.ops.convert_to_numpy(v).tolist() for v in variables])
    out["results"][name] = steps
results = out.pop("results")
print("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()) + ', "results": {')
print(",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in results.items()))
print("}}")
