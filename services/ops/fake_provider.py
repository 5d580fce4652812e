"""A local fake model provider speaking OpenAI's chat-completions shape (tests and benchmarks; issue 26).

It records when every request arrived, so a caller can check the most it ever saw in any window, and it
can answer 429 like a provider at its limit: `storm` requests in a row at first, and/or whenever more than
`limit` arrived within the last `window` seconds.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider:
    """Serve on 127.0.0.1:`port` in a thread until close()."""

    def __init__(self, port: int, storm: int = 0, limit: int = 0, window: float = 60.0, delay: float = 0.0,
                 retry_after: float | None = None):
        self.arrivals: list[float] = []  # time.time() of every chat request answered 200
        self.throttled = 0
        self.storm, self.limit, self.window, self.delay, self.retry_after = storm, limit, window, delay, retry_after
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                provider._reply(self, 200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                provider._chat(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _chat(self, handler) -> None:
        now = time.time()
        with self._lock:
            recent = sum(1 for t in self.arrivals if t > now - self.window)
            if self.storm > 0 or (self.limit and recent >= self.limit):
                self.storm = max(0, self.storm - 1)
                self.throttled += 1
                busy = True
            else:
                self.arrivals.append(now)
                busy = False
        if busy:
            headers = {"retry-after": str(self.retry_after)} if self.retry_after is not None else {}
            self._reply(handler, 429, {"error": {"message": "Rate limit reached (fake)", "type": "rate_limit"}}, headers)
            return
        if self.delay:
            time.sleep(self.delay)
        content = json.dumps({"ad_copy_kor": "갓 볶은 원두 커피", "instagram_ad_copy": "오늘도 한 잔 ☕",
                              "hashtags": ["#커피", "#카페"]}, ensure_ascii=False)
        self._reply(handler, 200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(now), "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}})

    @staticmethod
    def _reply(handler, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def most_in_any_window(self, window: float) -> int:
        """The largest number of answered requests that arrived within `window` seconds of each other."""
        times, best, start = sorted(self.arrivals), 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
