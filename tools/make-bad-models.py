#!/usr/bin/python3
"""Writes the malformed ONNX models of tests/bad/ and their expected errors.

Each case is a small function returning the model's bytes (and sometimes
writing a side file); its docstring's first line is the fragment of the
error `kiln dump` must print for it, saved as NAME.expect next to
NAME.onnx.  tests/bad/run.sh checks every file against its .expect.

The output is deterministic (random bytes come from a fixed seed), so
rerunning the script on a clean checkout changes nothing:

    /usr/bin/python3 tools/make-bad-models.py [OUTDIR]   (default tests/bad)

Needs python3-onnx (Debian's /usr/bin/python3).  Models that onnx's own
helpers refuse to build are written as raw protobuf bytes.
"""
import os
import random
import sys

import onnx
from onnx import TensorProto, helper

F = TensorProto.FLOAT
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "bad")
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def model(nodes, inputs, outputs, inits=(), opset=17, value_info=(), ir_version=8):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits),
                          value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version
    return m


def vi(name, dims, dtype=F):
    return helper.make_tensor_value_info(name, dtype, dims)


def relu(extra_inits=(), **kw):
    """y = Relu(x), f32[2, 3], plus whatever the case adds."""
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", [2, 3])], [vi("y", [2, 3])], inits=extra_inits, **kw)


def raw_tensor(name, dtype, dims, raw):
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    t.raw_data = raw
    return t


def ser(m):
    return m.SerializeToString()


# ---- raw protobuf ---------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """A length-delimited field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vfield(num, value):
    """A varint field."""
    return varint(num << 3) + varint(value)


# ---- bytes that are not a model ------------------------------------------
@case
def truncated():
    """not a valid ONNX model: the protobuf data is malformed or truncated"""
    b = ser(relu())
    return b[: len(b) * 2 // 3]


@case
def random_bytes():
    """not a valid ONNX model: the protobuf data is malformed or truncated"""
    rng = random.Random(6)
    # a length-delimited field 7 (graph) longer than the file, then noise
    return field(7, b"")[:1] + b"\xff\xff\x03" + bytes(rng.randrange(256) for _ in range(500))


@case
def empty_file():
    """not a valid ONNX model: it has no graph"""
    return b""


@case
def text_file():
    """not a valid ONNX model"""
    return b"graph @g {\n  input %x : f32[2]\n  output %x\n}\n"


@case
def wrong_wire_type():
    """not a valid ONNX model: the protobuf data is malformed or truncated"""
    # ModelProto.graph (field 7, a message) sent as a varint
    return vfield(1, 8) + vfield(7, 5)


@case
def wrong_wire_type_nested():
    """not a valid ONNX model: the protobuf data is malformed or truncated"""
    # NodeProto.input (field 1, a string) sent as a 64-bit value
    node = varint(1 << 3 | 1) + b"\0" * 8 + field(4, b"Relu")
    return vfield(1, 8) + field(7, field(1, node))


@case
def deep_nesting():
    """protobuf messages are nested more than 100 deep (the limit)"""
    # TypeProto.sequence_type.elem_type.sequence_type... 10,000 levels:
    # protobuf-c's unpacker recursed until the stack overflowed
    t = b""
    for _ in range(10000):
        t = field(4, field(1, t))
    return vfield(1, 8) + field(7, field(11, field(1, b"x") + field(2, t)))


# ---- graph structure -----------------------------------------------------
@case
def cycle():
    """graph has a cycle through this node"""
    return ser(model([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                      helper.make_node("Relu", ["a"], ["b"], name="second")],
                     [vi("x", [2])], [vi("b", [2])]))


@case
def self_loop():
    """graph has a cycle through this node"""
    return ser(model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")],
                     [vi("x", [2])], [vi("y", [2])]))


@case
def undefined_input():
    """node 'relu' (Relu): input 'nope' is not defined"""
    return ser(model([helper.make_node("Relu", ["nope"], ["y"], name="relu")],
                     [vi("x", [2])], [vi("y", [2])]))


