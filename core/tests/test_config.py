"""tracline.toml and TRACLINE_* variables: every key, every source, precedence, every error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracline.config import (
    PRODUCER,
    Config,
    SinkConfig,
    find_config_file,
    get_config,
    load_config,
    reset_config,
)
from tracline.errors import ConfigError


def write(folder: Path, text: str) -> Path:
    """Write ``tracline.toml`` into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tracline.toml"
    path.write_text(text)
    return path


def load(folder: Path, **environ: str) -> Config:
    """The configuration seen from ``folder`` with exactly ``environ`` as the environment."""
    return load_config(environ=environ, cwd=folder)


def error(folder: Path, **environ: str) -> ConfigError:
    """The ConfigError loading from ``folder`` raises."""
    with pytest.raises(ConfigError) as caught:
        load(folder, **environ)
    return caught.value


def sinks(config: Config) -> dict[str, SinkConfig]:
    return {s.name: s for s in config.sinks}


# -- defaults and discovery ---------------------------------------------------------------------


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    """With no file and no variables every key has its documented default, under ./.tracline."""
    config = load(tmp_path)
    home = tmp_path.resolve() / ".tracline"
    assert config.source is None
    assert config.disabled is False
    assert config.namespace == "default"
    assert config.home == home
    assert config.home_dir == str(home)
    assert config.outbox_path == home / "outbox.db"
    assert config.registry_url == f"sqlite:///{home / 'tracline.db'}"
    assert (config.flush_timeout, config.retention_days, config.max_backoff) == (2.0, 7.0, 60.0)
    assert config.producer == PRODUCER
    assert sinks(config)["local"].type == "registry"
    assert sinks(config)["file"].options == {"path": str(home / "events.jsonl")}


