#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Stands in for systemd's notify socket in the daemon test: binds a datagram socket
# at argv[1] and writes every sd_notify message to argv[2], one "----" between them.
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    f.write("bound\n")
    while True:
        msg = s.recv(4096).decode(errors="replace")
        f.write(msg.rstrip("\n") + "\n----\n")