@case
def duplicate_value():
    """node 'second' (Neg): value 'y' is defined twice (ONNX graphs are SSA)"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="first"),
                      helper.make_node("Neg", ["x"], ["y"], name="second")],
                     [vi("x", [2])], [vi("y", [2])]))


@case
def duplicate_initializer():
    """value 'w' is defined twice"""
    w = helper.make_tensor("w", F, [1], [1.0])
    return ser(relu([w, w]))


@case
def duplicate_input():
    """value 'x' is defined twice"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", [2]), vi("x", [2])], [vi("y", [2])]))


@case
def output_not_produced():
    """graph output 'z' is not produced by any node, input or initializer"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", [2])], [vi("z", [2])]))


@case
def no_outputs():
    """graph 'g' has no outputs"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [2])], []))


@case
def too_many_inputs_for_op():
    """node 'relu' (Relu): takes 1 input, got 2"""
    return ser(model([helper.make_node("Relu", ["x", "x"], ["y"], name="relu")],
                     [vi("x", [2])], [vi("y", [2])]))


@case
def required_input_empty():
    """node 'add' (Add): required input 0 is empty"""
    return ser(model([helper.make_node("Add", ["", "x"], ["y"], name="add")],
                     [vi("x", [2])], [vi("y", [2])]))


@case
def unsupported_operator():
    """node 'mystery' (com.example:Frobnicate): unsupported operator (1 node)"""
    m = model([helper.make_node("Frobnicate", ["x"], ["y"], name="mystery", domain="com.example")],
              [vi("x", [2])], [vi("y", [2])])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return ser(m)


@case
def input_without_type():
    """input 'x' has no tensor type"""
    m = relu()
    m.graph.input[0].ClearField("type")
    return ser(m)


@case
def sequence_input():
    """input 'x' has a sequence type; only dense tensors are supported"""
    seq = helper.make_tensor_sequence_value_info("x", F, [2])
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [seq],
                     [vi("y", [2])]))


@case
def nameless_input():
    """input 0 of graph 'g' has no name"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("", [2])],
                     [vi("y", [2])]))


# ---- tensors -------------------------------------------------------------
@case
def missing_initializer_data():
    """tensor 'w' has no data (no raw_data, float_data or external data for 6 x f32)"""
    return ser(relu([TensorProto(name="w", data_type=F, dims=[2, 3])]))


@case
def raw_data_size_mismatch():
    """tensor 'w': raw_data has 20 bytes, but 6 x f32 needs 24"""
    return ser(relu([raw_tensor("w", F, [2, 3], b"\0" * 20)]))


@case
def typed_data_count_mismatch():
    """tensor 'w': float_data has 5 entries, but 6 x f32 needs 6"""
    return ser(relu([TensorProto(name="w", data_type=F, dims=[2, 3], float_data=[1.0] * 5)]))


@case
def data_in_wrong_field():
    """tensor 'w' of type f32 carries data in a field other than float_data"""
    return ser(relu([TensorProto(name="w", data_type=F, dims=[2], int64_data=[1, 2])]))


@case
def zero_size_tensor_with_data():
    """tensor 'empty': raw_data has 4 bytes, but 0 x f32 needs 0"""
    return ser(relu([raw_tensor("empty", F, [3, 0], b"\0" * 4)]))


@case
def zero_size_tensor_with_typed_data():
    """tensor 'empty': float_data has 2 entries, but 0 x f32 needs 0"""
    return ser(relu([TensorProto(name="empty", data_type=F, dims=[0], float_data=[1.0, 2.0])]))


@case
def negative_dim():
    """tensor 'w' has negative dim 1 (-3)"""
    return ser(relu([TensorProto(name="w", data_type=F, dims=[2, -3])]))


@case
def overflowing_dims():
    """tensor 'w' is too large (dims overflow or exceed 1099511627776 bytes)"""
    # 2^32 * 2^32 * 2^32 elements: the count overflows int64
    return ser(relu([TensorProto(name="w", data_type=F, dims=[1 << 32] * 3)]))


@case
def absurd_byte_size():
    """tensor 'w' is too large"""
    # 2^61 doubles: the element count fits in int64, the bytes do not
    return ser(relu([TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[1 << 61])]))


@case
def absurd_input_dims():
    """input 'x' is too large: its dims hold more than 1099511627776 bytes (the limit)"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", ["N", 1 << 31, 1 << 31])], [vi("y", None)]))


