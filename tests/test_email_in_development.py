"""In development no email leaves: each is printed, whole, on the server's output, so that a password reset or an
invitation can be tried without a mail server."""

from __future__ import annotations

from app import create_app
from app.notifications.email import send_now


def test_make_run_prints_each_email_with_its_links(capfd, tmp_path):
    app = create_app("development", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'dev.db'}")
    assert app.config["MAIL_SUPPRESS_SEND"] and not app.testing
    capfd.readouterr()
    with app.app_context():
        send_now("alex@example.org", "Reset your password", "Open http://127.0.0.1:5000/reset/abc to choose one.")
    printed = capfd.readouterr().err
    assert "To: alex@example.org" in printed
    assert "Subject: Reset your password" in printed
    assert "http://127.0.0.1:5000/reset/abc" in printed
