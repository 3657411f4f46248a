"""Block network access in Python processes started during the notebook tests.

The root ``conftest.py`` puts this directory first on ``PYTHONPATH`` and sets
``HARDATTN_NO_NETWORK=1`` when pytest runs with ``--nbval``; every Python process
started from then on (the notebook kernels nbval starts, and anything they start)
imports this module at start-up. It makes ``socket.socket.connect``/``connect_ex``/
``sendto`` and ``socket.getaddrinfo`` refuse any address that is not loopback or a
Unix socket, so a notebook that tries to download fails at once with an error
saying why. Loopback stays open: kernels talk to nbval over 127.0.0.1.

Any other ``sitecustomize`` further down the path is still imported.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
import os
import socket
import sys

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


class NetworkBlockedError(ConnectionRefusedError):
    """Raised for a connection to a non-loopback address while the notebook tests run."""


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths (str/bytes) and other local families
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%", 1)[0].lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: resolving it needs the network


def _refuse(address: object) -> NetworkBlockedError:
    return NetworkBlockedError(
        f"network access is blocked while the notebooks are tested (tried {address!r}); "
        "notebooks must not download anything: use synthetic data or sklearn.datasets.load_digits"
    )


def _install() -> None:
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
            raise _refuse(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
            raise _refuse(address)
        return connect_ex(self, address)

    def guarded_sendto(self, data, *args):
        address = args[-1]
        if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
            raise _refuse(address)
        return sendto(self, data, *args)

    def guarded_getaddrinfo(host, port, *args, **kwargs):
        if not _is_local((host, port)) and host is not None:
            raise _refuse((host, port))
        return getaddrinfo(host, port, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.socket.sendto = guarded_sendto
    socket.getaddrinfo = guarded_getaddrinfo


def _chain_next_sitecustomize() -> None:
    """Import the ``sitecustomize`` this one shadows, if there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if os.environ.get("HARDATTN_NO_NETWORK") == "1":
    _install()
_chain_next_sitecustomize()