@case
def absurd_output_dims():
    """output 'y' is too large"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", ["N"])], [vi("y", [(1 << 63) - 1, 2])]))


@case
def rank_above_maximum():
    """tensor 'w' has rank 9; kiln supports at most 8 dims"""
    return ser(relu([helper.make_tensor("w", F, [1] * 9, [1.0])]))


@case
def input_rank_above_maximum():
    """input 'x' has rank 9; kiln supports at most 8 dims"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", [1] * 9)], [vi("y", None)]))


@case
def unknown_dtype():
    """tensor 'w' has unknown data type 99"""
    return ser(relu([raw_tensor("w", 99, [1], b"\0" * 4)]))


@case
def undefined_dtype():
    """tensor 'w' has undefined data type 0"""
    return ser(relu([raw_tensor("w", 0, [1], b"\0" * 4)]))


@case
def unsupported_dtype():
    """constant 'w': unsupported data type COMPLEX64"""
    return ser(relu([raw_tensor("w", TensorProto.COMPLEX64, [1], b"\0" * 8)]))


@case
def string_tensor():
    """tensor 'w': string tensors are unsupported"""
    return ser(relu([helper.make_tensor("w", TensorProto.STRING, [1], [b"hi"])]))


@case
def unknown_input_dtype():
    """input 'x' has unknown element type 99"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", [2], 99)], [vi("y", None)]))


@case
def unsupported_input_dtype():
    """input 'x': unsupported data type COMPLEX128"""
    return ser(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                     [vi("x", [2], TensorProto.COMPLEX128)], [vi("y", None)]))


@case
def segmented_tensor():
    """tensor 'w' is segmented; segmented tensors are unsupported"""
    t = helper.make_tensor("w", F, [1], [1.0])
    t.segment.begin = 0
    t.segment.end = 1
    return ser(relu([t]))


@case
def sparse_index_out_of_range():
    """sparse initializer 'sp': index 1 of 2 is out of range"""
    m = relu()
    sp = helper.make_sparse_tensor(helper.make_tensor("sp", F, [2], [1.0, 2.0]),
                                   helper.make_tensor("sp_i", TensorProto.INT64, [2], [0, 6]),
                                   [2, 3])
    m.graph.sparse_initializer.append(sp)
    return ser(m)


@case
def sparse_huge_dense_shape():
    """would densify to 1099511627776 bytes; the limit is 4294967296"""
    m = relu()
    sp = helper.make_sparse_tensor(helper.make_tensor("sp", F, [1], [1.0]),
                                   helper.make_tensor("sp_i", TensorProto.INT64, [1], [0]),
                                   [1 << 18, 1 << 20])
    m.graph.sparse_initializer.append(sp)
    return ser(m)


# ---- attributes ----------------------------------------------------------
def with_attr(attr, op="Relu", inputs=("x",)):
    n = helper.make_node(op, list(inputs), ["y"], name="n")
    n.attribute.append(attr)
    return ser(model([n], [vi("x", [2, 3])], [vi("y", None)]))


@case
def attribute_undefined_kind():
    """node 'n' (Relu): attribute 'alpha' has kind UNDEFINED: unsupported attribute kind"""
    return with_attr(onnx.AttributeProto(name="alpha"))


@case
def attribute_tensor_without_tensor():
    """node 'n' (ConstantOfShape): attribute 'value' is a TENSOR but holds none"""
    return with_attr(onnx.AttributeProto(name="value", type=onnx.AttributeProto.TENSOR),
                     op="ConstantOfShape")


@case
def attribute_graph_without_graph():
    """node 'n' (If): attribute 'then_branch' is a GRAPH but holds none"""
    return with_attr(onnx.AttributeProto(name="then_branch", type=onnx.AttributeProto.GRAPH),
                     op="If")


@case
def attribute_not_in_schema():
    """node 'n' (Relu): attribute 'alpha' is not defined for Relu in opset 17"""
    # as the ONNX checker and ONNX Runtime refuse it; kiln would ignore it
    return with_attr(helper.make_attribute("alpha", 0.1))


@case
def attribute_empty_string():
    """node 'n' (DepthToSpace): unknown mode ''"""
    # a STRING attribute with no bytes is imported as "" (the path of
    # fuzz-empty-string-attribute.onnx, whose garbage attribute name is now
    # refused first), then shape inference refuses the mode
    n = helper.make_node("DepthToSpace", ["x"], ["y"], name="n", blocksize=2)
    n.attribute.append(onnx.AttributeProto(name="mode", type=onnx.AttributeProto.STRING))
    return ser(model([n], [vi("x", [1, 4, 2, 2])], [vi("y", None)]))


@case
def attribute_of_an_older_opset():
    """node 'n' (Relu): attribute 'consumed_inputs' is not defined for Relu in opset 17"""
    # Relu had it until opset 5
    return with_attr(helper.make_attribute("consumed_inputs", [0]))


@case
def attribute_list_of_graphs():
    """attribute 'bodies' has kind GRAPHS: unsupported attribute kind"""
    return with_attr(onnx.AttributeProto(name="bodies", type=onnx.AttributeProto.GRAPHS))


@case
def attribute_unknown_kind():
    """attribute 'alpha' has kind unknown: unsupported attribute kind"""
    # python's protobuf refuses the enum value, but keeps it as an unknown
    # field when parsing, and writes it back out
    a = onnx.AttributeProto()
    a.ParseFromString(field(1, b"alpha") + varint(2 << 3 | 5) + b"\0\0\x80\x3f" + vfield(20, 42))
    return with_attr(a)


@case
def attribute_given_twice():
    """node 'n' (Transpose): attribute 'perm' is given twice"""
    n = helper.make_node("Transpose", ["x"], ["y"], name="n", perm=[1, 0])
    n.attribute.append(helper.make_attribute("perm", [0, 1]))
    return ser(model([n], [vi("x", [2, 3])], [vi("y", None)]))


@case
def attribute_without_name():
    """node 'n' (Relu): an attribute has no name"""
    return with_attr(onnx.AttributeProto(type=onnx.AttributeProto.INT, i=1))


@case
def attribute_wrong_kind():
    """node 'n' (Transpose): attribute 'perm' is FLOAT, but Transpose takes INTS"""
    return with_attr(helper.make_attribute("perm", 1.5), op="Transpose")


@case
def attribute_wrong_kind_string():
    """node 'n' (Softmax): attribute 'axis' is STRING, but Softmax takes INT"""
    return with_attr(helper.make_attribute("axis", "last"), op="Softmax")


@case
def attribute_ref_outside_function():
    """refers to function attribute 'a' outside a function"""
    return with_attr(onnx.AttributeProto(name="alpha", ref_attr_name="a",
                                         type=onnx.AttributeProto.FLOAT))


@case
def constant_two_values():
    """Constant needs exactly one value attribute, got 2"""
    n = helper.make_node("Constant", [], ["c"], name="c", value_float=1.0, value_int=2)
    return ser(model([n, helper.make_node("Relu", ["c"], ["y"], name="relu")], [],
                     [vi("y", None)]))


@case
def constant_string():
    """attribute 'value_string': string constants are unsupported"""
    n = helper.make_node("Constant", [], ["c"], name="c", value_string="hi")
    return ser(model([n, helper.make_node("Relu", ["c"], ["y"], name="relu")], [],
                     [vi("y", None)]))


@case
def subgraph_too_deep():
    """subgraphs are nested deeper than 16 levels"""
    body = None
    for level in range(18):
        nodes = [helper.make_node("If", ["x"], ["z"], name="r%d" % level)]
        if body is not None:
            nodes[0].attribute.append(helper.make_attribute("then_branch", body))
        body = helper.make_graph(nodes, "level%d" % level, [], [vi("z", None)])
    n = helper.make_node("If", ["x"], ["y"], name="top")
    n.attribute.append(helper.make_attribute("then_branch", body))
    return ser(model([n], [vi("x", [1])], [vi("y", None)]))


# ---- shapes (found by shape inference, after import) ---------------------
@case
def matmul_shape_mismatch():
    """node 'mm' (MatMul):"""
    return ser(model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                     [vi("a", [2, 3]), vi("b", [4, 5])], [vi("y", None)]))


@case
def reshape_element_count():
    """node 'rs' (Reshape):"""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [4, 4])
    return ser(model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
                     [vi("x", [2, 3])], [vi("y", None)], inits=[shape]))


@case
def zero_size_reshape():
    """node 'rs' (Reshape):"""
    # a tensor with no elements cannot become one with some
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [5])
    return ser(model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
                     [vi("x", [3, 0])], [vi("y", None)], inits=[shape]))


@case
def concat_rank_mismatch():
    """node 'cat' (Concat):"""
    return ser(model([helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=0)],
                     [vi("a", [2, 3]), vi("b", [2, 3, 4])], [vi("y", None)]))


@case
def conv_weight_rank():
    """node 'conv' (Conv):"""
    w = helper.make_tensor("w", F, [8, 3], [0.0] * 24)
    return ser(model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
                     [vi("x", [1, 3, 8, 8])], [vi("y", None)], inits=[w]))


@case
def transpose_bad_perm():
    """node 't' (Transpose):"""
    return ser(model([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 0])],
                     [vi("x", [2, 3])], [vi("y", None)]))


@case
def expand_absurd_shape():
    """node 'e' (Expand):"""
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [1 << 30, 1 << 30, 1 << 30])
    return ser(model([helper.make_node("Expand", ["x", "shape"], ["y"], name="e")],
                     [vi("x", [1])], [vi("y", None)], inits=[shape]))


@case
def gather_index_dtype():
    """node 'g' (Gather):"""
    return ser(model([helper.make_node("Gather", ["x", "i"], ["y"], name="g")],
                     [vi("x", [4, 3]), vi("i", [2], F)], [vi("y", None)]))


@case
def add_dtype_mismatch():
    """node 'add' (Add):"""
    return ser(model([helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                     [vi("a", [2], F), vi("b", [2], TensorProto.INT64)], [vi("y", None)]))


@case
def broadcast_mismatch():
    """node 'add' (Add):"""
    return ser(model([helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                     [vi("a", [2, 3]), vi("b", [4])], [vi("y", None)]))


@case
def sum_empty_input():
    """node 's' (Sum): input 1 is required"""
    return ser(model([helper.make_node("Sum", ["x", "", "x"], ["y"], name="s")],
                     [vi("x", [2])], [vi("y", None)]))


@case
def concat_empty_input():
    """node 'cat' (Concat): input 1 is required"""
    return ser(model([helper.make_node("Concat", ["x", "", "x"], ["y"], name="cat", axis=0)],
                     [vi("x", [2])], [vi("y", None)]))


@case
def einsum_empty_input():
    """node 'e' (Einsum): input 1 is required"""
    return ser(model([helper.make_node("Einsum", ["x", "", "x"], ["y"], name="e",
                                       equation="i,i,i->")],
                     [vi("x", [2])], [vi("y", None)]))


# ---- versions ------------------------------------------------------------
@case
def opset_too_new():
    """the model uses ONNX opset 99; kiln supports opsets 1 to 21"""
    return ser(relu(opset=99))


@case
def opset_zero():
    """the model uses ONNX opset 0; kiln supports opsets 1 to 21"""
    return ser(relu(opset=0))


@case
def opset_negative():
    """the model uses ONNX opset -5; kiln supports opsets 1 to 21"""
    return ser(relu(opset=-5))


@case
def opset_missing():
    """the model does not import the default ONNX domain (no opset_import)"""
    m = relu()
    del m.opset_import[:]
    return ser(m)


@case
def opset_imported_twice():
    """the model imports the default ONNX domain twice (opsets 13 and 17)"""
    m = relu(opset=13)
    m.opset_import.append(helper.make_opsetid("ai.onnx", 17))
    return ser(m)


@case
def ir_version_negative():
    """the model has a negative IR version (-1)"""
    return ser(relu(ir_version=-1))


# ---- external data -------------------------------------------------------
def external(location, offset=None, length=None, dims=(2, 3)):
    t = TensorProto(name="w", data_type=F, dims=list(dims))
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return ser(relu([t]))


@case
def external_escapes_folder():
    """tensor 'w': external data location '../../../etc/passwd' escapes the model's folder"""
    return external("../../../etc/passwd")


