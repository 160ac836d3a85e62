import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    from plexpin_widget import PlexPinLogin

    return (PlexPinLogin,)


@app.cell
def _(PlexPinLogin):
    # The same two lines as in Jupyter. The login polls in the background between cells;
    # running this cell again replaces it (the old one stops).
    login = PlexPinLogin(product="marimo quickstart")
    login
    return (login,)


@app.cell
async def _(login):
    # marimo re-runs cells when the page changes a value, not when Python does, so wait here
    # for the sign-in; the cells below run once it is done.
    token = await login.wait_async()
    print("Signed in as", login.user.display_name if login.user else "your Plex account")
    return (token,)


@app.cell
def _(login, token):
    # The token is a plain string in Python and never reaches the page.
    assert token == login.token
    return


if __name__ == "__main__":
    app.run()
