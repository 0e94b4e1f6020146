"""The press benchmark's driver: Telegram's side of a press, timed until its answer arrives.

`bench_press.py` uses it for every system it measures.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

import aiohttp

from emulators import Call, TelegramEmulator, make_callback_update

SECRET = "bench-secret"


@dataclass
class Press:
    """One Accept button on one message."""

    user_id: int
    data: str
    chat_id: int
    message_id: int


@dataclass
class Figures:
    """What one pass measured."""

    presses: int
    seconds: float
    latencies: list[float]  # press posted -> answerCallbackQuery arrived, seconds
    in_body: int  # answers that came in the webhook's response body
    # (seconds after the pass began that the press was posted, latency, callback data)
    timeline: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Presses answered per second."""
        return self.presses / self.seconds

    def pct(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def slowest(self, n: int = 5) -> str:
        """The `n` slowest presses: when each was posted in the pass, how long it took, its data."""
        worst = sorted(self.timeline, key=lambda item: -item[1])[:n]
        return ", ".join(f"{lat * 1000:.0f} ms at +{at:.2f} s ({data})" for at, lat, data in worst)

    def line(self, name: str) -> str:
        """One printable line."""
        return (
            f"{name:<22} {self.rate:7.0f} presses/s  p50 {self.pct(50):7.1f} ms  "
            f"p99 {self.pct(99):7.1f} ms  max {max(self.latencies) * 1000:7.1f} ms  "
            f"(answers in the webhook body: {self.in_body}/{self.presses})"
        )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Answers:
    """Arrival time of each press's answer, by callback query id."""

    def __init__(self, emu: TelegramEmulator) -> None:
        self._waiting: dict[str, asyncio.Future[Call]] = {}
        emu.watch(self._seen)

    def _seen(self, call: Call) -> None:
        if call.method != "answerCallbackQuery":
            return
        future = self._waiting.pop(str(call.params.get("callback_query_id")), None)
        if future is not None and not future.done():
            future.set_result(call)

    def expect(self, query_id: str) -> asyncio.Future[Call]:
        """The call that will answer this query."""
        future: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        self._waiting[query_id] = future
        return future


async def press_all(
    emu: TelegramEmulator,
    answers: Answers,
    webhook: str,
    presses: list[Press],
    concurrency: int,
    first_update_id: int,
) -> Figures:
    """Deliver every press, `concurrency` at once; time each until its answer arrives."""
    latencies: list[float] = []
    timeline: list[tuple[float, float, str]] = []
    in_body = 0
    queue = list(enumerate(presses, start=first_update_id))
    queue.reverse()
    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal in_body
            while queue:
                update_id, p = queue.pop()
                update = make_callback_update(
                    update_id, p.user_id, p.data, message_chat_id=p.chat_id, message_id=p.message_id
                )
                answered = answers.expect(update["callback_query"]["id"])
                t0 = time.perf_counter()
                status = await emu.deliver(http, webhook, update, secret=SECRET)
                if status != 200:
                    raise RuntimeError(f"webhook answered {status}")
                call = await asyncio.wait_for(answered, 60)
                latencies.append(call.at - t0)
                timeline.append((t0 - started, call.at - t0, p.data))
                in_body += call.via == "webhook"

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - started
    return Figures(len(presses), took, latencies, in_body, timeline)


async def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until something answers HTTP on the port."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError("the process exited at start")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the process did not start listening")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal (py-spy writes its profile and stops its child on SIGINT), then wait."""
    proc.send_signal(sig)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
