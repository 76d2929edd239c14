#!/usr/bin/python3
"""Check that cryo's proto schemas are wire-compatible with crit's.

Usage: schema_compat.py PROTOC_C PROTO_DIR FILE.proto...

Compiles our schemas into a descriptor set and compares every message and
enum that crit (pycriu, from the criu package) also knows: each field number
both sides define must agree on name, type, repeatedness and referenced
type; enum values must agree.  Fields only crit has are listed (cryo leaves
out other architectures on purpose); fields only we have are allowed (newer
CRIU).  Exit 77 when pycriu or python protobuf is missing.
"""
import glob
import importlib
import os
import subprocess
import sys
import tempfile

PYCRIU = '/usr/lib/python3/dist-packages/pycriu/images'


def main():
    protoc, pdir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        from google.protobuf import descriptor_pb2
        from google.protobuf.descriptor import FieldDescriptor as FD
    except ImportError:
        print('SKIP: python3 protobuf module missing')
        return 77
    if not os.path.isdir(PYCRIU):
        print('SKIP: pycriu (criu package) not installed')
        return 77
    sys.path.insert(0, PYCRIU)

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'ds.pb')
        subprocess.check_call([protoc, '--proto_path=' + pdir,
                               '--descriptor_set_out=' + out] +
                              [os.path.join(pdir, f) for f in files])
        ds = descriptor_pb2.FileDescriptorSet()
        with open(out, 'rb') as f:
            ds.ParseFromString(f.read())

    # crit's view: every message and enum by full name.
    theirs_msg, theirs_enum = {}, {}

    def walk(m):
        theirs_msg[m.full_name] = m
        for e in m.enum_types:
            theirs_enum[e.full_name] = e
        for n in m.nested_types:
            walk(n)
    # the images' schemas, and the RPC's (pycriu/rpc_pb2.py, one level up)
    paths = glob.glob(os.path.join(PYCRIU, '*_pb2.py'))
    paths.append(os.path.join(os.path.dirname(PYCRIU), 'rpc_pb2.py'))
    for path in paths:
        mod = os.path.basename(path)[:-3]
        try:
            if path.endswith('/pycriu/rpc_pb2.py'):
                fd = importlib.import_module('pycriu.rpc_pb2').DESCRIPTOR
            else:
                fd = importlib.import_module(mod).DESCRIPTOR
        except Exception as e:  # noqa: BLE001 - an odd module is not fatal
            print('note: cannot load %s: %s' % (mod, e))
            continue
        for e in fd.enum_types_by_name.values():
            theirs_enum[e.full_name] = e
        for m in fd.message_types_by_name.values():
            walk(m)

    errors, checked = [], 0

    def cmp_enum(name, ours):
        t = theirs_enum.get(name)
        if t is None:
            return
        tv = {v.number: v.name for v in t.values}
        for v in ours.value:
            if v.number in tv and tv[v.number] != v.name:
                errors.append('enum %s: value %d is %s here, %s in crit' %
                              (name, v.number, v.name, tv[v.number]))
            if v.number not in tv:
                print('note: enum %s: value %s=%d only here' %
                      (name, v.name, v.number))
        ov = {v.number for v in ours.value}
        for n, nm in tv.items():
            if n not in ov:
                errors.append('enum %s: crit has %s=%d, we do not' % (name, nm, n))

    def cmp_msg(name, ours):
        nonlocal checked
        for e in ours.enum_type:
            cmp_enum(name + '.' + e.name, e)
        for n in ours.nested_type:
            cmp_msg(name + '.' + n.name, n)
        t = theirs_msg.get(name)
        if t is None:
            print('note: message %s unknown to crit' % name)
            return
        checked += 1
        tf = {f.number: f for f in t.fields}
        for f in ours.field:
            x = tf.get(f.number)
            if x is None:
                print('note: %s.%s = %d only here' % (name, f.name, f.number))
                continue
            where = '%s field %d (%s)' % (name, f.number, f.name)
            if x.name != f.name:
                errors.append('%s: crit calls it %s' % (where, x.name))
            if x.type != f.type:
                errors.append('%s: type %d here, %d in crit' % (where, f.type, x.type))
            if (x.label == FD.LABEL_REPEATED) != (f.label == FD.LABEL_REPEATED):
                errors.append('%s: repeatedness differs' % where)
            if f.label == FD.LABEL_REQUIRED:
                errors.append('%s: must be optional in cryo' % where)
            ref = f.type_name.lstrip('.')
            if x.type == FD.TYPE_MESSAGE and x.message_type.full_name != ref:
                errors.append('%s: message type %s here, %s in crit' %
                              (where, ref, x.message_type.full_name))
            if x.type == FD.TYPE_ENUM and x.enum_type.full_name != ref:
                errors.append('%s: enum type %s here, %s in crit' %
                              (where, ref, x.enum_type.full_name))
            if x.has_default_value and f.HasField('default_value'):
                pass  # defaults are not on the wire
        ours_nums = {f.number for f in ours.field}
        for n, x in tf.items():
            if n not in ours_nums:
                print('note: %s.%s = %d only in crit' % (name, x.name, n))

    for fp in ds.file:
        if fp.package:
            errors.append('%s: must have no package (CRIU has none)' % fp.name)
        for e in fp.enum_type:
            cmp_enum(e.name, e)
        for m in fp.message_type:
            cmp_msg(m.name, m)

    for e in errors:
        print('ERROR: ' + e)
    print('%d messages compared with crit, %d errors' % (checked, len(errors)))
    return 1 if errors or checked == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
