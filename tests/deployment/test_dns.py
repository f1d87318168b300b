"""`fountain dns` and deploy/configure_dns.sh, run without AWS: dry run, a PATH with no aws, and a
stand-in aws that records what it was asked to do."""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fountain_cli import registry
from fountain_cli.dns import TargetError, change_batch, record_for
from fountain_cli.main import app
from fountain_common.service import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "configure_dns.sh"
HOSTS = sorted(s.host for s in registry.all_services())
ZONE = "Z0123456789ABC"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("203.0.113.10", ("A", "203.0.113.10")),
        ("2001:DB8:0:0:0:0:0:1", ("AAAA", "2001:db8::1")),
        ("my-lb-123.eu-west-1.elb.amazonaws.com.", ("CNAME", "my-lb-123.eu-west-1.elb.amazonaws.com")),
    ],
)
def test_record_type_follows_the_target(target: str, expected: tuple[str, str]) -> None:
    assert record_for(target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "",
        "http://lb.example.com",
        "lb.example.com/path",
        "localhost",
        "300.1.1.1",
        "10.0.0",
        "-lb.example.com",
        "0.0.0.0",
        "127.0.0.1",
        "a b.com",
    ],
)
def test_invalid_targets_are_refused(target: str) -> None:
    with pytest.raises(TargetError):
        record_for(target)


def test_change_batch_upserts_every_public_host() -> None:
    batch = change_batch("203.0.113.10", ttl=120)
    assert [c["Action"] for c in batch["Changes"]] == ["UPSERT"] * 5
    assert [c["ResourceRecordSet"]["Name"] for c in batch["Changes"]] == HOSTS
    for change in batch["Changes"]:
        assert change["ResourceRecordSet"]["Type"] == "A"
        assert change["ResourceRecordSet"]["TTL"] == 120
        assert change["ResourceRecordSet"]["ResourceRecords"] == [{"Value": "203.0.113.10"}]


def test_cli_prints_json_and_explains_a_bad_target() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["dns", "--target", "2001:db8::1"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == change_batch("2001:db8::1")
    bad = runner.invoke(app, ["dns", "--target", "https://lb.example.com"])
    assert bad.exit_code == 2
    assert "is a URL" in bad.stderr


@pytest.fixture
def bare_path(tmp_path: Path) -> Path:
    """A PATH with only the tools the script needs, and no aws."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "dirname", "mktemp", "rm", "sed"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": str(path), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def _stand_in_aws(bin_dir: Path, log: Path, *, credentials: bool) -> None:
    aws = bin_dir / "aws"
    sts = "exit 0" if credentials else 'echo "Unable to locate credentials" >&2; exit 255'
    aws.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = sts ]; then {sts}; fi\n'
        f'echo "$@" >> {log}\n'
        f'for arg in "$@"; do case "$arg" in file://*) cat "${{arg#file://}}" >> {log}.batch ;; esac; done\n'
        'echo \'{"ChangeInfo": {"Status": "PENDING"}}\'\n'
    )
    aws.chmod(aws.stat().st_mode | stat.S_IXUSR)


def test_dry_run_needs_no_aws(bare_path: Path) -> None:
    result = _run(bare_path, "--target", "203.0.113.10", "--hosted-zone-id", ZONE)
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing changed" in result.stdout
    printed = result.stdout.split("\n", 1)[1].rsplit("\nApply it with", 1)[0]
    assert json.loads(printed) == change_batch("203.0.113.10")


def test_apply_without_aws_cli_is_a_clear_error(bare_path: Path) -> None:
    result = _run(bare_path, "--target", "203.0.113.10", "--hosted-zone-id", ZONE, "--apply")
    assert result.returncode == 1
    assert "the AWS CLI (aws) is not installed" in result.stderr


def test_apply_without_credentials_is_a_clear_error(bare_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "aws.log"
    _stand_in_aws(bare_path, log, credentials=False)
    result = _run(bare_path, "--target", "203.0.113.10", "--hosted-zone-id", ZONE, "--apply")
    assert result.returncode == 1
    assert "no usable credentials" in result.stderr
    assert not log.exists()


def test_apply_upserts_through_route53(bare_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "aws.log"
    _stand_in_aws(bare_path, log, credentials=True)
    target = "lb-1.eu-west-1.elb.amazonaws.com"
    result = _run(bare_path, "--target", target, "--hosted-zone-id", ZONE, "--apply")
    assert result.returncode == 0, result.stderr
    call = log.read_text().split()
    assert call[:4] == ["route53", "change-resource-record-sets", "--hosted-zone-id", ZONE]
    assert call[4] == "--change-batch" and call[5].startswith("file://")
    assert json.loads(Path(f"{log}.batch").read_text()) == change_batch(target)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hosted-zone-id", ZONE], "--target is required"),
        (["--target", "203.0.113.10"], "--hosted-zone-id (or HOSTED_ZONE_ID) is required"),
        (["--target", "203.0.113.10", "--hosted-zone-id", "not-a-zone"], "is not a Route 53 hosted zone id"),
        (["--target", "lb.example.com/x", "--hosted-zone-id", ZONE], "give the host name only"),
    ],
)
def test_script_refuses_bad_arguments(bare_path: Path, args: list[str], message: str) -> None:
    result = _run(bare_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
