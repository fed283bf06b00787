from __future__ import annotations

import json
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wellpipe.cli import main
from wellpipe.cli.claude_command import entry_home
from wellpipe.cli.claude_config import (
    backup_path,
    claude_config_dir,
    claude_config_path,
    desktop_entry,
    is_secret_key,
    load_config,
    plan_install,
    runs_demo_over_http,
    server_entry,
    wellpipe_command,
)
from wellpipe.core.errors import ConfigError

USER = Path("/home/ada")

EXISTING: dict[str, Any] = {
    "globalShortcut": "Ctrl+Space",
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/ada/Desktop"],
        },
        "wellpipe": {
            "command": "/old/bin/wellpipe",
            "args": ["serve"],
            "disabled": False,
            "env": {
                "WHOOP_ACCESS_TOKEN": "stale-access",
                "WHOOP_REFRESH_TOKEN": "stale-refresh",
                "WHOOP_CLIENT_SECRET": "hush",
                "WELLPIPE_LOG": "debug",
            },
        },
    },
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "Claude" / "claude_desktop_config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(EXISTING, indent=4))
    return path


@pytest.fixture(autouse=True)
def _default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WELLPIPE_HOME", raising=False)


def unwrapped(text: str) -> str:
    """Rich wraps error sentences at 80 columns, even inside a path."""
    return text.replace("\n", "")


def install(*args: str) -> Any:
    return CliRunner().invoke(main, ["claude", "install", *args])


# ------------------------------------------------------------------ where the file lives
@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("darwin", {}, USER / "Library" / "Application Support" / "Claude"),
        (
            "win32",
            {"APPDATA": "/c/Users/ada/AppData/Roaming"},
            Path("/c/Users/ada/AppData/Roaming/Claude"),
        ),
        ("win32", {}, USER / "AppData" / "Roaming" / "Claude"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/Claude")),
        ("linux", {"XDG_CONFIG_HOME": " "}, USER / ".config" / "Claude"),
        ("linux", {}, USER / ".config" / "Claude"),
    ],
    ids=["macos", "windows", "windows-no-appdata", "linux-xdg", "linux-blank-xdg", "linux"],
)
def test_the_config_folder_on_each_platform(
    platform: str, environ: dict[str, str], expected: Path
) -> None:
    assert claude_config_dir(platform=platform, environ=environ, user_home=USER) == expected
    path = claude_config_path(platform=platform, environ=environ, user_home=USER)
    assert path == expected / "claude_desktop_config.json"


def test_an_explicit_path_or_the_environment_overrides_the_platform(tmp_path: Path) -> None:
    explicit = tmp_path / "c.json"
    env = {"WELLPIPE_CLAUDE_CONFIG": str(tmp_path / "e.json")}
    assert claude_config_path(explicit, environ=env) == explicit
    assert claude_config_path(environ=env) == tmp_path / "e.json"


