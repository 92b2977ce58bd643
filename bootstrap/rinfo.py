"""Remote half of ``Gateway::rinfo``: facts about the interpreter.

Run through remote_exec with call_name ``rinfo``; sends one dict.
"""
import os
import sys


def rinfo(channel):
    channel.send(
        {
            "executable": sys.executable,
            "version_info": tuple(sys.version_info[:5]),
            "platform": sys.platform,
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }
    )
