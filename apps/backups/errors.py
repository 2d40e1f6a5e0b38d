class BackupError(Exception):
    """A backup or restore failed or was refused; the message is one line that says which part and why."""
