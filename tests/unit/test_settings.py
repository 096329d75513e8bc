from pathlib import Path

import pytest

from console.settings import SecretKey, load_settings, mask_key, read_dotenv


def test_mask_keeps_prefix_and_last_four():
    assert mask_key("sk_live_abcdefghijklmnop1234") == "sk_live_…1234"
    assert mask_key("sk_test_xyz") == "sk_test_…"


def test_secret_key_never_prints_itself():
    key = SecretKey("sk_live_supersecretvalue9876")
    assert "supersecret" not in repr(key)
    assert "supersecret" not in str(key)
    assert "supersecret" not in f"{key}"
    assert key.instance_kind == "production"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(key)


def test_precedence_env_over_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text(
        'CLERK_SECRET_KEY="sk_test_fromdotenv0000"\nIMPORT_TO_DEV_INSTANCE=true\n'
        "export CLERK_API_URL=http://127.0.0.1:9/\n"
    )
    s = load_settings({"CLERK_SECRET_KEY": "sk_live_fromenv11112222"}, tmp_path, use_keyring=False)
    assert s.key_source == "env"
    assert s.secret_key.reveal() == "sk_live_fromenv11112222"
    assert s.instance_kind == "production"
    assert s.allow_dev_import is True
    assert s.base_url == "http://127.0.0.1:9"


def test_dotenv_used_when_env_empty(tmp_path: Path):
    (tmp_path / ".env").write_text("CLERK_SECRET_KEY=sk_test_fromdotenv0000 # comment\n")
    s = load_settings({}, tmp_path, use_keyring=False)
    assert s.key_source == "dotenv"
    assert s.secret_key.reveal() == "sk_test_fromdotenv0000"
    assert s.instance_kind == "development"
    assert s.allow_dev_import is False
    assert s.base_url == "https://api.clerk.com"


def test_no_key_anywhere(tmp_path: Path):
    s = load_settings({}, tmp_path, use_keyring=False)
    assert s.secret_key is None and s.key_source is None


def test_read_dotenv_ignores_comments_and_junk(tmp_path: Path):
    p = tmp_path / ".env"
    p.write_text("# c\n\nJUNK\nA='x y'\n")
    assert read_dotenv(p) == {"A": "x y"}


def test_read_dotenv_reads_what_nextjs_apps_write(tmp_path: Path):
    # python-dotenv's rules: export prefix, double-quoted escapes, multi-line values, ${VAR} expansion
    p = tmp_path / ".env"
    p.write_text(
        'export CLERK_SECRET_KEY="sk_test_' 'abc1" # a comment\n'
        'ESCAPED="a\\tb\\"c"\n'
        "BASE=https://api.example.test\n"
        "CLERK_API_URL=${BASE}/clerk\n"
        'PEM="line one\nline two"\n'
        "EMPTY=\n"
    )
    values = read_dotenv(p)
    assert values["CLERK_SECRET_KEY"] == "sk_test_" "abc1"
    assert values["ESCAPED"] == 'a\tb"c'
    assert values["CLERK_API_URL"] == "https://api.example.test/clerk"
    assert values["PEM"] == "line one\nline two"
    assert values["EMPTY"] == ""


def test_read_dotenv_of_a_folder_or_missing_file_is_empty(tmp_path: Path):
    assert read_dotenv(tmp_path / "nope") == {}
    (tmp_path / "dir.env").mkdir()
    assert read_dotenv(tmp_path / "dir.env") == {}