@case
def external_escapes_after_descent():
    """escapes the model's folder"""
    return external("sub/../../outside.bin")


@case
def external_absolute_path():
    """tensor 'w': external data location '/etc/passwd' is absolute"""
    return external("/etc/passwd")


@case
def external_missing_file():
    """tensor 'w': cannot open external data file"""
    return external("no-such-weights.bin")


@case
def external_no_location():
    """tensor 'w' is stored externally but has no 'location'"""
    return external("", dims=(2,))


@case
def external_past_end():
    """tensor 'w': external data bytes [16, 40) lie beyond the end of 'external-weights.bin' (32 bytes)"""
    return external("external-weights.bin", offset=16)


@case
def external_offset_past_end():
    """lie beyond the end of 'external-weights.bin'"""
    return external("external-weights.bin", offset=1 << 40)


@case
def external_bad_offset():
    """tensor 'w': external data offset '-8' is not a byte count"""
    return external("external-weights.bin", offset=-8)


@case
def external_length_mismatch():
    """tensor 'w': external data length 8 does not match the 24 bytes its shape and type need"""
    return external("external-weights.bin", length=8)


@case
def external_is_a_folder():
    """external-dir/.' is not a regular file"""
    return external("external-dir/.")


@case
def external_and_raw_data():
    """tensor 'w' is stored externally but also carries data"""
    t = raw_tensor("w", F, [2, 3], b"\0" * 24)
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "external-weights.bin"
    return ser(relu([t]))


