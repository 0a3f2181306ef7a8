"""The pages a newcomer sees first: the sign-in page, and each role's own home page."""

import pytest

#: Something only that role's home page shows; each test also checks that no other role's marker is there.
HOME_MARKERS = {
    "admin": b"Invite facilitators, and deactivate accounts",
    "facilitator": b"Create a group",
    "patient": b"Your facilitator will send you an invitation.",
    "supporter": b"People who share with you",
}


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


@pytest.mark.parametrize("role", list(HOME_MARKERS))
def test_each_role_gets_its_own_home_page(request, client, login, role):
    login(client, request.getfixturevalue(role))

    response = client.get("/")

    assert response.status_code == 200
    assert HOME_MARKERS[role] in response.data
    assert [other for other, marker in HOME_MARKERS.items() if other != role and marker in response.data] == []
