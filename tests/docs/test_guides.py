"""The guides cannot drift from the code: every command in their `sh` blocks names a make target, a
manage.py command with flags its parser accepts, or a Docker Compose service that exists; the runbook has
a section for every alert Prometheus is given; the links between the docs lead to files that exist, and every
image a guide shows is there and small.
(docs/API.md's commands are run against a live server by test_api_doc.py.)"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from django.core.management import get_commands, load_command_class

from tests.conftest import ROOT

GUIDES = ["USER_GUIDE.md", "ADMIN_GUIDE.md", "RUNBOOK.md"]
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def commands(guide: str) -> list[list[str]]:
    lines = []
    for block in SH_BLOCK.findall((ROOT / "docs" / guide).read_text()):
        lines += [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def compose_services() -> set[str]:
    return set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def check_manage_py(words: list[str], where: str) -> None:
    name, args = words[0], words[1:]
    available = get_commands()
    assert name in available, f"{where}: manage.py has no command {name!r}"
    parser = load_command_class(available[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(args)
    except SystemExit:  # argparse's error exit
        pytest.fail(f"{where}: manage.py {name} does not accept {args}")


def check(words: list[str], where: str) -> None:
    if words[0] == "make":
        assert set(words[1:]) <= make_targets(), f"{where}: no make target {words[1:]}"
    elif words[0] in ("python", "python3", ".venv/bin/python") and words[1] == "manage.py":
        check_manage_py(words[2:], where)
    elif words[:2] == ["docker", "compose"]:
        rest = [word for word in words[2:] if not word.startswith("-")]
        action = rest[0]
        services = compose_services()
        if action in ("exec", "run"):
            flags_with_values = {"-u", "--user", "-w", "--workdir", "-e", "--env"}
            tail = words[words.index(action) + 1 :]
            while tail and tail[0].startswith("-"):
                tail = tail[2:] if tail[0] in flags_with_values else tail[1:]
            assert tail and tail[0] in services, f"{where}: no Compose service in {words}"
            if tail[1:3] == ["python", "manage.py"]:
                check_manage_py(tail[3:], where)
        else:
            named = [word.split("=")[0] for word in rest[1:] if not word.isdigit()]
            assert set(named) <= services, f"{where}: unknown Compose services {set(named) - services}"
    else:
        pytest.fail(f"{where}: `{' '.join(words)}` is not a command this test can check; keep it runnable")


@pytest.mark.parametrize("guide", GUIDES)
def test_every_command_of_the_guide_exists_with_its_flags(guide):
    lines = commands(guide)
    assert lines, f"{guide} shows no command"
    for words in lines:
        check(words, guide)


def alert_files() -> list[str]:
    """The rule files prometheus.yml loads (alerts.yaml, monitoring-alerts.yaml, and any added later)."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    return [path.rsplit("/", 1)[-1] for path in config["rule_files"]]


def test_the_runbook_has_a_section_for_every_alert():
    files = alert_files()
    assert {"alerts.yaml", "monitoring-alerts.yaml"} <= set(files)
    alerts = set()
    for name in files:
        in_file = set()
        for group in yaml.safe_load((ROOT / "deploy" / "prometheus" / name).read_text())["groups"]:
            in_file |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
        assert in_file, f"{name} has no alert"
        alerts |= in_file
    sections = set(re.findall(r"^### (\w+)$", (ROOT / "docs" / "RUNBOOK.md").read_text(), re.MULTILINE))
    assert alerts <= sections, f"alerts without a runbook section: {sorted(alerts - sections)}"


@pytest.mark.parametrize("guide", [*GUIDES, "API.md"])
def test_links_to_other_files_lead_somewhere(guide):
    text = (ROOT / "docs" / guide).read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (ROOT / "docs" / target).resolve().exists(), f"{guide} links to missing {target}"


def test_the_readme_points_to_the_guides():
    readme = (ROOT / "README.md").read_text()
    for guide in [*GUIDES, "API.md"]:
        assert f"docs/{guide}" in readme, guide


IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


@pytest.mark.parametrize("guide", [*GUIDES, "API.md"])
def test_every_image_a_guide_shows_exists_is_described_and_small(guide):
    for alt, target in IMAGE.findall((ROOT / "docs" / guide).read_text()):
        path = (ROOT / "docs" / target).resolve()
        assert path.is_file(), f"{guide} shows missing image {target}"
        assert alt.strip(), f"{guide}: image {target} has no alternative text"
        assert path.stat().st_size < 150_000, f"{target} is {path.stat().st_size} bytes; shrink it below 150 KB"


def test_the_user_guide_shows_the_screens_it_walks_through():
    shown = {target for _, target in IMAGE.findall((ROOT / "docs" / "USER_GUIDE.md").read_text())}
    assert len(shown) >= 6, shown
    everywhere = {
        target for guide in [*GUIDES, "API.md"] for _, target in IMAGE.findall((ROOT / "docs" / guide).read_text())
    }
    unused = {f"images/{path.name}" for path in (ROOT / "docs" / "images").iterdir()} - everywhere
    assert not unused, f"images no guide shows: {sorted(unused)}"
