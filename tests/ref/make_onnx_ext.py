#!/usr/bin/python3
"""Writes tests/ref/onnx_ext/: one-Conv ONNX models whose weight is stored as external data at
different locations, for tests/test_onnx.c (which creates the data files beside them):
  ok.onnx        location "w.bin"            (beside the model: read)
  up.onnx        location "../secret.bin"    (leaves the folder: refused)
  abs.onnx       location "/etc/passwd"      (absolute: refused)
  link.onnx      location "link.bin"         (a symbolic link the test makes to ../secret.bin)
  missing.onnx   location "missing.bin"      (no such file)
  short.onnx     location "w.bin", length 8  (less than the weight's 16 bytes)
The weight is (2, 2, 1, 1) float32; w.bin holds 0.5, -1, 2, 0.25.
Run from the repository root: /usr/bin/python3 tests/ref/make_onnx_ext.py
"""
import os
import onnx
from onnx import TensorProto, helper

OUT = "tests/ref/onnx_ext"


def model(location, length=None):
    w = TensorProto()
    w.name = "w"
    w.data_type = TensorProto.FLOAT
    w.dims.extend([2, 2, 1, 1])
    w.data_location = TensorProto.EXTERNAL
    for key, value in [("location", location)] + ([("length", str(length))] if length else []):
        e = w.external_data.add()
        e.key, e.value = key, value
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="c")
    graph = helper.make_graph([conv], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {"ok": ("w.bin", None), "up": ("../secret.bin", None), "abs": ("/etc/passwd", None),
             "link": ("link.bin", None), "missing": ("missing.bin", None), "short": ("w.bin", 8)}
    for name, (location, length) in cases.items():
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(model(location, length).SerializeToString())
    print("wrote", len(cases), "models to", OUT)


if __name__ == "__main__":
    main()
