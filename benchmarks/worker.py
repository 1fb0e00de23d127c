"""``python -m benchmarks.worker FAMILY [--quick]``: first calls in a child process.

The build worker of isolation.py. It pins itself as the suite does (one
thread per runtime; the CPU it inherits from the parent), sets up one peer
family, answers {"ready": setup} on stdout, then for each request line
{"case", "variant", "plan"} on stdin builds that variant (its first call)
and answers {"first_call_s", "stats"} or {"error"}. The protocol has
stdout to itself: anything the libraries print goes to stderr.
"""
from .fairness import pin_threads_and_cpu

FAIRNESS = pin_threads_and_cpu(cpu=None)  # before NumPy, numba, JAX or torch is imported

import argparse  # noqa: E402 - after the pinning, as in __main__
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def serve(family: str, quick: bool, requests, replies):
    from . import suite
    from .peers import Plan
    from .runner import FAMILIES

    def send(message):
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    peer = FAMILIES[family]()
    send({"ready": peer.setup()})
    cases = {case.name: case for case in suite.all_cases(quick)[0]}
    for line in requests:
        request = json.loads(line)
        case = cases[request["case"]]
        try:
            variant = peer.build(case, case.make_args(), Plan(**request["plan"]),
                                 request["variant"])
        except Exception as error:  # noqa: BLE001 - reported to the parent as the result
            send({"error": f"{type(error).__name__}: {error}"})
            continue
        send({"first_call_s": variant.first_call_s, "stats": variant.stats})


def main():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("family")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library output goes to stderr
    serve(options.family, options.quick, sys.stdin, replies)


if __name__ == "__main__":
    main()
