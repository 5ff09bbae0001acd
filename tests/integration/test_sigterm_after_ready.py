"""SIGTERM right after READY with a live camera whose reads block (a slow MJPEG stream): the daemon exits 0.

The abort (SIGABRT, exit -6) it replaces: the frame reader thread was still inside OpenCV's read when
the interpreter exited, and OpenCV's teardown aborted under it.  Now the source stops its reader and
joins it before closing the capture, and the daemon never exits with a reader inside a camera driver.
"""
import signal
import socket
import threading
import time

import cv2
import pytest

from tests.integration.test_service import NotifySocket, start_daemon

pytestmark = pytest.mark.integration
RUNS = 6


class SlowCamera:
    """A live MJPEG-over-HTTP camera that sends a frame every ``interval`` seconds."""

    def __init__(self, frames, interval=0.5):
        self.frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.interval = interval
        self.sock = socket.socket(); self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0)); self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            i = 0
            while not self.closed:
                data = self.frames[i % len(self.frames)]
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                             + data + b"\r\n")
                i += 1
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.closed = True
        self.sock.close()



@pytest.fixture
def camera(shared_data):
    capture = cv2.VideoCapture(str(shared_data / "video" / "single_face.mp4"))
    frames = [capture.read()[1] for _ in range(10)]
    cam = SlowCamera(frames, interval=3.0)
    yield cam
    cam.close()


def test_sigterm_right_after_ready_never_aborts(tmp_path, camera):
    codes = []
    for run in range(RUNS):
        notify = NotifySocket(tmp_path / f"notify{run}.sock")
        config = tmp_path / f"config{run}.toml"
        config.write_text(f'[device]\nid = "box1"\n[camera]\nname = "porch"\ntype = "opencv"\nuri = "{camera.url}"\n'
                          f'[[publishers]]\ntype = "directory"\npath = "{tmp_path}/events"\n')
        daemon = start_daemon(config, notify.path)
        try:
            assert notify.wait("READY=1", timeout=90), daemon.stderr.read() if daemon.poll() is not None else ""
            daemon.send_signal(signal.SIGTERM)  # the reader is blocked inside OpenCV, waiting for a frame
            codes.append(daemon.wait(30))
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            notify.close()
    assert codes == [0] * RUNS, f"exit codes {codes} (-6: SIGABRT, -11: SIGSEGV)"
