"""When to probe what: per-path intervals, priorities, trains, rate caps, jitter.

Every (prefix, provider) path is a *job* with an interval and a priority class:
class 0 for the current exit of the busiest prefixes (an outage there must be
seen first), class 1 for other current exits, class 2 for alternatives. A job
that falls due sends a *train* of ``train_size`` probes ``train_spacing_s``
apart (several samples close together estimate loss), then waits its interval,
jittered by ±``jitter`` so that paths do not fall into lockstep.

Two hard limits: a global token bucket (``max_rate`` probes/s) and a bucket per
target address (``per_target_rate``, all providers together). When the global
cap binds, due jobs queue per class and classes are served by weighted round
robin (``class_weights``): busy exits get most of the budget, alternatives still
some, and within a class every path gets the same share, in the order it fell
due. The scheduler is pure: no sockets, no clock of its own.

Retry probing *boosts* a path until a given time: while boosted its whole cycle
(train spacing and interval) runs ``retry_factor`` times as fast and it is served
as class 0, so that a suspected
brownout gets enough samples to be proven or dismissed within seconds. Retry on a
wide RTT spread also *lengthens* a path's trains ``long_train_factor`` times until
a given time: more samples close together, for a median that holds.

Flow hints (:meth:`Scheduler.hint`: unanswered TCP SYNs seen in flows) put every
path of a prefix ahead of every other ready path, class 0 included, until a given
time; they change the order of probing only, never what is measured or decided.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from routepilot.probe.stats import PathStats


class TokenBucket:
    """``rate`` tokens/s, at most ``burst`` saved up."""

    __slots__ = ("rate", "burst", "tokens", "last")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.last = now

    def refill(self, now: float) -> float:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
        return self.tokens

    def take(self, now: float) -> bool:
        if self.refill(now) >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until one token is there."""
        missing = 1.0 - self.refill(now)
        return 0.0 if missing <= 0 else missing / self.rate


@dataclass(eq=False, slots=True)
class Job:
    """One (prefix, provider) path to measure."""

    prefix: str
    provider: int
    priority: int
    interval: float
    due: float = 0.0
    train_left: int = 0
    rr: int = 0
    removed: bool = False
    queued: bool = False
    queued_at: float = 0.0
    """When it last fell due and joined the ready queue (see :meth:`Scheduler.due`)."""
    sent: int = 0
    stats: PathStats | None = None
    """What the owner measures this path into (None until the owner attaches it)."""
    boost_until: float = 0.0
    """Retry probing: until then the path is probed ``retry_factor`` times as often, as class 0."""
    long_until: float = 0.0
    """Retry on spread: until then its trains are ``long_train_factor`` times as long."""


Pick = Callable[[Job], list[tuple]]
"""Candidate targets for a job, in preference order: tuples whose first item is the address
(the prober's are (address, is a verification probe, kind)); the chosen one is passed on."""


@dataclass
class SchedulerSettings:
    max_rate: float = 1000.0
    max_burst: float = 0.0
    """Global bucket depth in probes; 0 means 20 ms worth of ``max_rate`` (at least 1)."""
    per_target_rate: float = 5.0
    per_target_burst: float = 10.0
    train_size: int = 3
    train_spacing_s: float = 0.05
    jitter: float = 0.1
    class_weights: tuple[int, ...] = (16, 4, 1)
    intervals: tuple[float, ...] = field(default=(1.0, 2.0, 5.0))
    retry_factor: float = 4.0
    long_train_factor: int = 2