# ------------------------------------------------------------------ the command it runs
def test_the_command_is_the_wellpipe_script_this_process_started_as(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "wellpipe"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    assert wellpipe_command(str(script), python="/nowhere/python") == [str(script)]


def test_a_bare_script_name_is_looked_up_on_path(tmp_path: Path) -> None:
    found = str(tmp_path / "wellpipe")
    assert wellpipe_command("wellpipe", python="", which=lambda _: found) == [found]


def test_else_the_script_beside_the_running_python(tmp_path: Path) -> None:
    script = tmp_path / "wellpipe"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    python = str(tmp_path / "python")
    assert wellpipe_command("/x/pytest", python=python, which=lambda _: None) == [str(script)]


def test_else_python_dash_m_wellpipe(tmp_path: Path) -> None:
    python = str(tmp_path / "python")
    command = wellpipe_command("/x/__main__.py", python=python, which=lambda _: None)
    assert command == [python, "-m", "wellpipe"]
    entry = server_entry(command=command, demo=True)
    assert entry == {"command": python, "args": ["-m", "wellpipe", "serve", "--demo"]}


def test_the_running_test_process_finds_an_absolute_command() -> None:
    command = wellpipe_command()
    assert Path(command[0]).is_absolute()


def test_the_home_is_pinned_only_when_it_is_not_the_default(tmp_path: Path) -> None:
    assert entry_home({}) is None
    assert entry_home({"WELLPIPE_HOME": str(tmp_path)}) == tmp_path


# ------------------------------------------------------------------ merging
def test_secret_keys() -> None:
    assert is_secret_key("WHOOP_ACCESS_TOKEN")
    assert is_secret_key("whoop_client_secret")
    assert is_secret_key("WHOOP_TOKEN_EXPIRES_AT")
    assert not is_secret_key("WELLPIPE_HOME")
    assert not is_secret_key("WHOOP_CLIENT_ID")


def test_installing_into_nothing_creates_the_whole_file() -> None:
    entry = server_entry(command=["/bin/wellpipe"])
    plan = plan_install(None, name="wellpipe", entry=entry)
    assert plan.after == {
        "mcpServers": {"wellpipe": {"command": "/bin/wellpipe", "args": ["serve"]}}
    }
    assert plan.changed
    assert plan.summary()[0] == "+ mcpServers.wellpipe"


def test_an_update_keeps_foreign_keys_and_drops_tokens_and_a_stale_home() -> None:
    config = json.loads(json.dumps(EXISTING))
    config["mcpServers"]["wellpipe"]["env"]["WELLPIPE_HOME"] = "/old/home"
    snapshot = json.loads(json.dumps(config))
    plan = plan_install(config, name="wellpipe", entry=server_entry(command=["/new/wellpipe"]))
    assert plan.after["mcpServers"]["wellpipe"] == {
        "command": "/new/wellpipe",
        "args": ["serve"],
        "disabled": False,
        "env": {"WELLPIPE_LOG": "debug"},
    }
    assert plan.after["mcpServers"]["filesystem"] == EXISTING["mcpServers"]["filesystem"]
    assert plan.after["globalShortcut"] == "Ctrl+Space"
    assert plan.removed_secrets == [
        "WHOOP_ACCESS_TOKEN",
        "WHOOP_REFRESH_TOKEN",
        "WHOOP_CLIENT_SECRET",
    ]
    summary = "\n".join(plan.summary())
    assert '~ mcpServers.wellpipe.command: "/old/bin/wellpipe" → "/new/wellpipe"' in summary
    assert "- mcpServers.wellpipe.env.WHOOP_REFRESH_TOKEN (a secret)" in summary
    assert "stale-refresh" not in summary
    assert config == plan.before == snapshot  # the input is not modified


def test_the_same_entry_again_changes_nothing() -> None:
    entry = server_entry(command=["/bin/wellpipe"], home=Path("/h"))
    first = plan_install(None, name="wellpipe", entry=entry)
    again = plan_install(first.after, name="wellpipe", entry=entry)
    assert not again.changed
    assert again.summary() == ["= mcpServers.wellpipe (already up to date)"]


def test_other_entries_with_tokens_or_running_wellpipe_are_reported_not_touched() -> None:
    config = {
        "mcpServers": {
            "whoop": {"command": "npx", "args": ["wellpipe"], "env": {"WHOOP_ACCESS_TOKEN": "x"}},
            "old": {"command": "/usr/local/bin/wellpipe", "args": ["serve"]},
        }
    }
    plan = plan_install(config, name="wellpipe", entry=server_entry(command=["/bin/wellpipe"]))
    assert plan.other_secrets == {"whoop": ["WHOOP_ACCESS_TOKEN"]}
    assert plan.other_wellpipe == ["old"]
    assert plan.after["mcpServers"]["whoop"] == config["mcpServers"]["whoop"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"mcpServers": {', "not valid JSON (line 1"),
        ('{"mcpServers": {}, // a comment\n}', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"mcpServers": []}', '"mcpServers"'),
    ],
)
def test_a_broken_file_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="nothing was changed") as caught:
        load_config(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_an_empty_or_missing_file_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "claude_desktop_config.json"
    assert load_config(path) is None
    path.write_text("\n")
    assert load_config(path) == {}


def test_backups_never_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "claude_desktop_config.json"
    now = datetime(2026, 11, 21, 15, 30, 5)
    first = backup_path(path, now)
    assert first.name == "claude_desktop_config.json.bak-20261121-153005"
    first.write_text("{}")
    assert backup_path(path, now).name == "claude_desktop_config.json.bak-20261121-153005-2"


# ------------------------------------------------------------------ the command
def test_install_updates_the_entry_backs_up_and_keeps_everything_else(config: Path) -> None:
    original = config.read_text()
    config.chmod(0o644)
    result = install("--config", str(config))
    assert result.exit_code == 0, result.output
    written = json.loads(config.read_text())
    entry = written["mcpServers"]["wellpipe"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-1] == "serve"
    assert entry["env"] == {"WELLPIPE_LOG": "debug"}
    assert entry["disabled"] is False
    assert written["mcpServers"]["filesystem"] == EXISTING["mcpServers"]["filesystem"]
    assert written["globalShortcut"] == "Ctrl+Space"
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    backups = list(config.parent.glob("claude_desktop_config.json.bak-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == original
    assert "Removed WHOOP_ACCESS_TOKEN, WHOOP_REFRESH_TOKEN, WHOOP_CLIENT_SECRET" in result.stderr
    assert "goes stale" in result.stderr
    assert "Quit Claude Desktop completely and reopen it" in result.stdout
    for secret in ("stale-access", "stale-refresh", "hush"):
        assert secret not in result.output
        assert secret not in config.read_text()


def test_install_twice_changes_nothing_the_second_time(config: Path) -> None:
    assert install("--config", str(config)).exit_code == 0
    result = install("--config", str(config))
    assert result.exit_code == 0, result.output
    assert "nothing to change" in result.stdout
    assert len(list(config.parent.glob("*.bak-*"))) == 1


def test_install_with_a_custom_home_and_name_and_demo(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path / "wp"))
    result = install("--config", str(config), "--name", "whoop-data", "--demo")
    assert result.exit_code == 0, result.output
    entry = json.loads(config.read_text())["mcpServers"]["whoop-data"]
    assert entry["args"][-2:] == ["serve", "--demo"]
    assert entry["env"] == {"WELLPIPE_HOME": str(tmp_path / "wp")}
    assert "sandbox" in result.stdout
    assert "'wellpipe' also run(s) Wellpipe" in result.stderr


def test_dry_run_prints_the_json_and_writes_nothing(config: Path) -> None:
    before = config.read_text()
    result = install("--config", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # stdout is exactly the file, copy-paste ready
    assert set(printed["mcpServers"]) == {"filesystem", "wellpipe"}
    assert "WHOOP_REFRESH_TOKEN" not in printed["mcpServers"]["wellpipe"]["env"]
    assert "Dry run" in result.stderr
    assert "~ mcpServers.wellpipe.command" in result.stderr
    assert "Would remove WHOOP_ACCESS_TOKEN" in result.stderr
    assert config.read_text() == before
    assert list(config.parent.iterdir()) == [config]


def test_install_refuses_invalid_json_and_leaves_it_alone(config: Path) -> None:
    config.write_text('{"mcpServers": {"x": 1,}}')
    result = install("--config", str(config))
    assert result.exit_code == 78
    message = unwrapped(result.stderr)
    assert str(config) in message
    assert "not valid JSON" in message
    assert config.read_text() == '{"mcpServers": {"x": 1,}}'
    assert list(config.parent.iterdir()) == [config]


def test_install_creates_a_missing_file_privately(tmp_path: Path) -> None:
    path = tmp_path / "new" / "claude_desktop_config.json"
    result = install("--config", str(path))
    assert result.exit_code == 0, result.output
    assert list(json.loads(path.read_text())["mcpServers"]) == ["wellpipe"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Added" in result.stdout
    assert "previous file" not in result.stdout


def test_install_warns_when_claude_desktop_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    result = install()
    assert result.exit_code == 0, result.output
    assert "Claude Desktop was not found" in result.stderr
    assert (tmp_path / "xdg" / "Claude" / "claude_desktop_config.json").is_file()


def test_the_config_location_can_come_from_the_environment(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WELLPIPE_CLAUDE_CONFIG", str(config))
    assert install().exit_code == 0
    assert json.loads(config.read_text())["mcpServers"]["wellpipe"]["args"][-1] == "serve"


def test_show_prints_the_entry(config: Path) -> None:
    install("--config", str(config))
    result = CliRunner().invoke(main, ["claude", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["mcpServers"]) == ["wellpipe"]
    assert str(config) in result.stderr


def test_show_warns_about_tokens_without_printing_them(config: Path) -> None:
    result = CliRunner().invoke(main, ["claude", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "WHOOP_REFRESH_TOKEN" in result.stderr
    assert "goes stale" in result.stderr


def test_show_exits_1_without_an_entry(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["claude", "show", "--config", str(tmp_path / "claude_desktop_config.json")]
    )
    assert result.exit_code == 1
    assert "wellpipe claude install" in result.stderr


# ------------------------------------------------------------------ what the entry carries
WITH_HOME_AND_TOKENS: dict[str, Any] = {
    "mcpServers": {
        "wellpipe": {
            "command": "/old/bin/wellpipe",
            "args": ["serve"],
            "env": {
                "WELLPIPE_HOME": "/data/wellpipe",
                "WHOOP_ACCESS_TOKEN": "stale-access",
                "WHOOP_REFRESH_TOKEN": "stale-refresh",
            },
        }
    }
}


def test_dry_run_keeps_the_entrys_home_when_it_removes_its_tokens(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps(WITH_HOME_AND_TOKENS))
    result = install("--config", str(config), "--dry-run")  # this shell sets no WELLPIPE_HOME

    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["mcpServers"]["wellpipe"]
    assert entry["env"] == {"WELLPIPE_HOME": "/data/wellpipe"}  # the tokens' home, kept
    assert "Would remove WHOOP_ACCESS_TOKEN, WHOOP_REFRESH_TOKEN" in unwrapped(result.stderr)
    assert "Would keep WELLPIPE_HOME=/data/wellpipe" in unwrapped(result.stderr)
    assert "stale-refresh" not in result.output
    # ...and installing for real writes what the dry run showed.
    assert install("--config", str(config)).exit_code == 0
    assert json.loads(config.read_text())["mcpServers"]["wellpipe"] == entry


def test_a_home_set_in_this_shell_replaces_the_entrys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps(WITH_HOME_AND_TOKENS))
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path / "here"))
    result = install("--config", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["mcpServers"]["wellpipe"]
    assert entry["env"] == {"WELLPIPE_HOME": str(tmp_path / "here")}


def test_a_base_url_only_in_this_shell_goes_into_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Desktop must talk to the sandbox this shell talks to, not to WHOOP itself."""
    home = tmp_path / "home"
    monkeypatch.setenv("WELLPIPE_HOME", str(home))
    monkeypatch.setenv("WELLPIPE_WHOOP_BASE_URL", "http://127.0.0.1:8765")
    config = tmp_path / "claude_desktop_config.json"

    result = install("--config", str(config))
    assert result.exit_code == 0, result.output
    entry = json.loads(config.read_text())["mcpServers"]["wellpipe"]
    assert entry["env"] == {
        "WELLPIPE_HOME": str(home),
        "WELLPIPE_WHOOP_BASE_URL": "http://127.0.0.1:8765",
    }
    assert "carries WELLPIPE_WHOOP_BASE_URL=http://127.0.0.1:8765" in unwrapped(result.stderr)

    # Once the .env holds it (`wellpipe init`), the server finds it there itself.
    home.mkdir()
    (home / ".env").write_text("WELLPIPE_WHOOP_BASE_URL=http://127.0.0.1:8765\n")
    assert install("--config", str(config)).exit_code == 0
    entry = json.loads(config.read_text())["mcpServers"]["wellpipe"]
    assert entry["env"] == {"WELLPIPE_HOME": str(home)}

    # The demo reads no provider at all.
    assert install("--config", str(config), "--demo").exit_code == 0
    assert "WELLPIPE_WHOOP_BASE_URL" not in json.dumps(config.read_text())


def test_a_stale_base_url_in_the_entry_is_dropped() -> None:
    config = {
        "mcpServers": {
            "wellpipe": {
                "command": "/bin/wellpipe",
                "args": ["serve"],
                "env": {"WELLPIPE_OURA_BASE_URL": "http://127.0.0.1:8766", "WELLPIPE_LOG": "x"},
            }
        }
    }
    plan = plan_install(config, name="wellpipe", entry=server_entry(command=["/bin/wellpipe"]))
    assert plan.entry["env"] == {"WELLPIPE_LOG": "x"}


@pytest.mark.parametrize("demo", [False, True], ids=["real", "demo"])
def test_generated_entries_run_serve_never_the_http_demo(demo: bool) -> None:
    entry = desktop_entry(demo=demo, environ={}, command=["/bin/wellpipe"])
    assert entry["args"] == (["serve", "--demo"] if demo else ["serve"])
    assert not runs_demo_over_http(entry)
    assert runs_demo_over_http({"command": "/bin/wellpipe", "args": ["demo"]})
    assert not runs_demo_over_http(
        {"command": "/bin/wellpipe", "args": ["demo", "--transport", "stdio"]}
    )


def test_the_readme_configures_claude_with_serve_not_the_http_demo() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if "claude" in line.lower() and "wellpipe demo" in line:
            assert "--transport stdio" in line, line
