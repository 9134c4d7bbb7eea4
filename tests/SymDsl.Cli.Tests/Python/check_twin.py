"""Runs the PyTorch twins `symc export` wrote and says how far they are from SymDsl (ExportTests reads the output).

usage: python3 check_twin.py CASE_DIR ...

Each CASE_DIR holds an export (<Model>.py, weights.pt, symmetries.json) and case.pt, a state dict SymDsl wrote:
  input.<name>   the twin's inputs (batch first), passed in the order of the class's INPUTS
  output.<name>  SymDsl's outputs for them (eval mode), when the outputs are compared
  labels         class labels, when the accuracy of the first output's argmax is counted
For each case one JSON line on stdout: the twin's state_dict keys, the largest difference of the outputs from SymDsl's and their scale, the number
of correct labels, and for every permutation in symmetries.json's permutation_spec the largest change of the outputs when
the state dict is permuted as its axes_to_perm says (a symmetry: zero up to rounding). Errors are reported, not raised.
"""
import importlib.util
import json
import os
import sys
import traceback

import torch


def load_class(case_dir):
    (py,) = [f for f in os.listdir(case_dir) if f.endswith(".py")]
    name = py[:-3]
    spec = importlib.util.spec_from_file_location(f"twin_{abs(hash(case_dir))}_{name}", os.path.join(case_dir, py))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def run(model, case):
    out = model(*[case["input." + n] for n in model.INPUTS])
    return out if isinstance(out, dict) else {model.OUTPUTS[0]: out}


def largest(a, b):
    return max((a[n].double() - b[n].double()).abs().max().item() for n in a)


def check(case_dir):
    model = load_class(case_dir)()
    state = torch.load(os.path.join(case_dir, "weights.pt"))
    model.load_state_dict(state)  # strict: a missing or unexpected key fails
    model.eval()
    case = torch.load(os.path.join(case_dir, "case.pt"))
    with open(os.path.join(case_dir, "symmetries.json")) as f:
        spec = json.load(f)["permutation_spec"]
    result = {"case": case_dir, "keys": sorted(model.state_dict().keys())}
    with torch.no_grad():
        out = run(model, case)
        expected = {n: case["output." + n] for n in model.OUTPUTS if "output." + n in case}
        if expected:
            result["max_diff"] = largest({n: out[n] for n in expected}, expected)
            result["scale"] = max(e.abs().max().item() for e in expected.values())
        if "labels" in case:
            predicted = out[model.OUTPUTS[0]].argmax(-1)
            result["correct"] = int((predicted == case["labels"]).sum().item())
            result["count"] = int(case["labels"].numel())
        generator = torch.Generator().manual_seed(1)
        changes = {}
        for perm, axes in spec["perm_to_axes"].items():
            key, axis = axes[0]
            p = torch.randperm(state[key].shape[axis], generator=generator)
            permuted = dict(state)
            for key, axis in axes:
                permuted[key] = permuted[key].index_select(axis, p)
            model.load_state_dict(permuted)
            changes[perm] = largest(run(model, case), out)
        model.load_state_dict(state)
        result["permutations"] = changes
    return result


def main():
    torch.set_num_threads(1)
    for case_dir in sys.argv[1:]:
        try:
            result = check(case_dir)
        except Exception:
            result = {"case": case_dir, "error": traceback.format_exc()}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
