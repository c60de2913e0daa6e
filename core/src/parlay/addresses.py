"""Addresses of the submitting host, with Parsl's helper names, for an executor's `address` (workers on other
hosts connect to it). Which one works depends on the network between the submitting host and the nodes:
`get_all_addresses` is what the high-throughput executor hands its managers when no `address` is given, and
each manager uses the first that answers."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import platform
import socket
import struct
import urllib.request

logger = logging.getLogger(__name__)

_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def address_by_interface(ifname: str) -> str:
    """The IPv4 address of network interface `ifname` (`eth0`, `ib0`, ...); OSError if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("256s", ifname[:15].encode())
        return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)[20:24])


def address_by_hostname() -> str:
    """The address this host's name resolves to (unusable when the nodes resolve the name otherwise)."""
    return socket.gethostbyname(platform.node())


def address_by_route(destination: str = "8.8.8.8") -> str:
    """The source address of this host's route towards `destination` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((destination, 80))
        return sock.getsockname()[0]


def address_by_query(timeout: float = 30, url: str = "https://api.ipify.org") -> str:
    """This host's address as an outside web service (`url`) sees it: wrong behind NAT. It is the one helper
    that sends a request out of the host, and only when called."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode().strip()
    ipaddress.ip_address(text)  # a service that answers something else raises ValueError here
    return text


def get_all_addresses() -> list[str]:
    """Every IPv4 address of this host: each interface's, the host name's and the default route's, those
    that are not loopback first. Nothing is asked of any outside service."""
    found: list[str] = []
    for _, ifname in socket.if_nameindex():
        try:
            found.append(address_by_interface(ifname))
        except OSError:
            logger.debug("interface %s has no IPv4 address", ifname)
    for finder in (address_by_hostname, address_by_route):
        try:
            found.append(finder())
        except OSError as exc:
            logger.debug("%s found nothing: %s", finder.__name__, exc)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda address: ipaddress.ip_address(address).is_loopback)


def get_any_address() -> str:
    """One address of this host, preferring one that is not loopback; OSError if there is none."""
    addresses = get_all_addresses()
    if not addresses:
        raise OSError("cannot find any IPv4 address of this host")
    return addresses[0]


def tcp_url(address: str, port: int | str | None = None) -> str:
    """`tcp://address:port`, with IPv6 addresses in brackets and `*` kept as is."""
    suffix = f":{port}" if port else ""
    if address != "*" and suffix and ipaddress.ip_address(address).version == 6:
        return f"tcp://[{address}]{suffix}"
    return f"tcp://{address}{suffix}"
