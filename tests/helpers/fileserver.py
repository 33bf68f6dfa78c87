"""A loopback HTTP file server for tests: Range requests, ETags, and connections cut on purpose."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer:
    """Serve ``root`` on 127.0.0.1 (a free port) in a thread.

    Attributes:
        cut_once: ``{url path: byte}``: the first request for that path sends the headers of the
            whole answer but closes the connection after ``byte`` bytes of the body.
        ranges: honour ``Range`` (False: always answer 200 with the whole file).
        requests: ``(path, Range header)`` of every request, in order.
    """

    def __init__(self, root: str | Path, ranges: bool = True):
        self.root = Path(root)
        self.ranges = ranges
        self.cut_once: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                path = self.path.split("?", 1)[0]
                server.requests.append((path, self.headers.get("Range")))
                file = (server.root / path.lstrip("/")).resolve()
                if not file.is_file() or server.root.resolve() not in file.parents:
                    self.send_error(404)
                    return
                data = file.read_bytes()
                etag = '"' + hashlib.md5(data).hexdigest() + '"'
                start, status = 0, 200
                rng = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if server.ranges and rng and (if_range is None or if_range == etag):
                    m = re.match(r"bytes=(\d+)-$", rng)
                    if m:
                        start = int(m.group(1))
                        if start >= len(data):
                            self.send_response(416)
                            self.send_header("Content-Range", f"bytes */{len(data)}")
                            self.send_header("Content-Length", "0")
                            self.end_headers()
                            return
                        status = 206
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                cut = server.cut_once.pop(path, None)
                if cut is not None:
                    self.wfile.write(body[: max(0, cut - start)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