def test_file_is_found_from_a_subfolder(tmp_path: Path) -> None:
    """The nearest tracline.toml upwards from the working directory is the one read."""
    path = write(tmp_path, '[tracline]\nnamespace = "ml-team"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    config = load(nested)
    assert config.source == path.resolve()
    assert config.namespace == "ml-team"
    assert find_config_file(nested) == str(path.resolve())


def test_tracline_config_variable_names_the_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """$TRACLINE_CONFIG wins over a tracline.toml in the working directory."""
    write(tmp_path, '[tracline]\nnamespace = "here"\n')
    other = write(tmp_path / "elsewhere", '[tracline]\nnamespace = "there"\n')
    monkeypatch.setenv("TRACLINE_CONFIG", str(other))
    assert load(tmp_path).namespace == "there"


def test_tracline_config_naming_no_file_is_an_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A $TRACLINE_CONFIG that is not a file is refused, saying what to do."""
    monkeypatch.setenv("TRACLINE_CONFIG", str(tmp_path / "missing.toml"))
    e = error(tmp_path)
    assert "TRACLINE_CONFIG points to" in e.message and "not a file" in e.message
    assert "unset TRACLINE_CONFIG" in (e.hint or "")


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    """home, outbox path, a SQLite registry and sink paths resolve against the file's folder."""
    write(tmp_path, "\n".join([
        '[tracline]\nhome = "state"',
        '[outbox]\npath = "queue/outbox.db"',
        '[registry]\nurl = "sqlite:///db/reg.db"',
        '[sinks.archive]\ntype = "file"\npath = "logs/events.jsonl"',
    ]))
    nested = tmp_path / "sub"
    nested.mkdir()
    config = load(nested)
    root = tmp_path.resolve()
    assert config.home == root / "state"
    assert config.outbox_path == root / "queue" / "outbox.db"
    assert config.registry_url == f"sqlite:///{root / 'db' / 'reg.db'}"
    assert sinks(config)["archive"].options["path"] == str(root / "logs" / "events.jsonl")


def test_absolute_and_memory_registry_urls_are_kept(tmp_path: Path) -> None:
    """An absolute SQLite path, an in-memory database and a PostgreSQL URL are not rewritten."""
    for url in ("sqlite:////var/lib/reg.db", "sqlite:///:memory:",
                "postgresql://u:p@db:5432/tracline"):
        write(tmp_path, f'[registry]\nurl = "{url}"\n')
        assert load(tmp_path).registry_url == url


def test_outbox_numbers_are_read(tmp_path: Path) -> None:
    """[outbox] flush_timeout, retention_days and max_backoff are read as numbers."""
    write(tmp_path, "[outbox]\nflush_timeout = 0.5\nretention_days = 30\nmax_backoff = '5'\n")
    config = load(tmp_path)
    assert (config.flush_timeout, config.retention_days, config.max_backoff) == (0.5, 30.0, 5.0)


def test_producer_and_other_sections(tmp_path: Path) -> None:
    """[tracline] producer is read; sections tracline does not own here are kept for their parts."""
    write(tmp_path, 'odd = "not a table"\n[tracline]\nproducer = "https://example.org/p"\n'
                    '[policy]\nreviewers = ["user:chris"]\n[capture]\nstrace = false\n')
    config = load(tmp_path)
    assert config.producer == "https://example.org/p"
    assert config.section("policy") == {"reviewers": ["user:chris"]}
    assert config.section("capture") == {"strace": False}
    assert config.section("absent") == {}
    assert config.section("odd") == {}


# -- precedence ---------------------------------------------------------------------------------


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    """TRACLINE_HOME/NAMESPACE/OUTBOX/REGISTRY_URL win over the file's keys."""
    write(tmp_path, '[tracline]\nnamespace = "file"\nhome = "h1"\n[outbox]\npath = "o1.db"\n'
                    '[registry]\nurl = "sqlite:///r1.db"\n')
    config = load(tmp_path, TRACLINE_NAMESPACE="env", TRACLINE_HOME=str(tmp_path / "h2"),
                  TRACLINE_OUTBOX=str(tmp_path / "o2.db"),
                  TRACLINE_REGISTRY_URL="sqlite:////tmp/r2.db")
    assert config.namespace == "env"
    assert config.home == tmp_path / "h2"
    assert config.outbox_path == tmp_path / "o2.db"
    assert config.registry_url == "sqlite:////tmp/r2.db"


def test_home_moves_the_default_outbox_registry_and_file_sink(tmp_path: Path) -> None:
    """Without their own keys, the outbox, registry and events file follow TRACLINE_HOME."""
    home = tmp_path / "state"
    config = load(tmp_path, TRACLINE_HOME=str(home))
    assert config.outbox_path == home / "outbox.db"
    assert config.registry_url == f"sqlite:///{home / 'tracline.db'}"
    assert sinks(config)["file"].options["path"] == str(home / "events.jsonl")


def test_double_underscore_variables_set_any_key(tmp_path: Path) -> None:
    """TRACLINE__SECTION__KEY overrides the file's key and can add whole sinks."""
    write(tmp_path, "[outbox]\nflush_timeout = 9\n")
    config = load(tmp_path, TRACLINE__OUTBOX__FLUSH_TIMEOUT="1.5",
                  TRACLINE__SINKS__LAKE__TYPE="file",
                  TRACLINE__SINKS__LAKE__PATH="lake.jsonl",
                  TRACLINE__POLICY__CURRENCY="EUR")
    assert config.flush_timeout == 1.5
    assert sinks(config)["lake"].options["path"] == str(tmp_path.resolve() / "lake.jsonl")
    assert config.section("policy") == {"currency": "EUR"}


@pytest.mark.parametrize(("in_file", "variable", "expected"), [
    ("true", None, True), ("false", "1", True), ("true", "0", False), ("false", "off", False),
])
def test_disabled_from_file_and_variable(tmp_path: Path, in_file: str, variable: str | None,
                                         expected: bool) -> None:
    """TRACLINE_DISABLED overrides [tracline] disabled in both directions."""
    write(tmp_path, f"[tracline]\ndisabled = {in_file}\n")
    environ = {} if variable is None else {"TRACLINE_DISABLED": variable}
    assert load(tmp_path, **environ).disabled is expected


def test_openlineage_disabled_disables_tracline(tmp_path: Path) -> None:
    """OPENLINEAGE_DISABLED=true turns tracline off as it does openlineage-python."""
    assert load(tmp_path, OPENLINEAGE_DISABLED="true").disabled is True
    assert load(tmp_path, OPENLINEAGE_DISABLED="false").disabled is False


def test_marquez_url_variable_adds_or_replaces_the_marquez_sink(tmp_path: Path) -> None:
    """TRACLINE_MARQUEZ_URL adds a sink named marquez, replacing one of the file's."""
    write(tmp_path, '[sinks.marquez]\ntype = "marquez"\nurl = "http://old:5000"\n'
                    '[sinks.archive]\ntype = "file"\n')
    by_name = sinks(load(tmp_path, TRACLINE_MARQUEZ_URL="http://new:5000"))
    assert by_name["marquez"].options == {"url": "http://new:5000"}
    assert set(by_name) >= {"marquez", "archive"}


def test_openlineage_configuration_adds_an_openlineage_sink(tmp_path: Path) -> None:
    """OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__* or an openlineage.yml add the openlineage sink."""
    assert "openlineage" not in sinks(load(tmp_path))
    assert sinks(load(tmp_path, OPENLINEAGE_URL="http://x:5000"))["openlineage"].type \
        == "openlineage"
    assert "openlineage" in sinks(load(tmp_path, OPENLINEAGE__TRANSPORT__TYPE="console"))
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert "openlineage" in sinks(load(tmp_path))


def test_get_config_is_cached_until_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """get_config() loads once per process; reset_config() makes it read again."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACLINE_NAMESPACE", "first")
    reset_config()
    try:
        assert get_config().namespace == "first"
        monkeypatch.setenv("TRACLINE_NAMESPACE", "second")
        assert get_config().namespace == "first"
        reset_config()
        assert get_config().namespace == "second"
    finally:
        reset_config()


def test_config_is_an_immutable_value() -> None:
    """Config compares by value, refuses assignment and copies with replace()."""
    a, b = Config(namespace="x"), Config(namespace="x")
    assert a == b and a != Config(namespace="y")
    with pytest.raises(AttributeError, match="immutable"):
        a.namespace = "y"  # type: ignore[misc]
    c = a.replace(namespace="y")
    assert (a.namespace, c.namespace) == ("x", "y")
    with pytest.raises(TypeError, match="no field 'colour'"):
        a.replace(colour="red")


# -- errors: each names the key and the source, and says what to do -----------------------------


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("[tracline\n", "is not valid TOML", "fix the syntax"),
    ("[tracline]\ncolour = 1\n", "unknown key 'colour' in [tracline]", "known keys:"),
    ("[outbox]\nsize = 1\n", "unknown key 'size' in [outbox]", "flush_timeout"),
    ("[registry]\npath = 'x'\n", "unknown key 'path' in [registry]", "url"),
    ("tracline = 3\n", "[tracline] in ", None),
    ("[tracline]\ndisabled = 'maybe'\n", "tracline.disabled = 'maybe'", "true or false"),
    ("[outbox]\nflush_timeout = 'soon'\n", "outbox.flush_timeout = 'soon'", "a number"),
    ("[outbox]\nmax_backoff = 0\n", "outbox.max_backoff = 0", "0.01 or more"),
    ("[outbox]\nretention_days = -1\n", "is below 0", "0.0 or more"),
    ("[tracline]\nnamespace = '  '\n", "tracline.namespace is empty", "namespace such as"),
    ("[tracline]\nhome = 3\n", "tracline.home = 3", "file path in quotes"),
    ("sinks = 'marquez'\n", "[sinks] in ", "[sinks.marquez]"),
    ("[sinks]\nlake = 'file'\n", "sink 'lake' in ", "type = "),
    ("[sinks.lake]\npath = 'x'\n", "sink 'lake' in ", "add type = one of"),
    ("[sinks.lake]\ntype = 'carrier-pigeon'\n", "unknown type 'carrier-pigeon'", "use one of"),
    ("[sinks.mq]\ntype = 'marquez'\nurl = 'localhost:5000'\n", "not an http(s) URL",
     'url = "http://host:port"'),
    ("[sinks.lake]\ntype = 'file'\npath = ''\n", "sinks.lake.path", "file path in quotes"),
])
def test_bad_file_values_are_refused_clearly(tmp_path: Path, text: str, message: str,
                                             hint: str | None) -> None:
    """Each bad value in tracline.toml gives one ConfigError naming it (and the file)."""
    path = write(tmp_path, text)
    e = error(tmp_path)
    assert message in e.message
    assert str(path.resolve()) in e.message
    if hint is not None:
        assert hint in (e.hint or "")


def test_bad_variable_values_are_refused_clearly(tmp_path: Path) -> None:
    """Bad environment variables name the variable and say the environment is the source."""
    e = error(tmp_path, TRACLINE_DISABLED="perhaps")
    assert "TRACLINE_DISABLED = 'perhaps' in environment is not a boolean" in e.message
    e = error(tmp_path, TRACLINE__OUTBOX="1")
    assert "TRACLINE__OUTBOX names no key" in e.message
    assert "TRACLINE__SECTION__KEY" in (e.hint or "")
    e = error(tmp_path, TRACLINE__OUTBOX__PATH="a", TRACLINE__OUTBOX__PATH__X="b")
    assert "conflicts with another" in e.message
    e = error(tmp_path, TRACLINE__OUTBOX__FLUSH_TIMEOUT="never")
    assert "outbox.flush_timeout = 'never' in environment is not a number" in e.message


def test_errors_are_config_errors_with_no_traceback_needed(tmp_path: Path) -> None:
    """A bad configuration surfaces as one line from the CLI, with the hint, exit code 2."""
    import subprocess
    import sys

    write(tmp_path, "[outbox]\nflush_timeout = 'soon'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACLINE", "OPENLINEAGE"))}
    done = subprocess.run([sys.executable, "-m", "tracline", "outbox", "status"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "outbox.flush_timeout = 'soon'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("section", "read"), [
    ("policy", "tracline.approvals:ReviewPolicy.from_config"),
    ("signing", "tracline.identity:SigningSettings.from_config"),
    ("server", "tracline.server:ServerSettings.from_config"),
    ("marquez", "tracline.marquez:marquez_settings"),
])
def test_other_parts_refuse_unknown_keys_in_their_sections(tmp_path: Path, section: str,
                                                           read: str) -> None:
    """Each part that owns a section ([policy], [signing], [server], [marquez]) refuses a
    misspelt key by name, with its file and the keys it knows — never ignores it."""
    import importlib

    path = write(tmp_path, f"[{section}]\nreviewrs = 1\n")
    module, _, attribute = read.partition(":")
    target: object = importlib.import_module(module)
    for name in attribute.split("."):
        target = getattr(target, name)
    with pytest.raises(ConfigError) as caught:
        target(load(tmp_path))  # type: ignore[operator]
    assert caught.value.message == (f"unknown key 'reviewrs' in [{section}] of "
                                    f"{path.resolve()}")
    assert (caught.value.hint or "").startswith("known keys: ")


def test_delivery_and_file_mode_defaults_and_values(tmp_path: Path) -> None:
    """[outbox] max_attempts and deliverer_idle, and [tracline] file_mode, have their
    documented defaults (5, 300 s, 0600) and are read from the file (the mode in octal)."""
    config = load(tmp_path)
    assert (config.max_attempts, config.deliverer_idle, config.file_mode) == (5, 300.0, 0o600)
    write(tmp_path, '[tracline]\nfile_mode = "0640"\n[outbox]\nmax_attempts = 9\n'
                    "deliverer_idle = 2.5\n")
    config = load(tmp_path)
    assert (config.max_attempts, config.deliverer_idle, config.file_mode) == (9, 2.5, 0o640)


def test_delivery_and_file_mode_from_the_environment(tmp_path: Path) -> None:
    """The same keys set by TRACLINE__SECTION__KEY variables override the file."""
    write(tmp_path, "[outbox]\nmax_attempts = 9\n")
    config = load(tmp_path, TRACLINE__OUTBOX__MAX_ATTEMPTS="3",
                  TRACLINE__OUTBOX__DELIVERER_IDLE="60", TRACLINE__TRACLINE__FILE_MODE="600")
    assert (config.max_attempts, config.deliverer_idle, config.file_mode) == (3, 60.0, 0o600)


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("[outbox]\nmax_attempts = 0\n", "outbox.max_attempts = 0", "1 or more"),
    ("[outbox]\nmax_attempts = 'often'\n", "outbox.max_attempts = 'often'", "a number"),
    ("[outbox]\ndeliverer_idle = -1\n", "outbox.deliverer_idle = -1", "0.0 or more"),
    ("[tracline]\nfile_mode = '0400'\n", "tracline.file_mode = '0400'", '"0600"'),
    ("[tracline]\nfile_mode = 'rw'\n", "tracline.file_mode = 'rw'", "octal"),
    ("[tracline]\nfile_mode = '1777'\n", "tracline.file_mode = '1777'", "octal"),
])
def test_bad_delivery_and_file_mode_values_are_refused(tmp_path: Path, text: str, message: str,
                                                      hint: str) -> None:
    """Each bad delivery or file-mode value is one ConfigError naming key, value and file."""
    path = write(tmp_path, text)
    e = error(tmp_path)
    assert message in e.message and str(path.resolve()) in e.message
    assert hint in (e.hint or "")
