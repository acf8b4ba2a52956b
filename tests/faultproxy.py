"""A TCP proxy on 127.0.0.1 that injects network faults between reader and camera.

Modes, switchable at any time:
- `forward`: pass bytes both ways;
- `blackhole`: keep every socket open but pass nothing (a frozen link);
- `corrupt`: pass bytes, but flip bytes inside the payload of some interleaved
  RTP packets from the server (RTSP over TCP frames them as `$`, channel, 16-bit
  length), so the video is damaged while the RTSP session stays intact.
`refuse()` closes the listening socket so connects are refused, and `accept()`
listens again on the same port.
"""

from __future__ import annotations

import random
import select
import socket
import threading


class FaultProxy:
    def __init__(self, target_port: int, corrupt_probability: float = 0.2) -> None:
        self.target = ("127.0.0.1", target_port)
        self.mode = "forward"
        self.corrupt_probability = corrupt_probability
        self.corrupted_packets = 0
        self._random = random.Random(7)
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self.port = 0
        self.accept()

    def accept(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(
            target=self._accept_loop, args=(listener,), daemon=True
        ).start()

    def refuse(self) -> None:
        """Stop listening and drop open connections: new connects are refused."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone does
            # not on Linux, and that thread would go on accepting.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def close(self) -> None:
        self._stopped.set()
        self.refuse()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, server]
            threading.Thread(
                target=self._pump, args=(client, server, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, True), daemon=True
            ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, from_server: bool
    ) -> None:
        pending = bytearray()
        while not self._stopped.is_set():
            if self.mode == "blackhole":
                self._stopped.wait(0.2)
                continue
            try:
                ready, _, _ = select.select([source], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    sink.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if from_server and self.mode == "corrupt":
                pending += data
                data = self._corrupt_frames(pending)
            elif pending:
                data, pending = bytes(pending) + data, bytearray()
            try:
                sink.sendall(data)
            except OSError:
                return

    def _corrupt_frames(self, pending: bytearray) -> bytes:
        """Return the complete interleaved frames at the head of `pending`, some
        with damaged payload, and leave any incomplete tail in `pending`."""
        out = bytearray()
        while pending:
            if pending[0] != 0x24:  # not "$": RTSP text, pass up to the next "$"
                end = pending.find(b"$")
                end = len(pending) if end < 0 else end
                out += pending[:end]
                del pending[:end]
                continue
            if len(pending) < 4:
                break
            length = int.from_bytes(pending[2:4], "big")
            if len(pending) < 4 + length:
                break
            frame = pending[: 4 + length]
            del pending[: 4 + length]
            channel = frame[1]
            # Past the 4-byte frame header, 12-byte RTP header and 2 bytes of
            # NAL/FU headers lies coded slice data.
            if channel % 2 == 0 and length > 64:
                if self._random.random() < self.corrupt_probability:
                    for _ in range(8):
                        index = self._random.randrange(24, len(frame))
                        frame[index] ^= 0xFF
                    self.corrupted_packets += 1
            out += frame
        return bytes(out)
