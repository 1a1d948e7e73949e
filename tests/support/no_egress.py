"""Run a Python program and record every attempt it makes to reach another machine.

`python -m tests.support.no_egress LOG -- ARGS…` installs an audit hook (sys.addaudithook, PEP 578)
and then runs `python -m ARGS…` in this process (e.g. `streamlit run server.py`). Every name lookup
(socket.getaddrinfo / gethostbyname) of a host that is not this machine, and every socket connect or
sendto towards an address outside loopback, is appended to LOG as one JSON line, whether or not the
network would have answered — so a test proves the program *tries* nothing, on any machine.
"""
from __future__ import annotations

import ipaddress
import json
import runpy
import sys

LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback", "", "0.0.0.0", "::"}


def _is_local_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    name = str(host).strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _is_local_address(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # an AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        return _is_local_host(address[0])
    return True


def install(log_path: str) -> None:
    def hook(event: str, args: tuple) -> None:
        target = None
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
            if not _is_local_host(args[0]):
                target = args[0]
        elif event in ("socket.connect", "socket.sendto"):
            if not _is_local_address(args[1]):
                target = args[1]
        if target is not None:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"event": event, "target": repr(target)}) + "\n")

    sys.addaudithook(hook)


def main() -> None:
    log_path, sep, *module_args = sys.argv[1:]
    if sep != "--" or not module_args:
        raise SystemExit("usage: python -m tests.support.no_egress LOG -- MODULE [ARGS…]")
    install(log_path)
    sys.argv = module_args
    runpy.run_module(module_args[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
