#!/usr/bin/env bash
# Points every FountainAI public host at the gateway in Route 53. Every change is an UPSERT, so
# running it again with the same target changes nothing. Prints the change (dry run) unless --apply.
#
#   deploy/configure_dns.sh --target 203.0.113.10 --hosted-zone-id Z0123456789ABC           # dry run
#   deploy/configure_dns.sh --target my-lb.elb.amazonaws.com --hosted-zone-id Z0123456789ABC --apply
#
# --target: IPv4 (A records), IPv6 (AAAA) or a host name such as a load balancer's (CNAME).
# --hosted-zone-id may also come from HOSTED_ZONE_ID. --ttl N sets the records' lifetime (default 300).
set -euo pipefail

usage() {
    echo "usage: $0 --target IP-OR-HOSTNAME --hosted-zone-id ZONE_ID [--ttl SECONDS] [--apply]" >&2
    exit 2
}

target=""
zone="${HOSTED_ZONE_ID:-}"
ttl=300
apply=false
while [ $# -gt 0 ]; do
    case "$1" in
        --target) [ $# -ge 2 ] || usage; target="$2"; shift 2 ;;
        --hosted-zone-id) [ $# -ge 2 ] || usage; zone="$2"; shift 2 ;;
        --ttl) [ $# -ge 2 ] || usage; ttl="$2"; shift 2 ;;
        --apply) apply=true; shift ;;
        --dry-run) apply=false; shift ;;
        -h|--help) sed -n '2,10p' "$0" >&2; exit 0 ;;
        *) echo "error: unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$target" ] || { echo "error: --target is required" >&2; usage; }
[ -n "$zone" ] || { echo "error: --hosted-zone-id (or HOSTED_ZONE_ID) is required" >&2; usage; }
if [[ ! "$zone" =~ ^(/hostedzone/)?Z[A-Z0-9]{1,31}$ ]]; then
    echo "error: '$zone' is not a Route 53 hosted zone id (Z followed by capital letters and digits)" >&2
    exit 2
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
fountain="${FOUNTAIN:-$repo/.venv/bin/fountain}"
if [ ! -x "$fountain" ]; then
    fountain="$(command -v fountain || true)"
    [ -n "$fountain" ] || { echo "error: fountain not found: run 'make install' first" >&2; exit 1; }
fi

# fountain validates the target and explains what is wrong with it.
batch="$("$fountain" dns --target "$target" --ttl "$ttl")"

if [ "$apply" != true ]; then
    echo "Dry run: nothing changed. Route 53 change batch for hosted zone $zone:"
    echo "$batch"
    echo "Apply it with: $0 --target $target --hosted-zone-id $zone --ttl $ttl --apply"
    exit 0
fi

if ! command -v aws >/dev/null 2>&1; then
    echo "error: the AWS CLI (aws) is not installed or not on PATH; install it (e.g. pip install awscli) and retry" >&2
    exit 1
fi
if ! aws sts get-caller-identity >/dev/null 2>&1; then
    echo "error: the AWS CLI has no usable credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (see 'aws configure')" >&2
    exit 1
fi

batch_file="$(mktemp)"
trap 'rm -f "$batch_file"' EXIT
printf '%s\n' "$batch" >"$batch_file"
aws route53 change-resource-record-sets --hosted-zone-id "$zone" --change-batch "file://$batch_file"
echo "Route 53 accepted the change; it is live once its status is INSYNC (aws route53 get-change --id ...)."
