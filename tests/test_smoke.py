def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_home_per_role(client, login, facilitator, patient, supporter, admin):
    for user, marker in ((admin, b"Crisis resources"), (facilitator, b"Your groups"), (patient, b"Your groups"),
                         (supporter, b"People who share with you")):
        login(client, user)
        response = client.get("/")
        assert response.status_code == 200, user
        assert marker in response.data
