#!/usr/bin/python3
"""Writes compiler/ir/attr_kinds.def: every attribute of every ONNX
default-domain op kiln knows, with its kind, by opset, from the operator
schemas that python3-onnx ships (onnx.defs).

Two users read the table:
- the verifier: kiln reads attributes with typed getters (ir_attr_int_or,
  ir_attr_ints...) that treat an attribute of the wrong kind as absent, so a
  model giving Transpose's `perm` as a float would silently get the default
  permutation; the verifier refuses such attributes;
- the importer: an attribute the op's schema does not define in the model's
  opset (Relu with `alpha`) is refused, as the ONNX checker and ONNX Runtime
  refuse it.  For that it needs to know every op's schemas, also those
  without attributes, hence the SCHEMA rows.

Rows:
    SCHEMA(OP, FIRST)                 the op's schema exists from opset FIRST
    ATTR(OP, "name", KIND, FIRST, LAST)
                                      in opsets FIRST..LAST (LAST 0: and every
                                      later one) the attribute has that kind
Rows follow ops.def's order (the lookup binary-searches on the op), SCHEMA
first.  Rerun after adding ops to ops.def:

    /usr/bin/python3 tools/gen-attr-kinds.py --changelog Changelog.md \\
        > compiler/ir/attr_kinds.def

Debian's python3-onnx (1.12) knows opsets up to 17 only; kiln reads models
up to opset 21 (ONNX_MAX_OPSET in compiler/onnx/import.c).  --changelog
takes ONNX's docs/Changelog.md as of release 1.16 (the release of opset 21;
`git show v1.16.2:docs/Changelog.md` in the onnx repository; later releases
rewrote deprecated entries such as GroupNormalization-18 without their
attributes) and reads the schema versions past what onnx.defs knows, up to
--max-opset, from its "Attributes" lists.  The parser is checked against
onnx.defs on every version both know: a disagreement stops the script.
Without --changelog the table ends at onnx.defs' last opset, and the
importer refuses no attribute of a model of a later opset.
"""
import argparse
import os
import re
import sys

import onnx
import onnx.defs

KIND = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH", 6: "FLOATS", 7: "INTS",
        8: "STRINGS", 9: "TENSORS", 10: "GRAPHS", 11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS",
        13: "TYPE_PROTO", 14: "TYPE_PROTOS"}
# Changelog.md spells attribute types in words
DOC_KIND = {"float": "FLOAT", "int": "INT", "string": "STRING", "tensor": "TENSOR",
            "graph": "GRAPH", "list of floats": "FLOATS", "list of ints": "INTS",
            "list of strings": "STRINGS", "list of tensors": "TENSORS", "list of graphs": "GRAPHS",
            "sparse_tensor": "SPARSE_TENSOR", "type_proto": "TYPE_PROTO",
            "list of type_protos": "TYPE_PROTOS", "list of sparse_tensors": "SPARSE_TENSORS"}
# ir_attr cannot hold these: the importer refuses them by kind before it
# looks at names, and the verifier never sees them
SKIPPED = ("SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS")


def python_schemas():
    """{op name: {since_version: {attr: kind}}} of the default domain."""
    out = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain == "":
            out.setdefault(s.name, {})[s.since_version] = {
                attr: KIND[int(a.type)] for attr, a in s.attributes.items()
                if int(a.type) in KIND}
    return out


def changelog_schemas(path, max_opset):
    """The same, read from the default-domain part of ONNX's Changelog.md."""
    out = {}
    section = re.compile(r'^### <a name="(\w+)-(\d+)"></a>')
    attr = re.compile(r"^<dt><tt>(\w+)</tt> : ([a-z_ ]+?)( \(|</dt>)")
    op = None
    in_attrs = False
    with open(path) as f:
        for line in f:
            if line.startswith("# ") and "(default)" not in line and out:
                break  # past the default domain (ai.onnx.preview...)
            m = section.match(line)
            if m:
                # a deprecation entry lists no attributes: onnx.defs has the
                # op's last schema, and kiln's ops all predate opset 17
                name, version = m.group(1), int(m.group(2))
                op = out.setdefault(name, {}).setdefault(version, {}) \
                    if version <= max_opset and "(deprecated)" not in line else None
                in_attrs = False
            elif line.startswith("#### "):
                in_attrs = line.strip() == "#### Attributes"
            elif op is not None and in_attrs:
                m = attr.match(line)
                if m:
                    kind = DOC_KIND.get(m.group(2).strip())
                    if not kind:
                        sys.exit(f"gen-attr-kinds: {path}: unknown attribute type in: {line}")
                    op[m.group(1)] = kind
    return out


