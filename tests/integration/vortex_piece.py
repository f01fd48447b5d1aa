"""vortex_piece.py PORT TASK_ID PIECE: asks a daemon's upload port for one piece the way any
host can (spec/vortex.md: a plain DownloadPiece, tag 0x00, 64-byte task id, piece number) and
prints what came back: "piece BYTES" with the body's length, or "error TAG" for another frame,
or "closed". A raw client, no daemon of ours: what an attacker on the network sees."""
import socket
import struct
import sys

from vx_wire import frame, recv_exact, recv_frame

port, task, number = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    s.sendall(frame(0x00, task + struct.pack(">I", number)))
    tag, v = recv_frame(s)
    if tag is None:
        print("closed")
    elif tag != 0x01:
        print("error 0x%02x" % tag)
    else:
        mlen = struct.unpack(">I", v[:4])[0]
        blen = struct.unpack(">IQQ", v[4 : 4 + mlen][:20])[2]
        body = recv_exact(s, blen)
        print("piece %d" % (len(body) if body else 0))
