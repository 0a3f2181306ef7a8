import importlib.util
import shutil
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "vendor_assets.py"


def load_script():
    # scripts/ is not a package, so load the module straight from its file.
    spec = importlib.util.spec_from_file_location("vendor_assets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendored_assets_match_manifest():
    vendor_assets = load_script()
    assert vendor_assets.check() == []


def test_check_reports_altered_file(tmp_path):
    vendor_assets = load_script()
    rel_path = "socket.io-client/socket.io.min.js"
    shutil.copy(vendor_assets.VENDOR_DIR / vendor_assets.MANIFEST_NAME, tmp_path)
    copy = tmp_path / rel_path
    copy.parent.mkdir()
    shutil.copy(vendor_assets.VENDOR_DIR / rel_path, copy)
    data = bytearray(copy.read_bytes())
    data[0] ^= 0xFF
    copy.write_bytes(data)

    problems = vendor_assets.check(tmp_path)

    assert any(p.startswith(f"mismatch: {rel_path}") for p in problems), problems


def test_the_test_only_assets_match_their_manifest_and_the_app_does_not_serve_them(client):
    vendor_assets = load_script()

    assert vendor_assets.check(vendor_assets.TEST_VENDOR_DIR) == []
    assert (vendor_assets.TEST_VENDOR_DIR / "axe-core" / "axe.min.js").is_file()
    for path, status in (("/static/vendor/axe-core/axe.min.js", 404),
                         ("/static/vendor/socket.io-client/socket.io.min.js", 200)):
        response = client.get(path)
        response.close()  # a static file is streamed from disk
        assert response.status_code == status