def merge(known, doc, last_known):
    """Adds the changelog's versions newer than onnx.defs knows, after
    checking that the two agree on every version both have."""
    bad = []
    for name, versions in doc.items():
        for v, attrs in versions.items():
            if v <= last_known:
                have = known.get(name, {}).get(v)
                if have is not None and have != attrs:
                    bad.append(f"{name}-{v}: onnx.defs {have} vs changelog {attrs}")
            else:
                known.setdefault(name, {})[v] = attrs
    if bad:
        sys.exit("gen-attr-kinds: the changelog disagrees with onnx.defs:\n  " + "\n  ".join(bad))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changelog", help="ONNX's docs/Changelog.md, for opsets past onnx.defs")
    ap.add_argument("--max-opset", type=int, default=21,
                    help="last opset read from the changelog (kiln's ONNX_MAX_OPSET, 21)")
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(__file__), "..")
    ops = []
    with open(os.path.join(root, "compiler", "ir", "ops.def")) as f:
        for line in f:
            m = re.match(r'OP\((\w+), "(\w+)", "([\w.]*)"', line)
            if m and m.group(3) == "":
                ops.append((m.group(1), m.group(2)))
    last_known = onnx.defs.onnx_opset_version()
    schemas = python_schemas()
    source = "python3-onnx %s (opsets up to %d)" % (onnx.__version__, last_known)
    if args.changelog:
        merge(schemas, changelog_schemas(args.changelog, args.max_opset), last_known)
        source += "\n * and ONNX's docs/Changelog.md, release 1.16 (opsets %d to %d)" % (
            last_known + 1, args.max_opset)
    out = sys.stdout
    out.write("/*\n * attr_kinds.def — generated by tools/gen-attr-kinds.py from the ONNX\n"
              " * operator schemas of %s; do not edit.\n"
              " * SCHEMA_OPSETS(N): the schemas cover opsets 1..N.\n"
              " * SCHEMA(OP, FIRST): the op has a schema from opset FIRST on.\n"
              " * ATTR(OP, name, KIND, FIRST, LAST): in opsets FIRST..LAST (0: no end) the\n"
              " * attribute has that kind.  Rows follow ops.def's order.\n */\n" % source)
    # an includer defines the macros it wants; the others expand to nothing
    for macro in ("SCHEMA_OPSETS(last)", "SCHEMA(op, first)", "ATTR(op, name, kind, first, last)"):
        out.write("#ifndef %s\n#define %s\n#endif\n" % (macro.split("(")[0], macro))
    top = max(v for versions in schemas.values() for v in versions)
    out.write("SCHEMA_OPSETS(%d)\n" % top)
    rows = 0
    for op_id, name in ops:
        versions = sorted(schemas.get(name, {}).items())
        if versions:
            out.write("SCHEMA(%s, %d)\n" % (op_id, versions[0][0]))
        ranges = {}  # (attr, kind) -> list of [first, last]
        for i, (first, attrs) in enumerate(versions):
            last = versions[i + 1][0] - 1 if i + 1 < len(versions) else 0
            for attr, kind in sorted(attrs.items()):
                spans = ranges.setdefault((attr, kind), [])
                if spans and spans[-1][1] == first - 1:
                    spans[-1][1] = last
                else:
                    spans.append([first, last])
        for (attr, kind), spans in sorted(ranges.items()):
            for first, last in spans:
                if kind in SKIPPED:
                    continue
                out.write('ATTR(%s, "%s", %s, %d, %d)\n' % (op_id, attr, kind, first, last))
                rows += 1
    out.write("#undef SCHEMA_OPSETS\n#undef SCHEMA\n#undef ATTR\n")
    sys.stderr.write("%d rows\n" % rows)


if __name__ == "__main__":
    main()
