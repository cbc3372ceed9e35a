"""Terminals: a pty from the sandbox's private devpts instance, its slave the
workload's controlling terminal, its master handed over as runc does (sent over the
--console-socket with SCM_RIGHTS) or, for a foreground `run`, copied to our stdio."""
from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import sys
import termios
import threading
import tty

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty(devpts: str) -> tuple[int, int]:
    """(master, slave) of a new pty of the devpts instance mounted at devpts."""
    master = os.open(os.path.join(devpts, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        slave = os.open(os.path.join(devpts, str(number)),
                        os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        os.close(master)
        raise
    return master, slave


def make_controlling(slave: int) -> None:
    """In the workload (a session leader): the slave as stdio and controlling tty."""
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def send_master(console_socket: str, master: int) -> None:
    """runc's protocol: connect to the socket, send the master with SCM_RIGHTS."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(console_socket)
        s.sendmsg([b"/dev/ptmx"],
                   [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [master]))])


def copy_until_closed(master: int) -> threading.Thread:
    """Copies the master to stdout and stdin to the master (raw mode when stdin is a
    terminal) in threads; join the returned one to drain the workload's output."""
    restore = None
    if os.isatty(0):
        restore = termios.tcgetattr(0)
        tty.setraw(0)

    def output() -> None:
        try:
            while True:
                data = os.read(master, 65536)
                if not data:
                    break
                os.write(1, data)
        except OSError:  # EIO: the last slave fd closed
            pass
        finally:
            if restore is not None:
                termios.tcsetattr(0, termios.TCSADRAIN, restore)

    def input_() -> None:
        try:
            while True:
                data = os.read(0, 65536)
                if not data:
                    break
                os.write(master, data)
        except OSError:
            pass

    threading.Thread(target=input_, daemon=True).start()
    out = threading.Thread(target=output, daemon=True)
    out.start()
    sys.stdout.flush()
    return out
