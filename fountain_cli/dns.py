"""Route 53 records that point every public host of the registry at the gateway.

`fountain dns --target X` prints the change batch; deploy/configure_dns.sh applies it with the AWS
CLI. Every change is an UPSERT, so applying the same batch twice changes nothing the second time.
"""

import ipaddress
import json
import re
from typing import Annotated, Any

import typer

from fountain_cli import registry

DEFAULT_TTL = 300
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class TargetError(ValueError):
    pass


def record_for(target: str) -> tuple[str, str]:
    """(record type, value): A for an IPv4 address, AAAA for IPv6, CNAME for a host name."""
    target = target.strip()
    try:
        address = ipaddress.ip_address(target)
    except ValueError:
        pass
    else:
        if address.is_unspecified or address.is_loopback or address.is_multicast:
            raise TargetError(f"{target} is not an address clients can reach")
        return ("A" if address.version == 4 else "AAAA", address.compressed)
    if "://" in target or "/" in target:
        raise TargetError(f"{target!r} is a URL: give the host name only (e.g. my-lb-123.eu-west-1.elb.amazonaws.com)")
    name = target.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise TargetError(
            f"{target!r} is neither an IPv4 address, an IPv6 address nor a fully qualified host name "
            "(labels of letters, digits and hyphens separated by dots)"
        )
    if labels[-1].isdigit():
        raise TargetError(f"{target!r} looks like an incomplete IPv4 address")
    return ("CNAME", name)


def change_batch(target: str, ttl: int = DEFAULT_TTL) -> dict[str, Any]:
    """The Route 53 ChangeBatch: one UPSERT per public host, sorted by host."""
    record_type, value = record_for(target)
    hosts = sorted(service.host for service in registry.all_services())
    return {
        "Comment": f"FountainAI gateway: {', '.join(hosts)} -> {value}",
        "Changes": [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": host,
                    "Type": record_type,
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": value}],
                },
            }
            for host in hosts
        ],
    }


def dns(
    target: Annotated[str, typer.Option(help="The gateway's IPv4 or IPv6 address, or its load balancer's host name.")],
    ttl: Annotated[int, typer.Option(min=60, max=86400, help="Record lifetime in seconds.")] = DEFAULT_TTL,
) -> None:
    """Print the Route 53 change batch (JSON) pointing every public host at the gateway.

    A record for an IPv4 target, AAAA for IPv6, CNAME for a host name. Apply it with
    deploy/configure_dns.sh. Example: fountain dns --target 203.0.113.10
    """
    try:
        batch = change_batch(target, ttl)
    except TargetError as error:
        typer.secho(f"--target: {error}.", fg="red", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(batch, indent=2))
