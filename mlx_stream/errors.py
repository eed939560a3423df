class MlxStreamError(Exception):
    """An error a user can fix. Its message is one line that says what to do; the CLI prints it as is."""
