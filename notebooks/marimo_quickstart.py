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
    # marimo re-runs cells when a mo.state changes, not when a trait does: hand the token
    # (and then the account, read just after it) over to the cells below.
    get_signed_in, set_signed_in = mo.state((None, None))
    login.observe(lambda _: set_signed_in((login.token, login.user)), names=["token", "user"])
    login
    return get_signed_in, login


@app.cell
def _(get_signed_in, mo):
    # Runs again once the token arrives. (Awaiting login.wait_async() here would work too, but
    # marimo handles the page's clicks only between cells: Cancel would wait for it.)
    token, user = get_signed_in()
    mo.stop(token is None, mo.md("Sign in above; this cell continues once you have."))
    # plain_text escapes: a username is never read as HTML.
    mo.plain_text(f"Signed in to Plex as {user.display_name if user else 'your Plex account'}.")
    return (token,)


if __name__ == "__main__":
    app.run()