class Scheduler:
    """Decides which probes go out at ``now``; see the module docstring."""

    def __init__(self, settings: SchedulerSettings, now: float, rng: random.Random | None = None):
        self.s = settings
        self.rng = rng or random.Random()
        burst = settings.max_burst or settings.max_rate / 50.0
        self.bucket = TokenBucket(settings.max_rate, burst, now)
        self.jobs: dict[tuple[str, int], Job] = {}
        self._heap: list[tuple[float, int, Job]] = []
        self._lane: deque[tuple[float, int, Job]] = deque()
        """Beside the heap, entries in (due, number) order: next probes of trains under way,
        appended as planned (see :meth:`due`); :meth:`_collect` merges the two."""
        self._seq = count(1)
        """Numbers the entries (heap and lane): of two due at once, the earlier pushed is first."""
        self._ready: list[deque[Job]] = [deque() for _ in settings.class_weights]
        self._credit = list(settings.class_weights)
        self._targets: dict[str, TokenBucket] = {}
        self.rate_limited = 0
        self.politeness_deferred = 0
        self.hinted: dict[str, float] = {}
        """Prefixes hinted by flows (unanswered SYNs), until when: see :meth:`hint`."""

    def reconfigure(self, settings: SchedulerSettings) -> None:
        """New rates and intervals (same number of classes), kept jobs and tokens."""
        self.s = settings
        self.bucket.rate = settings.max_rate
        self.bucket.burst = max(1.0, settings.max_burst or settings.max_rate / 50.0)
        self.bucket.tokens = min(self.bucket.tokens, self.bucket.burst)
        for b in self._targets.values():
            b.rate, b.burst = settings.per_target_rate, max(1.0, settings.per_target_burst)
            b.tokens = min(b.tokens, b.burst)
        for job in self.jobs.values():
            job.interval = settings.intervals[min(job.priority, len(settings.intervals) - 1)]

    # --- jobs -------------------------------------------------------------------------------

    def set_job(
        self, prefix: str, provider: int, priority: int, now: float, interval: float | None = None
    ) -> Job:
        """Adds a path or changes its class; a new path starts at a random point of its interval.

        ``interval`` overrides the class's (VIP paths have their own)."""
        priority = min(priority, len(self.s.class_weights) - 1)
        if interval is None:
            interval = self.s.intervals[min(priority, len(self.s.intervals) - 1)]
        job = self.jobs.get((prefix, provider))
        if job is not None:
            if job.priority != priority or job.interval != interval:
                job.priority = priority
                if interval < job.interval and job.due > now + interval:
                    job.due = now + self.rng.uniform(0, interval)
                    self._push(job)
                job.interval = interval
            return job
        job = Job(prefix, provider, priority, interval, train_left=self.s.train_size)
        job.due = now + self.rng.uniform(0, interval)
        self.jobs[prefix, provider] = job
        self._push(job)
        return job

    def boost(self, job: Job, until: float, now: float) -> None:
        """Probes ``job`` ``retry_factor`` times as often, as class 0, until ``until``; a job
        not due within its boosted interval is brought forward to a random point of it."""
        was = job.boost_until > now
        job.boost_until = max(job.boost_until, until)
        if was or job.queued or job.removed:
            return
        interval = job.interval / self.s.retry_factor
        if job.due > now + interval:
            job.due = now + self.rng.uniform(0, interval)
            self._push(job)

    def lengthen(self, job: Job, until: float, now: float) -> None:
        """Trains ``long_train_factor`` times as long until ``until``; a train under way
        grows to the long size at once."""
        was = job.long_until > now
        job.long_until = max(job.long_until, until)
        if not was and job.long_until > now and 0 < job.train_left <= self.s.train_size:
            job.train_left += self.s.train_size * (self.s.long_train_factor - 1)

    def train_size(self, job: Job, now: float) -> int:
        """Probes in the job's next train."""
        if job.long_until > now:
            return self.s.train_size * self.s.long_train_factor
        return self.s.train_size

    def remove_job(self, prefix: str, provider: int) -> None:
        job = self.jobs.pop((prefix, provider), None)
        if job is not None:
            job.removed = True

    def demand(self) -> float:
        """Probes/s the current jobs ask for, before caps."""
        return sum(self.s.train_size / j.interval for j in self.jobs.values())

    def _push(self, job: Job) -> None:
        heapq.heappush(self._heap, (job.due, next(self._seq), job))

    # --- the tick ---------------------------------------------------------------------------

    def _collect(self, now: float) -> None:
        heap, lane = self._heap, self._lane
        pop, ready, hinted = heapq.heappop, self._ready, self.hinted
        # The heap's and the lane's entries, merged in (due, number) order: the order of
        # a single heap holding both.
        while True:
            if lane:
                entry = lane[0]
                if heap and heap[0] < entry:
                    entry = heap[0]
                    if entry[0] > now:
                        return
                    pop(heap)
                else:
                    if entry[0] > now:
                        return
                    lane.popleft()
            elif heap and heap[0][0] <= now:
                entry = pop(heap)
            else:
                return
            due, _, job = entry
            if job.removed or job.queued or due != job.due:
                continue  # Superseded by a later push, or already waiting.
            job.queued = True
            job.queued_at = now
            if hinted and hinted.get(job.prefix, 0.0) > now:
                ready[0].appendleft(job)  # a flow hint: first of all (see hint())
                continue
            ready[0 if job.boost_until > now else job.priority].append(job)

    def _next_class(self) -> int:
        """Weighted round robin over the classes that have jobs ready."""
        ready, credit = self._ready, self._credit
        for c, q in enumerate(ready):
            if q and credit[c] > 0:
                return c
        # Every ready class is out of credit, or none is ready: a new round.
        credit[:] = self.s.class_weights  # in place: due() holds the list
        for c, q in enumerate(ready):
            if q and credit[c] > 0:
                return c
        for c, q in enumerate(ready):
            if q:
                return c  # Only classes of weight 0 are ready.
        return -1

    def _target_bucket(self, address: str, now: float) -> TokenBucket:
        b = self._targets.get(address)
        if b is None:
            if len(self._targets) > 200_000:
                self._prune_targets(now)
            b = TokenBucket(self.s.per_target_rate, self.s.per_target_burst, now)
            self._targets[address] = b
        return b

    def _prune_targets(self, now: float) -> None:
        full = [a for a, b in self._targets.items() if b.refill(now) >= b.burst]
        for a in full:
            del self._targets[a]

    def due(self, now: float, pick: Pick) -> list[tuple]:
        """The probes to send now: (job, *chosen candidate), within every cap."""
        self._collect(now)
        out: list[tuple] = []
        bucket = self.bucket
        # One refill for the whole call (``now`` does not move), the tokens kept in a local.
        tokens = bucket.refill(now)
        # This loop runs once per probe: what it reads on every turn is held in locals.
        ready, credit, next_class = self._ready, self._credit, self._next_class
        heap, push, seq, targets = self._heap, heapq.heappush, self._seq, self._targets
        lane = self._lane
        lane_last = lane[-1][0] if lane else -math.inf
        s = self.s
        spacing, retry, jitter = s.train_spacing_s, s.retry_factor, s.jitter
        low, high = 1 - jitter, 1 + jitter
        uniform = self.rng.uniform
        c = next_class()
        while c >= 0:
            # While the class served has credit and jobs, _next_class would choose it again:
            # every class before it was empty or out of credit, and nothing but this loop
            # changes the queues or the credit. Its credit is kept in a local meanwhile.
            q, cr = ready[c], credit[c]
            while True:
                if tokens < 1.0:
                    self.rate_limited += 1
                    credit[c] = cr
                    bucket.tokens = tokens
                    return out
                job = q.popleft()
                job.queued = False
                if job.removed:
                    if q and cr > 0:
                        continue
                    break
                candidates = pick(job)
                # The common case of _choose, inlined: the first candidate's bucket has a token.
                chosen = None
                if candidates:
                    candidate = candidates[job.rr % len(candidates)]
                    b = targets.get(candidate[0])
                    if b is not None:
                        if now > b.last:
                            t = b.tokens + (now - b.last) * b.rate
                            b.tokens = t if t < b.burst else b.burst
                            b.last = now
                        if b.tokens >= 1.0:
                            b.tokens -= 1.0
                            job.rr += 1
                            chosen = candidate
                if chosen is None:
                    # _choose starts again from the first candidate: its refill at the same
                    # ``now`` changes nothing.
                    chosen = self._choose(job, candidates, now)
                    if chosen is None:
                        if q and cr > 0:
                            continue
                        break
                tokens -= 1.0
                cr -= 1
                job.sent += 1
                out.append((job,) + chosen)
                # A boosted path runs its whole cycle (train and interval) retry_factor times
                # as fast.
                boosted = job.boost_until > now
                left = job.train_left - 1
                if left > 0:
                    job.train_left = left
                    step = spacing / retry if boosted else spacing
                else:
                    # The next train's size (train_size(), inlined) and a jittered interval.
                    job.train_left = (
                        s.train_size * s.long_train_factor if job.long_until > now else s.train_size
                    )
                    step = (job.interval / retry if boosted else job.interval) * uniform(low, high)
                # The next probe is planned from when this one was due, not from when the
                # sender got round to it: a late wake-up must not stretch the cycle (it made
                # the path's rate fall short of its interval's by the sender's lateness). A
                # next probe that is due already goes in this call too, behind the class's
                # other ready paths and within the global cap: the sender catches up at no
                # more than the configured rate. A lag over one interval (a stalled process)
                # is dropped, not replayed. A job that waited behind the cap (queued before
                # this call) plans from now: the cap stretches intervals, as it must, and
                # catching up would only refill the queue at once.
                nxt = (job.due if job.queued_at == now else now) + step
                if nxt > now or step <= 0:
                    job.due = nxt = nxt if nxt > now else now
                    # Trains' next probes are planned one spacing after probes served in the
                    # order they fell due: in that order too, nearly always. Those go to the
                    # back of the lane, cheaper than the heap (its pushes and pops were a
                    # quarter of the scheduler's time); one earlier than the lane's last goes
                    # to the heap.
                    if left > 0 and nxt >= lane_last:
                        lane.append((nxt, next(seq), job))
                        lane_last = nxt
                    else:
                        push(heap, (nxt, next(seq), job))
                else:
                    job.due = nxt if now - nxt <= job.interval else now
                    job.queued = True
                    job.queued_at = now
                    q.append(job)
                if not (q and cr > 0):
                    break
            credit[c] = cr
            c = next_class()
        bucket.tokens = tokens
        return out

    def _choose(self, job: Job, candidates: list[tuple], now: float) -> tuple | None:
        """The first candidate whose politeness bucket has a token; else reschedules the job."""
        if not candidates:
            job.due = now + job.interval
            self._push(job)
            return None
        wait = None
        n = len(candidates)
        targets = self._targets
        for i in range(n):
            candidate = candidates[(job.rr + i) % n]
            b = targets.get(candidate[0])
            if b is None:
                b = self._target_bucket(candidate[0], now)
            # TokenBucket.take, inlined: this runs once per probe.
            if now > b.last:
                t = b.tokens + (now - b.last) * b.rate
                b.tokens = t if t < b.burst else b.burst
                b.last = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                job.rr += 1
                return candidate
            w = b.wait(now)
            wait = w if wait is None else min(wait, w)
        self.politeness_deferred += 1
        job.due = now + (wait or 0.0) + 1e-6
        self._push(job)
        return None

    def hint(self, prefixes: dict[str, float], now: float) -> None:
        """Flow hints: each prefix's paths are served first of every ready path, in class 0's
        share, until its time (prefix -> until); those newly hinted and not due now are
        brought forward to now. Intervals are unchanged: a hint orders probes, it adds none
        but that first one."""
        old = self.hinted
        self.hinted = {p: t for p, t in prefixes.items() if t > now}
        new = {p for p in self.hinted if old.get(p, 0.0) <= now}
        if not new:
            return
        for (prefix, _), job in self.jobs.items():
            if prefix in new and not job.queued and job.due > now:
                job.due = now
                self._push(job)

    def next_due(self) -> float | None:
        """When the earliest waiting job falls due (None when nothing is scheduled)."""
        if any(self._ready):
            return self.bucket.last + self.bucket.wait(self.bucket.last)
        heap, lane = self._heap, self._lane
        if heap and lane:
            return min(heap[0][0], lane[0][0])
        return heap[0][0] if heap else lane[0][0] if lane else None
