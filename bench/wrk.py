"""Running wrk and reading its ``--latency`` report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # → milliseconds
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect + read + write + timeout
    non_2xx: int  # wrk counts responses with a status >= 400 (3xx cannot occur here: no redirects, no conditionals)
    bytes_read: int

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / self.requests if self.requests else 0.0


class WrkError(RuntimeError):
    pass


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


def parse(output: str) -> Result:
    """The figures of one ``wrk --latency`` run; WrkError when a line is missing."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise WrkError(f"wrk output has no match for {pattern!r}:\n{output}")
        return match

    total = find(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read")
    p50 = find(r"^\s*50%\s+([\d.]+)(us|ms|s|m|h)\s*$")
    p99 = find(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$")
    rps = find(r"^Requests/sec:\s+([\d.]+)")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Result(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000,
        requests_per_second=float(rps.group(1)),
        p50_ms=_ms(p50.group(1), p50.group(2)),
        p99_ms=_ms(p99.group(1), p99.group(2)),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        bytes_read=round(float(total.group(4)) * _SIZE_UNITS[total.group(5)]),
    )


def run(url: str, *, connections: int, seconds: int, threads: int = 2, script: str | None = None) -> Result:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    if script:
        argv += ["-s", script]
    completed = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise WrkError(f"wrk failed ({completed.returncode}): {completed.stderr.strip() or completed.stdout}")
    return parse(completed.stdout)
