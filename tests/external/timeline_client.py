#!/usr/bin/env python3
"""An external gRPC client for Concord, generated from proto/ with grpcio-tools.

It shares no code with the project: it compiles proto/concord/v1/*.proto into
Python stubs in a temporary directory and calls QueryService.SubjectTimeline.

Usage: timeline_client.py ADDR SUBJECT_KEY [TOKEN]
Prints one JSON object: {"code": "<gRPC status name>", "events": N, "names": [...]}.
"""
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))


def generate(out_dir):
    import grpc_tools

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(
        os.path.join("concord", "v1", name)
        for name in os.listdir(os.path.join(PROTO_ROOT, "concord", "v1"))
        if name.endswith(".proto")
    )
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main(args + files) != 0:
        raise SystemExit("protoc failed to compile proto/")
    sys.path.insert(0, out_dir)


def main():
    addr, subject_key = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory() as out:
        generate(out)
        from concord.v1 import common_pb2, query_pb2, query_pb2_grpc

        stub = query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(addr))
        request = query_pb2.SubjectTimelineRequest(
            subject=common_pb2.SubjectRef(kind=common_pb2.SUBJECT_KIND_PERSON, key=subject_key)
        )
        metadata = [("authorization", f"Bearer {token}")] if token else []
        try:
            page = stub.SubjectTimeline(request, metadata=metadata, timeout=20)
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "events": 0, "names": []}))
            return
        names = [i.name for v in page.events for i in v.event.personal.identities]
        print(json.dumps({"code": "OK", "events": len(page.events), "names": names}))


if __name__ == "__main__":
    main()
