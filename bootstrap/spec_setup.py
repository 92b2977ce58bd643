"""Remote half of a spec's side effects (PROTOCOL.md §1 "Spec side effects").

Run through remote_exec with call_name ``setup`` right after the handshake,
before the gateway is handed to the user: creates and changes into ``chdir``,
applies the ``nice`` increment and sets ``env:NAME=value`` variables.
"""
import os


def setup(channel, chdir=None, nice=None, env=()):
    if chdir:
        os.makedirs(chdir, exist_ok=True)
        os.chdir(chdir)
    if nice:
        os.nice(nice)
    for name, value in env:
        os.environ[name] = value
