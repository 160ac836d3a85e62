import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from plexpin_widget import PlexPinLogin

    return PlexPinLogin, mo


@app.cell
def _(PlexPinLogin, mo):
    # The same two lines as in Jupyter: the login polls in the background between cells, and
    # running this cell again replaces it (the old one stops).
    login = PlexPinLogin(product="marimo quickstart")
    # marimo re-runs cells when a mo.state changes, not when a trait does: hand the token over.
    get_token, set_token = mo.state(None)
    login.observe(lambda change: set_token(change["new"]), names="token")
    login
    return get_token, login


@app.cell
def _(get_token, login, mo):
    # Runs again once the token arrives. (Awaiting login.wait_async() here would work too, but
    # marimo handles the page's clicks only between cells: Cancel would wait for it.)
    token = get_token()
    mo.stop(token is None, mo.md("Sign in above; this cell continues once you have."))
    print("Signed in as", login.user.display_name if login.user else "your Plex account")
    return (token,)


if __name__ == "__main__":
    app.run()