# ---- text IR (.kir) ------------------------------------------------------
# (name, text, expected fragment); written as NAME.kir and NAME.expect.
KIR = [
    ("kir-empty", "", "kir-empty.kir:1:1: expected 'graph'"),
    ("kir-truncated", "graph @g {\n  input %x : f32[2]\n  %y : f32[2] = Relu(%x",
     "kir-truncated.kir:3:"),
    ("kir-syntax-error", "graph @g {\n  input %x : f32[2]\n  output\n}\n",
     "kir-syntax-error.kir:4:1:"),
    ("kir-unterminated-string", 'graph @g {\n  input %"x : f32[2]\n}\n',
     "kir-unterminated-string.kir:2:9:"),
    ("kir-nul-byte", "graph @g {\n  input %x\0 : f32[2]\n  output %x\n}\n",
     "kir-nul-byte.kir:2:11:"),
    ("kir-binary-garbage", bytes(random.Random(7).randrange(256) for _ in range(300)),
     "kir-binary-garbage.kir:1:1:"),
    ("kir-undefined-value", "graph @g {\n  input %x : f32[2]\n  %y : f32[2] = Relu(%nope)\n"
     "  output %y\n}\n", "kir-undefined-value.kir:3:22:"),
    ("kir-redefinition", "graph @g {\n  input %x : f32[2]\n  %x : f32[2] = Relu(%x)\n"
     "  output %x\n}\n", "kir-redefinition.kir:3:3: redefinition of value %x"),
    ("kir-cycle", "graph @g {\n  input %x : f32[2]\n  %a : f32[2] = Add(%x, %b) @first\n"
     "  %b : f32[2] = Relu(%a) @second\n  output %b\n}\n",
     "node 'first' (Add): input b is used before it is defined (by node 'second', later)"),
    ("kir-output-undefined", "graph @g {\n  input %x : f32[2]\n  output %nope\n}\n",
     "kir-output-undefined.kir:3:10:"),
    ("kir-rank-above-maximum", "graph @g {\n  input %x : f32[1,1,1,1,1,1,1,1,1]\n  output %x\n}\n",
     "kir-rank-above-maximum.kir:2:34: rank exceeds the limit of 8 dims"),
    ("kir-absurd-dims", "graph @g {\n  input %x : f64[4294967296, 4294967296]\n  output %x\n}\n",
     "kir-absurd-dims.kir:2:14: value %x is too large: its dims hold more than 2^40 bytes (the limit)"),
    ("kir-negative-dim", "graph @g {\n  input %x : f32[-3]\n  output %x\n}\n",
     "kir-negative-dim.kir:2:18:"),
    ("kir-int-out-of-range", "graph @g {\n  const %c : i8[1] = [300]\n  output %c\n}\n",
     "kir-int-out-of-range.kir:2:23:"),
    ("kir-element-count", "graph @g {\n  const %c : f32[3] = [1.0, 2.0]\n  output %c\n}\n",
     "kir-element-count.kir:2:23: constant has 2 elements but its shape holds 3"),
    ("kir-unknown-dtype", "graph @g {\n  input %x : f33[2]\n  output %x\n}\n",
     "kir-unknown-dtype.kir:2:14: expected a dtype"),
    ("kir-unknown-op", "graph @g {\n  input %x : f32[2]\n  %y : f32[2] = Frobnicate(%x)\n"
     "  output %y\n}\n", "kir-unknown-op.kir:3:17:"),
    ("kir-wrong-attribute-kind", "graph @g opset 17 {\n  input %x : f32[2,3]\n"
     "  %y : f32[3,2] = Transpose(%x) {perm = 1.5} @t\n  output %y\n}\n",
     "node 't' (Transpose): attribute 'perm' is FLOAT, but Transpose takes INTS"),
    ("kir-dtype-mismatch", "graph @g opset 17 {\n  input %a : f32[2]\n  input %b : i64[2]\n"
     "  %y : ?[*] = Add(%a, %b) @add\n  output %y\n}\n",
     "node 'add' (Add): input 1 is i64 but input 0 is f32"),
    ("kir-zero-size-reshape", "graph @g opset 17 {\n  input %x : f32[3,0]\n"
     "  const %s : i64[1] = [5]\n  %y : ?[*] = Reshape(%x, %s) @rs\n  output %y\n}\n",
     "node 'rs' (Reshape): cannot reshape 0 elements into 5"),
    ("kir-arity", "graph @g {\n  input %x : f32[2]\n  %y : f32[2] = Relu(%x, %x) @r\n"
     "  output %y\n}\n", "node 'r' (Relu): has 2 inputs; Relu takes 1"),
    ("kir-subgraph-too-deep",
     "graph @g {\n  input %x : bool[]\n" + "".join(
         "  " * (i + 1) + "If(%%x) {then_branch = graph @s%d {\n" % i + "  " * (i + 2)
         + "value %x : bool[]\n" for i in range(17)),
     "subgraphs nested deeper than 16"),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    # the side files external data points at: 32 bytes, and a folder
    with open(os.path.join(OUT, "external-weights.bin"), "wb") as f:
        f.write(bytes(range(32)))
    os.makedirs(os.path.join(OUT, "external-dir"), exist_ok=True)
    with open(os.path.join(OUT, "external-dir", "README"), "w") as f:
        f.write("A folder that a model names as its external data file.\n")
    for fn in CASES:
        name = fn.__name__.replace("_", "-")
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(fn())
        with open(os.path.join(OUT, name + ".expect"), "w") as f:
            f.write(fn.__doc__.strip().splitlines()[0] + "\n")
    for name, text, expect in KIR:
        with open(os.path.join(OUT, name + ".kir"), "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        with open(os.path.join(OUT, name + ".expect"), "w") as f:
            f.write(expect + "\n")
    print(f"wrote {len(CASES)} models and {len(KIR)} text-IR files to {OUT}")


if __name__ == "__main__":
    main()
